"""The local REST API (/api/v1/) over real HTTP: tokens, cases, imports, exports, matches.

Requests go through Django's test client with `Authorization: Token <key>`, as a hospital
script's would; every answer is checked against what the database then holds.
"""

from __future__ import annotations

import datetime
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
import time_machine
import yaml
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from matchmaker.cases.interchange import case_record_from_phenopacket, phenopacket_from_case_record
from matchmaker.cases.interchange import documents as interchange_documents
from matchmaker.cases.models import Case, Institution
from matchmaker.cases.records import FeatureRecord, GenomicFeatureRecord
from matchmaker.casework.models import Match, MatchEvent
from matchmaker.casework.services import CaseOwnership, import_case_records
from matchmaker.casework.services.matches import run_matching
from matchmaker.federation.services import add_peer
from matchmaker.lib.secrets import hash_token
from matchmaker.web.api import views as api_views
from matchmaker.web.models import ApiToken
from matchmaker.web.services import create_api_token, revoke_api_token
from tests.factories import make_case, make_record

pytestmark = pytest.mark.django_db

PEER_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"
MME_V1_0 = "application/vnd.ga4gh.matchmaker.v1.0+json"


class ApiClient:
    """Django's test client speaking JSON with an API token, as a hospital script would."""

    def __init__(self, key: str | None = None, *, scheme: str = "Token") -> None:
        self.client = Client()
        self.headers = {"Authorization": f"{scheme} {key}"} if key is not None else {}

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(path, params or {}, headers=self.headers)

    def send(self, method: str, path: str, body: Any = None) -> Any:
        data = "" if body is None else json.dumps(body)
        return self.client.generic(
            method, path, data, content_type="application/json", headers=self.headers
        )

    def post(self, path: str, body: Any = None) -> Any:
        return self.send("POST", path, body)

    def upload(self, path: str, files: dict[str, Any], params: str = "") -> Any:
        return self.client.post(f"{path}{params}", files, headers=self.headers)


@pytest.fixture
def alice_key(alice: User) -> str:
    return create_api_token(alice, name="nightly LIMS sync")[1]


@pytest.fixture
def alice_api(alice_key: str) -> ApiClient:
    return ApiClient(alice_key)


@pytest.fixture
def carol_api(carol: User) -> ApiClient:
    return ApiClient(create_api_token(carol, name="elsewhere script")[1])


def case_json(label: str = "fam12-proband", **overrides: Any) -> dict[str, Any]:
    """A full case in the API's shape: two observed terms, one excluded, NGLY1 with a variant."""
    body: dict[str, Any] = {
        "label": label,
        "sex": "FEMALE",
        "ageOfOnset": "HP:0003593",  # Infantile onset
        "inheritanceMode": "HP:0000007",  # Autosomal recessive inheritance
        "features": [
            {"id": "HP:0001250"},
            {"id": "HP:0001263", "observed": "yes", "ageOfOnset": "HP:0003593"},
            {"id": "HP:0000252", "observed": "no"},
        ],
        "genomicFeatures": [
            {
                "gene": {"id": "ngly1"},
                "variant": {
                    "assembly": "hg19",
                    "referenceName": "chr3",
                    "start": 25775421,
                    "end": 25775422,
                    "referenceBases": "C",
                    "alternateBases": "T",
                },
                "zygosity": 2,
                "type": {"id": "SO:0001587", "label": "stop_gained"},
            }
        ],
        "disorders": [{"id": "MIM:615273", "label": "Congenital disorder of deglycosylation"}],
        "contact": {"name": "Dr A. Example", "href": "mailto:a.example@example.org"},
    }
    body.update(overrides)
    return body


def error_fields(response: Any) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


def phenopacket(label: str, **overrides: Any) -> dict[str, Any]:
    return phenopacket_from_case_record(
        make_record(label=label, **overrides), subject_id="proband", created_by="Test lab"
    )


# --- Tokens ------------------------------------------------------------------------------------


def test_a_request_without_credentials_gets_401(alice: User) -> None:
    response = ApiClient().get("/api/v1/cases/")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Token")


@pytest.mark.parametrize("key", ["mmapi_not-a-real-key", "", "x" * 300])
def test_an_unknown_token_gets_401(alice_key: str, key: str) -> None:
    response = ApiClient(key).get("/api/v1/cases/")

    assert response.status_code == 401


def test_a_token_is_accepted_with_the_token_or_bearer_keyword(alice_key: str) -> None:
    assert ApiClient(alice_key).get("/api/v1/cases/").status_code == 200
    assert ApiClient(alice_key, scheme="Bearer").get("/api/v1/cases/").status_code == 200
    assert ApiClient(alice_key, scheme="bearer").get("/api/v1/cases/").status_code == 200


