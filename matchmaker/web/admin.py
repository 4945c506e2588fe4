"""Admin for API tokens: list, inspect and revoke them; keys are never shown (only hashes exist).

New tokens are created with `manage.py create_api_token`, which prints the key once.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from matchmaker.web.models import ApiToken
from matchmaker.web.services import revoke_api_token

# Every field shown is read-only: a token is made by `create_api_token`, then only revoked.
_SHOWN = ("user", "name", "key_hint", "created_at", "last_used_at", "expires_at", "revoked_at")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = [
        "key_hint",
        "user",
        "name",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["name", "user__username", "hint"]
    fields = _SHOWN
    readonly_fields = _SHOWN
    actions = ["revoke"]

    @admin.display(description="key")
    def key_hint(self, token: ApiToken) -> str:
        return f"…{token.hint}"

    @admin.action(description="Revoke the selected tokens", permissions=["delete"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        tokens = list(queryset.filter(revoked_at__isnull=True))
        for token in tokens:
            revoke_api_token(token)
        self.message_user(request, f"Revoked {len(tokens)} token(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A key must be shown once when it is made, which `create_api_token` does.
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False
