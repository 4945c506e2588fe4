"""Template context shared by every page: the signed-in clinician's institution and role, and
how many matches arrived since they last opened the inbox (the count in the navigation)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Exists, Q, Subquery
from django.http import HttpRequest

from matchmaker.cases.models import Membership
from matchmaker.cases.selectors import membership_of
from matchmaker.casework.models import Match
from matchmaker.web.models import InboxVisit


def membership(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"membership": None, "site_name": settings.SITE_NAME}
    membership = membership_of(user)
    return {
        "membership": membership,
        "site_name": settings.SITE_NAME,
        "new_match_count": _new_match_count(membership, user) if membership is not None else 0,
    }


def _new_match_count(membership: Membership, user: Any) -> int:
    """Matches of the institution's cases first seen since the clinician last opened the inbox
    (all of them before a first visit). One query on every page: the visit is a subquery."""
    last_visit = InboxVisit.objects.filter(user_id=user.pk).values("visited_at")[:1]
    return (
        Match.objects.filter(
            case__institution_id=membership.institution_id, removed_at__isnull=True
        )
        .filter(Q(first_seen__gt=Subquery(last_visit)) | ~Exists(last_visit))
        .count()
    )
