"""`mme_check BASE_URL --token TOKEN`: the MME conformance checks against any node."""

from __future__ import annotations

import logging
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from matchmaker.federation.conformance import (
    DEFAULT_API_VERSION,
    DEFAULT_TIMEOUT,
    format_results,
    run_conformance_checks,
)


class Command(BaseCommand):
    help = (
        "Send the standard good and bad Matchmaker Exchange requests to a node (ours or a "
        "peer's) and print one PASS/FAIL line per check; exits non-zero if any check fails."
    )
    # The checks talk to a remote node only: nothing here needs this project's database or
    # settings to be in a deployable state.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "base_url",
            help="the node's base URL: scheme, host, optional port and path prefix "
            "(/match, /heartbeat and /metrics are appended)",
        )
        token = parser.add_mutually_exclusive_group(required=True)
        token.add_argument(
            "--token",
            help="the X-Auth-Token the node issued to us (shows in the process list: "
            "prefer --token-file)",
        )
        token.add_argument(
            "--token-file",
            type=Path,
            help="a file holding the token (surrounding whitespace is ignored)",
        )
        parser.add_argument(
            "--api-version",
            default=DEFAULT_API_VERSION,
            help=f"the MME API version to ask for (default {DEFAULT_API_VERSION})",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=DEFAULT_TIMEOUT,
            help=f"seconds to wait for each answer (default {DEFAULT_TIMEOUT:g})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        token = _read_token(options["token"], options["token_file"])
        self.stdout.write(f"Checking {options['base_url']} (MME API v{options['api_version']})")
        # httpx logs every request at INFO; the PASS/FAIL lines already say it all unless asked.
        httpx_logger = logging.getLogger("httpx")
        previous_level = httpx_logger.level
        if options["verbosity"] < 2:
            httpx_logger.setLevel(logging.WARNING)
        try:
            results = run_conformance_checks(
                options["base_url"],
                token=token,
                api_version=options["api_version"],
                timeout=options["timeout"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        finally:
            httpx_logger.setLevel(previous_level)
        self.stdout.write(format_results(results))
        failed = sum(not result.passed for result in results)
        if failed:
            raise CommandError(f"{failed} of {len(results)} checks failed")


def _read_token(token: str | None, token_file: Path | None) -> str:
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"--token-file: cannot read {token_file}: {error}") from None
    if not token or not token.strip():
        raise CommandError("the token is empty")
    return token.strip()
