"""Who may ask the node's GA4GH Beacon, what it offers as datasets, and what was asked.

A Beacon answers with booleans or counts over the shareable cases, never records: a client's
`granularity` caps what it gets, and every query is audited in `BeaconQuery`.
"""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from matchmaker.lib.secrets import hash_token, hint_of_token

# As for MME peers: long random strings, capped so a lookup never hashes megabytes.
MAX_TOKEN_LENGTH = 255


class Granularity(models.TextChoices):
    """Beacon v2 granularities; `record` exists in the protocol but no client is granted it."""

    BOOLEAN = "boolean", "Boolean (yes/no)"
    COUNT = "count", "Count"


# Coarsest first: a client gets the finer of what it asked and what it was granted, never more.
GRANULARITY_ORDER = ("boolean", "count", "record")


class BeaconClient(models.Model):
    """A Beacon Network aggregator or portal allowed to query us, recognised by its token.

    The token is stored only as a hash (like a peer's inbound token) and opens the Beacon
    endpoints only.
    """

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The last characters of the token, so an operator can tell which token is set.
    token_hint = models.CharField(max_length=8, blank=True, editable=False)
    granularity = models.CharField(
        max_length=16,
        choices=Granularity.choices,
        default=Granularity.BOOLEAN,
        help_text="The finest answer this client gets: boolean (exists or not) or count.",
    )
    enabled = models.BooleanField(
        default=True, help_text="A disabled client's token is refused (401)."
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Queries per minute we accept from this client. Blank: "
        "BEACON_RATE_LIMIT_PER_MINUTE.",
    )
    contact_email = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_token(self, token: str) -> None:
        self.token_hash = hash_token(token)
        self.token_hint = hint_of_token(token)


class BeaconDataset(models.Model):
    """An institution's opt-in to the Beacon: its shareable cases become one dataset.

    With no dataset recorded, the node is one dataset (BEACON_NODE_DATASET_* settings) over all
    shareable cases; once any institution opts in, only opted-in institutions are counted.
    """

    institution = models.OneToOneField(
        "cases.Institution", on_delete=models.CASCADE, related_name="beacon_dataset"
    )
    # The dataset id clients name in `datasets` (stable: do not reuse one for another institution).
    identifier = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    # Data Use Ontology terms, [{"id": "DUO:0000007", "label": "disease specific research"}].
    data_use = models.JSONField(
        default=list,
        blank=True,
        help_text='DUO terms as a JSON list: [{"id": "DUO:0000042", "label": "general research '
        'use"}].',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["identifier"]

    def __str__(self) -> str:
        return self.identifier


class BeaconQuery(models.Model):
    """One Beacon request: who asked, what, and what the answer disclosed. Never edited."""

    client = models.ForeignKey(
        BeaconClient, on_delete=models.SET_NULL, null=True, blank=True, related_name="queries"
    )
    # Kept as text too: the row must still say who it was after a client is deleted.
    client_name = models.CharField(max_length=100, blank=True)  # "" for anonymous
    remote_address = models.GenericIPAddressField(null=True, blank=True)
    requested_at = models.DateTimeField(default=timezone.now, db_index=True)
    endpoint = models.CharField(max_length=64)  # "individuals", "g_variants", "info", ...
    method = models.CharField(max_length=8)
    status_code = models.PositiveSmallIntegerField()
    requested_granularity = models.CharField(max_length=16, blank=True)
    returned_granularity = models.CharField(max_length=16, blank=True)
    test_mode = models.BooleanField(default=False)
    filters = models.JSONField(default=list, blank=True)  # filter ids as received
    request_parameters = models.JSONField(default=dict, blank=True)
    # What the client was told: exists, and the count only when one was disclosed.
    exists = models.BooleanField(null=True, blank=True)
    disclosed_count = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    latency_ms = models.FloatField()

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["client", "requested_at"])]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.client_name or 'anonymous'} {self.status_code}"
