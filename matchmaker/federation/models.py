"""Peer nodes of the Matchmaker Exchange and the audit log of what crosses the node's boundary."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from matchmaker.lib.secrets import decrypt_secret, encrypt_secret, hash_token, hint_of_token

# The MME join protocol caps tokens at 255 characters (mme-api.md §1.2).
MAX_TOKEN_LENGTH = 255


class Peer(models.Model):
    """Another MME node: what we send it (URL, token) and how we recognise its requests to us.

    Trust is not reciprocal: a peer may query us without our querying it (no outbound token), or
    the reverse (no inbound token). Its inbound token is stored only as a hash and identifies the
    peer; it grants the MME endpoints and nothing else.
    """

    class ApiVersion(models.TextChoices):
        V1_0 = "1.0", "1.0"
        V1_1 = "1.1", "1.1"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    # Scheme, host, optional port and path prefix; "/match" is appended (join protocol).
    base_url = models.URLField(max_length=500, blank=True)
    outbound_token_encrypted = models.TextField(blank=True, editable=False)
    inbound_token_hash = models.CharField(
        max_length=64, unique=True, null=True, blank=True, editable=False
    )
    # The last characters of the inbound token, so an operator can tell which token is set.
    inbound_token_hint = models.CharField(max_length=8, blank=True, editable=False)
    api_version = models.CharField(
        max_length=8,
        choices=ApiVersion.choices,
        default=ApiVersion.V1_0,
        help_text="The MME API version we speak when we query this peer (most nodes speak 1.0).",
    )
    enabled = models.BooleanField(
        default=True, help_text="A disabled peer is neither queried nor answered."
    )
    connect_timeout_seconds = models.FloatField(
        default=5.0, validators=[MinValueValidator(0.1), MaxValueValidator(60)]
    )
    timeout_seconds = models.FloatField(
        default=30.0,
        validators=[MinValueValidator(0.1), MaxValueValidator(600)],
        help_text="How long we wait for this peer's answer (read timeout).",
    )
    # Blank: the node's MME_REQUIRE_SHARED_GENE setting.
    require_shared_gene = models.BooleanField(
        null=True,
        blank=True,
        help_text="Answer this peer only with cases that share a candidate gene with its query. "
        "Unknown: the node's default (MME_REQUIRE_SHARED_GENE).",
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Requests per minute we accept from this peer. Blank: MME_RATE_LIMIT_PER_MINUTE.",
    )
    contact_name = models.CharField(max_length=255, blank=True)
    contact_email = models.EmailField(blank=True)
    # The disclaimer and terms the peer sends with its answers; shown next to its results.
    disclaimer = models.TextField(blank=True)
    terms = models.TextField(blank=True)
    # Health of our queries to it, for the circuit breaker: after FEDERATION_CIRCUIT_FAILURES
    # failures in a row it is skipped until `circuit_open_until`, then tried again.
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    circuit_open_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_inbound_token(self, token: str) -> None:
        """Remember the token this peer sends us (as a hash); an empty token removes it."""
        self.inbound_token_hash = hash_token(token) if token else None
        self.inbound_token_hint = hint_of_token(token)

    def set_outbound_token(self, token: str) -> None:
        self.outbound_token_encrypted = encrypt_secret(token) if token else ""

    @property
    def outbound_token(self) -> str:
        """The token we send this peer, decrypted (never log it)."""
        if not self.outbound_token_encrypted:
            return ""
        return decrypt_secret(self.outbound_token_encrypted)

    @property
    def match_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/match"


class PeerSearch(models.Model):
    """The latest search of one of our cases at one peer, as the clinician sees it.

    A new search of the case bumps `generation`; a task carrying an older generation finds it
    superseded and does nothing, which is what debounces quick edits and makes a redelivered task
    harmless.
    """

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        ANSWERED = "answered", "Answered"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="peer_searches")
    peer = models.ForeignKey(Peer, on_delete=models.CASCADE, related_name="searches")
    generation = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.WAITING)
    result_count = models.PositiveIntegerField(null=True, blank=True)
    # Why it failed or was skipped, or the transient error being retried.
    detail = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    requested_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["peer__name"]
        constraints = [
            models.UniqueConstraint(fields=["case", "peer"], name="peer_search_one_per_case_peer")
        ]

    def __str__(self) -> str:
        return f"{self.case_id} at {self.peer_id}: {self.status}"


class CaseSearchSchedule(models.Model):
    """When a case's next search at the peers is due, and which request is the latest.

    Saving a case asks for a search after FEDERATION_DEBOUNCE_SECONDS; every ask bumps
    `generation`, and only the task of the latest generation runs, so ten quick edits make one
    search. `last_searched_at` drives the periodic re-search.
    """

    case = models.OneToOneField(
        "cases.Case", on_delete=models.CASCADE, related_name="search_schedule"
    )
    generation = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField(null=True, blank=True)
    last_searched_at = models.DateTimeField(null=True, blank=True, db_index=True)

    def __str__(self) -> str:
        return f"case {self.case_id} search #{self.generation}"


class MmeRequestLog(models.Model):
    """One request across the node's boundary: a peer asking us, or us asking a peer.

    Metadata is kept for every request. The query's patient is kept only while it may matter:
    for good when the query matched one of our cases (the owner may follow it up), otherwise until
    `payload_expires_at`, when the retention job clears it. Never edited after the request.
    """

    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound (a peer asked us)"
        OUTBOUND = "outbound", "Outbound (we asked a peer)"

    direction = models.CharField(max_length=16, choices=Direction.choices)
    peer = models.ForeignKey(
        Peer, on_delete=models.SET_NULL, null=True, blank=True, related_name="requests"
    )
    # Kept as text too: the row must still say who it was after a peer is deleted.
    peer_name = models.CharField(max_length=100, blank=True)
    endpoint = models.CharField(max_length=32)  # "match", "heartbeat", "metrics" or the path
    method = models.CharField(max_length=8)
    requested_at = models.DateTimeField(default=timezone.now, db_index=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    api_version = models.CharField(max_length=8, blank=True)
    result_count = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.FloatField()
    is_test = models.BooleanField(default=False)
    remote_address = models.GenericIPAddressField(null=True, blank=True)
    # What went wrong, as told to the peer (inbound) or as the peer's failure (outbound).
    error = models.TextField(blank=True)
    query_payload = models.JSONField(null=True, blank=True)
    payload_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Public ids of our cases in the answer, so deleting a case can reach its traces here.
    returned_case_ids = models.JSONField(default=list, blank=True)
    # HPO ids and genes of the query that the node's releases do not know (a peer on a newer
    # release): ignored for scoring, listed here so an operator sees what a peer sends.
    ignored_identifiers = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["peer", "requested_at"])]

    def __str__(self) -> str:
        who = self.peer_name or "unknown peer"
        return f"{self.get_direction_display()} {self.endpoint} {who} {self.status_code}"
