"""Registering peer nodes and checking their URLs and tokens."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from matchmaker.federation.models import MAX_TOKEN_LENGTH, Peer
from matchmaker.lib.errors import FieldValidationError
from matchmaker.lib.secrets import hash_token

# Shorter tokens are guessable; the join protocol recommends 40 random hex characters.
MIN_TOKEN_LENGTH = 16


def check_peer_base_url(base_url: str, *, field: str = "base_url") -> None:
    """Peers are reached over HTTPS (join protocol); HTTP only where FEDERATION_ALLOW_HTTP."""
    if not base_url:
        return
    if base_url.startswith("https://"):
        return
    if base_url.startswith("http://") and settings.FEDERATION_ALLOW_HTTP:
        return
    raise FieldValidationError(
        [(field, "must be an https:// URL (MME requires TLS between nodes)")]
    )


def check_inbound_token_free(token: str, *, except_peer: Peer | None = None) -> None:
    """Tokens identify the peer, so each must be unique; raises naming the field otherwise."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise FieldValidationError(
            [("inbound_token", f"is longer than {MAX_TOKEN_LENGTH} characters")]
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise FieldValidationError(
            [("inbound_token", f"is shorter than {MIN_TOKEN_LENGTH} characters: too easy to guess")]
        )
    clash = Peer.objects.filter(inbound_token_hash=hash_token(token))
    if except_peer is not None and except_peer.pk is not None:
        clash = clash.exclude(pk=except_peer.pk)
    if clash.exists():
        raise FieldValidationError([("inbound_token", "is already the token of another peer")])


@transaction.atomic
def add_peer(
    name: str,
    *,
    base_url: str = "",
    inbound_token: str = "",
    outbound_token: str = "",
    description: str = "",
    api_version: str = Peer.ApiVersion.V1_0,
    contact_email: str = "",
    timeout_seconds: float = 30.0,
    enabled: bool = True,
) -> Peer:
    """Register a peer node; every problem raises `FieldValidationError` naming the option."""
    errors: list[tuple[str, str]] = []
    if not name.strip():
        errors.append(("name", "is required"))
    elif Peer.objects.filter(name=name.strip()).exists():
        errors.append(("name", f"a peer named {name.strip()!r} already exists"))
    if api_version not in Peer.ApiVersion.values:
        errors.append(("api_version", f"must be one of {', '.join(Peer.ApiVersion.values)}"))
    if not 0 < timeout_seconds <= 600:
        errors.append(("timeout", "must be more than 0 and at most 600 seconds"))
    if outbound_token and not base_url:
        errors.append(("base_url", "is required to send the outbound token anywhere"))
    checks: list[Callable[[], None]] = [lambda: check_peer_base_url(base_url)]
    if inbound_token:
        checks.append(lambda: check_inbound_token_free(inbound_token))
    for check in checks:
        try:
            check()
        except FieldValidationError as error:
            errors.extend(error.errors)
    if len(outbound_token) > MAX_TOKEN_LENGTH:
        errors.append(("outbound_token", f"is longer than {MAX_TOKEN_LENGTH} characters"))
    if errors:
        raise FieldValidationError(errors)
    peer = Peer(
        name=name.strip(),
        base_url=base_url,
        description=description,
        api_version=api_version,
        contact_email=contact_email,
        timeout_seconds=timeout_seconds,
        enabled=enabled,
    )
    peer.set_inbound_token(inbound_token)
    peer.set_outbound_token(outbound_token)
    try:
        peer.full_clean()
    except ValidationError as error:
        raise FieldValidationError(
            [
                (name, message)
                for name, messages in error.message_dict.items()
                for message in messages
            ]
        ) from None
    peer.save()
    return peer
