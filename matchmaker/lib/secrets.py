"""Secrets at rest: peer tokens we must send (encrypted) and tokens we receive (hashed)."""

from __future__ import annotations

import base64
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretDecryptionError(Exception):
    """A stored secret cannot be decrypted with the configured keys (was the key rotated away?)."""


@functools.cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_fernet_key(key)) for key in keys])


def _fernet_key(secret: str) -> bytes:
    # Any string can serve as key material: a Fernet key is derived from it, so an operator may
    # set a passphrase as well as `Fernet.generate_key()` output.
    digest = hashlib.sha256(b"matchmaker secret encryption\0" + secret.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def _configured_keys() -> tuple[str, ...]:
    # The first key encrypts; every key decrypts, so a new key can be put in front of the old one
    # and the stored tokens re-encrypted (`manage.py rotate_secrets`) before the old key goes.
    keys = tuple(settings.SECRET_ENCRYPTION_KEYS) or (settings.SECRET_KEY,)
    return keys


def encrypt_secret(plaintext: str) -> str:
    return _fernet(_configured_keys()).encrypt(plaintext.encode()).decode("ascii")


def decrypt_secret(ciphertext: str) -> str:
    try:
        return _fernet(_configured_keys()).decrypt(ciphertext.encode("ascii")).decode()
    except (InvalidToken, ValueError) as error:
        raise SecretDecryptionError(
            "a stored secret cannot be decrypted with SECRET_ENCRYPTION_KEYS"
        ) from error


def reencrypt_secret(ciphertext: str) -> str:
    """The same secret encrypted with the current first key."""
    try:
        return _fernet(_configured_keys()).rotate(ciphertext.encode("ascii")).decode("ascii")
    except (InvalidToken, ValueError) as error:
        raise SecretDecryptionError(
            "a stored secret cannot be decrypted with SECRET_ENCRYPTION_KEYS"
        ) from error


def hash_token(token: str) -> str:
    """A digest of an inbound token, so that the token itself is never stored.

    Tokens are long random strings (join protocol: 40 hex characters recommended), so plain
    SHA-256 resists guessing; password-style stretching would only slow every request's lookup.
    Unkeyed on purpose: rotating SECRET_KEY must not lock every peer out.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def hint_of_token(token: str) -> str:
    """The last characters of a token, so an operator can tell which is set; none of a short one
    (four characters of a short token would give too much of it away)."""
    return token[-4:] if len(token) >= 16 else ""
