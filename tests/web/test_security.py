"""Security of the node's HTTP surface: response headers and the CSP, login lockout, two-factor
login (clinicians' pages and the admin), secrets kept out of logs and error reports, no stack
traces to clients, and the append-only audit log (its trigger on PostgreSQL)."""

from __future__ import annotations

import datetime
import io
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.views.debug import get_exception_reporter_class
from django_otp.oath import TOTP, hotp
from django_otp.plugins.otp_totp.models import TOTPDevice

from matchmaker.federation.models import MmeRequestLog
from matchmaker.federation.services import add_peer
from matchmaker.federation.services.audit import purge_old_audit_rows
from matchmaker.security import lockout
from matchmaker.security.middleware import DEFAULT_POLICY_HEADER
from matchmaker.security.scrubbing import SecretScrubbingFilter, scrub_text
from matchmaker.web.services import create_api_token
from tests.conftest import free_port
from tests.federation.conftest import mme_patient
from tests.web.two_factor_codes import clear_of_step_boundary

PASSWORD = "correct horse battery staple"  # the fixtures' password
TEMPLATES = Path(__file__).resolve().parents[2] / "matchmaker" / "web" / "templates"
# Up here, far from the code that fails: a 500 report shows the source lines around each frame.
REPORT_SECRETS = {
    "query": "query-secret-4444",
    "post": "post-secret-5555",
    "code": "918273",
    "header": "mmapi_header-secret-6666",
    "peer": "peer-secret-7777",
    "cookie": "cookie-secret-8888",
}


def _member(username: str) -> User:
    return User.objects.create_user(username=username, password=PASSWORD)


def _unique(name: str) -> str:
    # Lockout counts live in the shared cache (Redis on the CI's second run), not in the test's
    # transaction: every test counts under names and addresses of its own.
    return f"{name}-{uuid.uuid4().hex[:10]}"


def _address() -> str:
    # Written as the log writes it (no leading zeros in a group).
    return (
        f"2001:db8::{int(uuid.uuid4().hex[:4], 16):x}"  # documentation range: never a real client
    )


def _log_in(client: Client, username: str, password: str, **extra: Any) -> Any:
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def _is_logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


# --- response headers and the Content-Security-Policy -----------------------------------------


def test_every_response_carries_the_csp_and_the_other_security_headers(
    alice_client: Client, client: Client
) -> None:
    responses = [
        client.get(reverse("login")),
        alice_client.get(reverse("case-list")),
        client.get("/mme/heartbeat"),  # JSON, refused: headers all the same
        alice_client.get("/api/v1/cases/"),
    ]

    for response in responses:
        assert response["Content-Security-Policy"] == DEFAULT_POLICY_HEADER
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Frame-Options"] == "DENY"
        assert "camera=()" in response["Permissions-Policy"]
    policy = dict(directive.strip().split(" ", 1) for directive in DEFAULT_POLICY_HEADER.split(";"))
    assert policy == {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "object-src": "'none'",
        "base-uri": "'none'",
        "frame-ancestors": "'none'",
        "form-action": "'self'",
    }


def test_no_template_has_inline_script_style_or_event_handler() -> None:
    offences = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for pattern in (
            r"\sstyle\s*=",
            r"<style",
            r"<script(?![^>]*\bsrc=)[^>]*>",
            r"\son[a-z]+\s*=",
            r"javascript:",
        ):
            offences += [
                f"{path.relative_to(TEMPLATES)}: {m[0]}" for m in re.finditer(pattern, text)
            ]
    assert offences == []


def test_htmx_is_told_not_to_inject_its_indicator_style(alice_client: Client) -> None:
    content = alice_client.get(reverse("case-create")).content.decode()

    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false}\'>' in content


def test_the_api_docs_have_their_own_policy_and_load_their_script_from_a_url(
    admin_client: Client,
) -> None:
    response = admin_client.get("/api/docs/")

    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy
    assert "script-src 'self';" in policy
    content = response.content.decode()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", content) == []
    [script_url] = re.findall(r'<script src="([^"]*script=[^"]*)"', content)
    script = admin_client.get(script_url.replace("&amp;", "&"))
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content
    # Other pages keep the strict policy.
    assert admin_client.get("/api/schema/")["Content-Security-Policy"] == DEFAULT_POLICY_HEADER


