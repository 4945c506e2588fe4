from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from matchmaker.beacon.models import Granularity
from matchmaker.beacon.services import add_beacon_client
from matchmaker.lib.errors import FieldValidationError


class Command(BaseCommand):
    help = (
        "Register a Beacon Network aggregator or portal: the bearer token it sends (stored as a "
        "hash) and the finest answer it gets (boolean or count). --token-file keeps the token "
        "out of the shell history."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--token", default="")
        parser.add_argument("--token-file", type=Path)
        parser.add_argument(
            "--granularity", choices=Granularity.values, default=Granularity.BOOLEAN
        )
        parser.add_argument("--description", default="")
        parser.add_argument("--contact-email", default="")
        parser.add_argument("--rate-limit", type=int, help="queries per minute (default: setting)")

    def handle(self, *args: Any, **options: Any) -> None:
        token = options["token"]
        if options["token_file"]:
            try:
                token = options["token_file"].read_text().strip()
            except OSError as error:
                raise CommandError(f"--token-file: {error}") from error
        if not token:
            raise CommandError("give --token or --token-file")
        try:
            client = add_beacon_client(
                options["name"],
                token=token,
                granularity=options["granularity"],
                description=options["description"],
                contact_email=options["contact_email"],
                rate_limit_per_minute=options["rate_limit"],
            )
        except FieldValidationError as error:
            raise CommandError(error.message) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Beacon client {client.name!r} registered ({client.granularity} answers)."
            )
        )
