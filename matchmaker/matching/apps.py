from __future__ import annotations

from django.apps import AppConfig


class MatchingConfig(AppConfig):
    name = "matchmaker.matching"
    label = "matching"