def test_production_cookies_are_secure_host_only_and_http_only() -> None:
    import subprocess
    import sys

    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'matchmaker.settings'; "
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.CSRF_COOKIE_HTTPONLY, s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME, "
        "s.SESSION_COOKIE_SAMESITE, s.SECURE_HSTS_SECONDS > 0)"
    )
    environment = {"DEBUG": "False", "SECRET_KEY": "x" * 50, "PATH": "/usr/bin:/bin"}
    output = subprocess.run(  # noqa: S603 (fixed arguments)
        [sys.executable, "-c", code],
        env=environment,
        cwd=TEMPLATES.parents[2],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()

    assert output == [
        "True", "True", "True", "True", "__Host-sessionid", "__Host-csrftoken", "Lax", "True",
    ]  # fmt: skip


# --- login lockout ----------------------------------------------------------------------------


@pytest.fixture
def strict_lockout(settings: Any) -> None:
    settings.LOGIN_MAX_FAILURES = 3
    settings.LOGIN_MAX_FAILURES_PER_IP = 5
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 60
    settings.LOGIN_LOCKOUT_SECONDS = 60


def test_after_too_many_failures_even_the_right_password_is_refused(
    db: None, strict_lockout: None
) -> None:
    user = _member(_unique("dora"))
    client, address = Client(), _address()

    first, second = (_log_in(client, user.username, "wrong", REMOTE_ADDR=address) for _ in range(2))
    third = _log_in(client, user.username, "wrong", REMOTE_ADDR=address)
    right = _log_in(client, user.username, PASSWORD, REMOTE_ADDR=address)

    assert (first.status_code, second.status_code) == (200, 200)
    assert "correct username and password" in second.content.decode()
    assert third.status_code == 429
    assert "Too many failed attempts" in third.content.decode()
    assert right.status_code == 429
    assert "Too many failed attempts" in right.content.decode()
    assert not _is_logged_in(client)
    # Another address does not help: the username is locked.
    assert _log_in(Client(), user.username, PASSWORD, REMOTE_ADDR=_address()).status_code == 429


def _without_csrf_tokens(page: str) -> str:
    return re.sub(r"[A-Za-z0-9]{64}", "CSRF-TOKEN", page)  # masked anew for every response


def test_an_unknown_username_is_refused_exactly_like_a_real_one(
    db: None, strict_lockout: None
) -> None:
    real = _member(_unique("erin"))
    ghost = _unique("nobody")
    pages = {}
    for username in (real.username, ghost):
        address = _address()
        attempts = [_log_in(Client(), username, "wrong", REMOTE_ADDR=address) for _ in range(4)]
        pages[username] = [
            (r.status_code, _without_csrf_tokens(r.content.decode().replace(username, "USERNAME")))
            for r in attempts
        ]

    assert [status for status, _ in pages[real.username]] == [200, 200, 429, 429]
    assert pages[real.username] == pages[ghost]


def test_one_address_failing_for_many_usernames_is_locked_out(
    db: None, strict_lockout: None
) -> None:
    address = _address()
    statuses = [
        _log_in(Client(), _unique("guess"), "wrong", REMOTE_ADDR=address).status_code
        for _ in range(5)
    ]
    user = _member(_unique("fred"))

    assert statuses == [200, 200, 200, 200, 429]
    assert _log_in(Client(), user.username, PASSWORD, REMOTE_ADDR=address).status_code == 429
    client = Client()
    assert _log_in(client, user.username, PASSWORD, REMOTE_ADDR=_address()).status_code == 302


def test_a_successful_login_resets_the_usernames_count(db: None, strict_lockout: None) -> None:
    user = _member(_unique("gina"))
    client, address = Client(), _address()
    for _ in range(2):
        _log_in(client, user.username, "wrong", REMOTE_ADDR=address)
    assert _log_in(client, user.username, PASSWORD, REMOTE_ADDR=address).status_code == 302
    client.post(reverse("logout"))

    for _ in range(2):
        assert _log_in(client, user.username, "wrong", REMOTE_ADDR=address).status_code == 200
    assert _log_in(client, user.username, PASSWORD, REMOTE_ADDR=address).status_code == 302


def test_the_lockout_ends_after_its_cool_down(db: None, settings: Any) -> None:
    settings.LOGIN_MAX_FAILURES = 2
    settings.LOGIN_LOCKOUT_SECONDS = 1
    user = _member(_unique("hugo"))
    address = _address()
    for _ in range(2):
        _log_in(Client(), user.username, "wrong", REMOTE_ADDR=address)
    assert _log_in(Client(), user.username, PASSWORD, REMOTE_ADDR=address).status_code == 429

    time.sleep(1.2)

    assert _log_in(Client(), user.username, PASSWORD, REMOTE_ADDR=address).status_code == 302


def test_the_counts_live_in_the_shared_cache_with_an_expiry(
    db: None, strict_lockout: None, settings: Any
) -> None:
    username, address = _unique("ivan"), _address()
    _log_in(Client(), username, "wrong", REMOTE_ADDR=address)

    key = f"login-failures:{lockout._username_key(username)}"
    assert cache.get(key) == 1
    if settings.REDIS_URL:
        # The real Redis, as every web process sees it, with the window as its time to live.
        import redis

        server = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
        redis_key = cache.make_key(key)
        assert 0 < server.ttl(redis_key) <= settings.LOGIN_FAILURE_WINDOW_SECONDS


def test_behind_a_proxy_the_clients_address_comes_from_the_configured_header(
    db: None, strict_lockout: None, settings: Any
) -> None:
    settings.CLIENT_IP_HEADER = "X-Real-IP"
    proxy = "127.0.0.1"
    attacker, colleague = _address(), _address()
    for _ in range(5):
        _log_in(Client(), _unique("guess"), "wrong", REMOTE_ADDR=proxy, HTTP_X_REAL_IP=attacker)
    user = _member(_unique("jane"))

    refused = _log_in(Client(), user.username, PASSWORD, REMOTE_ADDR=proxy, HTTP_X_REAL_IP=attacker)
    allowed = _log_in(
        Client(), user.username, PASSWORD, REMOTE_ADDR=proxy, HTTP_X_REAL_IP=colleague
    )

    assert (refused.status_code, allowed.status_code) == (429, 302)


def _fullwidth(text: str) -> str:
    """ASCII letters and digits as their fullwidth forms (U+FF41 for "a"), which NFKC folds back."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def test_a_look_alike_username_does_not_escape_the_lockout(db: None, strict_lockout: None) -> None:
    user = _member(_unique("a_admin"))
    look_alike = _fullwidth(user.username)
    assert look_alike != user.username
    # Django's login form folds it (NFKC) to the real name: the right password would open it.
    for _ in range(3):
        _log_in(Client(), user.username, "wrong", REMOTE_ADDR=_address())

    client = Client()
    response = _log_in(client, look_alike, PASSWORD, REMOTE_ADDR=_address())

    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert not _is_logged_in(client)


def test_failures_under_look_alike_names_count_for_the_account(
    db: None, strict_lockout: None
) -> None:
    user = _member(_unique("b_admin"))
    spellings = [_fullwidth(user.username), user.username.upper(), f" {user.username}"]
    for spelling in spellings:
        _log_in(Client(), spelling, "wrong", REMOTE_ADDR=_address())

    assert _log_in(Client(), user.username, PASSWORD, REMOTE_ADDR=_address()).status_code == 429


def test_a_login_works_while_the_cache_is_down_and_the_outage_is_logged(
    alice: User, settings: Any, caplog: Any
) -> None:
    # Redis refusing connections: a closed port on loopback.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }
    caplog.set_level(logging.WARNING)
    client = Client(raise_request_exception=False)

    page = client.get(reverse("login"))
    wrong = _log_in(client, "alice", "wrong", REMOTE_ADDR=_address())
    right = _log_in(client, "alice", PASSWORD, REMOTE_ADDR=_address())

    assert page.status_code == 200
    assert wrong.status_code == 200
    assert "correct username and password" in wrong.content.decode()
    assert right.status_code == 302
    assert _is_logged_in(client)
    assert client.get(reverse("case-list")).status_code == 200
    assert "login lockout not applied: the cache failed" in caplog.text


# --- password-reset e-mails are throttled -----------------------------------------------------


@pytest.fixture
def strict_reset_limits(settings: Any) -> None:
    settings.PASSWORD_RESET_MAX_PER_ACCOUNT = 2
    settings.PASSWORD_RESET_MAX_PER_ADDRESS = 4
    settings.PASSWORD_RESET_WINDOW_SECONDS = 60


def _ask_reset(email: str, address: str) -> Any:
    return Client().post(reverse("password_reset"), {"email": email}, REMOTE_ADDR=address)


def _answer(response: Any) -> tuple[int, str]:
    return response.status_code, response.get("Location", "")


def test_reset_links_for_one_account_are_throttled_whatever_the_spelling_and_address(
    db: None, strict_reset_limits: None, mailoutbox: list[Any]
) -> None:
    user = _member(_unique("lena"))
    user.email = f"{user.username}@example.org"
    user.save()
    # Upper case, and a fullwidth domain (which the form accepts and NFKC folds back).
    spellings = [
        user.email,
        user.email.upper(),
        f"{user.username}@{_fullwidth('example')}.org",
        user.email,
    ]
    ghost = f"{_unique('nobody')}@example.org"

    answers = [_answer(_ask_reset(email, _address())) for email in spellings]
    ghost_answers = [_answer(_ask_reset(ghost, _address())) for _ in spellings]

    # Two links, then nothing more; every answer is the same neutral page, account or not.
    assert [message.to for message in mailoutbox] == [[user.email], [user.email]]
    assert answers == [(302, reverse("password_reset_done"))] * 4
    assert ghost_answers == answers
    assert "only the first" in Client().get(reverse("password_reset_done")).content.decode()


def test_reset_requests_from_one_address_are_throttled_without_revealing_accounts(
    db: None, strict_reset_limits: None, mailoutbox: list[Any], caplog: Any
) -> None:
    users = [_member(_unique("mona")) for _ in range(5)]
    for user in users:
        user.email = f"{user.username}@example.org"
        user.save()
    address = _address()
    caplog.set_level(logging.WARNING)

    answers = [_ask_reset(user.email, address) for user in users]
    ghost = _ask_reset(f"{_unique('nobody')}@example.org", address)

    assert [response.status_code for response in answers] == [302, 302, 302, 302, 429]
    assert len(mailoutbox) == 4
    refused = answers[-1].content.decode()
    assert "Too many password-reset requests from your network" in refused
    assert ghost.status_code == 429
    assert _without_csrf_tokens(ghost.content.decode()).replace(
        ghost.context["form"]["email"].value(), "EMAIL"
    ) == _without_csrf_tokens(refused).replace(users[-1].email, "EMAIL")
    assert f"password-reset requests from {address}" in caplog.text
    # Another address is not held up.
    assert _ask_reset(users[-1].email, _address()).status_code == 302
    assert len(mailoutbox) == 5


# --- two-factor login -------------------------------------------------------------------------


def _next_code(device: TOTPDevice) -> str:
    """The next code the device accepts (later than the last one used), as an app shows it."""
    device.refresh_from_db()
    clear_of_step_boundary(device)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    step = max(device.last_t + 1, totp.t() - device.tolerance)
    return f"{hotp(device.bin_key, step, digits=device.digits):0{device.digits}d}"


def _wrong_code(device: TOTPDevice) -> str:
    right = _next_code(device)
    return f"{(int(right) + 1) % 10**device.digits:0{device.digits}d}"


@pytest.fixture
def fast_codes(settings: Any) -> None:
    """No pause after a wrong code (django-otp's throttle), so a test can follow with the right one."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def _with_two_factor(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def test_a_clinician_turns_two_factor_on_with_a_first_code(
    alice: User, alice_client: Client, fast_codes: None
) -> None:
    page = alice_client.get(reverse("two-factor"))
    assert "Set up two-factor login" in page.content.decode()

    assert alice_client.post(reverse("two-factor-setup")).status_code == 302
    page = alice_client.get(reverse("two-factor")).content.decode()
    device = TOTPDevice.objects.get(user=alice, confirmed=False)
    assert "<svg" in page
    assert re.search(r"<svg[^>]*\sstyle=", page) is None
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page)
    assert secret is not None
    assert secret[1].replace(" ", "") in device.config_url
    assert "otpauth://totp/" in page

    refused = alice_client.post(reverse("two-factor-confirm"), {"code": _wrong_code(device)})
    assert refused.status_code == 400
    assert "That code is not right" in refused.content.decode()
    assert not TOTPDevice.objects.filter(user=alice, confirmed=True).exists()

    confirmed = alice_client.post(reverse("two-factor-confirm"), {"code": _next_code(device)})
    assert confirmed.status_code == 302
    assert TOTPDevice.objects.get(user=alice).confirmed
    assert "Two-factor login is on" in alice_client.get(reverse("two-factor")).content.decode()
    # This session proved a code: it goes on working.
    assert alice_client.get(reverse("case-list")).status_code == 200


