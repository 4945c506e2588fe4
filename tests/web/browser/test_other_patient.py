"""The other patient's card in headless Chromium: a peer's patient as the answer carried it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from matchmaker.cases.models import Institution
from matchmaker.casework.models import Match
from matchmaker.federation.services import add_peer
from tests.factories import make_case
from tests.web.browser.conftest import log_in, screenshot
from tests.web.test_match_pages import remote_match

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_clinician_reads_the_peers_patient_whole_on_the_match_page(
    page: Page, alice: User, institution: Institution
) -> None:
    peer = add_peer("Far Node", base_url="https://far.example/mme", outbound_token="t" * 32)
    ours = make_case(institution=institution, owner=alice, label="fam60-proband")
    match = remote_match(ours, peer, "far-60", 0.7)
    patient = dict(match.remote_patient)
    patient.update(
        sex="FEMALE",
        ageOfOnset="HP:0011463",
        inheritanceMode="HP:0000006",
        genomicFeatures=[{"gene": {"id": "NGLY1"}, "zygosity": 2}, {"gene": {"id": "STXBP1"}}],
    )
    Match.objects.filter(pk=match.pk).update(remote_patient=patient)

    log_in(page, alice)
    page.goto("/matches/")
    page.get_by_role("link", name="far-60").click()
    card = page.locator("section", has=page.get_by_role("heading", name="The other patient"))
    facts = card.locator("dl.other-patient")
    expect(facts).to_contain_text("Female")
    expect(facts).to_contain_text("Childhood onset (HP:0011463)")
    expect(facts).to_contain_text("Autosomal dominant inheritance (HP:0000006)")
    genes = card.get_by_role("list", name="All their genes and variants")
    expect(genes.get_by_role("listitem")).to_have_count(2)
    expect(genes).to_contain_text("STXBP1")  # not shared with ours, shown all the same
    screenshot(page, "other-patient")
