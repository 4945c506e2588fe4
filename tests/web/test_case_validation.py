"""Bad input to the case services, through the paths clinicians and scripts take (issue 14).

Labels that carry names or record numbers, over-long strings and NUL characters, variants on the
wrong chromosome for their gene, gene ids the catalogue cannot resolve, and forms with several
problems at once.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from matchmaker.cases.interchange import phenopacket_from_case_record
from matchmaker.cases.models import Case
from matchmaker.cases.records import DisorderRecord, GenomicFeatureRecord, VariantRecord
from matchmaker.casework.services import record_consent
from matchmaker.lib.errors import FieldValidationError
from matchmaker.lib.pseudonymisation import identifier_problem
from matchmaker.web.services import create_api_token
from tests.conftest import PHENOPACKETS_DEV
from tests.factories import case_form_data, make_record

pytestmark = pytest.mark.django_db


class ApiClient:
    """Django's test client speaking JSON with an API token, as a hospital script would."""

    def __init__(self, key: str) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Token {key}"}

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(
            path, json.dumps(body), content_type="application/json", headers=self.headers
        )


@pytest.fixture
def alice_api(alice: User) -> ApiClient:
    return ApiClient(create_api_token(alice, name="validation tests")[1])


def case_json(label: str = "fam12-proband", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "label": label,
        "features": [{"id": "HP:0001250"}, {"id": "HP:0001263"}],
        "genomicFeatures": [{"gene": {"id": "NGLY1"}, "zygosity": 2}],
    }
    body.update(overrides)
    return body


def error_messages(response: Any) -> dict[str, str]:
    return {error["field"]: error["message"] for error in response.json()["errors"]}


# --- 5. Labels with names or record numbers ---------------------------------------------------


@pytest.mark.parametrize(
    ("label", "says"),
    [
        ("John Smith", "'John' is a first name"),
        ("Maria", "'Maria' is a first name"),
        ("Müller Anna", "'Anna' is a first name"),
        ("Smith, Jean-Pierre P1", "'Jean' is a first name"),
        ("Giulia ROSSI", "'Giulia' is a first name"),
        ("MRN1234567", "record number"),
        ("NHS9434765919", "record number"),
        ("MR 1234567", "record number"),
    ],
)
def test_a_label_with_a_name_or_record_number_is_refused_on_the_form(
    alice_client: Client, label: str, says: str
) -> None:
    response = alice_client.post("/cases/new/", case_form_data(label=label))

    assert response.status_code == 400
    (message,) = response.context["form"].errors["label"]
    assert says in message
    assert "pseudonymous label" in message
    assert not Case.objects.exists()


def test_a_label_with_a_name_is_a_400_on_the_api(alice_api: ApiClient) -> None:
    response = alice_api.post("/api/v1/cases/", case_json(label="Maria"))

    assert response.status_code == 400
    assert "'Maria' is a first name" in error_messages(response)["label"]
    assert not Case.objects.exists()


@pytest.mark.parametrize(
    "label",
    [
        "fam12-proband",
        "P1 II-3",
        "Patient 3",
        "case presentation",
        "same-gene-only",
        "Kim_2015_P1",
        "UDN949414_P2",
        "P0001058",  # an MME benchmark patient
    ],
)
def test_pseudonymous_labels_are_accepted_on_the_form(alice_client: Client, label: str) -> None:
    response = alice_client.post("/cases/new/", case_form_data(label=label))

    assert response.status_code == 302, response.context["form"].errors
    assert Case.objects.get().label == label


def test_every_published_label_is_accepted() -> None:
    if not PHENOPACKETS_DEV.exists():
        pytest.skip(f"{PHENOPACKETS_DEV} is absent")
    with gzip.open(PHENOPACKETS_DEV, "rt") as source:
        labels = [json.loads(line)["id"] for line in source if line.strip()]

    assert len(labels) == 8483
    refused = {label: problem for label in labels if (problem := identifier_problem(label))}
    assert refused == {}


# --- 12. Over-long strings and control characters ---------------------------------------------


def phenopacket(label: str, **overrides: Any) -> dict[str, Any]:
    return phenopacket_from_case_record(
        make_record(label=label, **overrides), subject_id="proband", created_by="Test lab"
    )


def with_variant_type_label(type_label: str) -> tuple[GenomicFeatureRecord, ...]:
    return (
        GenomicFeatureRecord(
            gene_id="NGLY1",
            variant=VariantRecord("GRCh38", "3", 25750425, 25750426, "A", "G"),
            zygosity=2,
            variant_type_id="SO:0001583",
            variant_type_label=type_label,
        ),
    )


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"disorders": [{"id": "OMIM:615273", "label": "x" * 600}]}, "disorders[0].label", "500"),
        (
            {
                "genomicFeatures": [
                    {"gene": {"id": "NGLY1"}, "type": {"id": "SO:0001583", "label": "y" * 600}}
                ]
            },
            "genomicFeatures[0].type.label",
            "255",
        ),
    ],
)
def test_an_over_long_string_is_a_400_naming_the_field(
    alice_api: ApiClient, change: dict[str, Any], field: str, says: str
) -> None:
    response = alice_api.post("/api/v1/cases/", case_json(**change))

    assert response.status_code == 400, response.content
    assert f"longer than {says} characters (600 given)" in error_messages(response)[field]
    assert not Case.objects.exists()


