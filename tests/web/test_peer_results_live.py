# ruff: noqa: F811 (the fixtures imported from test_match_pages are parameters here)
"""Peers' answers appear on the matches page while the clinician waits: the polled peer-status
block tells the page (an HX-Trigger header) when a search changed, and the ranked list re-reads
itself; unchanged polls do not make it re-read."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from matchmaker.cases.models import Case, Institution
from matchmaker.federation.models import PeerSearch
from tests.factories import make_case
from tests.federation.fake_peers import answering, remote_result, serve  # noqa: F401
from tests.web.test_match_pages import (  # noqa: F401 (fixtures)
    HTMX,
    add_searchable_peer,
    alice_case,
    remote_match,
)

pytestmark = pytest.mark.django_db


def _poll_url(html: str) -> str:
    found = re.search(r'id="peer-status"[^>]*hx-get="([^"]+)"', html)
    assert found, "the block polls"
    return found.group(1).replace("&amp;", "&")


def test_the_ranked_list_re_reads_itself_on_the_peer_results_event(
    alice_client: Client, alice_case: Case
) -> None:
    url = reverse("case-matches", args=[alice_case.public_id])
    html = alice_client.get(url, {"status": "new"}).content.decode()
    assert f'hx-get="{url}?status=new"' in html
    assert 'hx-trigger="peer-results from:body"' in html
    assert 'hx-select="#ranked-list"' in html


def test_a_poll_asks_for_the_list_only_when_a_search_changed(
    alice_client: Client, alice_case: Case
) -> None:
    peer = add_searchable_peer("Alpha")
    search = PeerSearch.objects.create(
        case=alice_case, peer=peer, status="waiting", requested_at=timezone.now()
    )
    page = alice_client.get(reverse("case-matches", args=[alice_case.public_id])).content
    poll = _poll_url(page.decode())

    unchanged = alice_client.get(poll, **HTMX)
    assert unchanged.status_code == 200
    assert "HX-Trigger" not in unchanged
    assert _poll_url(unchanged.content.decode()) == poll

    # The peer answers: our search is recorded as answered with its match.
    remote_match(alice_case, peer, "alpha-1", 0.8)
    PeerSearch.objects.filter(pk=search.pk).update(
        status="answered", result_count=1, finished_at=timezone.now()
    )
    changed = alice_client.get(poll, **HTMX)
    assert changed["HX-Trigger"] == "peer-results"
    assert "hx-trigger" not in changed.content.decode(), "the search is over: polling stops"
    # The list the page then re-reads holds the new match.
    listed = alice_client.get(reverse("case-matches", args=[alice_case.public_id])).content
    assert b"alpha-1" in listed


def test_search_again_through_htmx_tells_the_page_to_re_read_the_list(
    alice_client: Client,
    institution: Institution,
    alice: User,
    eager_tasks: None,
    serve: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    node = serve(answering(remote_result("far-42", 0.9)))
    add_searchable_peer("Loopback Node", base_url=node.base_url)
    with django_capture_on_commit_callbacks(execute=False):
        case = make_case(institution=institution, owner=alice, consented=True)

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("case-peer-search", args=[case.public_id]), **HTMX)

    assert response.status_code == 200
    assert response["HX-Trigger"] == "peer-results"
    assert "their answers appear below" in response.content.decode()
