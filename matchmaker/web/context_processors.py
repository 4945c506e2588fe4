"""Template context shared by every page: the signed-in clinician's institution and role."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from matchmaker.cases.selectors import membership_of


def membership(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"membership": None, "site_name": settings.SITE_NAME}
    return {"membership": membership_of(user), "site_name": settings.SITE_NAME}
