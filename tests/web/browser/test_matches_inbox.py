"""The matches inbox in headless Chromium, as a clinician walks it: the count in the navigation,
what arrived since the last visit first, a filter, and on to one match."""

from __future__ import annotations

import datetime
import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Page, expect

from matchmaker.cases.models import Institution
from matchmaker.casework.models import Match
from matchmaker.casework.services.matches import run_matching
from matchmaker.federation.services import add_peer
from matchmaker.web.models import InboxVisit
from tests.factories import make_case
from tests.web.browser.conftest import log_in, screenshot
from tests.web.test_match_pages import remote_match

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_clinician_opens_the_inbox_sees_what_is_new_filters_and_opens_a_match(
    page: Page, alice: User, institution: Institution
) -> None:
    peer = add_peer("Far Node", base_url="https://far.example/mme", outbound_token="t" * 32)
    first = make_case(institution=institution, owner=alice, label="fam40-proband")
    second = make_case(institution=institution, owner=alice, label="fam41-proband")
    # Saving the two cases matched them with each other: only the peer's matches count here.
    Match.objects.filter(direction=Match.Direction.LOCAL).delete()
    old = remote_match(first, peer, "far-old", 0.9, status=Match.Status.REVIEWED)
    Match.objects.filter(pk=old.pk).update(first_seen=timezone.now() - datetime.timedelta(days=9))
    InboxVisit.objects.create(user=alice, visited_at=timezone.now() - datetime.timedelta(days=2))
    arrived = remote_match(second, peer, "far-arrived", 0.5)
    other_gene = remote_match(
        second, peer, "far-other", 0.4, explanation={"genes": [], "conflicts": []}
    )

    log_in(page, alice)
    nav = page.get_by_role("navigation", name="Main")
    matches_link = nav.get_by_role("link", name="Matches")
    expect(matches_link).to_contain_text("2")  # arrived and other_gene, since the last visit
    matches_link.click()
    page.wait_for_url("**/matches/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Matches")
    rows = page.locator("table.inbox tbody tr")
    expect(rows).to_have_count(3)
    # What arrived since the last visit first, though the old match scores higher.
    expect(rows.nth(0)).to_contain_text("far-arrived")
    expect(rows.nth(0)).to_contain_text("new since last visit")
    expect(rows.nth(1)).to_contain_text("far-other")
    expect(rows.nth(2)).to_contain_text("far-old")
    expect(rows.nth(2)).not_to_contain_text("new since last visit")
    screenshot(page, "matches-inbox")

    page.get_by_label("Shared gene").fill("ngly1")
    page.get_by_label("Triage status").select_option("new")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("far-arrived")
    expect(page.get_by_label("Shared gene")).to_have_value("ngly1")

    page.get_by_label("Shared gene").fill("NO-SUCH-GENE")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".field.has-error")).to_contain_text("is not a gene this node knows")

    page.goto(f"/matches/?case={first.public_id}")
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link", name="far-old").click()
    page.wait_for_url(f"**/matches/{old.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(first.public_id)
    assert other_gene.pk != arrived.pk


def test_a_score_of_an_earlier_release_is_marked_until_the_node_scores_it_again(
    page: Page, alice: User, institution: Institution, other_institution: Institution
) -> None:
    ours = make_case(institution=institution, owner=alice, label="fam42-proband")
    theirs = make_case(institution=other_institution, label="theirs")
    run_matching(ours.pk, notify=False)
    match = Match.objects.get(case=ours, matched_case=theirs)
    score_today = match.score
    # As a release with another scoring method left it.
    Match.objects.filter(direction=Match.Direction.LOCAL).update(
        scored_with="bma_jaccard_bridge, HPO 2024-08-13", score=0.31
    )

    log_in(page, alice)
    page.goto("/matches/")
    row = page.locator("table.inbox tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("0.31")
    expect(row).to_contain_text("earlier scoring: being scored again")
    row.get_by_role("link", name=theirs.public_id).click()
    page.wait_for_url(f"**/matches/{match.pk}/")
    expect(page.locator("main")).to_contain_text(
        "This score was computed before this node's matching was upgraded"
    )
    expect(page.locator("main")).not_to_contain_text("bma_jaccard")

    call_command("match", "--stale", "--no-notify", stdout=io.StringIO())

    page.goto(f"/cases/{ours.public_id}/matches/")
    scored_again = page.locator("table tbody tr", has_text=theirs.public_id)
    expect(scored_again).to_contain_text(f"{score_today:.2f}")
    expect(scored_again).not_to_contain_text("earlier scoring")
