"""Two-factor login with time-based one-time codes (TOTP, RFC 6238) through django-otp.

A user has at most one authenticator: an unconfirmed device while setting up (its secret shown
once as a QR code and as text), then a confirmed one once a first code proved the app holds the
secret. Only confirmed devices are asked for at login. django-otp's TOTPDevice refuses a code
used before (replay) and slows down guessing after wrong codes (OTP_TOTP_THROTTLE_FACTOR); the
login lockout counts wrong codes as failed logins too.
"""

from __future__ import annotations

import base64
import math
from datetime import datetime

import segno
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from matchmaker.lib.errors import FieldValidationError

DEVICE_NAME = "Authenticator app"
WRONG_CODE = "That code is not right. Enter the 6-digit code your authenticator app shows now."


class CodeThrottledError(Exception):
    """Codes are not being checked yet: too many wrong ones in a row (django-otp's back-off).

    While it lasts even the right code is refused, so saying "not right" would be false; the
    message says to wait, and until when.
    """

    def __init__(self, locked_until: datetime) -> None:
        self.locked_until = locked_until
        super().__init__(self.message)

    @property
    def retry_after_seconds(self) -> int:
        return max(1, math.ceil((self.locked_until - timezone.now()).total_seconds()))

    @property
    def message(self) -> str:
        seconds = self.retry_after_seconds
        wait = f"{seconds} seconds" if seconds != 1 else "1 second"
        until = timezone.localtime(self.locked_until).strftime("%H:%M:%S")
        return (
            "After several wrong codes in a row, codes are not checked for a short while, so "
            f"this one was not checked either. Wait {wait} (until {until}), then enter the "
            "code your authenticator app shows at that time."
        )


def confirmed_device_of(user: AbstractBaseUser | AnonymousUser) -> TOTPDevice | None:
    if not user.is_authenticated:
        return None
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).first()


def pending_device_of(user: AbstractBaseUser) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=False).first()


def needs_code(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether this signed-in user's session still lacks the code it must have.

    True for a user with an authenticator whose session was not verified with a code (a session
    from before it was set up, or one that got only as far as the password), and, under
    REQUIRE_TWO_FACTOR, for any unverified user.
    """
    if not user.is_authenticated or is_verified(user):
        return False
    return settings.REQUIRE_TWO_FACTOR or confirmed_device_of(user) is not None


def is_verified(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether this request's session passed a one-time code.

    django_otp's OTPMiddleware gives the request's user an `is_verified()`; a user without it
    (loaded outside a request) is not verified.
    """
    check = getattr(user, "is_verified", None)
    return check is not None and bool(check())


@transaction.atomic
def start_two_factor_setup(user: AbstractBaseUser) -> TOTPDevice:
    """A new secret for the user's authenticator app, unconfirmed until `confirm_two_factor`.

    Starting again replaces an unconfirmed secret; a confirmed one must be disabled first.
    """
    if confirmed_device_of(user) is not None:
        raise FieldValidationError([("", "Two-factor login is already on for your account.")])
    TOTPDevice.objects.filter(user_id=user.pk, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


def confirm_two_factor(user: AbstractBaseUser, *, code: str) -> TOTPDevice:
    """Turn two-factor login on once the app shows a right code; raises naming `code`."""
    device = pending_device_of(user)
    if device is None:
        raise FieldValidationError([("code", "Start the set-up first: there is no secret yet.")])
    if not _verify_or_explain(device, code):
        raise FieldValidationError([("code", WRONG_CODE)])
    TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
    device.confirmed = True
    return device


def disable_two_factor(user: AbstractBaseUser, *, code: str) -> None:
    """Turn two-factor login off; a right code proves it is the user, not a left-open session."""
    device = confirmed_device_of(user)
    if device is None:
        raise FieldValidationError([("", "Two-factor login is not on for your account.")])
    if not _verify_or_explain(device, code):
        raise FieldValidationError([("code", WRONG_CODE)])
    TOTPDevice.objects.filter(user_id=user.pk).delete()


def verify_login_code(user: AbstractBaseUser, code: str) -> TOTPDevice | None:
    """The confirmed device that accepts `code`, or None.

    Raises CodeThrottledError when codes are not being checked yet (after wrong ones).
    """
    device = confirmed_device_of(user)
    if device is None or not _verify(device, code):
        return None
    return device


def _verify_or_explain(device: TOTPDevice, code: str) -> bool:
    try:
        return _verify(device, code)
    except CodeThrottledError as error:
        raise FieldValidationError([("code", error.message)]) from error


def _verify(device: TOTPDevice, code: str) -> bool:
    code = "".join(code.split())  # apps show "123 456"
    if not code.isdigit() or len(code) != device.digits:
        return False
    with transaction.atomic():
        # Locked: two requests with the same code cannot both pass the replay check.
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        # verify_token would answer False for any code while throttled; say why instead.
        allowed, why = locked.verify_is_allowed()
        if not allowed and why and why.get("locked_until") is not None:
            raise CodeThrottledError(why["locked_until"])
        verified = bool(locked.verify_token(code))
    device.refresh_from_db()
    return verified


def secret_of(device: TOTPDevice) -> str:
    """The base-32 secret, in groups of four, for typing into an app without a camera."""
    secret = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_code_svg(device: TOTPDevice) -> str:
    """The otpauth:// URI as an inline SVG QR code: markup only, no image request, no style."""
    qr = segno.make(device.config_url, error="m")
    svg = qr.svg_inline(scale=4, omitsize=True, dark="#000", light="#fff")
    return str(svg).replace("<svg ", '<svg role="img" aria-label="QR code" ', 1)
