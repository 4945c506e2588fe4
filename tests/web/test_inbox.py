"""The matches inbox at /matches/: every match of the institution's cases, new since the last
visit first, the filters, and the count in the navigation; scoped like the per-case pages."""

# ruff: noqa: F811 (the fixtures imported from test_match_pages are parameters here)
from __future__ import annotations

import datetime

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from matchmaker.cases.models import Case, Institution
from matchmaker.casework.models import Match
from matchmaker.federation.models import Peer
from tests.factories import make_case
from tests.web.test_match_pages import (  # noqa: F401 (fixtures)
    DEVELOPMENTAL_DELAY,
    FOCAL_SEIZURE,
    add_searchable_peer,
    alice_case,
    carol_case,
    detail_url,
    far_node,
    features,
    local_match,
    remote_match,
)

pytestmark = pytest.mark.django_db

INBOX = "/matches/"


def listed(client: Client, matches: list[Match], **params: str) -> list[int]:
    """The pks of `matches` the inbox lists, in the order it lists them."""
    html = client.get(INBOX, params).content.decode()
    found = [
        (html.index(f'href="{detail_url(m)}"'), m.pk)
        for m in matches
        if f'href="{detail_url(m)}"' in html
    ]
    return [pk for _, pk in sorted(found)]


def test_the_inbox_is_at_matches_and_lists_every_case_of_the_institution(
    alice_client: Client,
    alice_case: Case,
    local_match: Match,
    far_node: Peer,
    institution: Institution,
) -> None:
    assert reverse("match-inbox") == INBOX
    second = make_case(institution=institution, label="alice-second")
    remote = remote_match(second, far_node, "far-7", 0.5)

    response = alice_client.get(INBOX)

    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="{detail_url(local_match)}"' in html
    assert f'href="{detail_url(remote)}"' in html
    assert alice_case.public_id in html
    assert second.public_id in html
    assert "carol-secret-label" not in html, "another institution's label never shows"


def test_the_inbox_shows_only_the_matches_of_the_users_institution(
    carol_client: Client, alice_case: Case, carol_case: Case, local_match: Match, far_node: Peer
) -> None:
    alices_remote = remote_match(alice_case, far_node, "far-1", 0.9)
    carols_copy = Match.objects.get(case=carol_case, matched_case=alice_case)

    html = carol_client.get(INBOX).content.decode()

    assert f'href="{detail_url(carols_copy)}"' in html
    assert f'href="{detail_url(local_match)}"' not in html
    assert f'href="{detail_url(alices_remote)}"' not in html
    assert "alice-proband" not in html


def test_a_user_without_an_institution_sees_an_empty_inbox_and_anonymous_users_log_in(
    client: Client, local_match: Match
) -> None:
    assert client.get(INBOX).status_code == 302
    loner = User.objects.create_user("loner", password="x" * 20)
    client.force_login(loner)
    response = client.get(INBOX)
    assert response.status_code == 200
    assert f'href="{detail_url(local_match)}"' not in response.content.decode()


def test_matches_new_since_the_last_visit_come_first_for_the_whole_session(
    alice: User, alice_case: Case, far_node: Peer
) -> None:
    start = timezone.now()
    with time_machine.travel(start - datetime.timedelta(days=3), tick=False):
        old_best = remote_match(alice_case, far_node, "old-best", 0.95)
    first_session = Client()
    first_session.force_login(alice)
    with time_machine.travel(start - datetime.timedelta(days=2), tick=True):
        assert listed(first_session, [old_best]) == [old_best.pk]
    with time_machine.travel(start - datetime.timedelta(days=1), tick=False):
        arrived = remote_match(alice_case, far_node, "arrived", 0.40)

    # The next day: the match that arrived since is listed first, above a better old one,
    # and marked; the nav counts it before the inbox is opened.
    second_session = Client()
    second_session.force_login(alice)
    case_page = second_session.get(reverse("case-list")).content.decode()
    assert 'aria-label="1 new since your last visit"' in case_page
    response = second_session.get(INBOX)
    assert listed(second_session, [old_best, arrived]) == [arrived.pk, old_best.pk]
    assert "new since last visit" in response.content.decode()
    # Filtering and reloading within the session keeps the marker where it was ...
    assert listed(second_session, [old_best, arrived], status="new") == [arrived.pk, old_best.pk]
    # ... while the nav count is of matches newer than this visit: none.
    assert (
        'new since your last visit"'
        not in second_session.get(reverse("case-list")).content.decode()
    )

    # A later session: nothing arrived since the second visit, so plain best-first order.
    third_session = Client()
    third_session.force_login(alice)
    assert listed(third_session, [old_best, arrived]) == [old_best.pk, arrived.pk]


