"""Peers' answers appear below while the clinician waits, without a reload, in headless Chromium
under the node's Content-Security-Policy: after "Search peers again" (a real peer on loopback),
and while a search started elsewhere is still waiting."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from matchmaker.cases.models import Institution
from matchmaker.casework.models import Match
from matchmaker.federation.models import PeerSearch
from tests.factories import make_case
from tests.federation.fake_peers import answering, remote_result, serve  # noqa: F401
from tests.web.browser.conftest import log_in, screenshot
from tests.web.test_match_pages import add_searchable_peer, remote_match

pytestmark = pytest.mark.django_db(transaction=True)


def _csp_problems(page: Page) -> list[str]:
    problems: list[str] = []
    page.on(
        "console",
        lambda message: (
            problems.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return problems


def test_a_peers_answer_appears_after_search_again_without_a_reload(
    page: Page,
    alice: User,
    institution: Institution,
    serve: Any,  # noqa: F811
) -> None:
    node = serve(answering(remote_result("far-live-1", 0.93)))
    add_searchable_peer("Loopback Node", base_url=node.base_url)
    case = make_case(institution=institution, owner=alice, consented=True, label="fam80")
    PeerSearch.objects.filter(case=case).delete()  # saving searched once: start from none
    Match.objects.filter(case=case).exclude(direction="local").delete()
    problems = _csp_problems(page)

    log_in(page, alice)
    page.goto(f"/cases/{case.public_id}/matches/")
    ranked = page.locator("#ranked-list")
    expect(ranked).not_to_contain_text("far-live-1")
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name="Search peers again").click()

    expect(page.locator("#peer-status")).to_contain_text("their answers appear below")
    expect(ranked.get_by_role("link", name="far-live-1")).to_be_visible()
    assert page.evaluate("window.__sameDocument === true"), "the page was not reloaded"
    assert problems == []
    screenshot(page, "peer-results-after-search")


def test_answers_of_a_waiting_search_appear_as_they_come(
    page: Page, alice: User, institution: Institution
) -> None:
    peer = add_searchable_peer("Slow Node")
    case = make_case(institution=institution, owner=alice, consented=True, label="fam81")
    PeerSearch.objects.filter(case=case).delete()
    search = PeerSearch.objects.create(
        case=case, peer=peer, status="waiting", requested_at=timezone.now()
    )
    problems = _csp_problems(page)

    log_in(page, alice)
    page.goto(f"/cases/{case.public_id}/matches/")
    expect(page.locator("#peer-status")).to_contain_text("asking…")
    page.evaluate("window.__sameDocument = true")
    ranked = page.locator("#ranked-list")
    expect(ranked).not_to_contain_text("slow-1")

    # The peer answers (as the search task records it) while the page stays open.
    remote_match(case, peer, "slow-1", 0.77)
    PeerSearch.objects.filter(pk=search.pk).update(
        status="answered", result_count=1, finished_at=timezone.now()
    )

    expect(ranked.get_by_role("link", name="slow-1")).to_be_visible(timeout=10_000)
    expect(page.locator("#peer-status")).to_contain_text("Answered")
    assert page.evaluate("window.__sameDocument === true"), "the page was not reloaded"
    assert problems == []
    screenshot(page, "peer-results-while-waiting")
