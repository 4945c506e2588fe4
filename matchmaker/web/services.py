"""Writes of the web app's own rows: the REST API's tokens."""

from __future__ import annotations

import secrets
from datetime import datetime

from django.contrib.auth.models import User
from django.utils import timezone

from matchmaker.lib.secrets import hash_token
from matchmaker.web.models import ApiToken

KEY_PREFIX = "mmapi_"  # lets secret scanners and people recognise a leaked key


def create_api_token(
    user: User, *, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Issue a new token for `user`; return it with its key, which is not stored and never shown again."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name.strip(),
        key_hash=hash_token(key),
        hint=key[-4:],
        expires_at=expires_at,
    )
    return token, key


def revoke_api_token(token: ApiToken) -> None:
    """Stop accepting the token from now on (it stays listed, with when it was revoked)."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
