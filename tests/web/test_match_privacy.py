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
from django.utils import timezone

from matchmaker.cases.models import Case, Institution
from matchmaker.casework.models import Match
from matchmaker.federation.services import add_peer
from tests.factories import case_form_data, make_case

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


ALACRIMA = "HP:0000522"


def test_a_withdrawn_case_is_removed_from_the_other_sides_matches_at_once_and_never_shown(
    two_sides: tuple[Case, Case],
    alice_client: Client,
    carol_client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    alice_case, carol_case = two_sides
    carols = Match.objects.get(case=carol_case, matched_case=alice_case)
    alices = Match.objects.get(case=alice_case, matched_case=carol_case)
    before = carol_client.get(f"/api/v1/matches/{carols.pk}/").json()
    assert before["removedAt"] is None
    assert before["matchedCase"]["withdrawn"] is False
    assert before["matchedCase"]["contact"]["email"] == "mme@example.org"  # alice's institution

    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(f"/cases/{alice_case.public_id}/status/", {"action": "withdraw"})
    # Then alice edits her withdrawn case: nothing of the edit may reach carol.
    with django_capture_on_commit_callbacks(execute=True):
        edit = alice_client.post(
            f"/cases/{alice_case.public_id}/edit/",
            case_form_data(
                label=ALICE_LABEL,
                observed_terms=["HP:0001250", "HP:0001263", ALACRIMA],
                contact_name="Dr Afterwards",
                contact_email="after-withdrawal@example.org",
            ),
        )
    assert edit.status_code == 302

    # Both sides' copies are removed, in the withdrawal itself.
    for match in (carols, alices):
        match.refresh_from_db()
        assert match.removed_at is not None
    api = carol_client.get(f"/api/v1/matches/{carols.pk}/")
    assert api.status_code == 200
    detail = api.json()
    assert detail["removedAt"] is not None
    assert detail["matchedCase"] == {
        "publicId": alice_case.public_id,
        "institution": "Example Genetics",
        "withdrawn": True,
        "contact": None,
    }
    assert set(detail["explanation"]) == {"note"}
    assert carol_client.get("/api/v1/matches/").json()["results"] == []
    listed = carol_client.get("/api/v1/matches/", {"include_removed": "true"}).json()["results"]
    assert [item["matchedCase"]["contact"] for item in listed] == [None]

    for path in (f"/matches/{carols.pk}/", f"/cases/{carol_case.public_id}/matches/?removed=on"):
        page = carol_client.get(path)
        assert page.status_code == 200
        text = page.content.decode()
        assert alice_case.public_id in text
        for secret in (
            "Alacrima",
            "Dr Afterwards",
            "after-withdrawal@example.org",
            "mme@example.org",
        ):
            assert secret not in text, (path, secret)
        assert "withdrawn by its institution" in text
    assert carol_client.get(f"/matches/{carols.pk}/").context["comparison"].columns == ()


def test_a_reactivated_case_is_matched_and_shown_again(
    two_sides: tuple[Case, Case],
    alice_client: Client,
    carol_client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    alice_case, carol_case = two_sides
    carols = Match.objects.get(case=carol_case, matched_case=alice_case)
    for action in ("withdraw", "reactivate"):
        with django_capture_on_commit_callbacks(execute=True):
            alice_client.post(f"/cases/{alice_case.public_id}/status/", {"action": action})

    detail = carol_client.get(f"/api/v1/matches/{carols.pk}/").json()
    assert detail["removedAt"] is None
    assert detail["matchedCase"]["withdrawn"] is False
    assert detail["matchedCase"]["contact"]["email"] == "mme@example.org"
    assert detail["explanation"]["term_matches"]


def test_a_deleted_case_takes_the_other_sides_matches_with_it(
    two_sides: tuple[Case, Case], alice_client: Client, carol_client: Client
) -> None:
    alice_case, carol_case = two_sides
    carols = Match.objects.get(case=carol_case, matched_case=alice_case)
    alice_client.post(
        f"/cases/{alice_case.public_id}/status/",
        {"action": "delete", "confirm": alice_case.public_id},
    )
    assert carol_client.get(f"/api/v1/matches/{carols.pk}/").status_code == 404
    assert carol_client.get(f"/matches/{carols.pk}/").status_code == 404


def test_a_case_withdrawn_before_the_new_match_email_goes_out_is_not_emailed_about(
    eager_tasks: None,
    alice: User,
    carol: User,
    alice_client: Client,
    carol_client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    carol.email = "carol@elsewhere.org"
    carol.save()
    alice_case = enter_case(alice_client, django_capture_on_commit_callbacks, ALICE_LABEL)
    with django_capture_on_commit_callbacks(execute=False) as matching_queued:
        carol_client.post("/cases/new/", case_form_data(label=CAROL_LABEL))
    with django_capture_on_commit_callbacks(execute=False) as emails_queued:
        for callback in matching_queued:
            callback()  # the matching task: it finds alice's case and queues the e-mails
    assert Match.objects.filter(notified_at__isnull=True).count() == 2

    alice_client.post(f"/cases/{alice_case.public_id}/status/", {"action": "withdraw"})
    for callback in emails_queued:
        callback()  # the e-mail task runs after the withdrawal

    assert mail.outbox == []


def test_the_api_passes_on_a_peers_patient_without_the_peers_label(
    alice: User, alice_client: Client, institution: Institution
) -> None:
    case = make_case(institution=institution, owner=alice)
    peer = add_peer("Label Peer", inbound_token="label-peer-token-0123456789")
    match = Match.objects.create(
        case=case,
        direction=Match.Direction.INCOMING,
        peer=peer,
        remote_patient_id="P-9",
        remote_patient={"id": "P-9", "label": "their team handle", "contact": {"name": "Dr P"}},
        score=0.7,
        phenotype_score=0.4,
        genotype_score=1.0,
        last_seen=timezone.now(),
    )
    for path in (f"/api/v1/matches/{match.pk}/", "/api/v1/matches/", f"/matches/{match.pk}/"):
        response = alice_client.get(path)
        assert response.status_code == 200
        assert "their team handle" not in response.content.decode()
    remote = alice_client.get(f"/api/v1/matches/{match.pk}/").json()["remotePatient"]
    assert remote == {"id": "P-9", "contact": {"name": "Dr P"}}
