"""Scores from an earlier scoring method or HPO release are found, shown as such and redone.

Alice's and Carol's cases match each other (local matches, one per owner), and a peer's query
finds Alice's case (an incoming match); an outgoing match holds a peer's own score. Then the
stored rows are made to look as an earlier release left them: another basis and other scores.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from matchmaker.cases.models import Case, Institution
from matchmaker.cases.records import FeatureRecord
from matchmaker.casework import tasks
from matchmaker.casework.models import Match
from matchmaker.casework.services.matches import run_matching
from matchmaker.casework.services.rescoring import (
    cases_to_rematch,
    is_stale,
    rescore_stale_matches,
    stale_matches,
)
from matchmaker.federation.models import Peer
from matchmaker.matching.services import scoring_basis
from tests.factories import make_case
from tests.federation.conftest import PEER_TOKEN, mme_patient, post_match

pytestmark = pytest.mark.django_db

SEIZURE = "HP:0001250"
FOCAL_SEIZURE = "HP:0007359"
DEVELOPMENTAL_DELAY = "HP:0001263"
HYPOTONIA = "HP:0001252"
MICROCEPHALY = "HP:0000252"
EARLIER = "bma_jaccard_bridge, HPO 2024-08-13"


@pytest.fixture(autouse=True)
def _own_cache(own_cache: None) -> None:
    """The sweep's lock and the MME rate limits in a cache of this test's own."""


@pytest.fixture
def peer(db: None) -> Peer:
    from matchmaker.federation.services import add_peer

    return add_peer(
        "Remote Node",
        base_url="https://mme.remote.example/mme",
        inbound_token=PEER_TOKEN,
        outbound_token="token-we-send-to-remote-node-0001",
    )


@pytest.fixture
def alice_case(institution: Institution, alice: User) -> Case:
    return make_case(
        institution=institution,
        owner=alice,
        consented=True,
        label="alice-proband",
        features=tuple(FeatureRecord(hpo) for hpo in (SEIZURE, DEVELOPMENTAL_DELAY, HYPOTONIA)),
    )


@pytest.fixture
def carol_case(other_institution: Institution, carol: User) -> Case:
    return make_case(
        institution=other_institution,
        owner=carol,
        label="carol-proband",
        features=tuple(
            FeatureRecord(hpo) for hpo in (FOCAL_SEIZURE, DEVELOPMENTAL_DELAY, MICROCEPHALY)
        ),
    )


@pytest.fixture
def matches(
    eager_tasks: None,
    alice_case: Case,
    carol_case: Case,
    peer: Peer,
    django_capture_on_commit_callbacks: Any,
) -> dict[str, Match]:
    """Every kind of match, as the node records them today."""
    # Each case matched, in the order a sweep takes them (the later run scores the pair).
    run_matching(alice_case.pk, notify=False)
    run_matching(carol_case.pk, notify=False)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_match(Client(), {"patient": mme_patient(id="their-7")})
    assert response.status_code == 200, response.content
    outgoing = Match.objects.create(
        case=alice_case,
        direction=Match.Direction.OUTGOING,
        peer=peer,
        remote_patient_id="far-1",
        remote_patient=mme_patient(id="far-1"),
        score=0.77,
        phenotype_score=0.7,
        genotype_score=1.0,
        last_seen=timezone.now(),
    )
    return {
        "alice": Match.objects.get(case=alice_case, matched_case=carol_case),
        "carol": Match.objects.get(case=carol_case, matched_case=alice_case),
        "incoming": Match.objects.get(case=alice_case, direction=Match.Direction.INCOMING),
        "outgoing": outgoing,
    }


def scores(match: Match) -> tuple[float, float, float, str]:
    match.refresh_from_db()
    return match.score, match.phenotype_score, match.genotype_score, match.scored_with


def as_an_earlier_release_left_them(matches: dict[str, Match]) -> None:
    Match.objects.filter(direction__in=["local", "incoming"]).update(
        scored_with=EARLIER, score=0.01, phenotype_score=0.02
    )
    Case.objects.update(matched_with=EARLIER)
    for match in matches.values():
        match.refresh_from_db()


def system_check_output() -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("check", "--database", "default", stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def test_every_score_the_node_computes_records_its_method_and_hpo_release(
    matches: dict[str, Match],
) -> None:
    basis = scoring_basis()
    assert basis.startswith("bma_jaccard_explained_bridge, HPO 20")
    for name in ("alice", "carol", "incoming"):
        assert matches[name].scored_with == basis, name
    assert matches["outgoing"].scored_with == ""  # the peer's score, not ours
    assert not stale_matches().exists()
    assert "W003" not in system_check_output()


def test_scores_of_an_earlier_release_are_flagged_then_scored_again(
    matches: dict[str, Match], alice_client: Client
) -> None:
    today = {name: scores(match) for name, match in matches.items()}
    as_an_earlier_release_left_them(matches)

    assert set(stale_matches().values_list("pk", flat=True)) == {
        matches[name].pk for name in ("alice", "carol", "incoming")
    }
    assert [is_stale(matches[name]) for name in ("alice", "incoming", "outgoing")] == [
        True,
        True,
        False,
    ]
    check = system_check_output()
    assert "matchmaker.W003" in check
    assert "3 current matches" in check
    assert "manage.py match --stale" in check

    page = alice_client.get(
        reverse("case-matches", args=[matches["alice"].case.public_id])
    ).content.decode()
    assert page.count("earlier scoring: being scored again") == 2  # local and incoming, not ours
    detail = alice_client.get(reverse("match-detail", args=[matches["alice"].pk]))
    note = detail.context["explanation_note"]
    assert "computed before this node's matching was upgraded" in note
    assert EARLIER not in note  # the clinician reads plain words, not the method's name
    api = alice_client.get(f"/api/v1/matches/{matches['incoming'].pk}/").json()
    assert api["scoredWith"] == EARLIER
    assert api["scoreFromEarlierRelease"] is True

    out = io.StringIO()
    call_command("match", "--stale", "--no-notify", stdout=out)
    assert "3 matches to score again and 2 cases to match again" in out.getvalue()
    assert "Scored again the matches of 2 cases in" in out.getvalue()

    for name, match in matches.items():
        assert scores(match) == pytest.approx(today[name]), name
    assert not stale_matches().exists()
    assert "W003" not in system_check_output()
    api = alice_client.get(f"/api/v1/matches/{matches['incoming'].pk}/").json()
    assert api["scoreFromEarlierRelease"] is False
    out = io.StringIO()
    call_command("match", "--stale", stdout=out)
    assert "Every current match is scored with bma_jaccard_explained_bridge" in out.getvalue()


def test_an_incoming_task_queued_by_an_earlier_release_records_an_unknown_basis(
    matches: dict[str, Match],
) -> None:
    incoming = matches["incoming"]
    # The arguments a release without `scored_with` queued: no basis, so one to redo.
    tasks.record_incoming_matches(
        incoming.peer_id, incoming.remote_patient, [[incoming.case_id, 0.5, 0.5, 0.0]]
    )
    assert scores(incoming) == (0.5, 0.5, 0.0, "")
    assert is_stale(incoming)

    outcome = rescore_stale_matches(notify=False)

    assert (outcome.cases, outcome.remaining) == (1, 0)
    assert scores(incoming)[3] == scoring_basis()
    assert scores(incoming)[1] != 0.5


def test_the_beat_sweep_redoes_stale_scores_one_sweep_at_a_time(
    matches: dict[str, Match],
) -> None:
    as_an_earlier_release_left_them(matches)
    cache.add("casework:rescore-stale-matches", 1, timeout=60)  # a sweep still at work

    assert tasks.rescore_stale_matches() == 0
    assert stale_matches().count() == 3

    cache.delete("casework:rescore-stale-matches")
    assert tasks.rescore_stale_matches() == 2  # Alice's case (local, incoming) and Carol's
    assert not stale_matches().exists()
    assert cache.get("casework:rescore-stale-matches") is None


def test_a_time_budget_leaves_the_rest_for_the_next_sweep(matches: dict[str, Match]) -> None:
    as_an_earlier_release_left_them(matches)

    first = rescore_stale_matches(notify=False, time_budget_s=0)  # spent after the first case

    # Alice's case was matched again, which re-scored both copies of the pair; Carol's case is
    # still to be matched again: its own search may find other cases.
    assert (first.cases, first.remaining, first.cases_remaining) == (1, 0, 1)
    assert list(cases_to_rematch()) == [matches["carol"].case]
    second = rescore_stale_matches(notify=False)
    assert (second.cases, second.remaining, second.cases_remaining) == (1, 0, 0)


def test_a_case_matched_with_an_earlier_release_is_matched_again_though_it_found_nothing(
    matches: dict[str, Match], institution: Institution, alice: User
) -> None:
    loner = make_case(
        institution=institution, owner=alice, label="loner", features=(FeatureRecord(SEIZURE),)
    )
    # As an earlier release left it: matched, and nothing found above the reporting floor then.
    Case.objects.filter(pk=loner.pk).update(matched_with=EARLIER)
    assert not Match.objects.filter(case=loner).exists()

    assert list(cases_to_rematch()) == [loner]
    assert not stale_matches().exists()
    rescore_stale_matches(notify=False)

    loner.refresh_from_db()
    assert loner.matched_with == scoring_basis()
    assert Match.objects.filter(case=loner).exists()  # its own search ran, with today's scoring
    assert not cases_to_rematch().exists()


def test_removed_matches_and_withdrawn_cases_are_not_flagged(matches: dict[str, Match]) -> None:
    as_an_earlier_release_left_them(matches)
    Match.objects.filter(pk=matches["incoming"].pk).update(removed_at=timezone.now())
    matches["incoming"].refresh_from_db()

    assert not is_stale(matches["incoming"])
    assert stale_matches().count() == 2
