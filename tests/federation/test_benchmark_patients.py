"""The 50 MME benchmark patients, stored here and sent back to us as peers' queries.

mme-api.md §1.12: the 8 NGLY1 patients find each other; the fuzzy GPX4 query ranks the two GPX4
patients (P0001058, P0001059) on top.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from matchmaker.cases.models import Case
from tests.conftest import MME_BENCHMARK
from tests.federation.conftest import post_match

pytestmark = pytest.mark.django_db

BENCHMARK_PATIENTS = json.loads(MME_BENCHMARK.read_text(encoding="utf-8"))
NGLY1_PATIENTS = [
    patient
    for patient in BENCHMARK_PATIENTS
    if any(feature["gene"]["id"] == "NGLY1" for feature in patient["genomicFeatures"])
]


@pytest.fixture
def stored_benchmark(remote_node) -> None:
    call_command(
        "import_mme", str(MME_BENCHMARK), "--consented", stdout=io.StringIO(), stderr=io.StringIO()
    )


def _labels(response) -> list[str]:
    """Our labels (the benchmark's patient ids) of the answered patients, best first.

    Peers see only public ids; the labels are looked up here, on our side.
    """
    assert response.status_code == 200, response.content
    public_ids = [result["patient"]["id"] for result in json.loads(response.content)["results"]]
    labels = dict(Case.objects.filter(public_id__in=public_ids).values_list("public_id", "label"))
    return [labels[public_id] for public_id in public_ids]


def test_the_benchmark_has_eight_ngly1_patients() -> None:
    assert len(NGLY1_PATIENTS) == 8


def test_every_benchmark_patient_is_a_query_we_answer(client, stored_benchmark) -> None:
    for patient in BENCHMARK_PATIENTS:
        labels = _labels(post_match(client, {"patient": patient}))
        # Every benchmark patient has a gene shared with at least itself (stored here too).
        assert patient["id"] in labels


def test_the_ngly1_patients_find_each_other_over_the_mme_api(client, stored_benchmark) -> None:
    ngly1_ids = {patient["id"] for patient in NGLY1_PATIENTS}
    for patient in NGLY1_PATIENTS:
        labels = _labels(post_match(client, {"patient": patient}))
        assert ngly1_ids <= set(labels), patient["id"]
        # NGLY1 patients come before anything that does not share the gene.
        assert set(labels[: len(ngly1_ids)]) == ngly1_ids, patient["id"]


def test_the_fuzzy_gpx4_query_ranks_both_gpx4_patients_on_top(client, stored_benchmark) -> None:
    fuzzy = {
        "id": "fuzzy-gpx4",
        "contact": {"name": "reference-server tests", "href": "mailto:mme@example.org"},
        "features": [
            {"id": "HP:0001250"},
            {"id": "HP:0006852"},
            {"id": "HP:0011675"},
            {"id": "HP:0003312"},
        ],
        "genomicFeatures": [{"gene": {"id": "GPX4"}}],
        "test": True,
    }

    labels = _labels(post_match(client, {"patient": fuzzy}))

    assert set(labels[:2]) == {"P0001058", "P0001059"}


def test_benchmark_cases_are_test_data_that_real_queries_never_see(
    client, stored_benchmark
) -> None:
    real_query = {**NGLY1_PATIENTS[0], "test": False}

    assert _labels(post_match(client, {"patient": real_query})) == []
