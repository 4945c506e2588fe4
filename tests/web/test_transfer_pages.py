"""Uploading phenopacket files and downloading a case as a phenopacket or MME JSON."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from matchmaker.cases.interchange import (
    MAX_UNPACKED_BYTES,
    MAX_UPLOAD_BYTES,
    case_record_from_mme_patient,
    phenopacket_from_case_record,
)
from matchmaker.cases.models import Case, Institution, Membership
from matchmaker.cases.records import DisorderRecord
from matchmaker.casework.models import Match
from matchmaker.web.transfer_forms import MAX_IMPORT_DOCUMENTS
from tests.factories import make_case, make_record

IMPORT_URL = reverse("case-import")


def phenopacket(label: str, **overrides: Any) -> dict[str, Any]:
    """A Phenopacket v2 document as our writer makes it: seizures, delay, NGLY1 homozygous."""
    return phenopacket_from_case_record(
        make_record(label=label, **overrides), subject_id="proband", created_by="Test lab"
    )


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def json_lines(*documents: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(document).encode() + b"\n" for document in documents)


def cases_of(institution: Institution) -> list[Case]:
    return list(
        Case.objects.filter(institution=institution).order_by("label").prefetch_related("features")
    )


def test_the_import_page_offers_a_multiple_file_input_and_the_consent_statement(
    alice_client: Client,
) -> None:
    response = alice_client.get(IMPORT_URL)

    assert response.status_code == 200
    content = response.content.decode()
    assert 'type="file"' in content
    assert "multiple" in content
    assert 'enctype="multipart/form-data"' in content
    assert "Consent to external matching for all imported cases" in content
    assert "phenotype terms, candidate genes and variants" in content
    assert 'aria-current="page">Import' in content


def test_importing_one_json_file_creates_the_case_and_links_to_it(
    alice: User, alice_client: Client, institution: Institution
) -> None:
    document = json.dumps(phenopacket("fam-7-proband")).encode()

    response = alice_client.post(IMPORT_URL, {"files": [upload("fam7.json", document)]})

    assert response.status_code == 200
    (case,) = cases_of(institution)
    assert case.label == "fam-7-proband"
    assert case.owner == alice
    assert case.source == Case.Source.PHENOPACKET
    assert case.external_matching_consent is False
    assert {(f.hpo_id, f.observed) for f in case.features.all()} == {
        ("HP:0001250", True),
        ("HP:0001263", True),
        ("HP:0000252", False),
    }
    assert [g.gene_symbol for g in case.genomic_features.all()] == ["NGLY1"]
    content = response.content.decode()
    assert "Imported <strong>1</strong> of 1 document" in content
    assert f'href="{reverse("case-detail", args=[case.public_id])}"' in content
    assert "fam7.json" in content


def test_a_bad_line_in_json_lines_is_reported_and_the_others_are_imported(
    alice_client: Client, institution: Institution
) -> None:
    content = (
        json.dumps(phenopacket("first")).encode()
        + b"\n{this is not json\n"
        + json.dumps(phenopacket("third")).encode()
        + b"\n"
        + json.dumps(phenopacket("fourth", features=())).encode().replace(b"NGLY1", b"NOT/A/GENE")
        + b"\n"
    )

    response = alice_client.post(IMPORT_URL, {"files": [upload("batch.jsonl", content)]})

    assert response.status_code == 200
    assert [case.label for case in cases_of(institution)] == ["first", "third"]
    report = response.context["report"]
    assert report.imported == 2
    assert [origin for origin, _ in report.rejected] == ["batch.jsonl:2", "batch.jsonl:4"]
    page = response.content.decode()
    assert "batch.jsonl:2" in page
    assert "not valid JSON" in page
    assert "NOT/A/GENE" in page
    assert "2 rejected" in page


def test_two_files_at_once_a_json_list_and_gzipped_json_lines(
    alice_client: Client, institution: Institution
) -> None:
    listed = json.dumps([phenopacket("list-a"), phenopacket("list-b")]).encode()
    packed = gzip.compress(json_lines(phenopacket("lines-a")))

    response = alice_client.post(
        IMPORT_URL,
        {"files": [upload("two.json", listed), upload("one.jsonl.gz", packed)]},
    )

    assert response.status_code == 200
    assert [case.label for case in cases_of(institution)] == ["lines-a", "list-a", "list-b"]
    origins = [document.origin for document in response.context["documents"]]
    assert origins == ["two.json[0]", "two.json[1]", "one.jsonl.gz:1"]
    assert all(document.public_id for document in response.context["documents"])


def test_two_files_with_one_name_are_reported_apart(
    alice_client: Client, institution: Institution
) -> None:
    first = json.dumps(phenopacket("from-a")).encode()
    second = json.dumps(phenopacket("from-a")).encode()

    response = alice_client.post(
        IMPORT_URL, {"files": [upload("case.json", first), upload("case.json", second)]}
    )

    assert response.status_code == 200
    documents = response.context["documents"]
    assert [d.origin for d in documents] == ["case.json (file 1)", "case.json (file 2)"]
    assert documents[0].public_id
    assert not documents[1].public_id
    assert "appears twice" in documents[1].reason
    assert [case.label for case in cases_of(institution)] == ["from-a"]


def test_the_consent_box_is_recorded_on_every_imported_case(
    alice: User, alice_client: Client, institution: Institution
) -> None:
    content = json_lines(phenopacket("c1"), phenopacket("c2"))

    response = alice_client.post(
        IMPORT_URL, {"files": [upload("c.jsonl", content)], "consented": "on"}
    )

    assert response.status_code == 200
    cases = cases_of(institution)
    assert len(cases) == 2
    for case in cases:
        assert case.external_matching_consent is True
        assert case.consent_recorded_by == alice
        assert case.consent_recorded_at is not None
        assert "alice" in case.consent_note
    assert "searched at the peer nodes" in response.content.decode()


def test_an_imported_case_is_matched_against_the_local_cases(
    alice: User,
    alice_client: Client,
    institution: Institution,
    eager_tasks: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    existing = make_case(institution=institution, owner=alice, label="already-here")
    content = json.dumps(phenopacket("newcomer")).encode()

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(IMPORT_URL, {"files": [upload("new.json", content)]})

    assert response.status_code == 200
    newcomer = Case.objects.get(label="newcomer")
    assert Match.objects.filter(case=newcomer, matched_case=existing).exists()


def test_a_label_already_used_in_the_institution_is_rejected(
    alice: User, alice_client: Client, institution: Institution
) -> None:
    make_case(institution=institution, owner=alice, label="taken")
    content = json.dumps(phenopacket("taken")).encode()

    response = alice_client.post(IMPORT_URL, {"files": [upload("dup.json", content)]})

    assert response.status_code == 200
    assert Case.objects.filter(institution=institution).count() == 1
    assert "already exists in Example Genetics" in response.content.decode()


def test_an_empty_selection_is_an_error_next_to_the_file_field(
    alice_client: Client, institution: Institution
) -> None:
    response = alice_client.post(IMPORT_URL, {"consented": "on"})

    assert response.status_code == 400
    assert response.context["form"].errors["files"] == ["Choose one or more phenopacket files."]
    assert 'id="id_files_error"' in response.content.decode()
    assert not Case.objects.exists()


def test_a_file_that_holds_no_phenopacket_is_an_error(alice_client: Client) -> None:
    response = alice_client.post(IMPORT_URL, {"files": [upload("blank.jsonl", b"\n\n")]})

    assert response.status_code == 400
    assert response.context["form"].errors["files"] == ["These files hold no phenopacket."]


def test_an_upload_over_the_size_limit_is_refused_and_nothing_is_stored(
    alice_client: Client,
) -> None:
    good = json.dumps(phenopacket("small")).encode()
    padding = b" " * (MAX_UPLOAD_BYTES - len(good) + 1)

    response = alice_client.post(
        IMPORT_URL, {"files": [upload("small.json", good), upload("big.json", good + padding)]}
    )

    assert response.status_code == 400
    (error,) = response.context["form"].errors["files"]
    assert "at most 20 MB" in error
    assert not Case.objects.exists()


def test_too_many_documents_are_refused_and_nothing_is_stored(alice_client: Client) -> None:
    documents = [phenopacket(f"p{number}") for number in range(MAX_IMPORT_DOCUMENTS + 1)]

    response = alice_client.post(
        IMPORT_URL, {"files": [upload("many.jsonl", json_lines(*documents))]}
    )

    assert response.status_code == 400
    (error,) = response.context["form"].errors["files"]
    assert error.startswith("many.jsonl: this upload holds more than 2,000 phenopackets")
    assert not Case.objects.exists()


def test_a_gzip_file_that_unpacks_past_the_limit_is_refused(alice_client: Client) -> None:
    bomb = gzip.compress(b" " * (MAX_UNPACKED_BYTES + 1), compresslevel=1)
    assert len(bomb) < MAX_UPLOAD_BYTES

    response = alice_client.post(IMPORT_URL, {"files": [upload("bomb.json.gz", bomb)]})

    assert response.status_code == 400
    (error,) = response.context["form"].errors["files"]
    assert error.startswith("bomb.json.gz: unpacked, these files hold more than 64 MB")


def test_a_corrupt_gzip_file_is_reported_per_document(alice_client: Client) -> None:
    packed = gzip.compress(json_lines(phenopacket("whole"), phenopacket("cut")))
    truncated = packed[: len(packed) - 30]

    response = alice_client.post(IMPORT_URL, {"files": [upload("cut.jsonl.gz", truncated)]})

    assert response.status_code == 200
    assert "cannot read the rest of the file" in response.content.decode()


def test_a_user_outside_any_institution_cannot_import(db: None) -> None:
    loner = User.objects.create_user("loner", password="x")
    client = Client()
    client.force_login(loner)

    assert client.get(IMPORT_URL).status_code == 403
    assert client.post(IMPORT_URL, {}).status_code == 403


def test_the_import_page_needs_a_login(db: None) -> None:
    response = Client().get(IMPORT_URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def _download(client: Client, case: Case, fmt: str) -> tuple[Any, dict[str, Any]]:
    response = client.get(reverse("case-export", args=[case.public_id, fmt]))
    assert response.status_code == 200, response.content
    return response, json.loads(response.content)


def test_a_case_downloads_as_a_phenopacket_named_by_its_public_id(
    alice: User, alice_client: Client, institution: Institution
) -> None:
    case = make_case(institution=institution, owner=alice, label="fam12-proband")

    response, document = _download(alice_client, case, "phenopacket")

    assert response["Content-Type"].startswith("application/json")
    disposition = response["Content-Disposition"]
    assert disposition == f'attachment; filename="{case.public_id}.phenopacket.json"'
    assert "fam12" not in disposition
    assert response["Cache-Control"] == "no-store"
    assert document["id"] == "fam12-proband"
    assert document["subject"]["id"] == case.public_id
    assert document["metaData"]["createdBy"] == "Example Genetics"
    assert {f["type"]["id"] for f in document["phenotypicFeatures"]} == {
        "HP:0001250",
        "HP:0001263",
        "HP:0000252",
    }
    labels = {f["type"]["id"]: f["type"]["label"] for f in document["phenotypicFeatures"]}
    assert labels["HP:0001250"] == "Seizure"


def test_an_exported_phenopacket_imports_into_another_institution_unchanged(
    alice: User,
    alice_client: Client,
    carol_client: Client,
    institution: Institution,
    other_institution: Institution,
) -> None:
    # The case's onset travels on its first disease: a phenopacket has no other place for it.
    original = make_case(
        institution=institution,
        owner=alice,
        label="round-trip",
        age_of_onset="HP:0003593",
        disorders=(DisorderRecord("OMIM:615273", "Congenital disorder of deglycosylation"),),
    )
    response, _ = _download(alice_client, original, "phenopacket")

    imported = carol_client.post(IMPORT_URL, {"files": [upload("exported.json", response.content)]})

    assert imported.status_code == 200
    (copy,) = cases_of(other_institution)
    assert copy.label == original.label
    assert copy.public_id != original.public_id

    def terms(case: Case) -> set[tuple[str, bool]]:
        return {(f.hpo_id, f.observed) for f in case.features.all()}

    def genes(case: Case) -> set[tuple[str, int | None]]:
        return {(g.gene_id, g.zygosity) for g in case.genomic_features.all()}

    assert terms(copy) == terms(original)
    assert genes(copy) == genes(original)
    assert (copy.sex, copy.age_of_onset) == (original.sex, original.age_of_onset)
    assert list(copy.disorders.values_list("disorder_id", flat=True)) == ["OMIM:615273"]


def test_a_case_downloads_as_an_mme_patient_that_reads_back(
    alice: User, alice_client: Client, institution: Institution
) -> None:
    case = make_case(institution=institution, owner=alice, label="mme-case")

    response, patient = _download(alice_client, case, "mme")

    assert response["Content-Disposition"] == f'attachment; filename="{case.public_id}.mme.json"'
    assert patient["id"] == case.public_id
    assert patient["contact"]["href"] == "mailto:mme@example.org"
    record = case_record_from_mme_patient(patient)
    assert {(f.hpo_id, f.observed) for f in record.features} == {
        (f.hpo_id, f.observed) for f in case.features.all()
    }
    assert [(g.gene_id, g.zygosity) for g in record.genomic_features] == [("NGLY1", 2)]


def test_an_unknown_export_format_is_not_found(
    alice: User, alice_client: Client, institution: Institution
) -> None:
    case = make_case(institution=institution, owner=alice)

    response = alice_client.get(reverse("case-export", args=[case.public_id, "csv"]))

    assert response.status_code == 404


@pytest.mark.parametrize("fmt", ["phenopacket", "mme"])
def test_another_institutions_case_cannot_be_exported(
    alice: User, carol_client: Client, institution: Institution, fmt: str
) -> None:
    case = make_case(institution=institution, owner=alice)

    response = carol_client.get(reverse("case-export", args=[case.public_id, fmt]))

    assert response.status_code == 404
    assert case.label.encode() not in response.content


def test_exporting_needs_a_login(alice: User, institution: Institution) -> None:
    case = make_case(institution=institution, owner=alice)

    response = Client().get(reverse("case-export", args=[case.public_id, "phenopacket"]))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_a_case_without_any_contact_explains_why_it_has_no_mme_form(db: None) -> None:
    bare = Institution.objects.create(name="Bare Clinic")
    dave = User.objects.create_user("dave", password="x")
    Membership.objects.create(user=dave, institution=bare)
    case = make_case(institution=bare, owner=dave)
    client = Client()
    client.force_login(dave)

    response = client.get(reverse("case-export", args=[case.public_id, "mme"]), follow=True)

    assert response.redirect_chain == [(reverse("case-detail", args=[case.public_id]), 302)]
    assert "cannot be written as an MME patient" in response.content.decode()


@pytest.mark.parametrize("count", [2, 40])
def test_an_import_runs_the_same_queries_for_few_or_many_documents(
    alice_client: Client, count: int, django_assert_max_num_queries: Any
) -> None:
    content = json_lines(*(phenopacket(f"bulk-{number}") for number in range(count)))

    # Counted, not per document: session, user, membership, then one bulk insert per table.
    with django_assert_max_num_queries(16):
        response = alice_client.post(IMPORT_URL, {"files": [upload("bulk.jsonl", content)]})

    assert response.context["report"].imported == count
