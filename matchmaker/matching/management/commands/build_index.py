from __future__ import annotations

import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from matchmaker.matching.index import build_case_index, save_case_index


class Command(BaseCommand):
    help = (
        "Build the case index (all active cases as arrays) from the database and save it to "
        "CASE_INDEX_PATH, so web and worker processes start from it instead of rebuilding it."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--output", type=Path, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        index, change_id = build_case_index()
        built = time.perf_counter() - started
        path = save_case_index(index, change_id, options["output"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Indexed {len(index):,} active cases in {built:.1f} s; saved to {path} "
                f"({index.memory_bytes() / 1e6:.0f} MB in memory)."
            )
        )
