"""The case pages: list and search, entry and editing with errors next to the field, status."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from bench.export_fidelity import stored_fields
from matchmaker.cases.models import Case, Institution
from matchmaker.casework.models import Match
from tests.conftest import PHENOPACKETS_DEV
from tests.factories import case_form_data, make_case

pytestmark = pytest.mark.django_db


def test_pages_need_a_login(client: Client) -> None:
    response = client.get("/cases/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert client.get("/").status_code == 302


def test_entering_a_case_stores_it_normalised_and_shows_it(
    alice_client: Client, alice: User, institution: Institution
) -> None:
    form = alice_client.get("/cases/new/")
    assert form.status_code == 200
    assert b'role="combobox"' in form.content
    assert b"Consent to external matching" in form.content

    response = alice_client.post(
        "/cases/new/",
        case_form_data(
            external_matching_consent="on",
            consent_note="signed form",
            **{"genes-0-chromosome": "3", "genes-0-position": "25750426"},
        ),
    )
    assert response.status_code == 302, (
        response.context["form"].errors,
        response.context["genes"].errors,
    )
    case = Case.objects.get(label="fam40-proband")
    assert response["Location"] == f"/cases/{case.public_id}/"
    assert case.institution == institution
    assert case.owner == alice
    assert case.age_of_onset == "HP:0003593"
    assert case.inheritance_mode == "HP:0000007"
    assert case.external_matching_consent
    assert case.consent_recorded_by == alice
    assert {(f.hpo_id, f.observed) for f in case.features.all()} == {
        ("HP:0001250", True),
        ("HP:0001263", True),
        ("HP:0000252", False),
    }
    gene = case.genomic_features.get()
    assert (gene.gene_symbol, gene.zygosity) == ("NGLY1", 2)
    # Typed 1-based as in a VCF, stored 0-based as MME wants it.
    assert (gene.reference_name, gene.start) == ("3", 25750425)

    detail = alice_client.get(response["Location"])
    assert detail.status_code == 200
    assert "Seizure" in detail.content.decode()
    assert "Infantile onset" in detail.content.decode()


def test_errors_from_the_case_services_appear_next_to_their_field_and_nothing_is_stored(
    alice_client: Client,
) -> None:
    response = alice_client.post(
        "/cases/new/",
        case_form_data(
            label="John Smith 1984-03-02",
            observed_terms=["HP:0001250", "HP:99999999"],
            **{"genes-0-gene": "NOT/A/GENE"},
        ),
    )
    assert response.status_code == 400
    page = response.content.decode()
    form = response.context["form"]
    genes = response.context["genes"]
    assert form.errors["label"]
    assert any("HP:99999999" in error for error in form.errors["observed_terms"])
    assert genes.forms[0].errors["gene"]
    # The chosen terms survive the round trip, with their labels.
    assert "Seizure" in page
    assert "HP:99999999" in page
    assert not Case.objects.exists()


def test_a_malformed_term_id_or_a_term_both_observed_and_excluded_is_refused(
    alice_client: Client,
) -> None:
    response = alice_client.post(
        "/cases/new/", case_form_data(observed_terms=["seizure"], excluded_terms=[])
    )
    assert response.status_code == 400
    assert "not an HPO id" in response.context["form"].errors["observed_terms"][0]
    response = alice_client.post("/cases/new/", case_form_data(excluded_terms=["HP:0001250"]))
    assert response.status_code == 400
    assert "both observed and excluded" in response.context["form"].errors["observed_terms"][0]
    assert not Case.objects.exists()


def test_a_variant_without_position_is_refused_next_to_the_position(alice_client: Client) -> None:
    response = alice_client.post("/cases/new/", case_form_data(**{"genes-0-reference_bases": "A"}))
    assert response.status_code == 400
    errors = response.context["genes"].forms[0].errors
    assert "position" in errors
    assert "chromosome" in errors
    assert not Case.objects.exists()


def test_a_forged_count_of_gene_rows_is_refused_without_building_them(
    alice_client: Client,
) -> None:
    rows = {f"genes-{row}-gene": "NGLY1" for row in range(1, 25)}
    response = alice_client.post(
        "/cases/new/", case_form_data(**{"genes-TOTAL_FORMS": "100000"}, **rows)
    )
    assert response.status_code == 400
    genes = response.context["genes"]
    assert len(genes.forms) == 20
    assert "at most 20" in str(genes.non_form_errors())
    assert b"at most 20" in response.content
    assert not Case.objects.exists()


def test_a_duplicate_label_is_an_error_on_the_label(
    alice_client: Client, institution: Institution
) -> None:
    make_case(institution=institution, label="fam40-proband")
    response = alice_client.post("/cases/new/", case_form_data())
    assert response.status_code == 400
    assert "already exists" in response.context["form"].errors["label"][0]
    assert Case.objects.count() == 1


def test_editing_keeps_what_the_form_does_not_show_and_records_consent(
    alice_client: Client, alice: User, institution: Institution
) -> None:
    case = make_case(institution=institution, owner=alice, external_references=("PMID:1",))
    page = alice_client.get(f"/cases/{case.public_id}/edit/")
    assert page.status_code == 200
    assert page.context["form"].initial["observed_terms"] == ["HP:0001250", "HP:0001263"]

    response = alice_client.post(
        f"/cases/{case.public_id}/edit/",
        case_form_data(
            label="fam12-proband",
            observed_terms=["HP:0001250"],
            excluded_terms=[],
            external_matching_consent="on",
            **{"genes-INITIAL_FORMS": "1"},
        ),
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert [f.hpo_id for f in case.features.all()] == ["HP:0001250"]
    assert case.external_references == ["PMID:1"]
    assert case.external_matching_consent
    assert case.consent_recorded_by == alice


def test_the_list_searches_by_label_gene_term_and_filters(
    alice_client: Client, institution: Institution, django_assert_max_num_queries: Any
) -> None:
    seizures = make_case(institution=institution, label="fam1-seizures")
    other = make_case(
        institution=institution,
        label="fam2-other",
        features=(),
        consented=True,
    )
    for number in range(30):
        make_case(institution=institution, label=f"bulk-{number}")

    def listed(**params: str) -> set[str]:
        response = alice_client.get("/cases/", params)
        assert response.status_code == 200
        return {case.label for case in response.context["cases"]}

    assert listed(q="fam1") == {"fam1-seizures"}
    assert listed(q=seizures.public_id) == {"fam1-seizures"}
    # An HPO term by name finds cases with it or a term below it.
    assert "fam1-seizures" in listed(q="Seizure")
    assert "fam1-seizures" in listed(q="Abnormal nervous system physiology")
    assert "fam2-other" not in listed(q="Seizure")
    assert "fam2-other" in listed(q="ngly1")
    assert listed(consent="yes") == {"fam2-other"}
    Match.objects.create(
        case=other,
        matched_case=seizures,
        direction=Match.Direction.LOCAL,
        score=0.9,
        phenotype_score=0.8,
        genotype_score=1.0,
        last_seen=other.created_at,
    )
    assert listed(new_matches="1") == {"fam2-other"}
    with django_assert_max_num_queries(9):  # 9th: the new-matches count in the nav
        response = alice_client.get("/cases/", {"page": "1"})
    assert len(response.context["cases"]) == 32
    counts = {case.label: case.new_match_count for case in response.context["cases"]}
    assert counts["fam2-other"] == 1
    assert counts["fam1-seizures"] == 0


def test_withdrawing_reactivating_and_deleting_a_case(
    alice_client: Client, institution: Institution
) -> None:
    case = make_case(institution=institution)
    url = f"/cases/{case.public_id}/status/"
    assert alice_client.get(url).status_code == 405
    alice_client.post(url, {"action": "withdraw"})
    case.refresh_from_db()
    assert case.status == Case.Status.WITHDRAWN
    alice_client.post(url, {"action": "reactivate"})
    case.refresh_from_db()
    assert case.status == Case.Status.ACTIVE
    alice_client.post(url, {"action": "delete", "confirm": "wrong"})
    assert Case.objects.filter(pk=case.pk).exists()
    response = alice_client.post(url, {"action": "delete", "confirm": case.public_id})
    assert response["Location"] == "/cases/"
    assert not Case.objects.filter(pk=case.pk).exists()


def test_a_clinician_cannot_see_or_change_another_institutions_case(
    carol_client: Client, institution: Institution
) -> None:
    case = make_case(institution=institution)
    assert case.label not in carol_client.get("/cases/").content.decode()
    assert carol_client.get("/cases/", {"q": case.public_id}).context["cases"] == []
    for url in (f"/cases/{case.public_id}/", f"/cases/{case.public_id}/edit/"):
        assert carol_client.get(url).status_code == 404
    edit = carol_client.post(f"/cases/{case.public_id}/edit/", case_form_data(label="mine"))
    assert edit.status_code == 404
    for action in ("withdraw", "delete"):
        response = carol_client.post(
            f"/cases/{case.public_id}/status/", {"action": action, "confirm": case.public_id}
        )
        assert response.status_code == 404
    case.refresh_from_db()
    assert case.label == "fam12-proband"
    assert case.status == Case.Status.ACTIVE


def test_term_search_offers_seizure_and_its_children_for_seiz(alice_client: Client) -> None:
    response = alice_client.get("/terms/search/", {"q": "seiz"})
    terms = response.json()["terms"]
    assert terms[0] == {"id": "HP:0001250", "label": "Seizure", "synonym": ""}
    assert len(terms) > 5
    assert all("seiz" in (t["label"] + t["synonym"]).lower() for t in terms)
    assert alice_client.get("/terms/search/", {"q": "s"}).json() == {"terms": []}


def test_gene_check_shows_the_normalised_gene_or_why_not(alice_client: Client) -> None:
    known = alice_client.get("/genes/check/", {"genes-0-gene": "ngly1"}).content.decode()
    assert "NGLY1" in known
    assert "✓" in known
    unknown = alice_client.get("/genes/check/", {"genes-0-gene": "NOTAGENE1"}).content.decode()
    assert "✗" in unknown
    assert "NOTAGENE1" in unknown
    assert "Check the spelling, or enter its HGNC id" in unknown
    assert alice_client.get("/genes/check/", {"genes-0-gene": ""}).content.strip() == b""


def test_term_search_forgives_typos_and_puts_the_meant_term_first(alice_client: Client) -> None:
    terms = alice_client.get("/terms/search/", {"q": "microcefaly"}).json()["terms"]
    assert terms[0]["id"] == "HP:0000252"  # Microcephaly
    terms = alice_client.get("/terms/search/", {"q": "epilepsy"}).json()["terms"]
    assert terms[0] == {"id": "HP:0001250", "label": "Seizure", "synonym": "Epilepsy"}


def test_related_terms_give_parents_and_children_most_common_first(alice_client: Client) -> None:
    response = alice_client.get("/terms/HP:0001250/related/")
    assert response.status_code == 200
    related = response.json()
    assert related["term"] == {"id": "HP:0001250", "label": "Seizure", "synonym": ""}
    assert [t["id"] for t in related["parents"]] == ["HP:0012638"]  # nervous system physiology
    children = [t["id"] for t in related["children"]]
    assert "HP:0007359" in children  # Focal-onset seizure
    assert children.index("HP:0020219") < children.index("HP:0032807")  # Motor before Neonatal
    assert related["more_children"] == 0
    # An alternative id shows its current term; an unknown one is a 404 that says why.
    assert alice_client.get("/terms/HP:0001275/related/").json()["term"]["id"] == "HP:0001250"
    missing = alice_client.get("/terms/HP:9999999/related/")
    assert missing.status_code == 404
    assert "HP:9999999 is not a term" in missing.json()["error"]


def test_related_terms_cap_the_children_of_broad_terms(alice_client: Client) -> None:
    # Autoimmune antibody positivity has 192 children in release 2025-01-16.
    related = alice_client.get("/terms/HP:0030057/related/").json()
    assert len(related["children"]) == 60
    assert related["more_children"] == 192 - 60


def test_related_terms_need_a_login(client: Client) -> None:
    response = client.get("/terms/HP:0001250/related/")
    assert response.status_code == 302


def test_a_removed_gene_row_is_neither_checked_nor_stored(alice_client: Client) -> None:
    response = alice_client.post(
        "/cases/new/",
        case_form_data(
            **{
                "genes-TOTAL_FORMS": "2",
                "genes-1-gene": "NOTAGENE1",
                "genes-1-position": "-5",
                "genes-1-DELETE": "on",
            }
        ),
    )
    assert response.status_code == 302
    case = Case.objects.get(label="fam40-proband")
    assert [g.gene_symbol for g in case.genomic_features.all()] == ["NGLY1"]


def test_removing_a_stored_gene_on_the_edit_form_drops_it(
    alice_client: Client, institution: Institution
) -> None:
    alice_client.post("/cases/new/", case_form_data())
    case = Case.objects.get(label="fam40-proband")
    page = alice_client.get(f"/cases/{case.public_id}/edit/").content.decode()
    assert 'aria-label="Remove this gene (NGLY1)"' in page
    response = alice_client.post(
        f"/cases/{case.public_id}/edit/",
        case_form_data(
            **{
                "genes-TOTAL_FORMS": "2",
                "genes-INITIAL_FORMS": "1",
                "genes-0-DELETE": "on",
                "genes-1-gene": "SCN1A",
            }
        ),
    )
    assert response.status_code == 302
    assert [g.gene_symbol for g in case.genomic_features.all()] == ["SCN1A"]


def test_gene_row_errors_say_what_to_do(alice_client: Client) -> None:
    data = case_form_data(**{"genes-0-chromosome": "3", "genes-0-position": "25,750,426"})
    response = alice_client.post("/cases/new/", data)
    assert response.status_code == 400
    error = response.context["genes"].forms[0].errors["position"][0]
    assert error.startswith("Enter the position as a whole number of bases")
    data = case_form_data(**{"genes-0-chromosome": "3", "genes-0-position": "0"})
    error = alice_client.post("/cases/new/", data).context["genes"].forms[0].errors["position"][0]
    assert error == "Positions start at 1 (1-based, as in a VCF file)."
    # A page cut off in transit loses the formset's bookkeeping: say so, not "ManagementForm".
    data = case_form_data()
    del data["genes-TOTAL_FORMS"]
    response = alice_client.post("/cases/new/", data)
    assert response.status_code == 400
    assert b"ManagementForm" not in response.content
    assert b"The list of candidate genes arrived incomplete" in response.content
    assert not Case.objects.exists()


def test_a_case_entered_with_hgvs_and_acmg_is_exported_with_them(
    alice_client: Client, alice: User
) -> None:
    response = alice_client.post(
        "/cases/new/",
        case_form_data(
            **{
                "genes-0-hgvs": "NM_018297.4:c.1891del\r\nNP_060767.2:p.(Gln631SerfsTer6)",
                "genes-0-acmg_classification": "LIKELY_PATHOGENIC",
            }
        ),
    )
    assert response.status_code == 302, response.context["genes"].errors
    case = Case.objects.get(label="fam40-proband")
    gene = case.genomic_features.get()
    assert gene.hgvs_expressions == [
        {"syntax": "hgvs.c", "value": "NM_018297.4:c.1891del"},
        {"syntax": "hgvs.p", "value": "NP_060767.2:p.(Gln631SerfsTer6)"},
    ]
    assert gene.acmg_classification == "LIKELY_PATHOGENIC"

    page = alice_client.get(f"/cases/{case.public_id}/").content.decode()
    assert "NP_060767.2:p.(Gln631SerfsTer6)" in page
    assert "ACMG: Likely pathogenic" in page

    document = json.loads(alice_client.get(f"/cases/{case.public_id}/export/phenopacket/").content)

    genomic = document["interpretations"][0]["diagnosis"]["genomicInterpretations"][0]
    variant = genomic["variantInterpretation"]
    assert variant["acmgPathogenicityClassification"] == "LIKELY_PATHOGENIC"
    assert [e["value"] for e in variant["variationDescriptor"]["expressions"]] == [
        "NM_018297.4:c.1891del",
        "NP_060767.2:p.(Gln631SerfsTer6)",
    ]
    terms = {feature["type"]["id"] for feature in document["phenotypicFeatures"]}
    assert {"HP:0000007", "HP:0003593"} <= terms  # inheritance, and onset with no disorder


def test_an_hgvs_line_without_its_reference_sequence_is_refused_next_to_it(
    alice_client: Client,
) -> None:
    response = alice_client.post("/cases/new/", case_form_data(**{"genes-0-hgvs": "c.1891del"}))

    assert response.status_code == 400
    assert "reference sequence" in response.context["genes"].forms[0].errors["hgvs"][0]
    assert not Case.objects.exists()


def test_saving_an_imported_case_unchanged_keeps_every_stored_field(
    alice_client: Client, alice: User, institution: Institution, tmp_path: Path
) -> None:
    # A published case with an HGNC gene id, three HGVS expressions (one written with spaces),
    # the ACMG class, a hemizygous allelic state and onsets given as ages.
    with gzip.open(PHENOPACKETS_DEV, "rt") as documents:
        document = next(
            json.loads(line)
            for line in documents
            if '"GENO:0000134"' in line and "iso8601duration" in line
        )
    descriptor = document["interpretations"][0]["diagnosis"]["genomicInterpretations"][0][
        "variantInterpretation"
    ]["variationDescriptor"]
    descriptor["expressions"][0]["value"] = descriptor["expressions"][0]["value"].replace(
        ">", " > "
    )
    source = tmp_path / "one.json"
    source.write_text(json.dumps(document))
    call_command(
        "import_phenopackets", str(source), "--institution", institution.name, stdout=io.StringIO()
    )
    case = Case.objects.get()
    before = stored_fields(case)
    gene = case.genomic_features.get()
    assert gene.submitted_gene_id.startswith("HGNC:")
    assert gene.allelic_state_id == "GENO:0000134"
    assert " · hemizygous" in alice_client.get(f"/cases/{case.public_id}/").content.decode()

    page = alice_client.get(f"/cases/{case.public_id}/edit/")
    form, genes = page.context["form"], page.context["genes"]
    data = {
        name: value
        for name, value in form.initial.items()
        if name not in ("external_matching_consent",)
    }
    data.update(
        {
            "genes-TOTAL_FORMS": "1",
            "genes-INITIAL_FORMS": "1",
            "genes-MIN_NUM_FORMS": "0",
            "genes-MAX_NUM_FORMS": "20",
        }
    )
    for name, value in genes.forms[0].initial.items():
        data[f"genes-0-{name}"] = "" if value is None else value
    response = alice_client.post(f"/cases/{case.public_id}/edit/", data)

    assert response.status_code == 302, (
        response.context["form"].errors,
        response.context["genes"].errors,
    )
    case.refresh_from_db()
    after = stored_fields(case)
    assert {name: after[name] for name in before if after[name] != before[name]} == {}


def test_the_page_of_a_case_imported_without_an_owner_opens(
    alice_client: Client, institution: Institution
) -> None:
    # Bulk imports without --owner leave the owner empty; the page used to fail with a 500.
    case = make_case(institution=institution, owner=None)

    response = alice_client.get(f"/cases/{case.public_id}/")

    assert response.status_code == 200
    assert "<dt>Owner</dt><dd>—," in response.content.decode()