def test_with_two_factor_the_password_alone_does_not_log_in(alice: User, fast_codes: None) -> None:
    device = _with_two_factor(alice)
    client = Client()

    response = _log_in(client, "alice", PASSWORD, REMOTE_ADDR=_address())

    assert response.status_code == 302
    assert response.url.startswith(reverse("login-code"))
    assert not _is_logged_in(client)
    assert client.get(reverse("case-list")).status_code == 302
    wrong = client.post(reverse("login-code"), {"code": _wrong_code(device)})
    assert wrong.status_code == 200
    assert "That code is not right" in wrong.content.decode()
    assert not _is_logged_in(client)

    right = client.post(reverse("login-code"), {"code": _next_code(device), "next": "/cases/new/"})

    assert right.status_code == 302
    assert right.url == "/cases/new/"
    assert _is_logged_in(client)
    assert client.get(reverse("case-list")).status_code == 200


def test_the_code_step_needs_the_password_step_first(alice: User) -> None:
    _with_two_factor(alice)
    client = Client()

    response = client.get(reverse("login-code"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_the_code_step_does_not_follow_a_redirect_to_another_site(
    alice: User, fast_codes: None
) -> None:
    device = _with_two_factor(alice)
    client = Client()
    _log_in(client, "alice", PASSWORD, REMOTE_ADDR=_address())

    response = client.post(
        reverse("login-code"), {"code": _next_code(device), "next": "https://evil.example/"}
    )

    assert response.url == reverse("case-list")


def test_wrong_codes_count_towards_the_lockout(
    db: None, strict_lockout: None, fast_codes: None
) -> None:
    user = _member(_unique("kim"))
    device = _with_two_factor(user)
    client, address = Client(), _address()
    _log_in(client, user.username, PASSWORD, REMOTE_ADDR=address)

    statuses = [
        client.post(
            reverse("login-code"), {"code": _wrong_code(device)}, REMOTE_ADDR=address
        ).status_code
        for _ in range(3)
    ]

    assert statuses == [200, 200, 429]
    # Locked: the right password starts nothing, the right code is not even looked at.
    assert _log_in(client, user.username, PASSWORD, REMOTE_ADDR=address).status_code == 429
    assert not _is_logged_in(client)


def test_a_right_code_during_the_pause_after_a_wrong_one_is_told_to_wait(
    alice: User, settings: Any
) -> None:
    # A minute's pause after one wrong code, so the test cannot outrun it on a slow machine.
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    device = _with_two_factor(alice)
    client, address = Client(), _address()
    _log_in(client, "alice", PASSWORD, REMOTE_ADDR=address)
    wrong = client.post(reverse("login-code"), {"code": _wrong_code(device)}, REMOTE_ADDR=address)
    assert "That code is not right" in wrong.content.decode()

    right = _next_code(device)
    paused = client.post(reverse("login-code"), {"code": right}, REMOTE_ADDR=address)

    assert paused.status_code == 429
    page = paused.content.decode()
    assert "That code is not right" not in page
    assert "codes are not checked for a short while" in page
    until = timezone.localtime(device.throttling_failure_timestamp + datetime.timedelta(seconds=60))
    assert f"until {until:%H:%M:%S}" in page
    assert 55 <= int(paused["Retry-After"]) <= 60
    assert not _is_logged_in(client)
    # Waiting is not failing: the pause does not count towards the lockout.
    assert not lockout.is_locked_out(username="alice", client_address=address)

    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=61)):
        done = client.post(reverse("login-code"), {"code": _next_code(device)}, REMOTE_ADDR=address)
    assert done.status_code == 302
    assert _is_logged_in(client)


