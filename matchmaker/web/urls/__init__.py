"""The clinicians' pages and the local REST API; each area keeps its routes in its own module."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("matchmaker.web.urls.accounts")),
    path("", include("matchmaker.web.urls.security")),
    path("", include("matchmaker.web.urls.members")),
    path("", include("matchmaker.web.urls.transfer")),
    path("", include("matchmaker.web.urls.cases")),
    path("", include("matchmaker.web.urls.matches")),
    path("api/v1/", include("matchmaker.web.urls.api")),
]
