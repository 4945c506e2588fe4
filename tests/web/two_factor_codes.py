"""What the two-factor tests share: a code taken too close to the end of a 30-second step goes
stale before the server checks it."""

from __future__ import annotations

import time

from django_otp.plugins.otp_totp.models import TOTPDevice

# The tests take the earliest step the server accepts, (now - tolerance), so that several codes
# fit in one 30-second step; a code for it, read in a step's last seconds, falls out of the
# window if the server checks it after the step turns. Waiting those seconds out first keeps the
# code valid for `margin` seconds at least: a Django test client posts it within milliseconds, a
# browser (filling the field, a screenshot, the click) within a few seconds.


def clear_of_step_boundary(device: TOTPDevice, *, margin: float = 3.0) -> None:
    """Sleep past the current step's end when it is less than `margin` seconds away."""
    remaining = device.step - (time.time() - device.t0) % device.step
    if remaining < margin:
        time.sleep(remaining + 0.2)
