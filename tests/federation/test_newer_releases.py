"""Peers and files on newer HPO and HGNC releases than the node's (issue 16, part 2).

A term or gene symbol the node does not know yet is not bad input: a query is answered on what
the node knows, a case is stored with the identifier as submitted, and what was ignored is
reported (the answer or import report, the audit log, /metrics). Malformed ids are still refused.
HP:9999999 is well formed and in no release; CIROZ was approved after the node's 2022 gene list.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from matchmaker.cases.interchange import phenopacket_from_case_record
from matchmaker.cases.models import Case, GenomicFeature, PhenotypeFeature
from matchmaker.cases.records import FeatureRecord, GenomicFeatureRecord
from matchmaker.federation.models import MmeRequestLog
from matchmaker.observability import metrics
from matchmaker.reference.ontology import get_gene_catalogue, get_hpo
from matchmaker.web.services import create_api_token
from tests.factories import case_form_data, make_case, make_record
from tests.federation.conftest import mme_patient, post_match

pytestmark = pytest.mark.django_db

NEWER_TERM = "HP:9999999"
NEWER_GENE = "CIROZ"


@pytest.fixture(autouse=True)
def _fresh_counters() -> None:
    metrics.clear_counters()


def identifiers_counted() -> dict[tuple[str, ...], float]:
    shared, _ = metrics.collect()
    return dict(shared.get(metrics.IDENTIFIERS_NOT_IN_RELEASE, {}))


def test_the_node_does_not_know_the_test_identifiers() -> None:
    with pytest.raises(LookupError):
        get_hpo().resolve(NEWER_TERM)
    with pytest.raises(LookupError):
        get_gene_catalogue().resolve(NEWER_GENE)


def test_a_peer_query_with_a_newer_term_is_answered_on_what_the_node_knows(
    client: Client, remote_node: Any, institution: Any, alice: User
) -> None:
    stored = make_case(institution=institution, owner=alice, consented=True, label="fam1")
    plain = post_match(client, {"patient": mme_patient()})
    features = [*mme_patient()["features"], {"id": NEWER_TERM}]

    newer = post_match(client, {"patient": mme_patient(features=features)})

    assert newer.status_code == 200, newer.content
    assert [r["patient"]["id"] for r in newer.json()["results"]] == [stored.public_id]
    # The unknown term is ignored for scoring, not counted against the match.
    assert newer.json()["results"][0]["score"] == plain.json()["results"][0]["score"]
    audited = MmeRequestLog.objects.filter(endpoint="match").latest("id")
    assert audited.ignored_identifiers == [NEWER_TERM]
    assert identifiers_counted() == {("hpo_term",): 1}


def test_a_newer_gene_symbol_is_kept_and_matched_by_the_same_symbol(
    client: Client, remote_node: Any, institution: Any, alice: User
) -> None:
    stored = make_case(
        institution=institution,
        owner=alice,
        consented=True,
        label="fam2",
        genomic_features=(GenomicFeatureRecord(gene_id=NEWER_GENE),),
    )
    gene = GenomicFeature.objects.get(case=stored)
    assert (gene.gene_id, gene.gene_symbol, gene.submitted_gene_id) == ("CIROZ",) * 3

    answer = post_match(
        client, {"patient": mme_patient(genomicFeatures=[{"gene": {"id": "ciroz"}}])}
    )

    assert answer.status_code == 200, answer.content
    (result,) = answer.json()["results"]
    assert result["patient"]["id"] == stored.public_id
    assert result["score"]["_genotype"] > 0
    assert MmeRequestLog.objects.filter(endpoint="match").latest("id").ignored_identifiers == [
        "ciroz"
    ]


@pytest.mark.parametrize(
    ("patient", "field"),
    [
        (mme_patient(features=[{"id": "HP:99999999"}]), "patient.features[0].id"),
        (
            mme_patient(genomicFeatures=[{"gene": {"id": "not a gene!"}}]),
            "patient.genomicFeatures[0].gene.id",
        ),
    ],
)
def test_malformed_ids_are_still_refused(
    client: Client, remote_node: Any, patient: dict[str, Any], field: str
) -> None:
    response = post_match(client, {"patient": patient})

    assert response.status_code in (400, 422), response.content
    fields = [error["field"] for error in response.json().get("errors", [])]
    assert field in fields or response.json()["message"].startswith(field)


def test_the_rest_api_stores_newer_identifiers_as_submitted_and_says_so(alice: User) -> None:
    key = create_api_token(alice, name="newer releases")[1]
    body = {
        "label": "fam3-proband",
        "features": [{"id": "HP:0001250"}, {"id": NEWER_TERM, "observed": "no"}],
        "genomicFeatures": [{"gene": {"id": NEWER_GENE}}],
    }

    response = Client().post(
        "/api/v1/cases/",
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Token {key}"},
    )

    assert response.status_code == 201, response.content
    warnings = {warning["field"]: warning["message"] for warning in response.json()["warnings"]}
    assert NEWER_TERM in warnings["features[1].id"]
    assert "kept as submitted" in warnings["features[1].id"]
    assert NEWER_GENE in warnings["genomicFeatures[0].gene.id"]
    case = Case.objects.get(public_id=response.json()["publicId"])
    assert set(case.features.values_list("hpo_id", "observed")) == {
        ("HP:0001250", True),
        (NEWER_TERM, False),
    }
    assert identifiers_counted() == {("hpo_term",): 1, ("gene",): 1}


def test_the_case_form_asks_before_saving_a_newer_term_and_says_it_is_not_matched(
    alice: User,
) -> None:
    client = Client()
    client.force_login(alice)
    data = case_form_data(observed_terms=["HP:0001250", NEWER_TERM])

    asked = client.post("/cases/new/", data)
    assert asked.status_code == 400
    assert f"{NEWER_TERM} is not a term of HPO release" in asked.content.decode()
    assert not Case.objects.exists()

    response = client.post("/cases/new/", {**data, "confirm_warnings": "on"}, follow=True)

    assert response.status_code == 200
    page = response.content.decode()
    assert f"Not in HPO release {get_hpo().release}: {NEWER_TERM}" in page
    case = Case.objects.get(label=data["label"])
    assert case.features.filter(hpo_id=NEWER_TERM, observed=True).exists()
    detail = client.get(f"/cases/{case.public_id}/").content.decode()
    assert "not used for matching" in detail


def test_an_imported_phenopacket_with_a_newer_term_is_stored_and_reported(
    tmp_path: Any, institution: Any, alice: User
) -> None:
    record = make_record(
        label="pp-newer",
        features=(FeatureRecord("HP:0001250"), FeatureRecord(NEWER_TERM)),
    )
    path = tmp_path / "newer.json"
    path.write_text(
        json.dumps(
            phenopacket_from_case_record(record, subject_id="proband", created_by="Test lab")
        )
    )

    call_command(
        "import_phenopackets",
        str(path),
        "--institution",
        institution.name,
        "-v",
        "2",
        stdout=(out := _Output()),
    )

    assert "Imported 1 of 1 documents" in out.text
    assert f"note newer.json: features[1].id: {NEWER_TERM}" in out.text or NEWER_TERM in out.text
    assert PhenotypeFeature.objects.filter(case__label="pp-newer", hpo_id=NEWER_TERM).exists()


class _Output:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass
