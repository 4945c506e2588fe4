from __future__ import annotations

from django.apps import AppConfig


class CaseworkConfig(AppConfig):
    """The one place that writes cases and matches and sequences what follows a change.

    Store, index, match locally, search peers, notify, audit: every writer (pages, REST API,
    admin, commands, peers' queries) calls these services, so each step happens in one order.
    """

    name = "matchmaker.casework"
    label = "casework"
