from __future__ import annotations

import secrets
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from matchmaker.cases.models import Membership
from matchmaker.cases.services import ensure_institution


class Command(BaseCommand):
    help = (
        "Development only: create the superuser 'admin' with a random password, saved in "
        "DATA_DIR/demo-admin-password.txt, and print the login."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--institution", default="Local institution")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("create_demo_admin is for development (DEBUG=True) only")
        password_file = Path(settings.DATA_DIR) / "demo-admin-password.txt"
        user_model = get_user_model()
        user = user_model.objects.filter(username=options["username"]).first()
        if user is None or not password_file.exists():
            password = secrets.token_urlsafe(12)
            if user is None:
                user = user_model.objects.create_superuser(
                    username=options["username"], email="", password=password
                )
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n", encoding="utf-8")
            password_file.chmod(0o600)
        password = password_file.read_text(encoding="utf-8").strip()
        Membership.objects.get_or_create(
            user=user,
            defaults={
                "institution": ensure_institution(options["institution"]),
                "role": Membership.Role.ADMIN,
            },
        )
        self.stdout.write(
            self.style.SUCCESS(f"Admin login: {options['username']} / {password}")
            + f"  (saved in {password_file})"
        )
