from __future__ import annotations

from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "matchmaker.cases"
    label = "cases"