def test_setting_up_two_factor_during_the_pause_says_to_wait(
    alice: User, alice_client: Client, settings: Any
) -> None:
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    alice_client.post(reverse("two-factor-setup"))
    device = TOTPDevice.objects.get(user=alice, confirmed=False)
    alice_client.post(reverse("two-factor-confirm"), {"code": _wrong_code(device)})

    paused = alice_client.post(reverse("two-factor-confirm"), {"code": _next_code(device)})

    assert paused.status_code == 400
    assert "codes are not checked for a short while" in paused.content.decode()
    assert "That code is not right" not in paused.content.decode()
    assert not TOTPDevice.objects.get(user=alice).confirmed


def test_turning_two_factor_off_needs_a_right_code(
    alice: User, alice_client: Client, fast_codes: None
) -> None:
    device = _with_two_factor(alice)

    refused = alice_client.post(reverse("two-factor-disable"), {"code": _wrong_code(device)})
    assert refused.status_code == 400
    assert TOTPDevice.objects.filter(user=alice).exists()

    done = alice_client.post(reverse("two-factor-disable"), {"code": _next_code(device)})
    assert done.status_code == 302
    assert not TOTPDevice.objects.filter(user=alice).exists()
    assert _log_in(Client(), "alice", PASSWORD, REMOTE_ADDR=_address()).status_code == 302


