from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from matchmaker.federation import services
from matchmaker.federation.models import MAX_TOKEN_LENGTH, MmeRequestLog, Peer, PeerSearch
from matchmaker.lib.errors import FieldValidationError

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec


class PeerForm(forms.ModelForm[Peer]):
    """Tokens are written, never shown: the inbound one is kept only as a hash."""

    base_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="Scheme, host, optional port and path prefix; we append /match.",
    )
    new_inbound_token = forms.CharField(
        required=False,
        max_length=MAX_TOKEN_LENGTH,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="The token this peer sends us in X-Auth-Token (unique per peer). Leave empty "
        'to keep the current one. Generate one with: python -c "import secrets; '
        'print(secrets.token_hex(20))"',
    )
    new_outbound_token = forms.CharField(
        required=False,
        max_length=MAX_TOKEN_LENGTH,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="The token we send this peer (stored encrypted). Leave empty to keep it.",
    )
    remove_inbound_token = forms.BooleanField(
        required=False, help_text="Stop accepting this peer's queries."
    )

    class Meta:
        model = Peer
        fields = [
            "name",
            "description",
            "base_url",
            "api_version",
            "enabled",
            "connect_timeout_seconds",
            "timeout_seconds",
            "require_shared_gene",
            "rate_limit_per_minute",
            "contact_name",
            "contact_email",
            "disclaimer",
            "terms",
        ]

    def clean_base_url(self) -> str:
        base_url: str = self.cleaned_data["base_url"]
        try:
            services.check_peer_base_url(base_url, field="base_url")
        except FieldValidationError as error:
            raise forms.ValidationError([message for _, message in error.errors]) from None
        return base_url

    def clean_new_inbound_token(self) -> str:
        token: str = self.cleaned_data["new_inbound_token"]
        if token:
            try:
                services.check_inbound_token_free(token, except_peer=self.instance)
            except FieldValidationError as error:
                raise forms.ValidationError([message for _, message in error.errors]) from None
        return token

    def save(self, commit: bool = True) -> Peer:
        peer = super().save(commit=False)
        if self.cleaned_data.get("remove_inbound_token"):
            peer.set_inbound_token("")
        elif self.cleaned_data.get("new_inbound_token"):
            peer.set_inbound_token(self.cleaned_data["new_inbound_token"])
        if self.cleaned_data.get("new_outbound_token"):
            peer.set_outbound_token(self.cleaned_data["new_outbound_token"])
        if commit:
            peer.save()
        return peer


@admin.register(Peer)
class PeerAdmin(admin.ModelAdmin[Peer]):
    form = PeerForm
    list_display = [
        "name",
        "base_url",
        "api_version",
        "enabled",
        "accepts_queries",
        "queried",
        "health",
    ]
    list_filter = ["enabled", "api_version"]
    search_fields = ["name", "base_url", "contact_email"]
    readonly_fields = [
        "inbound_token_hint",
        "consecutive_failures",
        "circuit_open_until",
        "last_success_at",
        "last_failure_at",
        "last_error",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="health of our queries")
    def health(self, peer: Peer) -> str:
        if peer.circuit_open_until is not None and peer.circuit_open_until > timezone.now():
            return f"skipped until {peer.circuit_open_until:%Y-%m-%d %H:%M} UTC"
        if peer.consecutive_failures:
            return f"{peer.consecutive_failures} failures in a row: {peer.last_error[:80]}"
        return "ok" if peer.last_success_at else "not asked yet"

    @admin.display(boolean=True, description="may query us")
    def accepts_queries(self, peer: Peer) -> bool:
        return bool(peer.inbound_token_hash)

    @admin.display(boolean=True, description="we query it")
    def queried(self, peer: Peer) -> bool:
        return bool(peer.outbound_token_encrypted and peer.base_url)

    def get_fieldsets(self, request: HttpRequest, obj: Peer | None = None) -> _FieldsetSpec:
        return [
            (None, {"fields": ["name", "description", "enabled", "contact_name", "contact_email"]}),
            (
                "Querying this peer",
                {
                    "fields": [
                        "base_url",
                        "api_version",
                        "new_outbound_token",
                        "connect_timeout_seconds",
                        "timeout_seconds",
                    ]
                },
            ),
            (
                "Answering this peer",
                {
                    "fields": [
                        "new_inbound_token",
                        "inbound_token_hint",
                        "remove_inbound_token",
                        "require_shared_gene",
                        "rate_limit_per_minute",
                    ]
                },
            ),
            ("What the peer sends with its answers", {"fields": ["disclaimer", "terms"]}),
            (
                "Health of our queries",
                {
                    "fields": [
                        "consecutive_failures",
                        "circuit_open_until",
                        "last_success_at",
                        "last_failure_at",
                        "last_error",
                    ]
                },
            ),
            (None, {"fields": ["created_at", "updated_at"]}),
        ]


@admin.register(PeerSearch)
class PeerSearchAdmin(admin.ModelAdmin[PeerSearch]):
    """The latest search of each case at each peer: waiting, answered, failed or skipped."""

    list_display = ["case", "peer", "status", "result_count", "detail", "attempts", "requested_at"]
    list_filter = ["status", "peer"]
    search_fields = ["=case__public_id"]
    list_select_related = ["case", "peer"]
    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: PeerSearch | None = None) -> list[str]:
        return [field.name for field in PeerSearch._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PeerSearch | None = None) -> bool:
        return False


@admin.register(MmeRequestLog)
class MmeRequestLogAdmin(admin.ModelAdmin[MmeRequestLog]):
    """The audit log is read-only: rows are written by the API and the client, never by hand."""

    list_display = [
        "requested_at",
        "direction",
        "peer_name",
        "endpoint",
        "status_code",
        "api_version",
        "result_count",
        "latency",
        "is_test",
    ]
    list_filter = ["direction", "endpoint", "status_code", "is_test", "peer"]
    search_fields = ["peer_name", "error"]
    date_hierarchy = "requested_at"
    show_full_result_count = False

    @admin.display(description="latency (ms)", ordering="latency_ms")
    def latency(self, entry: MmeRequestLog) -> str:
        return f"{entry.latency_ms:.1f}"

    def get_readonly_fields(
        self, request: HttpRequest, obj: MmeRequestLog | None = None
    ) -> list[str]:
        return [field.name for field in MmeRequestLog._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: MmeRequestLog | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: MmeRequestLog | None = None) -> bool:
        return False
