from __future__ import annotations

from django.contrib import admin
from django.urls import path

admin.site.site_header = "matchmaker administration"
admin.site.site_title = "matchmaker"

urlpatterns = [
    path("admin/", admin.site.urls),
]