def test_the_admin_asks_staff_with_an_authenticator_for_the_code(
    admin_user: User, admin_client: Client, fast_codes: None
) -> None:
    assert admin_client.get("/admin/").status_code == 200  # no authenticator: as before
    device = _with_two_factor(admin_user)

    # A session without the code (opened before the authenticator was added).
    admin = admin_client.get("/admin/federation/peer/", follow=True)
    assert admin.redirect_chain[-1][0].startswith(reverse("login-code"))
    assert admin.status_code == 200
    response = admin_client.post(
        admin.redirect_chain[-1][0], {"code": _next_code(device)}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/admin/federation/peer/"
    assert response.status_code == 200


def test_the_admins_own_login_form_cannot_skip_the_lockout_or_the_code(
    admin_user: User, client: Client
) -> None:
    _with_two_factor(admin_user)

    response = client.post(
        "/admin/login/?next=/admin/", {"username": "admin", "password": "password"}
    )

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert not _is_logged_in(client)
    assert client.get("/admin/").status_code == 302


def test_a_clinician_who_is_not_staff_is_told_so_by_the_admin(alice_client: Client) -> None:
    response = alice_client.get("/admin/", follow=True)

    assert response.status_code == 403
    assert "not an administrator" in response.content.decode()


def test_required_two_factor_sends_a_user_without_one_to_set_it_up(
    alice: User, settings: Any, fast_codes: None
) -> None:
    settings.REQUIRE_TWO_FACTOR = True
    client = Client()
    assert _log_in(client, "alice", PASSWORD, REMOTE_ADDR=_address()).status_code == 302

    assert client.get(reverse("case-list")).url == reverse("two-factor")
    assert client.get("/api/v1/cases/").status_code == 403
    client.post(reverse("two-factor-setup"))
    device = TOTPDevice.objects.get(user=alice)
    client.post(reverse("two-factor-confirm"), {"code": _next_code(device)})

    assert client.get(reverse("case-list")).status_code == 200


# --- secrets in logs and error reports --------------------------------------------------------


@pytest.fixture
def console_log() -> Iterator[io.StringIO]:
    """What the configured console handler (settings.LOGGING, with its filters) writes."""
    [handler] = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, SecretScrubbingFilter) for f in handler.filters)
    ]
    assert isinstance(handler, logging.StreamHandler)
    output = io.StringIO()
    previous = handler.setStream(output)
    yield output
    handler.setStream(previous)