def test_a_revoked_token_gets_401(alice_key: str) -> None:
    revoke_api_token(ApiToken.objects.get())

    response = ApiClient(alice_key).get("/api/v1/cases/")

    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_an_expired_token_gets_401(alice: User) -> None:
    _, key = create_api_token(
        alice, name="short-lived", expires_at=timezone.now() + datetime.timedelta(days=1)
    )
    assert ApiClient(key).get("/api/v1/cases/").status_code == 200

    with time_machine.travel(timezone.now() + datetime.timedelta(days=2)):
        response = ApiClient(key).get("/api/v1/cases/")

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_the_token_of_a_deactivated_user_gets_401(alice: User, alice_key: str) -> None:
    alice.is_active = False
    alice.save()

    assert ApiClient(alice_key).get("/api/v1/cases/").status_code == 401


def test_a_peer_token_does_not_open_the_local_api(institution: Institution) -> None:
    add_peer("Remote Node", base_url="https://mme.remote.example/mme", inbound_token=PEER_TOKEN)
    client = Client()

    response = client.get("/api/v1/cases/", headers={"X-Auth-Token": PEER_TOKEN})
    as_token = client.get("/api/v1/cases/", headers={"Authorization": f"Token {PEER_TOKEN}"})

    assert response.status_code == 401
    assert as_token.status_code == 401


def test_an_api_token_does_not_open_the_mme_api(alice_key: str) -> None:
    add_peer("Remote Node", base_url="https://mme.remote.example/mme", inbound_token=PEER_TOKEN)
    patient = {
        "id": "remote-P0001",
        "contact": {"name": "Dr Remote", "href": "mailto:remote@example.org"},
        "features": [{"id": "HP:0001250"}],
    }

    response = Client().post(
        "/mme/match",
        json.dumps({"patient": patient}),
        content_type=MME_V1_0,
        headers={"Authorization": f"Token {alice_key}", "Accept": MME_V1_0},
    )

    assert response.status_code == 401


def test_a_user_without_an_institution_gets_403_saying_why(db: None) -> None:
    loner = User.objects.create_user("dave", password="correct horse battery staple")
    _, key = create_api_token(loner, name="orphan")

    response = ApiClient(key).get("/api/v1/cases/")

    assert response.status_code == 403
    assert "not a member of any institution" in response.json()["detail"]


def test_the_session_of_a_signed_in_clinician_works_too_with_csrf_checked(
    alice: User, alice_client: Client
) -> None:
    assert alice_client.get("/api/v1/cases/").status_code == 200
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)

    response = strict.post(
        "/api/v1/cases/", json.dumps(case_json()), content_type="application/json"
    )

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Case.objects.exists()


def test_a_token_request_needs_no_csrf_token(alice_key: str) -> None:
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        "/api/v1/cases/",
        json.dumps(case_json()),
        content_type="application/json",
        headers={"Authorization": f"Token {alice_key}"},
    )

    assert response.status_code == 201


def test_last_used_is_written_at_most_once_a_minute(alice_api: ApiClient) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        alice_api.get("/api/v1/cases/")
    assert ApiToken.objects.get().last_used_at == start

    with time_machine.travel(start + datetime.timedelta(seconds=30), tick=False):
        alice_api.get("/api/v1/cases/")
    assert ApiToken.objects.get().last_used_at == start

    later = start + datetime.timedelta(seconds=61)
    with time_machine.travel(later, tick=False):
        alice_api.get("/api/v1/cases/")
    assert ApiToken.objects.get().last_used_at == later


def test_create_api_token_prints_the_key_once_and_stores_only_its_hash(alice: User) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()

    call_command("create_api_token", "alice", "--name", "LIMS", stdout=stdout, stderr=stderr)

    key = stdout.getvalue().strip()
    token = ApiToken.objects.get()
    assert token.user == alice
    assert token.name == "LIMS"
    assert token.key_hash == hash_token(key)
    assert token.hint == key[-4:]
    assert key not in stderr.getvalue()
    assert ApiClient(key).get("/api/v1/cases/").status_code == 200


def test_create_api_token_refuses_an_unknown_user(db: None) -> None:
    with pytest.raises(CommandError, match="no user 'nobody'"):
        call_command("create_api_token", "nobody", "--name", "x", stdout=io.StringIO())
    assert not ApiToken.objects.exists()


def test_create_api_token_warns_when_the_user_has_no_institution(db: None) -> None:
    User.objects.create_user("dave")
    stderr = io.StringIO()

    call_command("create_api_token", "dave", "--name", "x", stdout=io.StringIO(), stderr=stderr)

    assert "belongs to no institution" in stderr.getvalue()


def test_the_admin_lists_tokens_without_their_keys_and_revokes_them(
    admin_client: Client, alice_key: str
) -> None:
    token = ApiToken.objects.get()

    listing = admin_client.get("/admin/web/apitoken/")
    detail = admin_client.get(f"/admin/web/apitoken/{token.pk}/change/")

    assert listing.status_code == 200
    content = listing.content.decode()
    assert "nightly LIMS sync" in content
    assert f"…{token.hint}" in content
    for page in (content, detail.content.decode()):
        assert alice_key not in page
        assert token.key_hash not in page
    assert admin_client.get("/admin/web/apitoken/add/").status_code == 403

    response = admin_client.post(
        "/admin/web/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}
    )

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert ApiClient(alice_key).get("/api/v1/cases/").status_code == 401


# --- Cases -------------------------------------------------------------------------------------


