"""The signed-in user of a request, as the `User` row that our models point at."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from rest_framework.request import Request


def signed_in_user(request: HttpRequest | Request) -> User:
    """`request.user` in a view that only signed-in users reach (`login_required`, DRF's
    `IsAuthenticated`): an anonymous visitor there is refused, never passed on as an owner."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise PermissionDenied
    return user
