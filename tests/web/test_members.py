"""Institution admins manage their members: who may, adding by invitation, roles, deactivation."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse

from matchmaker.cases.models import Institution, Membership
from matchmaker.cases.services import (
    add_member,
    change_member_role,
    send_invitation,
    set_member_active,
)
from matchmaker.lib.errors import FieldValidationError, PermissionDeniedError

MEMBERS_URL = reverse("member-list")
NEW_MEMBER = {
    "username": "dora",
    "email": "dora@example.org",
    "first_name": "Dora",
    "last_name": "Example",
    "role": "clinician",
}


@pytest.fixture
def admin_alice(alice: User) -> User:
    Membership.objects.filter(user=alice).update(role=Membership.Role.ADMIN)
    return alice


@pytest.fixture
def alice_admin_client(admin_alice: User, alice_client: Client) -> Client:
    return alice_client


def _role_of(user: User) -> str:
    return Membership.objects.get(user=user).role


def _active(user: User) -> bool:
    user.refresh_from_db()
    return user.is_active


def _link_in(body: str) -> str:
    match = re.search(r"https?://[^/\s]+(/accounts/password/reset/[^\s]+/)", body)
    assert match is not None, body
    return match.group(1)


# Who may manage members


@pytest.mark.parametrize(
    ("method", "url_name"),
    [
        ("get", "member-list"),
        ("post", "member-list"),
        ("post", "member-role"),
        ("post", "member-active"),
        ("post", "member-invite"),
    ],
)
def test_a_clinician_may_not_manage_members(
    alice_client: Client, bob: User, method: str, url_name: str
) -> None:
    url = reverse(url_name, args=[bob.pk]) if url_name != "member-list" else MEMBERS_URL

    response = getattr(alice_client, method)(url, {**NEW_MEMBER, "role": "admin", "active": "0"})

    assert response.status_code == 403
    assert _role_of(bob) == "clinician"
    assert _active(bob)
    assert not User.objects.filter(username="dora").exists()


def test_the_members_page_needs_a_login(db: None) -> None:
    response = Client().get(MEMBERS_URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_only_admins_see_the_members_link(alice_client: Client, alice: User) -> None:
    assert MEMBERS_URL not in alice_client.get(reverse("case-list")).content.decode()

    Membership.objects.filter(user=alice).update(role=Membership.Role.ADMIN)

    assert MEMBERS_URL in alice_client.get(reverse("case-list")).content.decode()


@pytest.mark.parametrize("url_name", ["member-role", "member-active", "member-invite"])
def test_an_admin_cannot_touch_another_institutions_member(
    alice_admin_client: Client, carol: User, url_name: str
) -> None:
    response = alice_admin_client.post(
        reverse(url_name, args=[carol.pk]), {"role": "admin", "active": "0"}
    )

    assert response.status_code == 404
    assert _role_of(carol) == "clinician"
    assert _active(carol)


# The list


def test_the_list_shows_the_institutions_members_and_nobody_else(
    alice_admin_client: Client, bob: User, carol: User
) -> None:
    bob.email, bob.first_name, bob.last_name = "bob@example.org", "Bob", "Builder"
    bob.save()

    response = alice_admin_client.get(MEMBERS_URL)

    assert response.status_code == 200
    assert [m.user.username for m in response.context["members"]] == ["alice", "bob"]
    content = response.content.decode()
    assert "Bob Builder" in content
    assert "bob@example.org" in content
    assert "carol" not in content
    assert 'aria-current="page">Members' in content


def test_the_list_runs_a_fixed_number_of_queries(
    alice_admin_client: Client,
    institution: Institution,
    django_assert_max_num_queries: Any,
) -> None:
    for number in range(30):
        user = User.objects.create_user(f"member{number}", email=f"m{number}@example.org")
        Membership.objects.create(user=user, institution=institution)

    with django_assert_max_num_queries(6):
        response = alice_admin_client.get(MEMBERS_URL)

    assert len(response.context["members"]) == 31


# Adding a member


def test_adding_a_member_creates_an_invited_account_and_mails_a_set_password_link(
    alice_admin_client: Client, institution: Institution, mailoutbox: list[mail.EmailMessage]
) -> None:
    response = alice_admin_client.post(MEMBERS_URL, NEW_MEMBER)

    assert response.status_code == 302
    assert response.url == MEMBERS_URL
    dora = User.objects.get(username="dora")
    assert (dora.email, dora.first_name, dora.last_name) == ("dora@example.org", "Dora", "Example")
    assert not dora.has_usable_password()
    assert dora.membership.institution == institution
    assert dora.membership.role == "clinician"
    (message,) = mailoutbox
    assert message.to == ["dora@example.org"]
    assert "Example Genetics" in message.subject
    assert '"dora"' in message.body

    page = alice_admin_client.get(MEMBERS_URL).content.decode()
    assert "invitation to choose a password was sent to dora@example.org" in page
    assert "invited" in page

    # Dora follows the link, chooses a password and logs in with it; the link then stops working.
    link = _link_in(message.body)
    dora_browser = Client()
    form_page = dora_browser.get(link, follow=True)
    assert form_page.context["validlink"] is True
    password = "dora's own long passphrase"
    dora_browser.post(
        form_page.redirect_chain[-1][0], {"new_password1": password, "new_password2": password}
    )
    login = Client().post(reverse("login"), {"username": "dora", "password": password})
    assert login.status_code == 302
    assert Client().get(link, follow=True).context["validlink"] is False


def test_an_admin_can_add_another_admin(
    alice_admin_client: Client, mailoutbox: list[mail.EmailMessage]
) -> None:
    alice_admin_client.post(MEMBERS_URL, {**NEW_MEMBER, "role": "admin"})

    assert User.objects.get(username="dora").membership.role == "admin"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"username": "BOB"}, "username", "'BOB' is taken; choose another"),
        ({"username": "dora smith"}, "username", "may contain only letters"),
        ({"username": ""}, "username", "This field is required."),
        ({"email": "not-an-address"}, "email", "Enter a valid email address."),
        ({"email": "BOB@example.org"}, "email", "another account already uses this address"),
        ({"role": "owner"}, "role", "Select a valid choice."),
    ],
)
def test_a_bad_new_member_is_refused_next_to_the_field(
    alice_admin_client: Client,
    bob: User,
    mailoutbox: list[mail.EmailMessage],
    change: dict[str, str],
    field: str,
    message: str,
) -> None:
    bob.email = "bob@example.org"
    bob.save()

    response = alice_admin_client.post(MEMBERS_URL, {**NEW_MEMBER, **change})

    assert response.status_code == 400
    errors = response.context["form"].errors[field]
    assert any(error.startswith(message) for error in errors), errors
    assert f'id="id_{field}_error"' in response.content.decode()
    assert User.objects.count() == 2
    assert mailoutbox == []


def test_a_mail_failure_keeps_the_member_and_says_so(
    alice_admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError("no mail server")

    monkeypatch.setattr("matchmaker.cases.services.members.send_mail", refuse)

    response = alice_admin_client.post(MEMBERS_URL, NEW_MEMBER, follow=True)

    assert response.status_code == 200
    assert User.objects.filter(username="dora").exists()
    assert "could not be sent" in response.content.decode()


def test_an_invitation_can_be_sent_again(
    alice_admin_client: Client, mailoutbox: list[mail.EmailMessage]
) -> None:
    alice_admin_client.post(MEMBERS_URL, NEW_MEMBER)
    dora = User.objects.get(username="dora")

    response = alice_admin_client.post(reverse("member-invite", args=[dora.pk]))

    assert response.status_code == 302
    assert len(mailoutbox) == 2
    assert mailoutbox[1].to == ["dora@example.org"]


# Roles


def test_an_admin_changes_a_members_role(alice_admin_client: Client, bob: User) -> None:
    response = alice_admin_client.post(reverse("member-role", args=[bob.pk]), {"role": "admin"})

    assert response.status_code == 302
    assert _role_of(bob) == "admin"
    assert bob.username + " is now institution admin" in (
        alice_admin_client.get(MEMBERS_URL).content.decode()
    )


def test_the_only_admin_cannot_step_down(alice_admin_client: Client, admin_alice: User) -> None:
    response = alice_admin_client.post(
        reverse("member-role", args=[admin_alice.pk]), {"role": "clinician"}
    )

    assert response.status_code == 400
    assert _role_of(admin_alice) == "admin"
    assert "the only active admin" in response.content.decode()


def test_an_admin_can_step_down_once_another_admin_exists(
    alice_admin_client: Client, admin_alice: User, bob: User
) -> None:
    alice_admin_client.post(reverse("member-role", args=[bob.pk]), {"role": "admin"})

    response = alice_admin_client.post(
        reverse("member-role", args=[admin_alice.pk]), {"role": "clinician"}
    )

    assert response.status_code == 302
    assert _role_of(admin_alice) == "clinician"
    assert alice_admin_client.get(MEMBERS_URL).status_code == 403


def test_an_unknown_role_is_refused(alice_admin_client: Client, bob: User) -> None:
    response = alice_admin_client.post(reverse("member-role", args=[bob.pk]), {"role": "boss"})

    assert response.status_code == 400
    assert "must be one of clinician, admin" in response.content.decode()
    assert _role_of(bob) == "clinician"


# Deactivation


def test_a_deactivated_member_is_logged_out_and_cannot_log_in_until_reactivated(
    alice_admin_client: Client, bob: User
) -> None:
    bob_client = Client()
    bob_client.force_login(bob)
    assert bob_client.get(reverse("case-list")).status_code == 200

    response = alice_admin_client.post(reverse("member-active", args=[bob.pk]), {"active": "0"})

    assert response.status_code == 302
    assert not _active(bob)
    assert bob_client.get(reverse("case-list")).status_code == 302
    login = {"username": "bob", "password": "correct horse battery staple"}
    assert Client().post(reverse("login"), login).status_code == 200
    assert "deactivated" in alice_admin_client.get(MEMBERS_URL).content.decode()

    alice_admin_client.post(reverse("member-active", args=[bob.pk]), {"active": "1"})

    assert _active(bob)
    assert Client().post(reverse("login"), login).status_code == 302


def test_an_admin_cannot_deactivate_themselves(
    alice_admin_client: Client, admin_alice: User, bob: User
) -> None:
    Membership.objects.filter(user=bob).update(role=Membership.Role.ADMIN)

    response = alice_admin_client.post(
        reverse("member-active", args=[admin_alice.pk]), {"active": "0"}
    )

    assert response.status_code == 400
    assert "your own account" in response.content.decode()
    assert _active(admin_alice)


@pytest.mark.parametrize("rank", ["is_staff", "is_superuser"])
def test_an_institution_admin_cannot_touch_the_nodes_staff_among_its_members(
    alice_admin_client: Client,
    bob: User,
    rank: str,
    mailoutbox: list[mail.EmailMessage],
) -> None:
    # A node administrator who also works at the institution: their account is global (it
    # opens the admin), so only the node's administrators change it.
    setattr(bob, rank, True)
    bob.email = "bob@example.org"
    bob.set_unusable_password()
    bob.save()

    deactivate = alice_admin_client.post(reverse("member-active", args=[bob.pk]), {"active": "0"})
    promote = alice_admin_client.post(reverse("member-role", args=[bob.pk]), {"role": "admin"})
    invite = alice_admin_client.post(reverse("member-invite", args=[bob.pk]))

    for response in (deactivate, promote, invite):
        assert response.status_code == 403
        assert "the node's administrators manage this account" in html.unescape(
            response.content.decode()
        )
    assert _active(bob)
    assert _role_of(bob) == "clinician"
    assert mailoutbox == []
    page = html.unescape(alice_admin_client.get(MEMBERS_URL).content.decode())
    row = page.split(f'id="member-{bob.pk}"')[1].split("</tr>")[0]
    assert "Deactivate" not in row
    assert "managed by the node's administrators" in row


def test_the_services_refuse_an_institution_admin_managing_staff(
    admin_alice: User, bob: User
) -> None:
    bob.is_superuser = True
    bob.save()
    membership = Membership.objects.get(user=bob)

    with pytest.raises(PermissionDeniedError):
        set_member_active(membership, active=False, by=admin_alice)
    with pytest.raises(PermissionDeniedError):
        change_member_role(membership, role="admin", by=admin_alice)

    assert _active(bob)


def test_a_deactivated_member_gets_no_invitation(
    alice_admin_client: Client, bob: User, mailoutbox: list[mail.EmailMessage]
) -> None:
    bob.email = "bob@example.org"
    bob.is_active = False
    bob.save()

    response = alice_admin_client.post(reverse("member-invite", args=[bob.pk]))

    assert response.status_code == 400
    assert "reactivate them first" in response.content.decode()
    assert mailoutbox == []


# The services on their own


def test_only_an_admin_of_the_institution_may_add_members(
    admin_alice: User, bob: User, carol: User, institution: Institution
) -> None:
    Membership.objects.filter(user=carol).update(role=Membership.Role.ADMIN)

    for outsider in (bob, carol):
        with pytest.raises(PermissionDeniedError):
            add_member(institution, username="x", email="x@example.org", by=outsider)

    assert not User.objects.filter(username="x").exists()


def test_a_deactivated_admin_may_not_manage_members(
    admin_alice: User, bob: User, institution: Institution
) -> None:
    admin_alice.is_active = False
    admin_alice.save()

    with pytest.raises(PermissionDeniedError):
        change_member_role(Membership.objects.get(user=bob), role="admin", by=admin_alice)


def test_the_last_active_admin_stays_an_admin(admin_alice: User, bob: User) -> None:
    Membership.objects.filter(user=bob).update(role=Membership.Role.ADMIN)
    bob.is_active = False
    bob.save()

    with pytest.raises(FieldValidationError) as raised:
        change_member_role(
            Membership.objects.get(user=admin_alice), role="clinician", by=admin_alice
        )

    assert raised.value.errors[0][0] == "role"


def test_deactivating_oneself_is_refused_by_the_service(admin_alice: User) -> None:
    with pytest.raises(FieldValidationError) as raised:
        set_member_active(Membership.objects.get(user=admin_alice), active=False, by=admin_alice)

    assert raised.value.errors == [
        ("is_active", "you cannot deactivate or reactivate your own account")
    ]


def test_add_member_names_every_bad_field_at_once(
    admin_alice: User, institution: Institution
) -> None:
    with pytest.raises(FieldValidationError) as raised:
        add_member(
            institution,
            username="",
            email="nope",
            first_name="x" * 151,
            role="boss",
            by=admin_alice,
        )

    assert [field for field, _ in raised.value.errors] == [
        "username",
        "email",
        "first_name",
        "role",
    ]


def test_an_invitation_link_carries_the_given_address(
    admin_alice: User, institution: Institution, mailoutbox: list[mail.EmailMessage]
) -> None:
    member = add_member(institution, username="erin", email="erin@example.org", by=admin_alice)

    send_invitation(member, base_url="https://mm.example.org")

    assert "https://mm.example.org/accounts/password/reset/" in mailoutbox[0].body