def test_a_case_is_created_read_replaced_and_deleted(alice: User, alice_api: ApiClient) -> None:
    created = alice_api.post("/api/v1/cases/", case_json(externalMatchingConsent=True))

    assert created.status_code == 201, created.json()
    body = created.json()
    public_id = body["publicId"]
    assert created.headers["Location"] == f"/api/v1/cases/{public_id}/"
    case = Case.objects.get(public_id=public_id)
    assert case.owner == alice
    assert case.label == "fam12-proband"
    assert case.external_matching_consent
    assert case.consent_recorded_by == alice
    assert [(f.hpo_id, f.observed) for f in case.features.all()] == [
        ("HP:0001250", True),
        ("HP:0001263", True),
        ("HP:0000252", False),
    ]
    gene = case.genomic_features.get()
    assert (gene.gene_symbol, gene.assembly, gene.reference_name) == ("NGLY1", "GRCh37", "3")
    assert case.disorders.get().disorder_id == "OMIM:615273"
    assert body["features"][0] == {
        "id": "HP:0001250",
        "label": "Seizure",
        "observed": "yes",
        "ageOfOnset": "",
    }
    assert body["features"][2]["observed"] == "no"
    assert body["genomicFeatures"][0]["gene"]["id"] == "NGLY1"
    assert body["genomicFeatures"][0]["variant"]["start"] == 25775421
    assert body["contact"]["href"] == "mailto:a.example@example.org"
    assert body["status"] == "active"
    assert body["externalMatchingConsent"] is True

    read = alice_api.get(f"/api/v1/cases/{public_id}/")
    assert read.status_code == 200
    # Only the answer to a write has them.
    assert body.pop("warnings") == []
    assert body.pop("notes") == []
    assert read.json() == body

    # What GET answers can be sent back, changed, as the replacement.
    replacement = read.json() | {
        "label": "fam12-proband-b",
        "features": [{"id": "HP:0001252"}],
        "genomicFeatures": [],
    }
    replaced = alice_api.send("PUT", f"/api/v1/cases/{public_id}/", replacement)

    assert replaced.status_code == 200, replaced.json()
    case.refresh_from_db()
    assert case.label == "fam12-proband-b"
    assert list(case.features.values_list("hpo_id", flat=True)) == ["HP:0001252"]
    assert not case.genomic_features.exists()
    assert case.external_matching_consent  # kept
    assert replaced.json()["features"] == [
        {"id": "HP:0001252", "label": "Hypotonia", "observed": "yes", "ageOfOnset": ""}
    ]

    deleted = alice_api.send("DELETE", f"/api/v1/cases/{public_id}/")

    assert deleted.status_code == 204
    assert not Case.objects.filter(public_id=public_id).exists()
    assert alice_api.get(f"/api/v1/cases/{public_id}/").status_code == 404


def test_a_minimal_case_takes_the_institution_contact(
    institution: Institution, alice_api: ApiClient
) -> None:
    response = alice_api.post(
        "/api/v1/cases/", {"label": "fam3-proband", "genomicFeatures": [{"gene": {"id": "NGLY1"}}]}
    )

    assert response.status_code == 201, response.json()
    assert response.json()["contact"]["institution"] == institution.name
    assert response.json()["externalMatchingConsent"] is False


def test_a_malformed_hpo_id_is_a_400_naming_the_feature_and_nothing_is_stored(
    alice_api: ApiClient,
) -> None:
    body = case_json(features=[{"id": "HP:99999999"}, {"id": "HP:0001250"}])

    response = alice_api.post("/api/v1/cases/", body)

    assert response.status_code == 400
    assert error_fields(response) == ["features[0].id"]
    assert "HP:99999999" in response.json()["errors"][0]["message"]
    assert not Case.objects.exists()


def test_a_malformed_case_names_every_bad_field(alice_api: ApiClient) -> None:
    body = case_json(
        features=[{"id": "HP:0001250"}, {"id": "HP:0001263", "observed": "maybe"}],
        genomicFeatures=[{"gene": {}, "variant": {"assembly": "GRCh38", "start": -1}}],
        sex="female",
    )

    response = alice_api.post("/api/v1/cases/", body)

    assert response.status_code == 400
    assert set(error_fields(response)) == {
        "sex",
        "features[1].observed",
        "genomicFeatures[0].gene.id",
        "genomicFeatures[0].variant.referenceName",
        "genomicFeatures[0].variant.start",
    }
    assert not Case.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"features": [{"id": "HP:12"}]}, "features[0].id"),
        ({"label": "John Smith 1984-03-02"}, "label"),
        ({"disorders": [{"id": "DOID:1234"}]}, "disorders[0].id"),
        ({"ageOfOnset": "HP:0001250"}, "ageOfOnset"),
        ({"features": [], "genomicFeatures": [{"gene": {"id": "NOT A GENE"}}]}, None),
    ],
)
def test_content_errors_are_400_naming_the_field(
    alice_api: ApiClient, change: dict[str, Any], field: str | None
) -> None:
    response = alice_api.post("/api/v1/cases/", case_json(**change))

    assert response.status_code == 400
    fields = error_fields(response)
    if field is None:
        assert fields[0].startswith("genomicFeatures[0].gene")
    else:
        assert field in fields
    assert not Case.objects.exists()


