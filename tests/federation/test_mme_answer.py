"""Our answers to peers: what `score.patient` means whatever the query carries, the scores'
precision, and what building an answer costs.

Through /mme/match with Django's test client, on the real HPO release.
"""

from __future__ import annotations

import json
import random
from itertools import pairwise
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from matchmaker.cases.models import Case, Institution
from matchmaker.cases.records import FeatureRecord
from matchmaker.casework.services.inbound import query_of_mme_patient
from matchmaker.federation.models import Peer
from matchmaker.matching import services as matching
from tests.factories import make_case
from tests.federation.conftest import mme_patient, post_match

pytestmark = pytest.mark.django_db


def _results(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200
    return json.loads(response.content)["results"]


def _scores(response: Any) -> dict[str, dict[str, float]]:
    return {result["patient"]["id"]: result["score"] for result in _results(response)}


def test_a_query_without_a_gene_gets_the_phenotype_score_as_patient_score_not_half_of_it(
    client, remote_node, institution, settings
):
    Peer.objects.filter(pk=remote_node.pk).update(require_shared_gene=False)
    assert settings.MME_MIN_SCORE == 0.3
    same = make_case(institution=institution, consented=True, label="same")
    # Only the delay in common: a phenotype of about 0.37, which halved fell under the floor.
    delay = make_case(
        institution=institution,
        consented=True,
        label="delay",
        features=(FeatureRecord("HP:0001263"),),
    )

    with_gene = _scores(post_match(client, {"patient": mme_patient()}))
    without_gene = _scores(post_match(client, {"patient": mme_patient(genomicFeatures=[])}))

    assert set(without_gene) == {same.public_id, delay.public_id}
    for score in without_gene.values():
        assert score["patient"] == score["_phenotype"]
        assert score["_genotype"] == 0
    assert 0.3 <= without_gene[delay.public_id]["patient"] < 0.6
    # A query naming a gene still combines both parts; the phenotype part is the same number.
    for public_id, score in with_gene.items():
        assert score["_phenotype"] == without_gene[public_id]["_phenotype"]
        assert score["_genotype"] == 0.8
        assert score["patient"] == pytest.approx((score["_phenotype"] + 0.8) / 2, abs=2e-6)


NEUROLOGY = [
    "HP:0001250", "HP:0001263", "HP:0000252", "HP:0001252", "HP:0002376", "HP:0001249",
    "HP:0000717", "HP:0002121", "HP:0001344", "HP:0000729", "HP:0001270", "HP:0002079",
    "HP:0000750", "HP:0001290", "HP:0002119", "HP:0000256", "HP:0001332", "HP:0002186",
    "HP:0010864", "HP:0000486", "HP:0000639", "HP:0001508", "HP:0004322", "HP:0000316",
    "HP:0000494",
]  # fmt: skip


def test_the_answers_scores_keep_every_difference_of_the_ranking(
    client, remote_node, institution, settings
):
    settings.MME_MAX_RESULTS = 50
    settings.MME_MIN_SCORE = 0.0
    Peer.objects.filter(pk=remote_node.pk).update(require_shared_gene=False)
    generator = random.Random(3)  # noqa: S311 (test data, not secrets)
    for index in range(150):
        terms = generator.sample(NEUROLOGY, generator.randint(2, 6))
        make_case(
            institution=institution,
            consented=True,
            label=f"neuro-{index}",
            features=tuple(FeatureRecord(hpo_id) for hpo_id in terms),
            genomic_features=(),
        )
    patient = mme_patient(genomicFeatures=[])

    answered = _results(post_match(client, {"patient": patient}))
    ranked = matching.find_matches(
        query_of_mme_patient(patient),
        explain=False,
        limit=50,
        min_score=0.0,
        require_shared_gene=False,
        shareable_only=True,
    )

    assert [r["patient"]["id"] for r in answered] == [r.case.public_id for r in ranked]
    # A peer sorting by score keeps our order: no two different scores arrive equal (at 4
    # decimals, two of these 50 did).
    exact = [result.score for result in ranked]
    sent = [result["score"]["patient"] for result in answered]
    for (higher, lower), (sent_higher, sent_lower) in zip(
        pairwise(exact), pairwise(sent), strict=True
    ):
        assert (higher > lower) == (sent_higher > sent_lower)


def _queries_answering(client: Any, patient: dict[str, Any]) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        results = _results(post_match(client, {"patient": patient}))
    return len(results), len(queries.captured_queries)


def test_building_the_answer_costs_the_same_queries_for_3_results_as_for_30(
    client, remote_node, institution, settings
):
    settings.MME_MAX_RESULTS = 50
    for index in range(3):
        make_case(institution=institution, consented=True, label=f"first-{index}")
    post_match(client, {"patient": mme_patient()})  # loads the index and reference data
    few = _queries_answering(client, mme_patient())
    for index in range(27):
        make_case(institution=institution, consented=True, label=f"more-{index}")
    post_match(client, {"patient": mme_patient()})  # applies the index changes
    many = _queries_answering(client, mme_patient())

    assert (few[0], many[0]) == (3, 30)
    # Peer, index changes, cases with their features, genes and disorders, the audit row.
    assert few[1] == many[1] <= 8


def test_a_case_that_cannot_be_written_gives_its_place_to_the_next_best(
    client, remote_node, institution, settings
):
    """A ranked case with no contact to write (its own or its institution's) is left out of
    the answer; the answer still holds MME_MAX_RESULTS cases, the next best ones in order."""
    settings.MME_MAX_RESULTS = 2
    unreachable_team = Institution.objects.create(name="No Contact Hospital")
    unreachable = make_case(institution=unreachable_team, consented=True, label="unreachable")
    # Same phenotype, fewer terms in common: they rank below the unreachable twin.
    answerable = [
        make_case(
            institution=institution,
            consented=True,
            label=f"partial-{index}",
            features=(FeatureRecord("HP:0001250"), FeatureRecord(hpo_id)),
        )
        for index, hpo_id in enumerate(("HP:0001263", "HP:0001249", "HP:0001252"))
    ]
    ranked = matching.find_matches(
        query_of_mme_patient(mme_patient()),
        explain=False,
        limit=4,
        min_score=settings.MME_MIN_SCORE,
        require_shared_gene=True,
        shareable_only=True,
    )
    assert ranked[0].case == unreachable  # the best match, and the one that cannot go out

    answered = [
        result["patient"]["id"]
        for result in _results(post_match(client, {"patient": mme_patient()}))
    ]

    next_best = [result.case.public_id for result in ranked[1:3]]
    assert answered == next_best
    assert set(next_best) <= {case.public_id for case in answerable}


def test_a_case_unshared_behind_the_index_is_never_answered_and_its_place_is_filled(
    client, remote_node, institution, settings
):
    """Consent withdrawn by a write the index has not caught up with (another process, a bulk
    update): the index still ranks the case, the rows read through shareable_cases() do not
    return it, and the next best case takes its place."""
    settings.MME_MAX_RESULTS = 1
    best = make_case(institution=institution, consented=True, label="best")
    next_best = make_case(
        institution=institution,
        consented=True,
        label="next",
        features=(FeatureRecord("HP:0001250"), FeatureRecord("HP:0001249")),
    )
    first = _results(post_match(client, {"patient": mme_patient()}))
    assert [result["patient"]["id"] for result in first] == [best.public_id]

    # Behind the index's back: no IndexChange row, so the index still holds it as shareable.
    Case.objects.filter(pk=best.pk).update(external_matching_consent=False)
    second = _results(post_match(client, {"patient": mme_patient()}))

    assert [result["patient"]["id"] for result in second] == [next_best.public_id]
