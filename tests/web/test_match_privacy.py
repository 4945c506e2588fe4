"""What one institution learns about another's case through a match: the public id and the
contact, never the label, and nothing at all once the case is withdrawn or deleted.

Two clinicians of two institutions (alice, carol) enter their cases through the case form, as
they would in the browser; matching and the e-mails run as the workers run them.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.management import call_command
from django.test import Client

from matchmaker.cases.models import Case
from matchmaker.matching.models import Match
from tests.factories import case_form_data

pytestmark = pytest.mark.django_db

ALICE_LABEL = "alice-team-fam7"
CAROL_LABEL = "carol-team-fam9"


def enter_case(client: Client, capture: Any, label: str, **fields: str) -> Case:
    """Save a case through the case form and let the queued matching and e-mails run."""
    with capture(execute=True):
        response = client.post("/cases/new/", case_form_data(label=label, **fields))
    assert response.status_code == 302, response.context["form"].errors
    return Case.objects.get(label=label)


@pytest.fixture
def two_sides(
    eager_tasks: None,
    alice: User,
    carol: User,
    alice_client: Client,
    carol_client: Client,
    django_capture_on_commit_callbacks: Any,
) -> tuple[Case, Case]:
    """Alice's and carol's cases: the same terms and gene, so each matches the other."""
    alice.email, carol.email = "alice@example.org", "carol@elsewhere.org"
    alice.save()
    carol.save()
    alice_case = enter_case(alice_client, django_capture_on_commit_callbacks, ALICE_LABEL)
    carol_case = enter_case(
        carol_client,
        django_capture_on_commit_callbacks,
        CAROL_LABEL,
        contact_name="Dr Carol",
        contact_email="carol-team@elsewhere.org",
    )
    return alice_case, carol_case


def test_new_match_emails_name_cases_by_public_id_and_never_by_label(
    two_sides: tuple[Case, Case],
) -> None:
    alice_case, carol_case = two_sides
    by_recipient = {message.to[0]: message for message in mail.outbox}
    assert set(by_recipient) == {"alice@example.org", "carol@elsewhere.org"}

    to_alice = by_recipient["alice@example.org"]
    assert f"Matched case: {carol_case.public_id}" in to_alice.body
    assert "Dr Carol" in to_alice.body
    assert "carol-team@elsewhere.org" in to_alice.body
    to_carol = by_recipient["carol@elsewhere.org"]
    assert f"Matched case: {alice_case.public_id}" in to_carol.body

    # Neither the other side's label nor the owner's own: e-mail leaves the node in clear text.
    for message in mail.outbox:
        for label in (ALICE_LABEL, CAROL_LABEL):
            assert label not in message.subject
            assert label not in message.body
    assert Match.objects.filter(notified_at__isnull=False).count() == 2


def test_the_operators_match_command_lists_other_cases_by_public_id_only(
    two_sides: tuple[Case, Case],
) -> None:
    alice_case, carol_case = two_sides
    out = io.StringIO()
    call_command("match", alice_case.public_id, stdout=out)
    assert carol_case.public_id in out.getvalue()
    assert CAROL_LABEL not in out.getvalue()
    assert ALICE_LABEL not in out.getvalue()


def test_the_email_links_the_clinicians_own_match_page_under_site_root(
    settings: Any,
    eager_tasks: None,
    alice: User,
    carol: User,
    alice_client: Client,
    carol_client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.SITE_ROOT = "https://matchmaker.example.org/"
    alice.email, carol.email = "alice@example.org", "carol@elsewhere.org"
    alice.save()
    carol.save()
    enter_case(alice_client, django_capture_on_commit_callbacks, ALICE_LABEL)
    enter_case(carol_client, django_capture_on_commit_callbacks, CAROL_LABEL)

    for message, own_client, other_client in (
        (next(m for m in mail.outbox if m.to == ["alice@example.org"]), alice_client, carol_client),
        (
            next(m for m in mail.outbox if m.to == ["carol@elsewhere.org"]),
            carol_client,
            alice_client,
        ),
    ):
        [link] = re.findall(r"See and triage the match: (\S+)", message.body)
        assert link.startswith("https://matchmaker.example.org/matches/")
        path = link.removeprefix("https://matchmaker.example.org")
        page = own_client.get(path)
        assert page.status_code == 200
        assert page.context["match"].case.owner.email == message.to[0]
        assert other_client.get(path).status_code == 404  # each side's link is its own
