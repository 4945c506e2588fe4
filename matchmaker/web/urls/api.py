"""Routes of the local REST API, under /api/v1/ (see matchmaker/web/api/views.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.views import APIView

from matchmaker.web.api import views


def _route(route: str, *api_views: type[APIView], name: str) -> list[URLPattern]:
    """Serve `route` with one APIView per operation (GET list, POST create, ...).

    Django resolves the first pattern, whose view hands each request to the APIView of its
    method. The later patterns repeat the route for drf-spectacular only: it reads one view
    class per pattern, and would otherwise document the first operation alone.
    """
    callbacks = [api_view.as_view() for api_view in api_views]
    by_method: dict[str, Callable[..., HttpResponse]] = {}
    for api_view, callback in zip(api_views, callbacks, strict=True):
        for method in api_view().allowed_methods:
            if method != "OPTIONS":
                by_method[method] = callback
    if "GET" in by_method:
        by_method["HEAD"] = by_method["GET"]
    allowed = ", ".join(sorted({*by_method, "OPTIONS"}))

    # CSRF is DRF's business (SessionAuthentication checks it for session users), as for any
    # DRF view; token requests carry no CSRF cookie.
    @csrf_exempt
    def dispatch(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        callback = by_method.get(request.method or "", callbacks[0])
        response = callback(request, *args, **kwargs)
        if response.status_code == 405 or request.method == "OPTIONS":
            response["Allow"] = allowed
        return response

    dispatch.cls = api_views[0]  # type: ignore[attr-defined]
    dispatch.initkwargs = {}  # type: ignore[attr-defined]
    return [
        path(route, dispatch, name=name),
        *(path(route, callback) for callback in callbacks[1:]),
    ]


urlpatterns = [
    *_route("cases/", views.CaseListApi, views.CaseCreateApi, name="api-case-list"),
    # Before the case routes: "import" would otherwise be read as a public id.
    path("cases/import/", views.CaseImportApi.as_view(), name="api-case-import"),
    *_route(
        "cases/<str:public_id>/",
        views.CaseDetailApi,
        views.CaseUpdateApi,
        views.CaseDeleteApi,
        name="api-case-detail",
    ),
    path("cases/<str:public_id>/consent/", views.CaseConsentApi.as_view(), name="api-case-consent"),
    path(
        "cases/<str:public_id>/withdraw/", views.CaseWithdrawApi.as_view(), name="api-case-withdraw"
    ),
    path(
        "cases/<str:public_id>/reactivate/",
        views.CaseReactivateApi.as_view(),
        name="api-case-reactivate",
    ),
    path("cases/<str:public_id>/export/", views.CaseExportApi.as_view(), name="api-case-export"),
    path(
        "cases/<str:public_id>/matches/",
        views.CaseMatchListApi.as_view(),
        name="api-case-matches",
    ),
    path("matches/", views.MatchListApi.as_view(), name="api-match-list"),
    *_route(
        "matches/<int:match_id>/",
        views.MatchDetailApi,
        views.MatchTriageApi,
        name="api-match-detail",
    ),
]
