"""Signals the cases app sends for layers above it to observe (it imports none of them)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent when a stored case (form, REST, imported file) or a peer's query names well-formed HPO ids
# or genes that the loaded releases do not know; they are kept or ignored, never refused.
# Arguments: terms (tuple of HPO ids), genes (tuple of identifiers).
identifiers_not_in_release = Signal()


def report_identifiers_not_in_release(terms: tuple[str, ...], genes: tuple[str, ...]) -> None:
    """Tell observers (the /metrics counter) about identifiers newer than the node's releases."""
    if terms or genes:
        identifiers_not_in_release.send(sender=None, terms=terms, genes=genes)
