"""Routes of the institution members pages (see matchmaker/web/views/members.py)."""

from __future__ import annotations

from django.urls import path

from matchmaker.web.views import members

urlpatterns = [
    path("institution/members/", members.member_list, name="member-list"),
    path(
        "institution/members/<int:user_id>/role/",
        members.member_change_role,
        name="member-role",
    ),
    path(
        "institution/members/<int:user_id>/active/",
        members.member_set_active,
        name="member-active",
    ),
    path(
        "institution/members/<int:user_id>/invite/",
        members.member_invite,
        name="member-invite",
    ),
]
