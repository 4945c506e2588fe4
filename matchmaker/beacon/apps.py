from __future__ import annotations

from django.apps import AppConfig


class BeaconConfig(AppConfig):
    name = "matchmaker.beacon"
    label = "beacon"
    verbose_name = "GA4GH Beacon"
