from __future__ import annotations

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "matchmaker administration"
admin.site.site_title = "matchmaker"

urlpatterns = [
    path("admin/", admin.site.urls),
    # Until the clinicians' pages exist, the admin is the node's front door.
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