def test_a_bad_document_in_an_import_is_reported_and_the_others_are_stored(
    alice_api: ApiClient,
) -> None:
    documents = [
        phenopacket("good-1"),
        phenopacket("long-disorder", disorders=(DisorderRecord("OMIM:615273", "x" * 600),)),
        phenopacket("nul-type", genomic_features=with_variant_type_label("missense\x00variant")),
        phenopacket("nul-disorder", disorders=(DisorderRecord("OMIM:615273", "NGLY1\x00-CDDG"),)),
        phenopacket("good-2", genomic_features=with_variant_type_label("missense_variant")),
    ]

    response = alice_api.post("/api/v1/cases/import/", documents)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["imported"] == 2
    problems = {problem["origin"]: problem["message"] for problem in body["rejected"]}
    assert problems.keys() == {"body[1]", "body[2]", "body[3]"}
    assert "disorders[0].label: is longer than 500 characters" in problems["body[1]"]
    assert "genomicFeatures[0].type.label: contains a NUL character" in problems["body[2]"]
    assert "disorders[0].label: contains a NUL character" in problems["body[3]"]
    assert sorted(Case.objects.values_list("label", flat=True)) == ["good-1", "good-2"]


def test_a_nul_in_a_consent_note_is_refused_by_the_service(alice_api: ApiClient) -> None:
    response = alice_api.post("/api/v1/cases/", case_json())
    public_id = response.json()["publicId"]

    with pytest.raises(FieldValidationError) as refused:
        record_consent(Case.objects.get(), consented=True, by=None, note="form\x00v3")

    assert refused.value.errors == [
        ("consentNote", "contains a NUL character at position 5; remove it")
    ]
    assert not Case.objects.get(public_id=public_id).external_matching_consent


# --- 18. Every problem of the case form at once ------------------------------------------------


def test_a_malformed_term_id_does_not_hide_the_other_errors_of_the_form(
    alice_client: Client,
) -> None:
    response = alice_client.post(
        "/cases/new/",
        case_form_data(
            label="Maria",
            observed_terms=["HP:0001250", "seizure"],
            disorders="DOID:1234",
            **{"genes-0-gene": "NOT/A/GENE"},
        ),
    )

    assert response.status_code == 400
    form, genes = response.context["form"], response.context["genes"]
    assert "'SEIZURE' is not an HPO id" in " ".join(form.errors["observed_terms"])
    assert "'Maria' is a first name" in form.errors["label"][0]
    assert "DOID:1234" in form.errors["disorders"][0]
    assert "NOT/A/GENE" in genes.forms[0].errors["gene"][0]
    page = response.content.decode()
    assert "SEIZURE" in page
    assert "NOT/A/GENE" in page
    assert not Case.objects.exists()


def test_a_field_the_form_itself_refuses_does_not_hide_the_services_errors(
    alice_client: Client,
) -> None:
    response = alice_client.post(
        "/cases/new/",
        case_form_data(
            label="",
            observed_terms=["HP:0001250", "HP:99999999"],
            **{"genes-0-gene": "NOT/A/GENE", "genes-1-gene": "NGLY1", "genes-1-position": "x"},
            **{"genes-TOTAL_FORMS": "2"},
        ),
    )

    assert response.status_code == 400
    form, genes = response.context["form"], response.context["genes"]
    # The form's own word for the empty label, once; the service's errors for the rest.
    assert form.errors["label"] == ["This field is required."]
    assert "HP:99999999" in " ".join(form.errors["observed_terms"])
    assert "NOT/A/GENE" in genes.forms[0].errors["gene"][0]
    assert "position" in genes.forms[1].errors
    assert not Case.objects.exists()


# --- 17. Gene identifiers the node cannot look up ----------------------------------------------

DEVELOPER_WORDS = ("()", "build_catalogue", "merge_catalogues", "catalogue", "hgnc_complete_set")


def test_an_hgnc_id_the_gene_list_lacks_is_refused_in_plain_words(
    alice_api: ApiClient, alice_client: Client
) -> None:
    # The test node's gene list is org.Hs.eg.db and the HPO genes: no HGNC ids.
    response = alice_api.post(
        "/api/v1/cases/", case_json(genomicFeatures=[{"gene": {"id": "HGNC:17646"}}])
    )

    assert response.status_code == 400
    message = error_messages(response)["genomicFeatures[0].gene.id"]
    assert "'HGNC:17646' is an HGNC id, which this node's gene list" in message
    assert message.endswith(
        "give the gene as a gene symbol, an NCBI Gene (Entrez) id or an Ensembl gene id instead"
    )
    for words in DEVELOPER_WORDS:
        assert words not in message.replace("gene list (source", "")

    form = alice_client.post("/cases/new/", case_form_data(**{"genes-0-gene": "HGNC:17646"}))
    assert form.status_code == 400
    assert "cannot look up" in form.context["genes"].forms[0].errors["gene"][0]
    check = alice_client.get("/genes/check/", {"genes-0-gene": "HGNC:17646"})
    assert "cannot look up" in check.content.decode()
    assert "build_catalogue" not in check.content.decode()
    assert not Case.objects.exists()


