"""E-mails about new matches: once per match, to the right people, with what the peer returned."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from matchmaker.casework.models import Match
from matchmaker.casework.services.notifications import notify_new_matches, notify_pending_matches
from matchmaker.federation.services import add_peer
from tests.factories import make_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def incoming_match(institution, alice) -> Match:
    alice.email = "alice@example.org"
    alice.save()
    case = make_case(institution=institution, owner=alice, consented=True)
    peer = add_peer("Peer Z", inbound_token="peer-z-token-0123456789")
    return Match.objects.create(
        case=case,
        direction=Match.Direction.INCOMING,
        peer=peer,
        remote_patient_id="Z-17",
        remote_patient={
            "id": "Z-17",
            "label": "z family",
            "contact": {"name": "Dr Zed", "email": ["zed@z.example", "team@z.example"]},
        },
        score=0.8,
        phenotype_score=0.6,
        genotype_score=1.0,
        explanation={
            "genes": [{"gene_id": "NCBIGene:55768", "gene_symbol": "NGLY1"}],
            "term_matches": [
                {
                    "query_term": "HP:0001250",
                    "query_label": "Seizure",
                    "case_term": "HP:0001250",
                    "case_label": "Seizure",
                    "common_ancestor": "HP:0001250",
                    "common_ancestor_label": "Seizure",
                }
            ],
            "conflicts": [],
        },
        last_seen=timezone.now(),
    )


def test_the_owner_gets_one_email_with_everything_the_peer_returned(
    incoming_match, settings
) -> None:
    settings.SITE_ROOT = "http://127.0.0.1:8000"
    assert notify_new_matches([incoming_match.pk]) == 1
    assert notify_new_matches([incoming_match.pk]) == 0  # idempotent

    [message] = mail.outbox
    assert message.to == ["alice@example.org"]
    assert incoming_match.case.public_id in message.subject
    for words in ("Peer Z", "Z-17", "Dr Zed", "zed@z.example, team@z.example"):
        assert words in message.body
    # The peer's own label for its patient is its team's handle: not passed on.
    assert "z family" not in message.body
    assert "Shared genes: NGLY1" in message.body
    assert "Seizure -> Seizure" in message.body
    # The clinician's own match page, not the admin (which answers 403 to clinicians).
    assert f"http://127.0.0.1:8000/matches/{incoming_match.pk}/\n" in message.body + "\n"


def test_without_an_owner_address_the_case_contact_or_institution_hears(incoming_match) -> None:
    incoming_match.case.owner.email = ""
    incoming_match.case.owner.save()

    notify_new_matches([incoming_match.pk])

    assert mail.outbox[0].to == ["mme@example.org"]  # the institution's contact


def test_the_sweep_sends_what_could_not_be_queued_and_only_once(incoming_match) -> None:
    assert notify_pending_matches() == 0  # too fresh: its own task may still be on the way

    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=10)):
        assert notify_pending_matches() == 1
        assert notify_pending_matches() == 0
    assert len(mail.outbox) == 1


def test_the_sweep_leaves_removed_matches_alone(incoming_match) -> None:
    Match.objects.filter(pk=incoming_match.pk).update(removed_at=timezone.now())

    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=10)):
        assert notify_pending_matches() == 0
