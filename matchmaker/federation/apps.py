from __future__ import annotations

from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "matchmaker.federation"
    label = "federation"
