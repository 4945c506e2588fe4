"""After an edit, a match never shows an old score or explanation next to the case as it is now.

Alice's case observes Hypotonia; a real peer on loopback answers her search with a patient that
has it (an outgoing match), and the same peer's query finds her case (an incoming match). Then
she changes Hypotonia to excluded in the case form.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from matchmaker.cases.models import Case, Institution
from matchmaker.cases.records import FeatureRecord
from matchmaker.casework.models import Match
from matchmaker.casework.services.matches import run_matching
from matchmaker.federation.models import Peer
from matchmaker.federation.services import add_peer
from tests.factories import case_form_data, make_case
from tests.federation.conftest import PEER_TOKEN, mme_patient, post_match
from tests.federation.fake_peers import answering, remote_result, serve  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

SEIZURE = "HP:0001250"
DEVELOPMENTAL_DELAY = "HP:0001263"
HYPOTONIA = "HP:0001252"
WITH_HYPOTONIA = [{"id": SEIZURE}, {"id": DEVELOPMENTAL_DELAY}, {"id": HYPOTONIA}]


@pytest.fixture
def peer(serve: Any) -> Peer:  # noqa: F811 (the fixture imported above)
    node = serve(answering(remote_result("far-42", 0.9, features=WITH_HYPOTONIA)))
    return add_peer(
        "Loopback Node",
        base_url=node.base_url,
        outbound_token="token-for-loopback-0123456789abcdef",
        inbound_token=PEER_TOKEN,
    )


@pytest.fixture
def alice_case(
    institution: Institution, alice: User, django_capture_on_commit_callbacks: Any
) -> Case:
    with django_capture_on_commit_callbacks(execute=False):
        return make_case(
            institution=institution,
            owner=alice,
            consented=True,
            label="fam3-proband",
            features=(
                FeatureRecord(SEIZURE),
                FeatureRecord(DEVELOPMENTAL_DELAY),
                FeatureRecord(HYPOTONIA),
            ),
        )


def ask_as_peer(patient_id: str, capture: Any) -> None:
    with capture(execute=True):
        response = post_match(
            Client(), {"patient": mme_patient(id=patient_id, features=WITH_HYPOTONIA)}
        )
    assert response.status_code == 200, response.content


def pairs(explanation: Any) -> set[tuple[str, str]]:
    return {
        (pair["query_term"], pair.get("case_term") or "")
        for pair in (explanation or {}).get("term_matches", [])
    }


def test_an_edit_re_explains_remote_matches_and_never_shows_the_old_reading(
    eager_tasks: None,
    alice_client: Client,
    alice_case: Case,
    peer: Peer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(reverse("case-peer-search", args=[alice_case.public_id]))
    ask_as_peer("their-7", django_capture_on_commit_callbacks)
    outgoing = Match.objects.get(case=alice_case, direction=Match.Direction.OUTGOING)
    incoming = Match.objects.get(case=alice_case, direction=Match.Direction.INCOMING)
    for match in (outgoing, incoming):
        assert (HYPOTONIA, HYPOTONIA) in pairs(match.explanation)
    score_before = incoming.score

    # The edit; what it queues (the re-match, the next search at the peer) does not run yet.
    with django_capture_on_commit_callbacks(execute=False):
        edit = alice_client.post(
            f"/cases/{alice_case.public_id}/edit/",
            case_form_data(
                label="fam3-proband",
                observed_terms=[SEIZURE, DEVELOPMENTAL_DELAY],
                excluded_terms=[HYPOTONIA],
                external_matching_consent="on",
            ),
        )
    assert edit.status_code == 302

    for match in (outgoing, incoming):
        page = alice_client.get(f"/matches/{match.pk}/")
        assert page.status_code == 200
        shown = {
            (pair["query_term"], pair.get("case_term")) for pair in page.context["best_matches"]
        }
        assert not any(query == HYPOTONIA for query, _ in shown), shown
        assert [conflict.excluded.hpo_id for conflict in page.context["comparison"].conflicts] == [
            HYPOTONIA
        ]
        assert 'Hypotonia</strong> <span class="term-id">HP:0001252</span>\n        met' not in (
            page.content.decode()
        )
        api = alice_client.get(f"/api/v1/matches/{match.pk}/").json()
        assert not any(query == HYPOTONIA for query, _ in pairs(api["explanation"]))
        assert any(c["excluded_term"] == HYPOTONIA for c in api["explanation"]["conflicts"])

    # Incoming: the score is ours, so it is the score the node gives the same patient now.
    incoming.refresh_from_db()
    ask_as_peer("their-8", django_capture_on_commit_callbacks)
    fresh = Match.objects.get(case=alice_case, remote_patient_id="their-8")
    assert incoming.score == pytest.approx(fresh.score, abs=1e-4)
    assert incoming.score < score_before
    # Outgoing: the score is the peer's, from before the edit; said so until the next search.
    page = alice_client.get(f"/matches/{outgoing.pk}/")
    assert "the score is from before the edit" in page.content.decode()
    assert alice_client.get(f"/api/v1/matches/{outgoing.pk}/").json()["explanation"][
        "score_out_of_date"
    ]
    assert (
        "out of date"
        in alice_client.get(f"/cases/{alice_case.public_id}/matches/").content.decode()
    )

    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(reverse("case-peer-search", args=[alice_case.public_id]))
    outgoing.refresh_from_db()
    assert "score_out_of_date" not in outgoing.explanation
    assert not any(query == HYPOTONIA for query, _ in pairs(outgoing.explanation))


def test_an_edit_marks_local_matches_out_of_date_until_the_re_match_rescores_them(
    eager_tasks: None,
    alice_client: Client,
    alice_case: Case,
    other_institution: Institution,
    django_capture_on_commit_callbacks: Any,
) -> None:
    theirs = make_case(
        institution=other_institution,
        label="their-hypotonia",
        features=(FeatureRecord(SEIZURE), FeatureRecord(HYPOTONIA)),
    )
    run_matching(alice_case.pk, notify=False)
    ours = Match.objects.get(case=alice_case, matched_case=theirs)
    assert (HYPOTONIA, HYPOTONIA) in pairs(ours.explanation)
    form = case_form_data(
        label="fam3-proband",
        observed_terms=[SEIZURE, DEVELOPMENTAL_DELAY],
        excluded_terms=[HYPOTONIA],
        external_matching_consent="on",
    )

    with django_capture_on_commit_callbacks(execute=False):
        alice_client.post(f"/cases/{alice_case.public_id}/edit/", form)
    for match in Match.objects.filter(direction=Match.Direction.LOCAL):
        assert match.explanation["score_out_of_date"]
    page = alice_client.get(f"/matches/{ours.pk}/")
    assert not any(pair["query_term"] == HYPOTONIA for pair in page.context["best_matches"])
    assert "it is being re-scored" in page.content.decode()

    run_matching(alice_case.pk, notify=False)  # the queued re-match
    for match in Match.objects.filter(direction=Match.Direction.LOCAL, removed_at__isnull=True):
        assert "score_out_of_date" not in match.explanation
        assert not any(HYPOTONIA in pair for pair in pairs(match.explanation) if pair[0] == pair[1])