def test_failed_logins_bad_peer_tokens_and_api_tokens_leave_no_secret_in_the_log(
    alice: User, caplog: Any, console_log: io.StringIO
) -> None:
    password = "Tr0ub4dor&3-not-alices"
    peer_token = "bad-peer-token-6f1d2c9a8b7e"
    add_peer("Logged Peer", inbound_token="the-real-peer-token-5a4b3c2d1e0f")
    _, api_key = create_api_token(alice, name="script")
    wrong_api_key = "mmapi_" + "x" * 43
    caplog.set_level(logging.INFO)

    _log_in(Client(), "alice", password, REMOTE_ADDR=_address())
    _log_in(Client(), "alice", api_key, REMOTE_ADDR=_address())  # a key pasted as password
    assert Client().get("/mme/heartbeat", headers={"X-Auth-Token": peer_token}).status_code == 401
    bad = Client().get("/api/v1/cases/", headers={"Authorization": f"Token {wrong_api_key}"})
    good = Client().get("/api/v1/cases/", headers={"Authorization": f"Token {api_key}"})
    assert (bad.status_code, good.status_code) == (401, 200)

    logged = caplog.text + console_log.getvalue()
    assert "failed login (password) for user 'alice'" in logged
    assert "Unauthorized: /mme/heartbeat" in logged
    for secret in (password, peer_token, api_key, wrong_api_key, "the-real-peer-token"):
        assert secret not in logged


