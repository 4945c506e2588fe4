"""The admin site, behind the same door as the clinicians' pages.

Staff log in through the node's own login page, so the admin gets the same lockout and asks for
the one-time code of users who set one up; a session that skipped the code (opened before the
authenticator was added) has no admin access until it gives one.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from matchmaker.security import two_factor


class SecureAdminSite(admin.AdminSite):
    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and not two_factor.needs_code(request.user)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        next_url = request.GET.get(REDIRECT_FIELD_NAME) or reverse(
            "admin:index", current_app=self.name
        )
        user = request.user
        if user.is_authenticated and user.is_active and user.is_staff:
            # Staff whose session lacks the code: the login page asks for it.
            return redirect_to_login(next_url)
        if user.is_authenticated:
            # Sending a signed-in clinician to the login page would bounce straight back.
            response: HttpResponse = render(
                request, "web/security/admin_denied.html", {"public_page": True}, status=403
            )
            return response
        return redirect_to_login(next_url)
