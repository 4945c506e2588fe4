"""Credentials of the local REST API: tokens that hospital scripts send on behalf of a clinician.

They are separate from peer tokens (federation.Peer): an API token acts as its user, inside
that user's institution, on /api/v1/ only; a peer token opens the MME endpoints only.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A named key for one user's scripts, stored as a SHA-256 digest (the key is shown once)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    # What the key is for ("nightly LIMS export"), so a user can tell their tokens apart.
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The last characters of the key, so an operator can tell which key a script holds.
    hint = models.CharField(max_length=4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Refreshed at most once a minute (see ApiTokenAuthentication), not on every request.
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} (…{self.hint}, {self.user})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class InboxVisit(models.Model):
    """When a clinician last opened the matches inbox, so it can put what arrived since first.

    The inbox reads `visited_at` once per login session (the marker then stays put while they
    filter and page) and moves it to now; the navigation counts matches first seen after it.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_visit"
    )
    visited_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.user} at {self.visited_at:%Y-%m-%d %H:%M}"
