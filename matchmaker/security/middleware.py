"""Response headers Django does not set itself, and the REQUIRE_TWO_FACTOR gate.

Content-Security-Policy: the pages load scripts, styles and images from this node only, run no
inline script and no inline style (an injected `<script>` or `style=` does nothing), may not be
framed, and post forms only to this node. A view that needs another policy (the Swagger UI) says
so with `content_security_policy(...)`; the middleware leaves a header a view set alone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse

from matchmaker.security import two_factor

CSP_HEADER = "Content-Security-Policy"

DEFAULT_POLICY: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    # data: for the favicon placeholder and the admin's inline SVG icons.
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}

# Features no page of the node uses: a script injected despite the CSP gets none of them.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
)


def format_policy(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}" for name, value in directives.items())


DEFAULT_POLICY_HEADER = format_policy(DEFAULT_POLICY)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault(CSP_HEADER, DEFAULT_POLICY_HEADER)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


def content_security_policy(**directives: str) -> Callable[[Any], Any]:
    """Serve one view with the default policy changed by `directives` (`style_src="'self' ..."`)."""
    policy = format_policy(
        DEFAULT_POLICY | {name.replace("_", "-"): value for name, value in directives.items()}
    )

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            response = view(request, *args, **kwargs)
            response.headers[CSP_HEADER] = policy
            return response

        return wrapped

    return decorate


# Pages an unverified user may still open under REQUIRE_TWO_FACTOR: to get verified or leave.
_OPEN_URL_NAMES = (
    "login",
    "login-code",
    "logout",
    "two-factor",
    "two-factor-setup",
    "two-factor-confirm",
)
_OPEN_PREFIXES = ("/mme/", "/static/", "/accounts/password/reset/")


class TwoFactorRequiredMiddleware:
    """With REQUIRE_TWO_FACTOR, a signed-in user without a verified code only sets one up.

    Only then does it cost anything: a verified session is recognised from the session alone.
    Users with an authenticator are asked for their code at login in any case (views/security.py).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.REQUIRE_TWO_FACTOR and not self._is_open(request.path):
            user = request.user
            if user.is_authenticated and not two_factor.is_verified(user):
                return self._refuse(request)
        return self.get_response(request)

    @staticmethod
    @functools.cache
    def _open_paths() -> tuple[str, ...]:
        return tuple(reverse(name) for name in _OPEN_URL_NAMES)

    def _is_open(self, path: str) -> bool:
        return path.startswith(_OPEN_PREFIXES) or path in self._open_paths()

    @staticmethod
    def _refuse(request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"message": "this node requires two-factor login: set it up, then log in again"},
                status=403,
            )
        if two_factor.confirmed_device_of(request.user) is not None:
            return redirect_to_login(request.get_full_path())
        return HttpResponseRedirect(reverse("two-factor"))
