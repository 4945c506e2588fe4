from __future__ import annotations

from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from matchmaker.cases.selectors import membership_of
from matchmaker.web.services import create_api_token


class Command(BaseCommand):
    help = (
        "Create a REST API token for a user's scripts and print its key (shown this once; only "
        "a hash is stored). Scripts send it as 'Authorization: Token <key>' to /api/v1/."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="what the token is for")
        parser.add_argument(
            "--expires-in-days", type=int, help="the token stops working after this many days"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: options["username"]})
        except user_model.DoesNotExist:
            raise CommandError(f"no user {options['username']!r}") from None
        name = options["name"].strip()
        if not name:
            raise CommandError("--name: give the token a name (what it is for)")
        days = options["expires_in_days"]
        if days is not None and days < 1:
            raise CommandError("--expires-in-days: must be 1 or more")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        token, key = create_api_token(user, name=name, expires_at=expires_at)
        if membership_of(user) is None:
            self.stderr.write(
                self.style.WARNING(
                    f"{user} belongs to no institution: the API will refuse this token (403) "
                    "until they are added to one"
                )
            )
        self.stderr.write(
            f"Created API token {token.name!r} for {user} (…{token.hint}). Keep the key "
            "secret; it is not shown again:"
        )
        self.stdout.write(key)
