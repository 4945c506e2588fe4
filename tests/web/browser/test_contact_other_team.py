"""Contacting the other team in headless Chromium: from the match page, read the node's
message, add a note, send; the match is Contacted and its history says whom and when."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core import mail
from playwright.sync_api import Page, expect

from matchmaker.cases.models import Institution
from matchmaker.cases.records import ContactRecord
from matchmaker.casework.models import Match
from tests.factories import make_case
from tests.web.browser.conftest import log_in, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_clinician_contacts_the_other_team_from_a_match(
    page: Page, alice: User, institution: Institution, other_institution: Institution
) -> None:
    alice.email, alice.first_name, alice.last_name = "alice@example.org", "Alice", "Adams"
    alice.save()
    make_case(
        institution=other_institution,
        label="their-private-label",
        contact=ContactRecord(name="Dr Carol", email="carol@elsewhere.org"),
    )
    ours = make_case(institution=institution, owner=alice, label="our-private-label")
    match = Match.objects.get(case=ours)
    mail.outbox.clear()

    log_in(page, alice)
    page.goto(f"/matches/{match.pk}/")
    page.get_by_role("link", name="Contact the other team").click()
    page.wait_for_url(f"**/matches/{match.pk}/contact/")
    composed = page.get_by_label("The message")
    expect(composed).to_contain_text(ours.public_id)
    expect(composed).to_contain_text(match.matched_case.public_id)
    expect(composed).to_contain_text("NGLY1")
    expect(page.locator("main")).not_to_contain_text("our-private-label")
    expect(page.locator("main")).not_to_contain_text("their-private-label")
    page.get_by_label("Your note").fill("Our patient also has a sibling with seizures.")
    screenshot(page, "contact-the-other-team")
    page.get_by_role("button", name="Send").click()

    page.wait_for_url(f"**/matches/{match.pk}/")
    expect(page.get_by_role("status").first).to_contain_text("Sent to Dr Carol")
    expect(page.locator("#match-status-badge")).to_have_text("Contacted")
    history = page.locator("ol.history")
    expect(history).to_contain_text("Alice Adams")
    expect(history).to_contain_text("contacted Dr Carol")
    expect(history).to_contain_text("carol@elsewhere.org")
    screenshot(page, "contacted-history")
    [message] = mail.outbox
    assert message.to == ["carol@elsewhere.org"]
    assert "Our patient also has a sibling with seizures." in message.body
    assert "our-private-label" not in message.body
