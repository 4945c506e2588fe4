"""Two-factor login in a real browser: the pause after a wrong code is explained, not hidden."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django_otp.oath import TOTP, hotp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from tests.web.browser.conftest import PASSWORD, screenshot
from tests.web.two_factor_codes import clear_of_step_boundary

pytestmark = pytest.mark.django_db(transaction=True)


def _code(device: TOTPDevice, *, offset: int = 0) -> str:
    """The code the app shows now (offset 1: a wrong one), not yet used."""
    device.refresh_from_db()
    clear_of_step_boundary(device, margin=10.0)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    step = max(device.last_t + 1, totp.t() - device.tolerance)
    code = (hotp(device.bin_key, step, digits=device.digits) + offset) % 10**device.digits
    return f"{code:0{device.digits}d}"


def test_the_right_code_during_the_pause_says_to_wait_and_until_when(
    page: Page, alice: User, settings: Any
) -> None:
    settings.OTP_TOTP_THROTTLE_FACTOR = 60  # a minute after one wrong code
    device = TOTPDevice.objects.create(user=alice, name="Authenticator app", confirmed=True)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(alice.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/accounts/login/code/**")

    page.get_by_label("Code").fill(_code(device, offset=1))
    page.get_by_role("button", name="Verify").click()
    expect(page.locator(".error")).to_contain_text("That code is not right")

    page.get_by_label("Code").fill(_code(device))
    page.get_by_role("button", name="Verify").click()
    error = page.locator(".error")
    expect(error).to_contain_text("codes are not checked for a short while")
    expect(error).to_contain_text("Wait ")
    expect(error).not_to_contain_text("not right")
    screenshot(page, "two-factor-pause")
    assert "/accounts/login/code/" in page.url  # still on the code step, not logged in
