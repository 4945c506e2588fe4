from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from matchmaker.federation.services import add_peer
from matchmaker.lib.errors import FieldValidationError


class Command(BaseCommand):
    help = (
        "Register a peer MME node: the token it sends us (stored as a hash) and, to query it, "
        "its base URL and the token we send (stored encrypted). Tokens may be read from files "
        "(--inbound-token-file, --outbound-token-file) to keep them out of the shell history."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--base-url", default="", help="e.g. https://mme.example.org/mme")
        parser.add_argument("--inbound-token", default="")
        parser.add_argument("--inbound-token-file", type=Path)
        parser.add_argument("--outbound-token", default="")
        parser.add_argument("--outbound-token-file", type=Path)
        parser.add_argument("--description", default="")
        parser.add_argument("--api-version", default="1.0", help="the version we speak to it")
        parser.add_argument("--contact-email", default="")
        parser.add_argument("--timeout", type=float, default=30.0, help="seconds (read timeout)")
        parser.add_argument("--disabled", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        inbound = _token(options["inbound_token"], options["inbound_token_file"], "inbound")
        outbound = _token(options["outbound_token"], options["outbound_token_file"], "outbound")
        if not inbound and not outbound:
            raise CommandError("give --inbound-token, --outbound-token or both")
        try:
            peer = add_peer(
                options["name"],
                base_url=options["base_url"],
                inbound_token=inbound,
                outbound_token=outbound,
                description=options["description"],
                api_version=options["api_version"],
                contact_email=options["contact_email"],
                timeout_seconds=options["timeout"],
                enabled=not options["disabled"],
            )
        except FieldValidationError as error:
            raise CommandError(
                "; ".join(
                    f"--{field.replace('_', '-')}: {message}" for field, message in error.errors
                )
            ) from None
        can = []
        if inbound:
            can.append("it may query us at /mme/")
        if outbound:
            can.append(f"we query it at {peer.match_url}")
        self.stdout.write(f"Added peer {peer.name} (id {peer.pk}): {', '.join(can)}.")


def _token(value: str, path: Path | None, which: str) -> str:
    if path is None:
        return value.strip()
    if value:
        raise CommandError(f"give --{which}-token or --{which}-token-file, not both")
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise CommandError(f"--{which}-token-file: cannot read {path}: {error}") from None
