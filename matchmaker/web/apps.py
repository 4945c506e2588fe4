from __future__ import annotations

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "matchmaker.web"
    label = "web"

    def ready(self) -> None:
        # Registers the production-settings system check.
        import matchmaker.checks  # noqa: F401
