from __future__ import annotations

from django.urls import path

from matchmaker.web.views.mme import HeartbeatApi, MatchApi, MetricsApi

app_name = "mme"

# With and without a trailing slash: peers append "/match" to a base URL that may or may not end
# in "/", and a redirect would turn their POST into a GET.
urlpatterns = [
    path("match", MatchApi.as_view(), name="match"),
    path("match/", MatchApi.as_view()),
    path("heartbeat", HeartbeatApi.as_view(), name="heartbeat"),
    path("heartbeat/", HeartbeatApi.as_view()),
    path("metrics", MetricsApi.as_view(), name="metrics"),
    path("metrics/", MetricsApi.as_view()),
]
