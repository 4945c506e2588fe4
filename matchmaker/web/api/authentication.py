"""Authentication of the local REST API: `Authorization: Token <key>` (or `Bearer <key>`).

An API token acts as its user, inside the user's institution, on /api/v1/ only. Peer tokens
(X-Auth-Token) mean nothing here, and API tokens mean nothing on /mme/: the two kinds of
credential are checked by different classes on different views.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.contrib.auth.models import User
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from matchmaker.cases.selectors import membership_of
from matchmaker.lib.secrets import hash_token
from matchmaker.web.models import ApiToken

if TYPE_CHECKING:
    from drf_spectacular.openapi import AutoSchema
    from rest_framework.views import APIView

KEYWORDS = ("token", "bearer")  # compared in lower case
MAX_KEY_LENGTH = 255
# last_used_at is a hint for operators ("is this script still running?"), not an audit log:
# refreshing it at most once a minute spares a write on every request of a busy script.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].decode("latin-1").lower() not in KEYWORDS:
            return None  # another scheme, or none: the session may still authenticate
        if len(parts) != 2:
            raise AuthenticationFailed("Authorization header: expected 'Token <key>'")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("invalid API token") from None
        if len(key) > MAX_KEY_LENGTH:
            raise AuthenticationFailed("invalid API token")
        token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(key)).first()
        if token is None or not token.user.is_active:
            raise AuthenticationFailed("invalid API token")
        if token.is_revoked:
            raise AuthenticationFailed("this API token was revoked")
        if token.is_expired:
            raise AuthenticationFailed("this API token has expired")
        _note_use(token)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # Any value makes DRF answer 401 (not 403) to a request without credentials.
        return 'Token realm="api"'


def _note_use(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    # Conditional, so that concurrent requests of one script write the row once.
    ApiToken.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION),
        pk=token.pk,
    ).update(last_used_at=now)


class IsInstitutionMember(BasePermission):
    """Every API operation acts inside the user's institution; without one there is nothing to do."""

    message = (
        "your account is not a member of any institution; ask your institution's administrator "
        "to add you before using the API"
    )

    def has_permission(self, request: Request, view: APIView) -> bool:
        return membership_of(request.user) is not None


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes API tokens."""

    target_class = ApiTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>` (or `Bearer <key>`); create a key with "
            "`python manage.py create_api_token USERNAME --name NAME`.",
        }
