from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from matchmaker.security.middleware import content_security_policy

admin.site.site_header = "matchmaker administration"
admin.site.site_title = "matchmaker"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("mme/", include("matchmaker.web.urls.mme")),
    # GA4GH Beacon v2 for discovery networks (docs/operations.md, "Beacon").
    path("beacon/", include("matchmaker.beacon.urls")),
    # /health/live, /health/ready and /metrics (docs/scaling.md, "Monitoring").
    path("", include("matchmaker.observability.urls")),
    # The OpenAPI schema and its browser, for the node's own staff.
    path("api/schema/", staff_member_required(SpectacularAPIView.as_view()), name="schema"),
    path(
        "api/docs/",
        # Its script from a URL, not inline (split view); Swagger UI styles itself inline, so
        # this page alone allows inline styles (docs/security.md).
        staff_member_required(
            content_security_policy(style_src="'self' 'unsafe-inline'")(
                SpectacularSwaggerSplitView.as_view(url_name="schema")
            )
        ),
        name="api-docs",
    ),
    path("", include("matchmaker.web.urls")),
]

# A database outage is a 503 with Retry-After on every path, pages and APIs alike.
handler500 = "matchmaker.web.views.errors.server_error"