def test_the_log_filter_scrubs_secrets_from_messages_arguments_and_tracebacks(
    console_log: io.StringIO,
) -> None:
    logger = logging.getLogger("matchmaker.tests.scrubbing")
    headers = {"X-Auth-Token": "peer-secret-1111", "Authorization": "Token mmapi_abcdefghijkl"}
    logger.warning("request headers %s", headers)
    logger.warning("posted password=hunter2-secret&username=alice")
    logger.warning('body {"password": "hunter3-secret", "label": "fam1"}')
    logger.warning("sent Authorization: Bearer abcdef.ghijkl.mnopqr to the peer")
    logger.warning("details", extra={"token": "extra-secret-2222", "peer": "Remote Node"})
    try:
        raise ValueError("could not use secret=traceback-secret-3333")
    except ValueError:
        logger.exception("it failed")

    output = console_log.getvalue()
    for secret in (
        "peer-secret-1111",
        "mmapi_abcdefghijkl",
        "hunter2-secret",
        "hunter3-secret",
        "abcdef.ghijkl.mnopqr",
        "traceback-secret-3333",
    ):
        assert secret not in output
    assert "username=alice" in output  # what is not a credential stays
    assert "'X-Auth-Token': '[scrubbed]'" in output
    assert "ValueError: could not use secret=[scrubbed]" in output
    assert scrub_text("unknown X-Auth-Token") == "unknown X-Auth-Token"


def _failing_request_report() -> str:
    """Django's 500 report (as e-mailed to ADMINS) of a request carrying credentials."""
    request = RequestFactory().post(
        "/accounts/login/code/?token=" + REPORT_SECRETS["query"],
        {"username": "alice", "password": REPORT_SECRETS["post"], "code": REPORT_SECRETS["code"]},
        headers={
            "Authorization": "Token " + REPORT_SECRETS["header"],
            "X-Auth-Token": REPORT_SECRETS["peer"],
            "Cookie": "sessionid=" + REPORT_SECRETS["cookie"],
        },
    )
    try:
        raise RuntimeError("boom")
    except RuntimeError as error:
        reporter = get_exception_reporter_class(request)(
            request, type(error), error, error.__traceback__
        )
        # The report's URL line is scrubbed. (A frame's `request` variable still shows its
        # query string: the node takes no credential there, only in headers and POST bodies.)
        assert REPORT_SECRETS["query"] not in reporter.get_traceback_data()["request_insecure_uri"]
        return reporter.get_traceback_text() + reporter.get_traceback_html()


def test_error_reports_and_emails_hide_passwords_tokens_and_codes() -> None:
    report = _failing_request_report()

    for name in ("post", "code", "header", "peer", "cookie"):
        assert REPORT_SECRETS[name] not in report, name
    assert "alice" in report


