"""Registering Beacon clients and auditing their queries."""

from __future__ import annotations

from typing import Any

from matchmaker.beacon.models import MAX_TOKEN_LENGTH, BeaconClient, BeaconQuery, Granularity
from matchmaker.lib.errors import FieldValidationError
from matchmaker.lib.secrets import hash_token

# Tokens are bearer secrets: long enough that guessing one is hopeless (like peers' tokens).
MIN_TOKEN_LENGTH = 32


def add_beacon_client(
    name: str,
    *,
    token: str,
    granularity: str = Granularity.BOOLEAN,
    description: str = "",
    contact_email: str = "",
    rate_limit_per_minute: int | None = None,
) -> BeaconClient:
    """Register a Beacon Network aggregator or portal; problems raise `FieldValidationError`."""
    errors: list[tuple[str, str]] = []
    name = name.strip()
    if not name:
        errors.append(("name", "is required"))
    elif BeaconClient.objects.filter(name=name).exists():
        errors.append(("name", f"a Beacon client named {name!r} already exists"))
    if granularity not in Granularity.values:
        errors.append(
            (
                "granularity",
                f"must be one of {', '.join(Granularity.values)} (record-level answers are not "
                "offered)",
            )
        )
    token = token.strip()
    if not MIN_TOKEN_LENGTH <= len(token) <= MAX_TOKEN_LENGTH:
        errors.append(
            ("token", f"must be {MIN_TOKEN_LENGTH} to {MAX_TOKEN_LENGTH} characters long")
        )
    elif BeaconClient.objects.filter(token_hash=hash_token(token)).exists():
        errors.append(("token", "is already another Beacon client's token"))
    if rate_limit_per_minute is not None and rate_limit_per_minute < 1:
        errors.append(("rate_limit_per_minute", "must be at least 1"))
    if errors:
        raise FieldValidationError(errors)
    client = BeaconClient(
        name=name,
        granularity=granularity,
        description=description,
        contact_email=contact_email,
        rate_limit_per_minute=rate_limit_per_minute,
    )
    client.set_token(token)
    client.save()
    return client


def record_beacon_query(
    *,
    client: BeaconClient | None,
    remote_address: str | None,
    endpoint: str,
    method: str,
    status_code: int,
    latency_ms: float,
    requested_granularity: str = "",
    returned_granularity: str = "",
    test_mode: bool = False,
    filters: list[str] | None = None,
    request_parameters: dict[str, Any] | None = None,
    exists: bool | None = None,
    disclosed_count: int | None = None,
    error: str = "",
) -> BeaconQuery:
    return BeaconQuery.objects.create(
        client=client,
        client_name=client.name if client else "",
        remote_address=remote_address,
        endpoint=endpoint,
        method=method,
        status_code=status_code,
        latency_ms=latency_ms,
        requested_granularity=requested_granularity,
        returned_granularity=returned_granularity,
        test_mode=test_mode,
        filters=filters or [],
        request_parameters=request_parameters or {},
        exists=exists,
        disclosed_count=disclosed_count,
        error=error,
    )
