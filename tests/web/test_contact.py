# ruff: noqa: F811 (the fixtures imported from test_match_pages are parameters here)
"""Contacting the other team from a match: the node's message (public ids, shared genes and
terms, never a label), sent by Django e-mail to the other side's contact, logged on the match,
which becomes Contacted; a contact that is only a web link is shown, not written to."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse

from matchmaker.cases.models import Case
from matchmaker.casework.models import Match, MatchEvent
from matchmaker.federation.models import Peer
from tests.conftest import free_port
from tests.web.test_match_pages import (  # noqa: F401 (fixtures)
    alice_case,
    carol_case,
    detail_url,
    far_node,
    local_match,
    remote_match,
)

pytestmark = pytest.mark.django_db


def contact_url(match: Match) -> str:
    return reverse("match-contact", args=[match.pk])


def test_the_match_page_offers_to_contact_the_other_team(
    alice_client: Client, local_match: Match
) -> None:
    html = alice_client.get(detail_url(local_match)).content.decode()
    assert f'href="{contact_url(local_match)}"' in html
    assert "Contact the other team" in html


def test_the_message_names_both_public_ids_genes_and_terms_but_never_a_label(
    alice_client: Client, local_match: Match, alice_case: Case, carol_case: Case
) -> None:
    response = alice_client.get(contact_url(local_match))

    assert response.status_code == 200
    html = response.content.decode()
    assert alice_case.public_id in html
    assert carol_case.public_id in html
    assert "NGLY1" in html
    assert "Global developmental delay (HP:0001263): the same term" in html
    assert "carol@elsewhere.org" in html
    assert "alice-proband" not in html
    assert "carol-secret-label" not in html


def test_sending_mails_the_local_teams_contact_logs_it_and_sets_contacted(
    alice: User, alice_client: Client, local_match: Match, alice_case: Case, carol_case: Case
) -> None:
    alice.email = "alice@example.org"
    alice.first_name, alice.last_name = "Alice", "Adams"
    alice.save()

    response = alice_client.post(contact_url(local_match), {"note": "We have a sibling too."})

    assert response.status_code == 302
    assert response["Location"] == detail_url(local_match)
    [message] = mail.outbox
    assert message.to == ["carol@elsewhere.org"]
    assert message.reply_to == ["alice@example.org"]
    assert alice_case.public_id in message.subject
    assert carol_case.public_id in message.subject
    assert alice_case.public_id in message.body
    assert carol_case.public_id in message.body
    assert "NGLY1" in message.body
    assert "We have a sibling too." in message.body
    assert "Alice Adams" in message.body
    for label in ("alice-proband", "carol-secret-label"):
        assert label not in message.body
        assert label not in message.subject
    local_match.refresh_from_db()
    assert local_match.status == Match.Status.CONTACTED
    [event] = MatchEvent.objects.filter(match=local_match)
    assert event.by == alice
    assert event.from_status == Match.Status.NEW
    assert event.to_status == Match.Status.CONTACTED
    assert "carol@elsewhere.org" in event.contacted
    assert event.message == message.body
    # The history on the match page: who contacted whom, and when.
    html = alice_client.get(detail_url(local_match)).content.decode()
    assert "Alice Adams" in html
    assert "contacted <strong>Dr Carol" in html
    assert "carol@elsewhere.org" in html
    assert f'datetime="{event.at.isoformat()}"'[:30] in html


def test_a_peers_patient_is_written_to_at_the_mailto_address_it_came_with(
    alice_client: Client, alice_case: Case, far_node: Peer
) -> None:
    match = remote_match(alice_case, far_node, "far-1", 0.8)

    response = alice_client.post(contact_url(match), {"note": ""})

    assert response.status_code == 302
    [message] = mail.outbox
    assert message.to == ["far@example.org"]
    assert "far-1" in message.body
    assert "their far-1" not in message.body, "the peer's label is not repeated either"
    match.refresh_from_db()
    assert match.status == Match.Status.CONTACTED
    assert match.events.get().contacted == "Dr Far (Far Genetics) <far@example.org>"


def test_a_contact_that_is_only_a_web_link_is_shown_and_nothing_is_sent(
    alice_client: Client, alice_case: Case, far_node: Peer
) -> None:
    match = remote_match(alice_case, far_node, "far-web", 0.8)
    patient: dict[str, Any] = dict(match.remote_patient)
    patient["contact"] = {"name": "Dr Web", "href": "https://far.example/contact-form"}
    Match.objects.filter(pk=match.pk).update(remote_patient=patient)

    page = alice_client.get(contact_url(match)).content.decode()
    assert 'href="https://far.example/contact-form"' in page
    assert "cannot write to them" in page
    assert ">Send<" not in page

    response = alice_client.post(contact_url(match), {"note": "hello"})
    assert response.status_code == 409
    assert mail.outbox == []
    match.refresh_from_db()
    assert match.status == Match.Status.NEW
    assert not match.events.exists()


def test_a_mail_server_that_does_not_answer_records_nothing(
    alice_client: Client, local_match: Match, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens

    response = alice_client.post(contact_url(local_match), {"note": ""})

    assert response.status_code == 502
    assert "could not be sent" in response.content.decode()
    local_match.refresh_from_db()
    assert local_match.status == Match.Status.NEW
    assert not local_match.events.exists()


def test_another_institution_cannot_contact_about_our_match(
    carol_client: Client, local_match: Match
) -> None:
    assert carol_client.get(contact_url(local_match)).status_code == 404
    assert carol_client.post(contact_url(local_match), {"note": "x"}).status_code == 404
    assert mail.outbox == []


def test_a_note_longer_than_allowed_is_refused_and_nothing_is_sent(
    alice_client: Client, local_match: Match
) -> None:
    response = alice_client.post(contact_url(local_match), {"note": "x" * 4001})
    assert response.status_code == 400
    assert "at most 4000 characters" in response.content.decode()
    assert mail.outbox == []


def test_a_withdrawn_case_cannot_be_contacted_through_the_node(
    alice_client: Client, local_match: Match, carol_case: Case
) -> None:
    from matchmaker.casework.services import withdraw_case

    withdraw_case(carol_case)

    page = alice_client.get(detail_url(local_match)).content.decode()
    response = alice_client.post(contact_url(local_match), {"note": "Still there?"})

    assert "Contact the other team" not in page
    assert response.status_code == 302
    assert mail.outbox == []
    assert not MatchEvent.objects.filter(match=local_match).exists()
