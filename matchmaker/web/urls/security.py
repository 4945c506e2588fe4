"""Routes of the login's second step and the "Two-factor login" page (views/security.py)."""

from __future__ import annotations

from django.urls import path

from matchmaker.web.views import security

urlpatterns = [
    path("accounts/login/code/", security.login_code, name="login-code"),
    path("accounts/two-factor/", security.two_factor_page, name="two-factor"),
    path("accounts/two-factor/setup/", security.two_factor_setup, name="two-factor-setup"),
    path("accounts/two-factor/confirm/", security.two_factor_confirm, name="two-factor-confirm"),
    path("accounts/two-factor/disable/", security.two_factor_disable, name="two-factor-disable"),
]
