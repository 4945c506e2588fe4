from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class SecurityConfig(AppConfig):
    # This module holds two configs; the app itself is this one.
    default = True
    name = "matchmaker.security"
    label = "security"
    verbose_name = "Security"


class SecureAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with our site: the node's login page (lockout, two-factor) for staff."""

    default = False

    default_site = "matchmaker.security.admin_site.SecureAdminSite"