def test_a_body_that_is_not_an_object_is_a_400(alice_api: ApiClient) -> None:
    response = alice_api.post("/api/v1/cases/", [case_json()])

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == ""


def test_a_duplicate_label_is_a_409(institution: Institution, alice_api: ApiClient) -> None:
    make_case(institution=institution, label="fam12-proband")

    response = alice_api.post("/api/v1/cases/", case_json(label="fam12-proband"))

    assert response.status_code == 409
    assert error_fields(response) == ["label"]
    assert Case.objects.count() == 1


def test_replacing_a_case_does_not_change_its_consent(
    institution: Institution, alice: User, alice_api: ApiClient
) -> None:
    case = make_case(institution=institution, owner=alice)

    response = alice_api.send(
        "PUT", f"/api/v1/cases/{case.public_id}/", case_json(externalMatchingConsent=True)
    )

    assert response.status_code == 400
    assert error_fields(response) == ["externalMatchingConsent"]
    assert "/consent/" in response.json()["message"]
    case.refresh_from_db()
    assert not case.external_matching_consent


def test_consent_is_recorded_and_the_case_withdrawn_and_reactivated(
    institution: Institution, alice: User, alice_api: ApiClient
) -> None:
    case = make_case(institution=institution, owner=alice)
    url = f"/api/v1/cases/{case.public_id}"

    consented = alice_api.post(f"{url}/consent/", {"externalMatching": True, "note": "form v3"})

    assert consented.status_code == 200
    assert consented.json()["externalMatchingConsent"] is True
    assert consented.json()["consentNote"] == "form v3"
    case.refresh_from_db()
    assert case.external_matching_consent
    assert case.consent_recorded_by == alice
    assert case.consent_note == "form v3"

    missing = alice_api.post(f"{url}/consent/", {"note": "no decision"})
    assert missing.status_code == 400
    assert error_fields(missing) == ["externalMatching"]

    withdrawn = alice_api.post(f"{url}/withdraw/")
    assert withdrawn.status_code == 200
    assert withdrawn.json()["status"] == "withdrawn"
    case.refresh_from_db()
    assert case.status == Case.Status.WITHDRAWN
    assert case.withdrawn_at is not None

    reactivated = alice_api.post(f"{url}/reactivate/")
    assert reactivated.status_code == 200
    assert reactivated.json()["status"] == "active"
    case.refresh_from_db()
    assert case.status == Case.Status.ACTIVE

    revoked = alice_api.post(f"{url}/consent/", {"externalMatching": False})
    assert revoked.json()["externalMatchingConsent"] is False
    case.refresh_from_db()
    assert not case.external_matching_consent


# --- Listing cases -----------------------------------------------------------------------------


def _bulk_cases(institution: Institution, count: int) -> None:
    items = [(f"bulk-{i}", make_record(label=f"bulk-{i:03d}")) for i in range(count)]
    ownership = CaseOwnership(institution=institution, owner=None, source=Case.Source.SYNTHETIC)
    assert import_case_records(items, ownership=ownership).imported == count


def test_cases_are_paginated_newest_first(
    institution: Institution, alice_api: ApiClient, django_assert_max_num_queries: Any
) -> None:
    _bulk_cases(institution, 201)

    with django_assert_max_num_queries(10):
        first = alice_api.get("/api/v1/cases/", {"page_size": 2})
    second = alice_api.get("/api/v1/cases/", {"page_size": 2, "page": 2})
    with django_assert_max_num_queries(10):
        largest = alice_api.get("/api/v1/cases/", {"page_size": 1000})
    default = alice_api.get("/api/v1/cases/")

    assert first.status_code == 200
    assert first.json()["count"] == 201
    assert [case["label"] for case in first.json()["results"]] == ["bulk-200", "bulk-199"]
    assert [case["label"] for case in second.json()["results"]] == ["bulk-198", "bulk-197"]
    assert "page=2" in first.json()["next"]
    assert len(largest.json()["results"]) == 200  # page_size is capped at 200
    assert len(default.json()["results"]) == 50
    assert alice_api.get("/api/v1/cases/", {"page": 99}).status_code == 404


