from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from matchmaker.federation.models import Peer
from matchmaker.lib.secrets import SecretDecryptionError, reencrypt_secret


class Command(BaseCommand):
    help = (
        "Re-encrypt the stored outbound peer tokens with the first key of "
        "SECRET_ENCRYPTION_KEYS. Put the new key first, keep the old one after it, run this, "
        "then remove the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        with transaction.atomic():
            for peer in Peer.objects.select_for_update().exclude(outbound_token_encrypted=""):
                try:
                    peer.outbound_token_encrypted = reencrypt_secret(peer.outbound_token_encrypted)
                except SecretDecryptionError:
                    raise CommandError(
                        f"the outbound token of peer {peer.name!r} cannot be decrypted with any "
                        "key in SECRET_ENCRYPTION_KEYS; nothing was changed"
                    ) from None
                peer.save(update_fields=["outbound_token_encrypted"])
                rotated += 1
        self.stdout.write(f"Re-encrypted the outbound tokens of {rotated} peers.")
