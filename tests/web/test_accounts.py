"""Logging in and out, password reset and change, and the session and CSRF protections."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse

PASSWORD = "correct horse battery staple"  # the fixtures' password
NEW_PASSWORD = "a fresh and long passphrase 42"


@pytest.fixture(autouse=True)
def _own_cache(own_cache: None) -> None:
    """Counters of this test's own: the reset tests ask for alice's link from 127.0.0.1 again
    and again, which on a shared cache would soon be throttled (tests/web/test_security.py)."""


def _log_in(client: Client, username: str, password: str) -> Any:
    return client.post(reverse("login"), {"username": username, "password": password})


def _is_logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_the_login_page_renders_with_labelled_fields(db: None) -> None:
    response = Client().get(reverse("login"))

    assert response.status_code == 200
    content = response.content.decode()
    assert '<label for="id_username">' in content
    assert '<label for="id_password">' in content
    assert 'name="csrfmiddlewaretoken"' in content
    assert reverse("password_reset") in content


@pytest.mark.parametrize(
    "url_name",
    [
        "login",
        "password_reset",
        "password_reset_done",
        "password_reset_complete",
        "password_change",
        "password_change_done",
    ],
)
def test_the_account_pages_use_the_nodes_own_templates(alice: User, url_name: str) -> None:
    # django.contrib.admin ships registration/ templates of the same names; ours must win.
    client = Client()
    client.force_login(alice)
    if url_name == "login":
        client = Client()

    response = client.get(reverse(url_name))

    assert response.status_code == 200
    assert "web/base.html" in [template.name for template in response.templates]
    assert 'class="skip-link"' in response.content.decode()


def test_a_wrong_password_shows_an_error_and_does_not_log_in(alice: User) -> None:
    client = Client()

    response = _log_in(client, "alice", "not the password")

    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    assert not _is_logged_in(client)
    assert client.get(reverse("case-list")).status_code == 302


def test_logging_in_leads_to_the_case_list(alice: User) -> None:
    client = Client()

    response = _log_in(client, "alice", PASSWORD)

    assert response.status_code == 302
    assert response.url == reverse("case-list")
    assert _is_logged_in(client)
    assert client.get(reverse("case-list")).status_code == 200


def test_logging_in_follows_a_safe_next_but_not_an_external_one(alice: User) -> None:
    client = Client()
    response = client.post(
        reverse("login"),
        {"username": "alice", "password": PASSWORD, "next": reverse("case-create")},
    )
    assert response.url == reverse("case-create")

    other = Client()
    response = other.post(
        reverse("login"),
        {"username": "alice", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response.url == reverse("case-list")


def test_a_deactivated_user_cannot_log_in(alice: User) -> None:
    alice.is_active = False
    alice.save()
    client = Client()

    response = _log_in(client, "alice", PASSWORD)

    assert response.status_code == 200
    assert not _is_logged_in(client)


def test_an_anonymous_visitor_is_sent_to_the_login_page(db: None) -> None:
    response = Client().get(reverse("case-list"))

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={reverse('case-list')}"


def test_logging_out_takes_a_post_and_ends_the_session(alice_client: Client) -> None:
    assert alice_client.get(reverse("logout")).status_code == 405
    assert _is_logged_in(alice_client)

    response = alice_client.post(reverse("logout"))

    assert response.status_code == 302
    assert response.url == reverse("login")
    assert not _is_logged_in(alice_client)
    assert alice_client.get(reverse("case-list")).status_code == 302


def test_every_page_offers_a_logout_form_with_a_csrf_token(alice_client: Client) -> None:
    content = alice_client.get(reverse("case-list")).content.decode()

    form = re.search(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', content, re.S)
    assert form is not None
    assert form.group(1) == reverse("logout")
    assert "csrfmiddlewaretoken" in form.group(2)


def _reset_link(email_body: str) -> str:
    match = re.search(r"https?://[^/\s]+(/accounts/password/reset/[^\s]+/)", email_body)
    assert match is not None, email_body
    return match.group(1)


def test_a_password_reset_link_sets_a_new_password_once(
    alice: User, mailoutbox: list[mail.EmailMessage]
) -> None:
    alice.email = "alice@example.org"
    alice.save()
    client = Client()

    response = client.post(reverse("password_reset"), {"email": "alice@example.org"})

    assert response.status_code == 302
    assert response.url == reverse("password_reset_done")
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["alice@example.org"]
    assert message.subject == "Reset your matchmaker password"
    link = _reset_link(message.body)

    # Django swaps the token for a placeholder in the address bar (it keeps it in the session),
    # so the token never leaks through the Referer header.
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    assert form_page.context["validlink"] is True
    set_password_url = form_page.redirect_chain[-1][0]
    response = client.post(
        set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert response.url == reverse("password_reset_complete")

    assert _log_in(Client(), "alice", PASSWORD).status_code == 200  # the old one is refused
    fresh = Client()
    assert _log_in(fresh, "alice", NEW_PASSWORD).status_code == 302
    assert _is_logged_in(fresh)

    again = Client().get(link, follow=True)
    assert again.context["validlink"] is False
    assert "This link no longer works" in again.content.decode()


def test_a_password_reset_for_an_unknown_address_sends_nothing_and_reveals_nothing(
    alice: User, mailoutbox: list[mail.EmailMessage]
) -> None:
    response = Client().post(reverse("password_reset"), {"email": "nobody@example.org"})

    assert response.status_code == 302
    assert response.url == reverse("password_reset_done")
    assert mailoutbox == []


def test_a_tampered_reset_link_is_refused(alice: User, mailoutbox: list[mail.EmailMessage]) -> None:
    alice.email = "alice@example.org"
    alice.save()
    Client().post(reverse("password_reset"), {"email": "alice@example.org"})
    link = _reset_link(mailoutbox[0].body)
    tampered = re.sub(r"/([^/]+)/$", "/0-00000000000000000000/", link)

    response = Client().get(tampered, follow=True)

    assert response.context["validlink"] is False


def test_changing_the_password_keeps_the_session_and_replaces_the_old_one(
    alice_client: Client,
) -> None:
    assert alice_client.get(reverse("password_change")).status_code == 200

    wrong = alice_client.post(
        reverse("password_change"),
        {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert wrong.status_code == 200
    assert wrong.context["form"].errors["old_password"]

    response = alice_client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert response.url == reverse("password_change_done")
    assert alice_client.get(reverse("case-list")).status_code == 200
    assert _log_in(Client(), "alice", PASSWORD).status_code == 200
    assert _log_in(Client(), "alice", NEW_PASSWORD).status_code == 302


def test_a_weak_new_password_is_refused_next_to_the_field(alice_client: Client) -> None:
    response = alice_client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "123", "new_password2": "123"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"]
    assert 'id="id_new_password2_error"' in response.content.decode()


def test_the_session_cookie_is_http_only_same_site_lax_and_ends_with_the_browser(
    alice: User,
) -> None:
    client = Client()

    response = _log_in(client, "alice", PASSWORD)

    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    # No Expires or Max-Age: a browser session cookie, gone when the browser closes.
    assert cookie["expires"] == ""
    assert cookie["max-age"] == ""
    # The server side still ends it after a working day.
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE <= 8 * 3600
    assert client.session.get_expire_at_browser_close() is True


def test_logging_in_issues_a_new_session_key(alice: User) -> None:
    client = Client()
    client.get(reverse("login"))
    client.session.save()
    before = client.session.session_key

    _log_in(client, "alice", PASSWORD)

    assert client.session.session_key != before


@pytest.mark.parametrize("with_token", [False, True])
def test_the_login_form_requires_its_csrf_token(alice: User, with_token: bool) -> None:
    client = Client(enforce_csrf_checks=True)
    page = client.get(reverse("login"))
    data = {"username": "alice", "password": PASSWORD}
    if with_token:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
        assert token is not None
        data["csrfmiddlewaretoken"] = token.group(1)

    response = client.post(reverse("login"), data)

    if with_token:
        assert response.status_code == 302
        assert _is_logged_in(client)
    else:
        assert response.status_code == 403
        assert not _is_logged_in(client)


def test_the_csrf_cookie_is_not_readable_by_scripts(db: None) -> None:
    response = Client().get(reverse("login"))

    assert response.cookies[settings.CSRF_COOKIE_NAME]["httponly"] is True
    assert response.cookies[settings.CSRF_COOKIE_NAME]["samesite"] == "Lax"