def test_cases_are_filtered_by_text_gene_term_status_consent_and_new_matches(
    institution: Institution, alice: User, alice_api: ApiClient
) -> None:
    seizures = make_case(institution=institution, label="fam1-seizures", consented=True)
    make_case(
        institution=institution,
        label="fam2-focal",
        # The first family's terms, its seizures recorded as focal: a close phenotype.
        features=(
            FeatureRecord("HP:0001250"),
            FeatureRecord("HP:0001263"),
            FeatureRecord("HP:0007359"),
        ),
        genomic_features=(),
    )
    withdrawn = make_case(institution=institution, label="fam3-withdrawn")
    alice_api.post(f"/api/v1/cases/{withdrawn.public_id}/withdraw/")
    run_matching(seizures.pk)

    def labels(**params: Any) -> list[str]:
        response = alice_api.get("/api/v1/cases/", params)
        assert response.status_code == 200, response.json()
        return sorted(case["label"] for case in response.json()["results"])

    assert labels(q="FAM2") == ["fam2-focal"]
    assert labels(q=seizures.public_id[-5:]) == ["fam1-seizures"]
    assert labels(gene="NGLY1") == ["fam1-seizures", "fam3-withdrawn"]
    # Focal-onset seizure (HP:0007359) lies below Seizure (HP:0001250).
    assert labels(hpo="HP:0001250") == ["fam1-seizures", "fam2-focal", "fam3-withdrawn"]
    assert labels(hpo="HP:0007359") == ["fam2-focal"]
    assert labels(status="withdrawn") == ["fam3-withdrawn"]
    assert labels(consent="true") == ["fam1-seizures"]
    assert labels(consent="false") == ["fam2-focal", "fam3-withdrawn"]
    with_new = labels(has_new_matches="true")
    assert "fam1-seizures" in with_new
    assert "fam3-withdrawn" not in with_new
    assert set(labels(has_new_matches="false")).isdisjoint(with_new)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"gene": "NOTAGENE1"}, "gene"),
        ({"hpo": "HP:9999999"}, "hpo"),
        ({"status": "lost"}, "status"),
        ({"consent": "perhaps"}, "consent"),
    ],
)
def test_bad_filters_are_400_naming_the_parameter(
    alice_api: ApiClient, params: dict[str, str], field: str
) -> None:
    response = alice_api.get("/api/v1/cases/", params)

    assert response.status_code == 400
    assert error_fields(response) == [field]


def test_the_case_list_shows_new_match_counts(
    institution: Institution, alice_api: ApiClient
) -> None:
    mine = make_case(institution=institution, label="mine")
    make_case(institution=institution, label="twin")
    run_matching(mine.pk)

    results = alice_api.get("/api/v1/cases/").json()["results"]

    assert {case["label"]: case["newMatches"] for case in results} == {"mine": 1, "twin": 1}


# --- Import and export -------------------------------------------------------------------------


