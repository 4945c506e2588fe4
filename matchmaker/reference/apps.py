from __future__ import annotations

from django.apps import AppConfig


class ReferenceConfig(AppConfig):
    """The loaded reference releases: the HPO, its annotations and the gene catalogue."""

    name = "matchmaker.reference"
    label = "reference"