def test_no_stack_trace_reaches_a_client(
    settings: Any, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["testserver"]

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal detail 8888")

    monkeypatch.setattr("matchmaker.web.views.cases.search_cases", explode)
    monkeypatch.setattr(
        "matchmaker.casework.services.inbound.answer_match_request", explode, raising=True
    )
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    peer_client = Client(raise_request_exception=False)
    add_peer("Crashing Peer", inbound_token="crashing-peer-token-0123456789")

    page = client.get(reverse("case-list"))
    mme = peer_client.post(
        "/mme/match",
        data=json.dumps({"patient": mme_patient()}),
        content_type="application/vnd.ga4gh.matchmaker.v1.1+json",
        headers={"X-Auth-Token": "crashing-peer-token-0123456789"},
    )

    assert page.status_code == 500
    assert mme.status_code == 500
    assert json.loads(mme.content) == {"message": "internal error"}
    for response in (page, mme):
        body = response.content.decode()
        assert "Traceback" not in body
        assert "internal detail 8888" not in body


# --- the audit log is append-only -------------------------------------------------------------


def _audit_row(**fields: Any) -> MmeRequestLog:
    return MmeRequestLog.objects.create(
        direction=MmeRequestLog.Direction.INBOUND,
        peer_name="Remote Node",
        endpoint="match",
        method="POST",
        status_code=200,
        latency_ms=3.0,
        **fields,
    )


def test_the_admin_offers_no_way_to_change_or_delete_audit_rows(admin_client: Client) -> None:
    row = _audit_row()

    listing = admin_client.get("/admin/federation/mmerequestlog/").content.decode()
    change = admin_client.post(f"/admin/federation/mmerequestlog/{row.pk}/change/", {})
    delete = admin_client.post(f"/admin/federation/mmerequestlog/{row.pk}/delete/", {"post": "yes"})
    bulk = admin_client.post(
        "/admin/federation/mmerequestlog/",
        {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"},
    )

    assert "delete_selected" not in listing
    assert (change.status_code, delete.status_code) == (403, 403)
    assert bulk.status_code in (200, 302)
    assert MmeRequestLog.objects.filter(pk=row.pk, status_code=200).exists()


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the append-only trigger exists on PostgreSQL only (the CI's second run); "
    "SQLite, the embedded default, relies on the admin and the services",
)


def _refused(operation: Any) -> bool:
    """Whether the trigger refused `operation` (undone in a savepoint either way)."""
    try:
        with transaction.atomic():
            operation()
    except IntegrityError as error:
        return "append-only" in str(error)
    return False


@postgresql_only
def test_the_database_refuses_to_rewrite_or_delete_audit_rows(db: None) -> None:
    row = _audit_row(
        query_payload={"patient": {"id": "p1"}},
        returned_case_ids=["MM-AAAA", "MM-BBBB"],
        payload_expires_at=timezone.now(),
    )
    rows = MmeRequestLog.objects.filter(pk=row.pk)

    assert _refused(lambda: rows.update(status_code=500))
    assert _refused(lambda: rows.update(error="rewritten"))
    assert _refused(lambda: rows.update(requested_at=timezone.now()))
    assert _refused(lambda: rows.update(query_payload={"patient": {"id": "forged"}}))
    assert _refused(lambda: rows.update(returned_case_ids=["MM-AAAA", "MM-CCCC"]))
    assert _refused(lambda: rows.delete())

    def raw_delete() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM federation_mmerequestlog WHERE id = %s", [row.pk])

    assert _refused(raw_delete)
    # What the node does itself passes: erasing a case's id, clearing the payload.
    assert not _refused(lambda: rows.update(returned_case_ids=["MM-BBBB"]))
    assert not _refused(lambda: rows.update(query_payload=None, payload_expires_at=None))
    row.refresh_from_db()
    assert (row.status_code, row.returned_case_ids, row.query_payload) == (200, ["MM-BBBB"], None)


@postgresql_only
def test_the_database_lets_only_the_retention_purge_delete_old_rows(
    db: None, settings: Any
) -> None:
    settings.AUDIT_LOG_RETENTION_DAYS = 30
    old = _audit_row(requested_at=timezone.now() - datetime.timedelta(days=31))
    young = _audit_row(requested_at=timezone.now() - datetime.timedelta(days=29))

    assert _refused(lambda: MmeRequestLog.objects.filter(pk=old.pk).delete())
    assert purge_old_audit_rows() == 1

    assert list(MmeRequestLog.objects.values_list("pk", flat=True)) == [young.pk]

    def announce_and_delete_young() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('matchmaker.audit_retention_days', '30', true)")
        MmeRequestLog.objects.filter(pk=young.pk).delete()

    assert _refused(announce_and_delete_young)


@postgresql_only
def test_deleting_a_peer_keeps_its_audit_rows_under_its_name(db: None) -> None:
    peer = add_peer("Leaving Peer", inbound_token="leaving-peer-token-0123456789")
    row = _audit_row(peer=peer)

    peer.delete()

    row.refresh_from_db()
    assert (row.peer_id, row.peer_name) == (None, "Remote Node")
