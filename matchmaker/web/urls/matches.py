"""Routes of the matches pages (see matchmaker/web/views/matches.py)."""

from __future__ import annotations

from django.urls import path

from matchmaker.web.views import contact, inbox, matches

urlpatterns = [
    path("cases/<str:public_id>/matches/", matches.case_matches, name="case-matches"),
    path("cases/<str:public_id>/matches/rematch/", matches.case_rematch, name="case-rematch"),
    path("cases/<str:public_id>/peer-search/", matches.case_peer_search, name="case-peer-search"),
    path(
        "cases/<str:public_id>/peer-search/status/",
        matches.case_peer_status,
        name="case-peer-status",
    ),
    path("matches/<int:pk>/", matches.match_detail, name="match-detail"),
    path("matches/<int:pk>/triage/", matches.match_triage, name="match-triage"),
]

urlpatterns += [path("matches/", inbox.inbox, name="match-inbox")]
urlpatterns += [path("matches/<int:pk>/contact/", contact.match_contact, name="match-contact")]