def test_the_inbox_filters_by_status_score_origin_gene_and_case(
    alice_client: Client,
    alice_case: Case,
    carol_case: Case,
    local_match: Match,
    far_node: Peer,
    institution: Institution,
) -> None:
    other_case = make_case(
        institution=institution,
        label="alice-other",
        features=features((FOCAL_SEIZURE, DEVELOPMENTAL_DELAY)),
    )
    ngly1 = remote_match(alice_case, far_node, "far-ngly1", 0.9, status=Match.Status.REVIEWED)
    no_gene = remote_match(other_case, far_node, "far-none", 0.2, explanation={"genes": []})
    every = [local_match, ngly1, no_gene]

    assert set(listed(alice_client, every)) == {m.pk for m in every}
    assert listed(alice_client, every, status="reviewed") == [ngly1.pk]
    assert set(listed(alice_client, every, min_score="0.5")) == {ngly1.pk} | (
        {local_match.pk} if local_match.score >= 0.5 else set()
    )
    assert listed(alice_client, every, min_score="0.95") == []
    assert listed(alice_client, every, origin="local") == [local_match.pk]
    assert set(listed(alice_client, every, origin="peer")) == {ngly1.pk, no_gene.pk}
    # The gene by symbol, by id, in any case: the canonical id is what is compared.
    local_genes = {gene["gene_symbol"] for gene in local_match.explanation["genes"]}
    assert "NGLY1" in local_genes  # make_case gives both local cases NGLY1
    for spelling in ("NGLY1", "ngly1", "NCBIGene:55768"):
        assert set(listed(alice_client, every, gene=spelling)) == {ngly1.pk, local_match.pk}
    assert listed(alice_client, every, gene="SCN1A") == []
    assert set(listed(alice_client, every, case=other_case.public_id.lower())) == {no_gene.pk}
    # The other case's public id finds the local match too.
    assert listed(alice_client, every, case=carol_case.public_id) == [local_match.pk]


def test_bad_filters_are_named_next_to_their_field_and_filter_nothing(
    alice_client: Client, alice_case: Case, far_node: Peer
) -> None:
    match = remote_match(alice_case, far_node, "far-1", 0.9)
    for params, message in (
        ({"gene": "NOT-A-GENE-XYZ"}, "is not a gene this node knows"),
        ({"min_score": "2"}, "less than or equal to 1"),
        ({"min_score": "high"}, "Enter a number"),
        ({"status": "maybe"}, "Select a valid choice"),
    ):
        response = alice_client.get(INBOX, params)
        html = response.content.decode()
        assert response.status_code == 200
        assert message in html, params
        assert f'href="{detail_url(match)}"' in html


def test_removed_matches_are_left_out_unless_asked_for(
    alice_client: Client, alice_case: Case, far_node: Peer
) -> None:
    kept = remote_match(alice_case, far_node, "far-kept", 0.6)
    gone = remote_match(alice_case, far_node, "far-gone", 0.7, removed_at=timezone.now())
    assert listed(alice_client, [kept, gone]) == [kept.pk]
    assert listed(alice_client, [kept, gone], removed="on") == [gone.pk, kept.pk]


def test_the_inbox_counts_matches_by_triage_status(
    alice_client: Client, alice_case: Case, far_node: Peer
) -> None:
    remote_match(alice_case, far_node, "a", 0.6)
    remote_match(alice_case, far_node, "b", 0.6, status=Match.Status.CONTACTED)
    remote_match(alice_case, far_node, "c", 0.6, status=Match.Status.CONTACTED)
    html = alice_client.get(INBOX).content.decode()
    assert '<span class="badge contacted">Contacted</span> 2' in html
    assert '<span class="badge new">New</span> 1' in html


def test_the_inbox_runs_a_fixed_number_of_queries(
    alice_client: Client, alice_case: Case, django_assert_max_num_queries: object
) -> None:
    peers = [add_searchable_peer(f"Peer {number}") for number in range(3)]
    for number in range(20):
        remote_match(alice_case, peers[number % 3], f"remote-{number}", 0.3 + number / 100)
    alice_client.get(INBOX)
    with django_assert_max_num_queries(14):  # type: ignore[operator]
        assert alice_client.get(INBOX).status_code == 200