def test_a_json_body_of_phenopackets_is_imported(
    institution: Institution, alice: User, alice_api: ApiClient
) -> None:
    response = alice_api.post(
        "/api/v1/cases/import/?consented=true", [phenopacket("pp-1"), phenopacket("pp-2")]
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["imported"] == 2
    assert body["rejected"] == []
    stored = {case.public_id: case for case in Case.objects.filter(institution=institution)}
    assert body["cases"] == [
        Case.objects.get(label="pp-1").public_id,
        Case.objects.get(label="pp-2").public_id,
    ]
    for case in stored.values():
        assert case.owner == alice
        assert case.source == Case.Source.PHENOPACKET
        assert case.external_matching_consent


def test_a_single_phenopacket_body_is_imported_without_consent(
    alice_api: ApiClient,
) -> None:
    response = alice_api.post("/api/v1/cases/import/", phenopacket("pp-1"))

    assert response.status_code == 200
    assert response.json()["imported"] == 1
    assert not Case.objects.get().external_matching_consent


def test_a_json_lines_upload_reports_bad_documents_and_imports_the_good_ones(
    institution: Institution, alice_api: ApiClient
) -> None:
    lines = [
        json.dumps(phenopacket("good-1")),
        "{not json",
        json.dumps(phenopacket("bad-term", features=(FeatureRecord("HP:99999999"),))),
        json.dumps(phenopacket("good-2")),
    ]
    content = gzip.compress("\n".join(lines).encode())
    upload = SimpleUploadedFile("cases.jsonl.gz", content, content_type="application/gzip")

    response = alice_api.upload("/api/v1/cases/import/", {"file": upload, "consented": "false"})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["imported"] == 2
    assert [problem["origin"] for problem in body["rejected"]] == [
        "cases.jsonl.gz:2",
        "cases.jsonl.gz:3",
    ]
    assert "not valid JSON" in body["rejected"][0]["message"]
    assert "HP:99999999" in body["rejected"][1]["message"]
    assert sorted(Case.objects.values_list("label", flat=True)) == ["good-1", "good-2"]
    assert len(body["cases"]) == 2


def test_an_import_without_documents_is_a_400(alice_api: ApiClient) -> None:
    empty_body = alice_api.post("/api/v1/cases/import/")
    no_file = alice_api.upload("/api/v1/cases/import/", {"consented": "true"})

    assert empty_body.status_code == 400
    assert no_file.status_code == 400
    assert error_fields(no_file) == ["file"]
    assert not Case.objects.exists()


def test_an_import_over_the_cap_is_refused_whole(
    alice_api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_views, "MAX_IMPORT_DOCUMENTS", 2)

    response = alice_api.post(
        "/api/v1/cases/import/", [phenopacket("a"), phenopacket("b"), phenopacket("c")]
    )

    assert response.status_code == 400
    assert "more than 2 documents" in response.json()["message"]
    assert not Case.objects.exists()


def test_an_upload_may_give_consent_as_a_form_field(alice_api: ApiClient) -> None:
    upload = SimpleUploadedFile("cases.json", json.dumps([phenopacket("pp-1")]).encode())

    response = alice_api.upload("/api/v1/cases/import/", {"file": upload, "consented": "true"})

    assert response.json()["imported"] == 1
    assert Case.objects.get().external_matching_consent


def test_too_large_a_body_or_upload_is_refused_before_it_is_read(
    alice_api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(interchange_documents, "MAX_UNPACKED_BYTES", 10_000)
    # Compresses to a few hundred bytes, expands past the limit.
    bomb = gzip.compress(json.dumps(phenopacket("pp-1")).encode() + b" " * 20_000)
    upload = SimpleUploadedFile("cases.json.gz", bomb)

    expanded = alice_api.upload("/api/v1/cases/import/", {"file": upload})
    monkeypatch.setattr(api_views, "MAX_UPLOAD_BYTES", 1000)
    sent = alice_api.post("/api/v1/cases/import/", [phenopacket("pp-2"), phenopacket("pp-3")])

    assert expanded.status_code == 400
    assert error_fields(expanded) == ["file"]
    assert sent.status_code == 400
    assert "send at most" in sent.json()["message"]
    assert not Case.objects.exists()


def test_a_case_is_exported_as_a_phenopacket_and_as_mme(
    institution: Institution, alice_api: ApiClient
) -> None:
    case = make_case(institution=institution, label="fam12-proband")
    url = f"/api/v1/cases/{case.public_id}/export/"

    as_phenopacket = alice_api.get(url, {"format": "phenopacket"})
    as_default = alice_api.get(url)
    as_mme = alice_api.get(url, {"format": "mme"})
    unknown = alice_api.get(url, {"format": "vcf"})

    assert as_phenopacket.status_code == 200
    document = as_phenopacket.json()
    assert document["id"] == "fam12-proband"
    assert document["subject"]["id"] == case.public_id
    assert document["phenotypicFeatures"][0]["type"] == {"id": "HP:0001250", "label": "Seizure"}
    assert case_record_from_phenopacket(document).label == "fam12-proband"
    assert as_default.json()["id"] == "fam12-proband"
    assert as_mme.status_code == 200
    patient = as_mme.json()
    assert patient["id"] == case.public_id
    assert patient["genomicFeatures"][0]["gene"]["id"] == "NGLY1"
    assert {"id": "HP:0000252", "label": "Microcephaly", "observed": "no"} in patient["features"]
    assert unknown.status_code == 400
    assert error_fields(unknown) == ["format"]


def test_an_entered_case_is_exported_with_all_it_was_given_and_imports_back_the_same(
    institution: Institution, alice_api: ApiClient
) -> None:
    body = case_json(label="fam7-proband", disorders=[])
    body["genomicFeatures"][0].update(
        gene={"id": "NCBIGene:55768"},  # NGLY1, given by its Entrez id
        expressions=[
            {"syntax": "hgvs.c", "value": "NM_018297.4:c.1891del"},
            {"syntax": "hgvs.p", "value": "NP_060767.2:p.(Gln631SerfsTer6)"},
        ],
        acmgClassification="LIKELY_PATHOGENIC",
    )
    created = alice_api.post("/api/v1/cases/", body)
    assert created.status_code == 201, created.json()
    gene = created.json()["genomicFeatures"][0]
    assert gene["gene"]["submittedId"] == "NCBIGene:55768"
    assert gene["acmgClassification"] == "LIKELY_PATHOGENIC"
    assert gene["expressions"][0] == {"syntax": "hgvs.c", "value": "NM_018297.4:c.1891del"}
    public_id = created.json()["publicId"]

    document = alice_api.get(f"/api/v1/cases/{public_id}/export/").json()

    # Unsolved: candidate genes under no invented disease.
    interpretation = document["interpretations"][0]
    assert interpretation["progressStatus"] == "UNSOLVED"
    assert "disease" not in interpretation["diagnosis"]
    assert "diseases" not in document
    genomic = interpretation["diagnosis"]["genomicInterpretations"][0]
    assert genomic["interpretationStatus"] == "CANDIDATE"
    variant = genomic["variantInterpretation"]
    assert variant["acmgPathogenicityClassification"] == "LIKELY_PATHOGENIC"
    descriptor = variant["variationDescriptor"]
    assert descriptor["geneContext"] == {"valueId": "NCBIGene:55768", "symbol": "NGLY1"}
    assert descriptor["expressions"] == body["genomicFeatures"][0]["expressions"]
    # Phenopacket v2 has no field for the mode of inheritance, nor an onset outside a disease.
    features = {feature["type"]["id"]: feature for feature in document["phenotypicFeatures"]}
    assert features["HP:0000007"]["type"]["label"] == "Autosomal recessive inheritance"
    assert features["HP:0003593"]["type"]["label"] == "Infantile onset"

    document["id"] = "fam7-proband-again"
    imported = alice_api.post("/api/v1/cases/import/", document)
    assert imported.json()["imported"] == 1, imported.json()
    first, again = (
        alice_api.get(f"/api/v1/cases/{public_id}/").json(),
        alice_api.get(f"/api/v1/cases/{imported.json()['cases'][0]}/").json(),
    )
    for name in ("sex", "ageOfOnset", "inheritanceMode", "features", "genomicFeatures"):
        assert again[name] == first[name], name
    assert first["inheritanceMode"] == "HP:0000007"
    assert first["ageOfOnset"] == "HP:0003593"


def test_an_imported_hgvs_expression_storage_cannot_hold_is_rejected_naming_it(
    alice_api: ApiClient,
) -> None:
    record = make_record(
        label="nul-hgvs",
        genomic_features=(
            GenomicFeatureRecord(
                "NGLY1",
                hgvs_expressions=(
                    ("hgvs.c", "NM_018297.4:c.1891del"),
                    ("hgvs.c", "NM_018297.4:c.1891\x00del"),
                ),
            ),
        ),
    )
    document = phenopacket_from_case_record(record, subject_id="proband", created_by="Test lab")

    response = alice_api.post("/api/v1/cases/import/", [document, phenopacket("good-1")])

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["imported"] == 1
    [problem] = body["rejected"]
    assert "genomicFeatures[0].expressions[1]" in problem["message"]
    assert "NUL" in problem["message"]
    assert list(Case.objects.values_list("label", flat=True)) == ["good-1"]


def test_an_acmg_class_outside_the_five_is_a_400_naming_it(alice_api: ApiClient) -> None:
    body = case_json()
    body["genomicFeatures"][0]["acmgClassification"] = "VUS"

    response = alice_api.post("/api/v1/cases/", body)

    assert response.status_code == 400
    assert error_fields(response) == ["genomicFeatures[0].acmgClassification"]
    assert not Case.objects.exists()


# --- Matches -----------------------------------------------------------------------------------


@pytest.fixture
def alice_case(institution: Institution, alice: User) -> Case:
    return make_case(institution=institution, owner=alice, label="fam12-proband")


@pytest.fixture
def carol_case(other_institution: Institution, carol: User) -> Case:
    return make_case(institution=other_institution, owner=carol, label="elsewhere-7")


@pytest.fixture
def alice_match(alice_case: Case, carol_case: Case) -> Match:
    """Alice's copy of the local match between her case and carol's."""
    run_matching(alice_case.pk)
    return Match.objects.get(case=alice_case, matched_case=carol_case)


def test_matches_are_listed_with_filters(
    alice_api: ApiClient, alice_case: Case, alice_match: Match, carol_case: Case
) -> None:
    response = alice_api.get("/api/v1/matches/")

    assert response.status_code == 200
    (listed,) = response.json()["results"]
    assert listed["id"] == alice_match.pk
    assert listed["case"] == alice_case.public_id
    assert listed["direction"] == "local"
    assert listed["status"] == "new"
    assert 0 < listed["score"] <= 1
    assert listed["matchedCase"]["publicId"] == carol_case.public_id
    assert listed["matchedCase"]["institution"] == "Elsewhere Hospital"
    assert listed["peer"] is None
    assert "explanation" not in listed

    def ids(**params: Any) -> list[int]:
        return [m["id"] for m in alice_api.get("/api/v1/matches/", params).json()["results"]]

    assert ids(case=alice_case.public_id) == [alice_match.pk]
    assert ids(case=carol_case.public_id) == []
    assert ids(status="new", direction="local") == [alice_match.pk]
    assert ids(status="dismissed") == []
    assert ids(direction="incoming") == []

    Match.objects.filter(pk=alice_match.pk).update(removed_at=timezone.now())
    assert ids() == []
    assert ids(include_removed="true") == [alice_match.pk]


def test_the_match_list_runs_a_fixed_number_of_queries(
    institution: Institution,
    other_institution: Institution,
    alice_api: ApiClient,
    django_assert_max_num_queries: Any,
) -> None:
    mine = make_case(institution=institution, label="mine")
    for number in range(6):
        other = make_case(institution=other_institution, label=f"other-{number}")
        Match.objects.create(
            case=mine,
            matched_case=other,
            direction=Match.Direction.LOCAL,
            score=0.5,
            phenotype_score=0.5,
            genotype_score=0.5,
            last_seen=timezone.now(),
        )

    with django_assert_max_num_queries(7):
        everything = alice_api.get("/api/v1/matches/")
    with django_assert_max_num_queries(7):
        of_case = alice_api.get(f"/api/v1/cases/{mine.public_id}/matches/")

    assert everything.json()["count"] == 6
    assert of_case.json()["count"] == 6


def test_a_match_is_triaged_and_keeps_its_history(
    alice: User, alice_api: ApiClient, alice_match: Match
) -> None:
    url = f"/api/v1/matches/{alice_match.pk}/"

    detail = alice_api.get(url)
    assert detail.status_code == 200
    assert detail.json()["explanation"]["term_matches"]
    assert detail.json()["history"] == []

    reviewed = alice_api.send("PATCH", url, {"status": "reviewed", "notes": "same gene"})
    contacted = alice_api.send("PATCH", url, {"status": "contacted"})

    assert reviewed.status_code == 200
    assert contacted.status_code == 200
    alice_match.refresh_from_db()
    assert alice_match.status == Match.Status.CONTACTED
    assert alice_match.notes == "same gene"  # kept: notes were left out
    history = contacted.json()["history"]
    assert [(step["fromStatus"], step["toStatus"], step["by"]) for step in history] == [
        ("new", "reviewed", "alice"),
        ("reviewed", "contacted", "alice"),
    ]
    assert MatchEvent.objects.filter(match=alice_match, by=alice).count() == 2

    bad = alice_api.send("PATCH", url, {"status": "forgotten"})
    assert bad.status_code == 400
    assert error_fields(bad) == ["status"]
    alice_match.refresh_from_db()
    assert alice_match.status == Match.Status.CONTACTED


def test_a_case_lists_its_current_matches(
    alice_api: ApiClient, alice_case: Case, alice_match: Match
) -> None:
    response = alice_api.get(f"/api/v1/cases/{alice_case.public_id}/matches/")

    assert response.status_code == 200
    assert [match["id"] for match in response.json()["results"]] == [alice_match.pk]


# --- Another institution -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/cases/{case}/", None),
        ("PUT", "/api/v1/cases/{case}/", case_json(label="taken-over")),
        ("DELETE", "/api/v1/cases/{case}/", None),
        ("POST", "/api/v1/cases/{case}/consent/", {"externalMatching": True}),
        ("POST", "/api/v1/cases/{case}/withdraw/", None),
        ("POST", "/api/v1/cases/{case}/reactivate/", None),
        ("GET", "/api/v1/cases/{case}/export/", None),
        ("GET", "/api/v1/cases/{case}/matches/", None),
        ("GET", "/api/v1/matches/{match}/", None),
        ("PATCH", "/api/v1/matches/{match}/", {"status": "dismissed", "notes": "not ours"}),
    ],
)
def test_another_institution_gets_404_and_changes_nothing(
    carol_api: ApiClient,
    alice_case: Case,
    alice_match: Match,
    method: str,
    path: str,
    body: Any,
) -> None:
    url = path.format(case=alice_case.public_id, match=alice_match.pk)
    before_case = Case.objects.filter(pk=alice_case.pk).values().get()
    before_match = Match.objects.filter(pk=alice_match.pk).values().get()

    response = carol_api.send(method, url, body)

    assert response.status_code == 404
    # The same answer as for a case or match that does not exist anywhere.
    unknown = path.format(case="MM-0000000000AB", match=alice_match.pk + 1000)
    assert response.json() == carol_api.send(method, unknown, body).json()
    assert Case.objects.filter(pk=alice_case.pk).values().get() == before_case
    assert Match.objects.filter(pk=alice_match.pk).values().get() == before_match
    assert not MatchEvent.objects.exists()


