from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from matchmaker.beacon.models import BeaconClient, BeaconDataset, BeaconQuery
from matchmaker.beacon.services import MIN_TOKEN_LENGTH
from matchmaker.lib.secrets import hash_token


class BeaconClientForm(forms.ModelForm[BeaconClient]):
    token = forms.CharField(
        required=False,
        min_length=MIN_TOKEN_LENGTH,
        widget=forms.PasswordInput(render_value=False),
        help_text="The bearer token this client sends (stored only as a hash). Leave blank to "
        "keep the current one.",
    )

    class Meta:
        model = BeaconClient
        fields = [
            "name",
            "description",
            "granularity",
            "enabled",
            "rate_limit_per_minute",
            "contact_email",
        ]

    def clean_token(self) -> str:
        token: str = self.cleaned_data.get("token", "").strip()
        if token:
            others = BeaconClient.objects.filter(token_hash=hash_token(token))
            if others.exclude(pk=self.instance.pk).exists():
                raise forms.ValidationError("This token is already another Beacon client's token.")
        return token

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.instance.pk and not data.get("token"):
            self.add_error("token", "A new client needs a token.")
        return data

    def save(self, commit: bool = True) -> BeaconClient:
        client = super().save(commit=False)
        if self.cleaned_data.get("token"):
            client.set_token(self.cleaned_data["token"])
        if commit:
            client.save()
        return client


@admin.register(BeaconClient)
class BeaconClientAdmin(admin.ModelAdmin[BeaconClient]):
    form = BeaconClientForm
    list_display = ["name", "granularity", "enabled", "token_hint", "rate_limit_per_minute"]
    list_filter = ["granularity", "enabled"]
    search_fields = ["name", "contact_email"]
    readonly_fields = ["token_hint", "created_at", "updated_at"]


@admin.register(BeaconDataset)
class BeaconDatasetAdmin(admin.ModelAdmin[BeaconDataset]):
    list_display = ["identifier", "name", "institution"]
    search_fields = ["identifier", "name", "institution__name"]


@admin.register(BeaconQuery)
class BeaconQueryAdmin(admin.ModelAdmin[BeaconQuery]):
    """The audit log: read-only."""

    list_display = [
        "requested_at",
        "client_name",
        "endpoint",
        "status_code",
        "returned_granularity",
        "exists",
        "disclosed_count",
    ]
    list_filter = ["endpoint", "status_code", "returned_granularity", "test_mode"]
    search_fields = ["client_name"]
    date_hierarchy = "requested_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: BeaconQuery | None = None) -> bool:
        return False
