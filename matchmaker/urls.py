from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

admin.site.site_header = "matchmaker administration"
admin.site.site_title = "matchmaker"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("mme/", include("matchmaker.federation.urls")),
    # The OpenAPI schema and its browser, for the node's own staff.
    path("api/schema/", staff_member_required(SpectacularAPIView.as_view()), name="schema"),
    path(
        "api/docs/",
        staff_member_required(SpectacularSwaggerView.as_view(url_name="schema")),
        name="api-docs",
    ),
    path("", include("matchmaker.web.urls")),
]