def test_another_institution_lists_only_its_own_cases_and_matches(
    carol_api: ApiClient, alice_case: Case, alice_match: Match, carol_case: Case
) -> None:
    cases = carol_api.get("/api/v1/cases/").json()["results"]
    matches = carol_api.get("/api/v1/matches/").json()["results"]
    by_case = carol_api.get("/api/v1/matches/", {"case": alice_case.public_id}).json()

    assert [case["publicId"] for case in cases] == [carol_case.public_id]
    assert [match["case"] for match in matches] == [carol_case.public_id]
    assert alice_match.pk not in [match["id"] for match in matches]
    assert by_case["count"] == 0


# --- OpenAPI -----------------------------------------------------------------------------------


def test_the_openapi_schema_documents_every_operation_without_warnings(tmp_path: Path) -> None:
    schema_file = tmp_path / "schema.yml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(schema_file))

    paths = yaml.safe_load(schema_file.read_text())["paths"]
    operations = {
        (method.upper(), path)
        for path, item in paths.items()
        if path.startswith("/api/v1/")
        for method in item
    }
    assert operations == {
        ("GET", "/api/v1/cases/"),
        ("POST", "/api/v1/cases/"),
        ("GET", "/api/v1/cases/{public_id}/"),
        ("PUT", "/api/v1/cases/{public_id}/"),
        ("DELETE", "/api/v1/cases/{public_id}/"),
        ("POST", "/api/v1/cases/{public_id}/consent/"),
        ("POST", "/api/v1/cases/{public_id}/withdraw/"),
        ("POST", "/api/v1/cases/{public_id}/reactivate/"),
        ("GET", "/api/v1/cases/{public_id}/export/"),
        ("GET", "/api/v1/cases/{public_id}/matches/"),
        ("POST", "/api/v1/cases/import/"),
        ("GET", "/api/v1/matches/"),
        ("GET", "/api/v1/matches/{match_id}/"),
        ("PATCH", "/api/v1/matches/{match_id}/"),
    }
    create = paths["/api/v1/cases/"]["post"]
    assert {"apiToken": []} in create["security"]
    assert {"201", "400", "409"} <= create["responses"].keys()


def test_a_method_a_route_does_not_serve_is_405_listing_those_it_does(
    alice_api: ApiClient,
) -> None:
    response = alice_api.send("PATCH", "/api/v1/cases/")

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    options = alice_api.send("OPTIONS", "/api/v1/cases/")
    assert options.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
