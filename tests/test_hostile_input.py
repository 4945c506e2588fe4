"""Hostile input against the MME API, the REST API and the web forms.

Two kinds: requests generated from the OpenAPI schema by schemathesis (a short run here; the long
one is bench/fuzz.sh), and hand-written nasties (huge bodies, deep nesting, 100k features,
unicode tricks, SQL and HTML, wrong types, extreme numbers, duplicate keys). What must hold for
every one: no 500, a refusal names what is wrong, and a refused request changes no stored row
(the MME audit log gains its row for every request, refused or not: that is its job).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from bench import fuzz
from matchmaker.cases.models import (
    Case,
    Disorder,
    GenomicFeature,
    Institution,
    Membership,
    PhenotypeFeature,
)
from matchmaker.casework.models import Match, MatchEvent
from matchmaker.casework.services.matches import run_matching
from matchmaker.federation.models import MmeRequestLog, Peer
from matchmaker.federation.services import add_peer
from matchmaker.web.services import create_api_token
from tests.factories import case_form_data, make_case

pytestmark = pytest.mark.django_db

PEER_TOKEN = "hostile-peer-token-5f0c2a9e7b1d4c3a8e6f"
MME_V1_1 = "application/vnd.ga4gh.matchmaker.v1.1+json"
ONE_MEGABYTE = 1_000_000


@pytest.fixture(autouse=True)
def _own_cache(own_cache: None) -> None:
    """Rate-limit counters of this test only (tests/conftest.py: own_cache)."""


@pytest.fixture
def peer(db: None) -> Peer:
    return add_peer("Hostile Node", base_url="", inbound_token=PEER_TOKEN)


@pytest.fixture
def clinician(institution: Institution) -> User:
    """A member without a password: hashing one costs half a second per test."""
    user = User.objects.create(username="dana")
    Membership.objects.create(user=user, institution=institution)
    return user


@pytest.fixture
def clinician_client(clinician: User) -> Client:
    client = Client()
    client.force_login(clinician)
    return client


@pytest.fixture
def stored(institution: Institution, clinician: User, eager_tasks: None) -> list[Case]:
    """Two consented cases that match each other: rows a refused request must leave alone."""
    cases = [
        make_case(institution=institution, owner=clinician, consented=True, label=label)
        for label in ("fam12-proband", "fam13-proband")
    ]
    run_matching(cases[0].pk)
    return cases


def row_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Case, PhenotypeFeature, GenomicFeature, Disorder, Match, MatchEvent)
    }


def error_fields(response: Any) -> list[str]:
    return [error["field"] for error in response.json().get("errors", [])]


def assert_refused(response: Any, status: int, *, field: str | None = None) -> None:
    """A JSON answer with `status` and a message; with `field`, an error naming it."""
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert body["message"]
    if field is not None:
        named = [*error_fields(response), body["message"]]
        assert any(field in text for text in named), body


# --- MME: POST /mme/match ----------------------------------------------------------------------


def mme_patient(**overrides: Any) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "id": "hostile-P1",
        "label": "family 1",
        "contact": {"name": "Dr Remote", "href": "mailto:remote@example.org"},
        "features": [{"id": "HP:0001250"}, {"id": "HP:0001263"}],
        "genomicFeatures": [{"gene": {"id": "NGLY1"}}],
    }
    patient.update(overrides)
    return patient


def post_mme(client: Client, body: Any) -> Any:
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(
        "/mme/match", data=data, content_type=MME_V1_1, headers={"X-Auth-Token": PEER_TOKEN}
    )


NUL = "\x00"
LONE_SURROGATE = '"\\ud800"'  # valid JSON text, but no Unicode character: cannot be stored


def _with_raw(document: dict[str, Any], placeholder: str, raw_json: str) -> str:
    """`document` as JSON with a placeholder string replaced by raw JSON text."""
    return json.dumps(document).replace(json.dumps(placeholder), raw_json)


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"a": value}
    return value


MME_REFUSALS: list[Any] = [
    pytest.param(
        json.dumps({"patient": mme_patient(label="x" * (ONE_MEGABYTE + 10))}),
        413,
        None,
        id="body-over-the-size-limit",
    ),
    pytest.param("[" * 100_000 + "]" * 100_000, 400, None, id="100k-nested-arrays"),
    pytest.param(
        json.dumps({"patient": mme_patient(_extra=_nested(100))}).replace(
            '"bottom"', "[" * 5000 + "]" * 5000
        ),
        400,
        None,
        id="deep-nesting-inside-an-extension",
    ),
    pytest.param(
        json.dumps({"patient": mme_patient(features=[{"id": "HP:0001250"}] * 100_000)}),
        413,
        None,
        id="100k-features",
    ),
    pytest.param(
        json.dumps(
            {"patient": mme_patient(features=[{"id": "HP:0001250"}] * 20_000)},
            separators=(",", ":"),
        ),
        422,
        "patient.features",
        id="20k-features-under-the-size-limit",
    ),
    pytest.param(
        json.dumps({"patient": mme_patient(genomicFeatures=[{"gene": {"id": "NGLY1"}}] * 5000)}),
        422,
        "patient.genomicFeatures",
        id="5k-genes",
    ),
    pytest.param(
        json.dumps({"patient": mme_patient(id=f"P{NUL}1")}), 400, "patient.id", id="nul-in-id"
    ),
    pytest.param(
        json.dumps({"patient": mme_patient(contact={"name": f"Dr{NUL}", "href": "mailto:a@b.c"})}),
        400,
        "patient.contact.name",
        id="nul-in-contact",
    ),
    pytest.param(
        json.dumps({"patient": mme_patient(_extra={f"key{NUL}": 1})}),
        400,
        "patient._extra",
        id="nul-in-a-key",
    ),
    pytest.param(
        _with_raw({"patient": mme_patient(label="LABEL")}, "LABEL", LONE_SURROGATE),
        400,
        "patient.label",
        id="lone-surrogate-in-label",
    ),
    pytest.param(
        _with_raw({"patient": mme_patient(features=[{"id": "ID"}])}, "ID", LONE_SURROGATE),
        400,
        "patient.features[0].id",
        id="lone-surrogate-in-feature-id",
    ),
    pytest.param(b'{"patient": "\xff\xfe"}', 400, None, id="not-utf-8"),
    pytest.param(
        json.dumps({"patient": mme_patient(id="P" * 10_000)}),
        422,
        "patient.id",
        id="overlong-id",
    ),
    pytest.param(
        json.dumps({"patient": mme_patient(features=[{"id": "HP:0001250" + "0" * 100_000}])}),
        422,
        "patient.features[0].id",
        id="overlong-term-id",
    ),
    pytest.param(json.dumps({"patient": []}), 422, "patient", id="patient-a-list"),
    pytest.param(json.dumps({"patient": None}), 422, "patient", id="patient-null"),
    pytest.param(json.dumps({"patient": "NGLY1"}), 422, "patient", id="patient-a-string"),
    pytest.param(json.dumps([mme_patient()]), 422, None, id="body-a-list"),
    pytest.param(json.dumps("patient"), 422, None, id="body-a-string"),
    pytest.param(json.dumps(None), 422, None, id="body-null"),
    pytest.param(
        json.dumps({"patient": mme_patient(id=12345)}), 422, "patient.id", id="number-for-id"
    ),
    pytest.param(
        json.dumps({"patient": mme_patient(features={"id": "HP:0001250"})}),
        422,
        "patient.features",
        id="object-for-features",
    ),
    pytest.param(
        json.dumps({"patient": mme_patient(features=[1, 2])}),
        422,
        "patient.features[0]",
        id="numbers-for-features",
    ),
    pytest.param(
        json.dumps({"patient": mme_patient(features=[{"id": None}])}),
        422,
        "patient.features[0].id",
        id="null-term-id",
    ),
    pytest.param(
        json.dumps({"patient": mme_patient(contact=["Dr Remote"])}),
        422,
        "patient.contact",
        id="list-for-contact",
    ),
    pytest.param(
        json.dumps({"patient": mme_patient(genomicFeatures=[{"gene": "NGLY1"}])}),
        422,
        "patient.genomicFeatures[0].gene",
        id="string-for-gene",
    ),
    pytest.param(
        json.dumps(
            {"patient": mme_patient(genomicFeatures=[{"gene": {"id": "NGLY1"}, "zygosity": "2"}])}
        ),
        422,
        "patient.genomicFeatures[0].zygosity",
        id="string-for-zygosity",
    ),
    pytest.param(
        json.dumps(
            {
                "patient": mme_patient(
                    genomicFeatures=[
                        {
                            "gene": {"id": "NGLY1"},
                            "variant": {"assembly": "GRCh37", "referenceName": "3", "start": -1},
                        }
                    ]
                )
            }
        ),
        422,
        "patient.genomicFeatures[0].variant.start",
        id="negative-start",
    ),
    pytest.param(
        '{"patient": {"id": "P1", "contact": {"name": "x", "href": "mailto:a@b.c"}, '
        '"genomicFeatures": [{"gene": {"id": "NGLY1"}, "zygosity": 1e400}]}}',
        400,
        "1e400",
        id="infinite-zygosity",
    ),
    pytest.param('{"patient": NaN}', 400, None, id="nan"),
    pytest.param(
        '{"patient": {"id": "P1", "id": "P2", "contact": {"name": "x", "href": "mailto:a@b.c"}, '
        '"features": [{"id": "HP:0001250"}]}}',
        400,
        "id",
        id="duplicate-keys",
    ),
]


@pytest.mark.parametrize(("body", "status", "field"), MME_REFUSALS)
def test_the_mme_api_refuses_hostile_requests_clearly_and_stores_nothing(
    client: Client, peer: Peer, stored: list[Case], body: Any, status: int, field: str | None
) -> None:
    before = row_counts()
    started = time.monotonic()

    response = post_mme(client, body)

    assert time.monotonic() - started < 10
    assert_refused(response, status, field=field)
    assert row_counts() == before
    # Audited like any request (the refused payload is not kept when it is not an object).
    assert MmeRequestLog.objects.filter(status_code=status).exists()


NASTY_TEXT = [
    pytest.param("'; DROP TABLE cases_case; --", id="sql"),
    pytest.param('" OR 1=1 --', id="sql-quote"),
    pytest.param("<script>alert(1)</script><img src=x onerror=alert(1)>", id="html"),
    pytest.param("javascript:alert(1)", id="javascript-url"),
    pytest.param("\u202eevil\u202c name", id="rtl-override"),
    pytest.param("zero\u200bwidth\ufeff", id="zero-width"),
    pytest.param(
        "\U0001f9ec \u0645\u0631\u062d\u0628\u0627 \u00e9\u0301", id="emoji-rtl-combining"
    ),
]


@pytest.mark.parametrize("text", NASTY_TEXT)
def test_the_mme_api_answers_queries_with_nasty_text_in_every_string_field(
    client: Client, peer: Peer, stored: list[Case], text: str
) -> None:
    patient = mme_patient(
        id=f"P-{text}",
        label=text,
        contact={"name": text, "institution": text, "href": "mailto:remote@example.org"},
        features=[{"id": "HP:0001250", "label": text}, {"id": "HP:0001263"}],
        genomicFeatures=[{"gene": {"id": "NGLY1", "_label": text}}],
        disorders=[{"id": "OMIM:615273", "label": text}],
        test=True,
    )
    response = post_mme(client, {"patient": patient, "disclaimer": text, "terms": text})

    assert response.status_code == 200, response.content[:500]
    assert {result["patient"]["id"] for result in response.json()["results"]} == {
        case.public_id for case in stored
    }
    assert Case.objects.count() == 2  # the tables are still there, and unchanged


def test_a_query_with_nasty_text_is_recorded_as_sent_for_the_owners(
    client: Client,
    peer: Peer,
    stored: list[Case],
    eager_tasks: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    text = "<img src=x onerror=alert(1)> '; DROP TABLE matching_match; -- \u202eevil"
    patient = mme_patient(id=f"P-{text}", contact={"name": text, "href": "mailto:r@example.org"})
    with django_capture_on_commit_callbacks(execute=True):
        response = post_mme(client, {"patient": patient})

    assert response.status_code == 200
    incoming = Match.objects.filter(direction=Match.Direction.INCOMING)
    assert incoming.count() == 2
    assert {match.remote_patient_id for match in incoming} == {f"P-{text}"}
    assert {match.remote_patient["contact"]["name"] for match in incoming} == {text}


def test_a_query_with_huge_numbers_is_answered(
    client: Client, peer: Peer, stored: list[Case]
) -> None:
    patient = mme_patient(
        genomicFeatures=[
            {
                "gene": {"id": "NGLY1"},
                "variant": {
                    "assembly": "GRCh37",
                    "referenceName": "3",
                    "start": 10**30,
                    "end": 10**30 + 1,
                },
                "zygosity": 1,
            }
        ],
        test=True,
    )
    response = post_mme(client, {"patient": patient})

    assert response.status_code in (200, 400, 422), response.content[:500]


def test_a_thousand_features_are_still_answered_in_time(
    client: Client, peer: Peer, stored: list[Case]
) -> None:
    terms = ["HP:0001250", "HP:0001263", "HP:0000252", "HP:0001249"]
    patient = mme_patient(features=[{"id": terms[n % 4]} for n in range(1000)], test=True)
    started = time.monotonic()

    response = post_mme(client, {"patient": patient})

    assert response.status_code == 200
    assert time.monotonic() - started < 10


# --- REST API: /api/v1/ ------------------------------------------------------------------------


class Api:
    """JSON with an API token, as a hospital script sends it."""

    def __init__(self, key: str) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Token {key}"}

    def send(self, method: str, path: str, body: Any) -> Any:
        data = body if isinstance(body, bytes | str) else json.dumps(body)
        return self.client.generic(
            method, path, data, content_type="application/json", headers=self.headers
        )


@pytest.fixture
def api(clinician: User) -> Api:
    return Api(create_api_token(clinician, name="hostile script")[1])


def case_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "label": "fam99-proband",
        "sex": "FEMALE",
        "features": [{"id": "HP:0001250"}, {"id": "HP:0001263"}],
        "genomicFeatures": [
            {
                "gene": {"id": "NGLY1"},
                "variant": {
                    "assembly": "GRCh37",
                    "referenceName": "3",
                    "start": 25775421,
                    "referenceBases": "C",
                    "alternateBases": "T",
                },
                "zygosity": 2,
            }
        ],
        "contact": {"name": "Dr A", "href": "mailto:a@example.org"},
    }
    body.update(overrides)
    return body


def _variant(**overrides: Any) -> list[dict[str, Any]]:
    variant = {"assembly": "GRCh37", "referenceName": "3", "start": 25775421, **overrides}
    return [{"gene": {"id": "NGLY1"}, "variant": variant}]


REST_CASE_REFUSALS: list[Any] = [
    pytest.param(
        json.dumps(case_json(label="x" * 30_000_000)), 413, None, id="body-over-the-size-limit"
    ),
    pytest.param("[" * 100_000 + "]" * 100_000, 400, None, id="100k-nested-arrays"),
    pytest.param(
        json.dumps(case_json(features=[{"id": "HP:0001250"}] * 100_000), separators=(",", ":")),
        400,
        "features",
        id="100k-features",
    ),
    pytest.param(b'{"label": "\xff\xfe"}', 400, None, id="not-utf-8"),
    pytest.param(json.dumps(case_json(label=f"fam{NUL}1")), 400, "label", id="nul-in-label"),
    pytest.param(
        _with_raw(case_json(label="LABEL"), "LABEL", LONE_SURROGATE),
        400,
        "label",
        id="lone-surrogate-in-label",
    ),
    pytest.param(
        json.dumps(case_json(contact={"name": f"Dr{NUL}"})),
        400,
        "contact.name",
        id="nul-in-contact",
    ),
    pytest.param(
        json.dumps(case_json(features=[{"id": f"HP:0001250{NUL}"}])),
        400,
        "features[0].id",
        id="nul-in-term-id",
    ),
    pytest.param(json.dumps(case_json(label="x" * 10_000)), 400, "label", id="overlong-label"),
    pytest.param(json.dumps(case_json(label=None)), 400, "label", id="null-label"),
    pytest.param(json.dumps(case_json(label=["a"])), 400, "label", id="list-for-label"),
    pytest.param(
        json.dumps(case_json(features={"id": "HP:0001250"})),
        400,
        "features",
        id="object-for-features",
    ),
    pytest.param(json.dumps(case_json(features=[1])), 400, "features[0]", id="number-for-feature"),
    pytest.param(
        json.dumps(case_json(genomicFeatures=[{"gene": "NGLY1"}])),
        400,
        "genomicFeatures[0].gene",
        id="string-for-gene",
    ),
    pytest.param(
        json.dumps(case_json(genomicFeatures=_variant(start=-1))),
        400,
        "genomicFeatures[0].variant.start",
        id="negative-start",
    ),
    pytest.param(
        json.dumps(case_json(genomicFeatures=_variant(start=10**30))),
        400,
        "genomicFeatures[0].variant.start",
        id="huge-start",
    ),
    pytest.param(
        json.dumps(case_json(genomicFeatures=_variant(start=2**63))),
        400,
        "genomicFeatures[0].variant.start",
        id="start-past-a-64-bit-integer",
    ),
    pytest.param(
        json.dumps(case_json(genomicFeatures=_variant(start=1.5))),
        400,
        "genomicFeatures[0].variant.start",
        id="fractional-start",
    ),
    pytest.param(
        '{"label": "fam99-proband", "features": [{"id": "HP:0001250"}], "sex": NaN}',
        400,
        None,
        id="nan",
    ),
    pytest.param(json.dumps([case_json()]), 400, None, id="body-a-list"),
]


@pytest.mark.parametrize(("body", "status", "field"), REST_CASE_REFUSALS)
def test_the_rest_api_refuses_hostile_cases_clearly_and_stores_nothing(
    api: Api, stored: list[Case], body: Any, status: int, field: str | None
) -> None:
    case = stored[0]
    for method, path in (("POST", "/api/v1/cases/"), ("PUT", f"/api/v1/cases/{case.public_id}/")):
        before = row_counts()
        started = time.monotonic()

        response = api.send(method, path, body)

        assert time.monotonic() - started < 10
        assert_refused(response, status, field=field)
        assert row_counts() == before
    case.refresh_from_db()
    assert case.label == "fam12-proband"


@pytest.mark.parametrize("text", NASTY_TEXT)
def test_the_rest_api_stores_nasty_text_literally(api: Api, text: str) -> None:
    response = api.send(
        "POST",
        "/api/v1/cases/",
        case_json(label=f"fam-{text}", contact={"name": text, "institution": text}),
    )

    if response.status_code == 400:  # e.g. refused as a label that looks like an identifier
        assert error_fields(response)
        assert not Case.objects.exists()
        return
    assert response.status_code == 201, response.content[:500]
    case = Case.objects.get()
    assert (case.label, case.contact_name, case.contact_institution) == (f"fam-{text}", text, text)
    assert api.send("GET", f"/api/v1/cases/{case.public_id}/", "").json()["label"] == f"fam-{text}"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"notes": f"a{NUL}b"}, "notes", id="nul-in-notes"),
        pytest.param({"notes": "x" * 100_000}, "notes", id="overlong-notes"),
        pytest.param({"status": "<script>"}, "status", id="unknown-status"),
        pytest.param({"status": None}, "status", id="null-status"),
        pytest.param({"notes": {"a": 1}}, "notes", id="object-for-notes"),
    ],
)
def test_triage_refuses_hostile_notes_and_changes_nothing(
    api: Api, stored: list[Case], body: dict[str, Any], field: str
) -> None:
    match = Match.objects.filter(case__institution=stored[0].institution).first()
    assert match is not None
    before = row_counts()

    response = api.send("PATCH", f"/api/v1/matches/{match.pk}/", body)

    assert_refused(response, 400, field=field)
    assert row_counts() == before
    match.refresh_from_db()
    assert (match.status, match.notes) == ("new", "")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[" * 100_000 + "]" * 100_000, id="100k-nested-arrays"),
        pytest.param(json.dumps({"id": f"a{NUL}b", "subject": {"id": NUL}}), id="nul-bytes"),
        pytest.param(_with_raw({"id": "ID"}, "ID", LONE_SURROGATE), id="lone-surrogate"),
        pytest.param(json.dumps([1, "x", None, [], {}]), id="wrong-types"),
    ],
)
def test_an_import_of_hostile_documents_reports_them_and_stores_nothing(
    api: Api, stored: list[Case], body: str
) -> None:
    before = row_counts()

    response = api.send("POST", "/api/v1/cases/import/", body)

    assert response.status_code in (200, 400), response.content[:500]
    if response.status_code == 200:
        assert response.json()["imported"] == 0
        assert response.json()["rejected"]
    else:
        assert response.json()["message"]
    assert row_counts() == before


# --- Web forms ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"label": f"fam{NUL}1"}, "label", id="nul-in-label"),
        pytest.param({"contact_name": f"Dr{NUL}"}, "contact_name", id="nul-in-contact"),
        pytest.param({"label": "x" * 100_000}, "label", id="overlong-label"),
        pytest.param(
            {"observed_terms": ["HP:0001250'; DROP TABLE cases_case; --"]},
            "observed_terms",
            id="sql-in-term",
        ),
        pytest.param({"sex": "<script>"}, "sex", id="unknown-sex"),
        pytest.param(
            {"genes-0-position": "-5", "genes-0-chromosome": "3"}, None, id="negative-position"
        ),
        pytest.param({"genes-TOTAL_FORMS": "100000"}, None, id="100k-gene-rows"),
        pytest.param({"genes-TOTAL_FORMS": "x"}, None, id="garbled-formset"),
    ],
)
def test_the_case_form_refuses_hostile_input_next_to_the_field(
    clinician_client: Client, stored: list[Case], overrides: dict[str, Any], field: str | None
) -> None:
    before = row_counts()

    response = clinician_client.post("/cases/new/", case_form_data(**overrides))

    assert response.status_code in (200, 400), response.status_code
    if field is not None:
        assert response.context["form"].errors[field]
    assert row_counts() == before


def test_the_case_form_refuses_100k_terms_without_reading_them(
    clinician_client: Client, stored: list[Case]
) -> None:
    before = row_counts()

    response = clinician_client.post(
        "/cases/new/", case_form_data(observed_terms=[f"HP:{n:07d}" for n in range(100_000)])
    )

    # Django stops at DATA_UPLOAD_MAX_NUMBER_FIELDS: a 400 page, before any form reads them.
    assert response.status_code == 400
    assert row_counts() == before


@pytest.mark.parametrize("text", NASTY_TEXT)
def test_the_case_form_stores_nasty_text_literally(clinician_client: Client, text: str) -> None:
    response = clinician_client.post(
        "/cases/new/", case_form_data(label=f"fam-{text}", contact_name=text)
    )

    if response.status_code != 302:
        assert response.context["form"].errors
        assert not Case.objects.exists()
        return
    case = Case.objects.get()
    assert (case.label, case.contact_name) == (f"fam-{text}", text)


# --- Generated requests (schemathesis) ---------------------------------------------------------

FUZZ_CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"mode": "all", "max-examples": 25, "database": "none"},
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": False},
            "stateful": {"enabled": False},
        },
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
        },
    }
)


@pytest.fixture
def in_process_requests() -> Iterator[None]:
    """Requests handled in this thread keep the test's transaction (as Django's test client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzzing_data(db: None, eager_tasks: None) -> dict[str, Any]:
    data = fuzz.set_up_fuzzing_data()
    fuzz.KNOWN_IDS.update(data["known_ids"])
    return data


@pytest.fixture
def fuzzed_api(fuzzing_data: dict[str, Any], in_process_requests: None) -> Any:
    from matchmaker.wsgi import application

    schema = schemathesis.openapi.from_dict(fuzz.fuzzing_schema(), config=FUZZ_CONFIG)
    schema.app = application
    schema.hooks.register_hook_with_name(fuzz.flatmap_path_parameters, "flatmap_path_parameters")
    return schema


fuzzed = schemathesis.pytest.from_fixture("fuzzed_api")


@fuzzed.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case: Any, fuzzing_data: dict[str, Any]) -> None:
    case.call_and_validate(headers=fuzz.headers_of(fuzzing_data))