def test_the_form_offers_only_the_identifiers_the_node_resolves(alice_client: Client) -> None:
    page = alice_client.get("/cases/new/").content.decode()

    assert "A gene symbol, an NCBI Gene (Entrez) id or an Ensembl gene id (e.g. NGLY1)." in page
    assert "HGNC id" not in page


# --- 16. A variant on another chromosome than its gene ----------------------------------------

SCN1A_ON_7 = {
    "genes-0-gene": "SCN1A",
    "genes-0-zygosity": "1",
    "genes-0-chromosome": "7",
    "genes-0-position": "166000000",
    "genes-0-reference_bases": "A",
    "genes-0-alternate_bases": "G",
}


def test_the_form_warns_about_a_variant_off_its_gene_and_saves_once_confirmed(
    alice_client: Client,
) -> None:
    warned = alice_client.post("/cases/new/", case_form_data(**SCN1A_ON_7))

    assert warned.status_code == 400
    message = "SCN1A is on chromosome 2, but the variant is on chromosome 7"
    assert message in warned.context["genes"].forms[0].errors["chromosome"][0]
    assert message in warned.context["warnings"][0]
    assert 'name="confirm_warnings"' in warned.content.decode()
    assert not Case.objects.exists()

    confirmed = alice_client.post(
        "/cases/new/", case_form_data(confirm_warnings="on", **SCN1A_ON_7)
    )

    assert confirmed.status_code == 302
    gene = Case.objects.get().genomic_features.get()
    assert (gene.gene_symbol, gene.reference_name) == ("SCN1A", "7")


def test_a_variant_on_its_genes_chromosome_is_saved_without_a_warning(
    alice_client: Client,
) -> None:
    response = alice_client.post(
        "/cases/new/", case_form_data(**{**SCN1A_ON_7, "genes-0-chromosome": "2"})
    )

    assert response.status_code == 302
    assert Case.objects.get().genomic_features.get().reference_name == "2"


def test_the_api_stores_a_variant_off_its_gene_and_answers_the_warning(
    alice_api: ApiClient,
) -> None:
    variant = {"assembly": "GRCh38", "referenceName": "7", "start": 166000000}
    response = alice_api.post(
        "/api/v1/cases/", case_json(genomicFeatures=[{"gene": {"id": "SCN1A"}, "variant": variant}])
    )

    assert response.status_code == 201, response.content
    assert response.json()["warnings"] == [
        {
            "field": "genomicFeatures[0].variant.referenceName",
            "message": "SCN1A is on chromosome 2, but the variant is on chromosome 7: check "
            "the gene and the variant",
        }
    ]
    good = alice_api.post(
        "/api/v1/cases/",
        case_json(
            label="fam13-proband",
            genomicFeatures=[
                {"gene": {"id": "SCN1A"}, "variant": {**variant, "referenceName": "2"}}
            ],
        ),
    )
    assert good.status_code == 201
    assert good.json()["warnings"] == []


def test_an_import_reports_a_variant_off_its_gene(alice_api: ApiClient) -> None:
    off = (
        GenomicFeatureRecord(
            gene_id="SCN1A", variant=VariantRecord("GRCh38", "7", 166000000, 166000001, "A", "G")
        ),
    )

    response = alice_api.post(
        "/api/v1/cases/import/", [phenopacket("pp-off", genomic_features=off)]
    )

    assert response.status_code == 200
    body = response.json()
    assert body["imported"] == 1
    assert any(
        "warning: genomicFeatures[0].variant.referenceName: SCN1A is on chromosome 2"
        in note["message"]
        for note in body["notes"]
    )


def test_the_form_warns_about_a_position_outside_the_gene_on_grch38(
    alice_client: Client,
) -> None:
    # SCN1A spans chr2:165,984,641-166,149,161 on GRCh38; 100,000,000 is 66 Mb away.
    far = {**SCN1A_ON_7, "genes-0-chromosome": "2", "genes-0-position": "100000000"}

    warned = alice_client.post("/cases/new/", case_form_data(**far))

    assert warned.status_code == 400
    (message,) = warned.context["genes"].forms[0].errors["position"]
    assert "position 100,000,000 on chromosome 2 is outside SCN1A" in message
    assert "165,984,641-166,149,161 on GRCh38" in message
    assert not Case.objects.exists()
    # The same position on GRCh37 is not checked: the spans are GRCh38's.
    grch37 = alice_client.post(
        "/cases/new/", case_form_data(**far, **{"genes-0-assembly": "GRCh37"})
    )
    assert grch37.status_code == 302
