"""Template context shared by every page: the signed-in clinician's institution and role, and
how many matches arrived since they last opened the inbox (the count in the navigation)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from matchmaker.cases.selectors import membership_of
from matchmaker.matching.selectors import count_arrived_since
from matchmaker.web.models import InboxVisit


def membership(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"membership": None, "site_name": settings.SITE_NAME}
    membership = membership_of(user)
    return {
        "membership": membership,
        "site_name": settings.SITE_NAME,
        "new_match_count": _new_match_count(user) if membership is not None else 0,
    }


def _new_match_count(user: Any) -> int:
    """Matches first seen since the clinician last opened the inbox (all, before a first visit)."""
    visit = InboxVisit.objects.filter(user_id=user.pk).only("visited_at").first()
    return count_arrived_since(user, visit.visited_at if visit is not None else None)
