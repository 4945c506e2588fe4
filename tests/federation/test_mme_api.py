"""The MME API over real HTTP (Django's test client): status codes, headers, versions, answers.

Every status code of the spec, every way peers state the version, consent and status filtering,
the `test` flag, incoming matches and their e-mails, and the audit log.
"""

from __future__ import annotations

import datetime
import json
import os

import pytest
import time_machine
from django.core import mail
from django.test import Client, override_settings
from django.utils import timezone

from matchmaker.cases.models import Case
from matchmaker.cases.records import FeatureRecord, GenomicFeatureRecord, VariantRecord
from matchmaker.casework.models import Match
from matchmaker.casework.services import record_consent, withdraw_case
from matchmaker.federation.models import MmeRequestLog, Peer
from matchmaker.federation.schema import response_violations
from matchmaker.federation.services import add_peer, purge_expired_query_payloads
from tests.conftest import wait_until
from tests.factories import make_case
from tests.federation.conftest import (
    MME_V1_0,
    MME_V1_1,
    PEER_TOKEN,
    mme_patient,
    post_match,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared_case(institution, alice) -> Case:
    """A consented case like the peer's patient: seizures, delay, NGLY1."""
    return make_case(institution=institution, owner=alice, consented=True, label="fam12-proband")


def _json(response) -> dict:
    return json.loads(response.content)


# --- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/mme/match"), ("get", "/mme/heartbeat"), ("get", "/mme/metrics")],
)
def test_every_mme_endpoint_refuses_a_missing_token_with_401(
    client: Client, remote_node, method, path
):
    if method == "post":
        response = client.post(path, content_type=MME_V1_1, data="{}")
    else:
        response = client.get(path)

    assert response.status_code == 401
    assert response["Content-Type"] == MME_V1_1
    assert _json(response)["message"] == "missing X-Auth-Token header"


@pytest.mark.parametrize("token", ["not-a-token-we-know-0000", "", " ", "x" * 256])
def test_an_unknown_empty_or_overlong_token_is_refused_with_401(client, remote_node, token):
    response = post_match(client, {"patient": mme_patient()}, token=token)

    assert response.status_code == 401
    assert "X-Auth-Token" in _json(response)["message"]


def test_a_disabled_peer_is_refused_with_401(client, remote_node):
    Peer.objects.filter(pk=remote_node.pk).update(enabled=False)

    assert post_match(client, {"patient": mme_patient()}).status_code == 401


def test_a_logged_in_administrator_still_needs_a_peer_token(client, admin_user):
    client.force_login(admin_user)

    assert post_match(client, {"patient": mme_patient()}, token=None).status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/cases/case/",
        "/admin/federation/peer/",
        "/api/schema/",
        "/api/docs/",
        "/cases/",
        "/cases/new/",
    ],
)
def test_a_peer_token_opens_nothing_but_the_mme_endpoints(client, remote_node, path):
    response = client.get(path, headers={"X-Auth-Token": PEER_TOKEN})

    # Anonymous: redirected to a login page.
    assert response.status_code == 302
    assert "login" in response["Location"]


# --- versions and content negotiation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "accept", "answered_in"),
    [
        (MME_V1_1, None, MME_V1_1),  # 1.1: version in Content-Type
        ("application/json", MME_V1_0, MME_V1_0),  # 1.0 peers: version in Accept only
        (f"{MME_V1_0}; charset=UTF-8", MME_V1_0, MME_V1_0),
        ("application/json; charset=UTF-8", None, MME_V1_1),  # plain JSON: our default
        ("application/json", "*/*", MME_V1_1),
        ("application/vnd.ga4gh.matchmaker+json", None, MME_V1_1),  # join-protocol example
        (
            "application/vnd.ga4gh.matchmaker.v1.5+json",
            None,
            "application/vnd.ga4gh.matchmaker.v1.5+json",
        ),
        (MME_V1_0, MME_V1_1, MME_V1_0),  # Content-Type wins over Accept
        ("application/json", f"application/vnd.ga4gh.matchmaker.v2.0+json, {MME_V1_0}", MME_V1_0),
    ],
)
def test_the_answer_names_the_version_the_peer_asked_for(
    client, remote_node, shared_case, content_type, accept, answered_in
):
    response = post_match(
        client, {"patient": mme_patient()}, content_type=content_type, accept=accept
    )

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == answered_in
    assert len(_json(response)["results"]) == 1


@pytest.mark.parametrize(
    ("content_type", "accept"),
    [
        ("application/vnd.ga4gh.matchmaker.v2.0+json", None),
        ("application/vnd.ga4gh.matchmaker.v2.0+json", MME_V1_0),  # Content-Type decides
        ("application/json", "application/vnd.ga4gh.matchmaker.v0.1+json"),
    ],
)
def test_another_major_version_gets_406_naming_the_versions_we_speak(
    client, remote_node, content_type, accept
):
    response = post_match(
        client, {"patient": mme_patient()}, content_type=content_type, accept=accept
    )

    assert response.status_code == 406
    assert response["Content-Type"] == MME_V1_1  # the latest we speak, so the peer can retry
    body = _json(response)
    assert body["supportedVersions"] == ["1.0", "1.1"]
    assert "unsupported API version" in body["message"]


def test_heartbeat_reads_the_version_from_accept(client, remote_node):
    headers = {"X-Auth-Token": PEER_TOKEN, "Accept": MME_V1_0}

    assert client.get("/mme/heartbeat", headers=headers)["Content-Type"] == MME_V1_0
    headers["Accept"] = "application/vnd.ga4gh.matchmaker.v2.0+json"
    assert client.get("/mme/heartbeat", headers=headers).status_code == 406


def test_a_stranger_learns_nothing_about_versions(client, remote_node):
    response = post_match(
        client, {}, token=None, content_type="application/vnd.ga4gh.matchmaker.v2.0+json"
    )

    assert response.status_code == 401


# --- methods, content types, bodies -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/mme/match"),
        ("put", "/mme/match"),
        ("delete", "/mme/match"),
        ("post", "/mme/heartbeat"),
        ("post", "/mme/metrics"),
    ],
)
def test_a_wrong_method_gets_405_with_a_json_message(client, remote_node, method, path):
    response = client.generic(
        method.upper(), path, headers={"X-Auth-Token": PEER_TOKEN}, content_type=MME_V1_1
    )

    assert response.status_code == 405
    assert response["Content-Type"] == MME_V1_1
    assert method.upper() in _json(response)["message"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", ""]
)
def test_a_body_that_is_not_json_by_its_content_type_gets_415(client, remote_node, content_type):
    response = post_match(client, {"patient": mme_patient()}, content_type=content_type)

    assert response.status_code == 415
    assert "Content-Type" in _json(response)["message"]


@pytest.mark.parametrize(
    "body",
    [
        '{"patient": ',
        "not json",
        '{"patient": NaN}',
        b"\xff\xfe{}",
        "[" * 100_000 + "]" * 100_000,  # deeper than the JSON parser goes
    ],
)
def test_an_unreadable_body_gets_400(client, remote_node, body):
    response = post_match(client, body)

    assert response.status_code == 400
    assert _json(response)["message"].startswith("request body is not")


@override_settings(MME_MAX_REQUEST_BYTES=2000)
def test_a_body_over_the_size_limit_gets_413(client, remote_node):
    patient = mme_patient(features=[{"id": "HP:0001250"}] * 200)

    response = post_match(client, {"patient": patient})

    assert response.status_code == 413
    assert "too large" in _json(response)["message"] or "over" in _json(response)["message"]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({}, "patient"),
        ([], ""),
        ({"patient": {"id": "p1", "features": [{"id": "HP:0001250"}]}}, "patient.contact"),
        ({"patient": mme_patient(features=[], genomicFeatures=[])}, "patient"),
        ({"patient": mme_patient(features=[{"id": "HP:1"}])}, "patient.features[0].id"),
        ({"patient": mme_patient(sex="female")}, "patient.sex"),
        ({"patient": mme_patient(id=7)}, "patient.id"),
        (
            {"patient": mme_patient(genomicFeatures=[{"gene": {"id": "NGLY1"}, "zygosity": 3}])},
            "patient.genomicFeatures[0].zygosity",
        ),
    ],
)
def test_a_schema_violation_gets_422_naming_the_field(client, remote_node, document, field):
    response = post_match(client, document)

    assert response.status_code == 422
    body = _json(response)
    assert body["errors"][0]["field"] == field
    if field:
        assert body["message"].startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("patient", "field", "words"),
    [
        # A term the release knows, but not a phenotype (a mode of inheritance).
        (
            mme_patient(features=[{"id": "HP:0000005"}]),
            "patient.features[0].id",
            "not a phenotypic abnormality",
        ),
        (
            mme_patient(genomicFeatures=[{"gene": {"id": "NOT A GENE"}}]),
            "patient.genomicFeatures[0].gene.id",
            "NOT A GENE",
        ),
        (
            mme_patient(features=[{"id": "HP:0000118", "observed": "no"}], genomicFeatures=[]),
            "patient.features",
            "nothing to match",
        ),
        (mme_patient(ageOfOnset="HP:0001250"), "patient.ageOfOnset", "onset"),
        (
            mme_patient(
                genomicFeatures=[
                    {
                        "gene": {"id": "NGLY1"},
                        "variant": {
                            "assembly": "GRCh37",
                            "referenceName": "3",
                            "start": 9,
                            "end": 2,
                        },
                    }
                ]
            ),
            "patient.genomicFeatures[0].variant.end",
            "before start",
        ),
    ],
)
def test_data_the_schema_cannot_judge_gets_400_naming_the_field(
    client, remote_node, patient, field, words
):
    response = post_match(client, {"patient": patient})

    assert response.status_code == 400, response.content
    body = _json(response)
    assert any(error["field"] == field for error in body["errors"]), body
    assert words in body["message"]


def test_underscore_fields_are_accepted_and_kept(post_and_record, remote_node, shared_case):
    patient = mme_patient(
        _source="seqr",
        genomicFeatures=[{"gene": {"id": "ENSG00000151092", "_geneName": "NGLY1"}, "_note": "x"}],
    )

    response = post_and_record({"patient": patient, "_requestId": "abc"})

    assert response.status_code == 200
    match = Match.objects.get(direction=Match.Direction.INCOMING)
    assert match.remote_patient["_source"] == "seqr"
    assert match.remote_patient["genomicFeatures"][0]["_note"] == "x"


# 20 s into a minute: the counters are per clock minute. A random minute: the shared cache may
# keep counters of earlier runs.
def _mid_minute() -> datetime.datetime:
    minute = int(datetime.datetime(2031, 1, 1, tzinfo=datetime.UTC).timestamp() // 60)
    minute += int.from_bytes(os.urandom(3))
    return datetime.datetime.fromtimestamp(minute * 60 + 20, tz=datetime.UTC)


@override_settings(MME_RATE_LIMIT_PER_MINUTE=2)
def test_a_peer_over_its_rate_limit_gets_429_until_the_next_minute(client, remote_node):
    heartbeat = {"path": "/mme/heartbeat", "headers": {"X-Auth-Token": PEER_TOKEN}}
    start = _mid_minute()
    with time_machine.travel(start, tick=False):
        statuses = [client.get(**heartbeat).status_code for _ in range(3)]
        refused = client.get(**heartbeat)

    assert statuses == [200, 200, 429]
    assert int(refused["Retry-After"]) in (40, 41)  # rounded up
    assert "throttled" in _json(refused)["message"].lower()
    with time_machine.travel(start + datetime.timedelta(seconds=40), tick=False):
        assert client.get(**heartbeat).status_code == 200


def test_the_rate_limit_is_per_peer(client, remote_node):
    Peer.objects.filter(pk=remote_node.pk).update(rate_limit_per_minute=1)
    other_token = "another-peer-token-0123456789"
    add_peer("Other Node", inbound_token=other_token)

    with time_machine.travel(_mid_minute(), tick=False):
        assert client.get("/mme/heartbeat", headers={"X-Auth-Token": PEER_TOKEN}).status_code == 200
        assert client.get("/mme/heartbeat", headers={"X-Auth-Token": PEER_TOKEN}).status_code == 429
        assert (
            client.get("/mme/heartbeat", headers={"X-Auth-Token": other_token}).status_code == 200
        )


# --- answering ----------------------------------------------------------------------------------


def test_the_answer_is_a_valid_mme_response_with_our_disclaimer_and_terms(
    client, remote_node, shared_case, settings
):
    response = post_match(client, {"patient": mme_patient()})

    body = _json(response)
    assert response_violations(body) == []
    assert body["disclaimer"] == settings.MME_DISCLAIMER
    assert body["terms"] == settings.MME_TERMS
    [result] = body["results"]
    assert 0 <= result["score"]["patient"] <= 1
    assert {"_phenotype", "_genotype"} <= result["score"].keys()
    patient = result["patient"]
    assert patient["id"] == shared_case.public_id
    # Peers see the opaque public id only: the label is the owning team's own handle.
    assert "label" not in patient
    assert patient["contact"]["name"]
    # Genes go out as Ensembl ids (MME recommendation) with the symbol alongside.
    assert patient["genomicFeatures"][0]["gene"] == {"id": "ENSG00000151092", "_geneName": "NGLY1"}
    assert {feature["id"] for feature in patient["features"]} == {
        "HP:0001250",
        "HP:0001263",
        "HP:0000252",
    }


def test_the_answer_carries_the_stored_onset_inheritance_and_variant(
    client, remote_node, institution
):
    variant = VariantRecord("GRCh38", "3", 25750425, 25750426, "A", "G")
    case = make_case(
        institution=institution,
        consented=True,
        age_of_onset="HP:0003593",
        inheritance_mode="HP:0000007",
        genomic_features=(GenomicFeatureRecord("NGLY1", variant=variant, zygosity=2),),
    )

    body = _json(post_match(client, {"patient": mme_patient()}))

    [result] = body["results"]
    patient = result["patient"]
    assert patient["id"] == case.public_id
    assert (patient["ageOfOnset"], patient["inheritanceMode"]) == ("HP:0003593", "HP:0000007")
    [gene] = patient["genomicFeatures"]
    assert gene["zygosity"] == 2
    assert gene["variant"] == {
        "assembly": "GRCh38",
        "referenceName": "3",
        "start": 25750425,
        "end": 25750426,
        "referenceBases": "A",
        "alternateBases": "G",
    }


def test_only_active_consented_cases_are_ever_answered(client, remote_node, institution):
    consented = make_case(institution=institution, consented=True, label="consented")
    make_case(institution=institution, consented=False, label="not-consented")
    withdrawn = make_case(institution=institution, consented=True, label="withdrawn")
    withdraw_case(withdrawn)
    revoked = make_case(institution=institution, consented=True, label="revoked")
    record_consent(revoked, consented=False, by=None)

    body = _json(post_match(client, {"patient": mme_patient()}))

    assert [result["patient"]["id"] for result in body["results"]] == [consented.public_id]


def test_results_are_ordered_best_first_and_limited(client, remote_node, institution, settings):
    settings.MME_MAX_RESULTS = 2
    same_gene_only = make_case(
        institution=institution,
        consented=True,
        label="same-gene-only",
        features=(FeatureRecord("HP:0000478"),),
    )
    make_case(institution=institution, consented=True, label="close")
    make_case(institution=institution, consented=True, label="close-too")

    results = _json(post_match(client, {"patient": mme_patient()}))["results"]

    scores = [result["score"]["patient"] for result in results]
    assert len(results) == 2
    assert scores == sorted(scores, reverse=True)
    assert same_gene_only.public_id not in {result["patient"]["id"] for result in results}


def test_a_shared_gene_is_required_unless_the_peer_policy_says_otherwise(
    client, remote_node, shared_case
):
    phenotype_only = mme_patient(genomicFeatures=[])

    assert _json(post_match(client, {"patient": phenotype_only}))["results"] == []

    Peer.objects.filter(pk=remote_node.pk).update(require_shared_gene=False)
    assert len(_json(post_match(client, {"patient": phenotype_only}))["results"]) == 1


@pytest.mark.django_db(transaction=True)
def test_a_real_query_records_an_incoming_match_and_emails_the_owner_once(
    celery_worker_process, client, remote_node, shared_case
):
    post_match(client, {"patient": mme_patient()})

    # Recorded after the answer: in-process here, or by the worker on Redis.
    assert wait_until(lambda: Match.objects.exists())
    match = Match.objects.get()
    assert match.direction == Match.Direction.INCOMING
    assert match.case == shared_case
    assert match.peer == remote_node
    assert match.remote_patient_id == "remote-P0001"
    assert match.remote_patient["contact"]["name"] == "Dr Remote"
    # Explaining and e-mailing follow the commit: in-process here, or by the worker on Redis.
    assert wait_until(lambda: Match.objects.filter(notified_at__isnull=False).exists())
    match.refresh_from_db()
    assert match.explanation["term_matches"][0]["query_term"]  # from our case's side
    assert match.explanation["genes"][0]["gene_symbol"] == "NGLY1"
    if celery_worker_process is None:
        [message] = mail.outbox
        assert message.to == ["mme@example.org"]  # alice has no address: the institution's
        assert shared_case.public_id in message.subject
        assert "Dr Remote" in message.body
        assert "remote-P0001" in message.body

    match.refresh_from_db()
    first_seen, notified_at = match.first_seen, match.notified_at
    post_match(client, {"patient": mme_patient()})

    assert wait_until(lambda: Match.objects.get().last_seen > first_seen)
    match.refresh_from_db()
    assert Match.objects.count() == 1
    assert match.first_seen == first_seen
    assert match.last_seen > first_seen
    assert match.notified_at == notified_at
    if celery_worker_process is None:
        assert len(mail.outbox) == 1


def test_a_match_that_a_later_query_no_longer_finds_is_marked_removed(
    post_and_record, remote_node, shared_case
):
    post_and_record({"patient": mme_patient()})
    changed = mme_patient(genomicFeatures=[{"gene": {"id": "GPX4"}}])

    post_and_record({"patient": changed})

    match = Match.objects.get()
    assert match.removed_at is not None


def test_a_test_query_is_answered_but_records_and_notifies_nothing(
    post_and_record,
    client,
    remote_node,
    shared_case,
    institution,
    django_capture_on_commit_callbacks,
):
    test_case = make_case(institution=institution, consented=True, label="test-case", is_test=True)

    with django_capture_on_commit_callbacks() as queued:
        test_body = _json(post_match(client, {"patient": mme_patient(test=True)}))

    assert queued == []  # no notification task
    assert not Match.objects.exists()
    real_body = _json(post_and_record({"patient": mme_patient()}))

    # Test data is answered to test queries only (MME §1.9).
    assert {result["patient"]["id"] for result in test_body["results"]} == {
        shared_case.public_id,
        test_case.public_id,
    }
    assert {result["patient"]["id"] for result in real_body["results"]} == {shared_case.public_id}
    assert Match.objects.get().remote_patient_id == "remote-P0001"  # from the real query only
    entries = MmeRequestLog.objects.filter(endpoint="match").order_by("id")
    assert [entry.is_test for entry in entries] == [True, False]


# --- audit ------------------------------------------------------------------------------------


def test_every_request_is_audited_with_peer_status_version_count_and_latency(
    client, remote_node, shared_case
):
    post_match(client, {"patient": mme_patient()}, content_type="application/json", accept=MME_V1_0)
    post_match(client, {"patient": mme_patient()}, token="wrong-token-000000000000")
    client.get("/mme/metrics", headers={"X-Auth-Token": PEER_TOKEN})

    matched, refused, metrics = MmeRequestLog.objects.order_by("id")
    assert (matched.peer, matched.peer_name, matched.status_code) == (
        remote_node,
        "Remote Node",
        200,
    )
    assert (matched.api_version, matched.result_count, matched.is_test) == ("1.0", 1, False)
    assert matched.latency_ms > 0
    assert matched.direction == MmeRequestLog.Direction.INBOUND
    assert matched.returned_case_ids == [shared_case.public_id]
    assert (refused.peer, refused.status_code, refused.error) == (None, 401, "unknown X-Auth-Token")
    assert (metrics.endpoint, metrics.method, metrics.status_code) == ("metrics", "GET", 200)


def test_behind_the_proxy_the_audit_records_the_clients_address_not_the_proxys(
    client, remote_node, shared_case, settings
):
    settings.CLIENT_IP_HEADER = "X-Real-IP"
    proxy = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_REAL_IP": "198.51.100.23"}

    client.post(
        "/mme/match",
        json.dumps({"patient": mme_patient()}),
        content_type=MME_V1_1,
        headers={"X-Auth-Token": PEER_TOKEN},
        **proxy,
    )
    client.get("/mme/heartbeat", headers={"X-Auth-Token": "not-ours-0000000000"}, **proxy)

    assert list(
        MmeRequestLog.objects.order_by("id").values_list("status_code", "remote_address")
    ) == [
        (200, "198.51.100.23"),
        (401, "198.51.100.23"),
    ]


@override_settings(MME_UNAUTHENTICATED_LIMIT_PER_MINUTE=3)
def test_requests_without_a_valid_token_are_limited_per_address_before_anything_is_stored(
    client, remote_node, shared_case
):
    stranger = {"REMOTE_ADDR": "203.0.113.50"}
    document = json.dumps({"patient": mme_patient()})
    start = _mid_minute()
    with time_machine.travel(start, tick=False):
        statuses = [
            client.post(
                "/mme/match",
                document,
                content_type=MME_V1_1,
                headers={"X-Auth-Token": f"guess-{number:020d}"} if number % 2 else {},
                **stranger,
            ).status_code
            for number in range(6)
        ]
        refused = client.post("/mme/match", document, content_type=MME_V1_1, **stranger)
        # Another address, and a real peer from the same one, are not held up.
        elsewhere = client.post("/mme/match", document, content_type=MME_V1_1)
        peer = client.post(
            "/mme/match",
            document,
            content_type=MME_V1_1,
            headers={"X-Auth-Token": PEER_TOKEN},
            **stranger,
        )

    assert statuses == [401, 401, 401, 429, 429, 429]
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) in (40, 41)
    assert "too many requests without a valid X-Auth-Token" in _json(refused)["message"]
    assert (elsewhere.status_code, peer.status_code) == (401, 200)
    # Only the first three of the stranger's requests were written down; the rest cost nothing.
    audited = MmeRequestLog.objects.order_by("id")
    assert [(row.remote_address, row.status_code) for row in audited] == [
        ("203.0.113.50", 401),
        ("203.0.113.50", 401),
        ("203.0.113.50", 401),
        ("127.0.0.1", 401),
        ("203.0.113.50", 200),
    ]
    with time_machine.travel(start + datetime.timedelta(seconds=41), tick=False):
        again = client.post("/mme/match", document, content_type=MME_V1_1, **stranger)
    assert again.status_code == 401


def test_a_query_that_matched_is_kept_and_one_that_did_not_expires(
    client, remote_node, shared_case, settings
):
    post_match(client, {"patient": mme_patient()})
    post_match(client, {"patient": mme_patient(genomicFeatures=[{"gene": {"id": "GPX4"}}])})

    matched, unmatched = MmeRequestLog.objects.order_by("id")
    assert matched.query_payload["patient"]["id"] == "remote-P0001"
    assert matched.payload_expires_at is None
    assert unmatched.query_payload is not None
    expected_expiry = timezone.now() + datetime.timedelta(days=settings.MME_QUERY_RETENTION_DAYS)
    assert abs((unmatched.payload_expires_at - expected_expiry).total_seconds()) < 60

    assert purge_expired_query_payloads() == 0
    with time_machine.travel(expected_expiry + datetime.timedelta(minutes=1)):
        assert purge_expired_query_payloads() == 1
    unmatched.refresh_from_db()
    matched.refresh_from_db()
    assert unmatched.query_payload is None
    assert matched.query_payload is not None


# --- heartbeat and metrics --------------------------------------------------------------------


def test_heartbeat_says_production_version_and_accepted_media_types(client, remote_node):
    body = _json(client.get("/mme/heartbeat", headers={"X-Auth-Token": PEER_TOKEN}))

    assert body["heartbeat"]["production"] is False  # DEBUG in tests
    assert body["heartbeat"]["version"] == "0.1.0"
    assert body["heartbeat"]["accept"] == [MME_V1_0, MME_V1_1]


def test_metrics_count_only_what_peers_can_match(post_and_record, client, remote_node, institution):
    make_case(institution=institution, consented=True, label="shared")
    make_case(institution=institution, consented=False, label="private")
    make_case(institution=institution, consented=True, label="test", is_test=True)
    post_and_record({"patient": mme_patient()})

    body = _json(client.get("/mme/metrics", headers={"X-Auth-Token": PEER_TOKEN}))

    metrics = body["metrics"]
    assert metrics["numberOfCases"] == 1
    assert metrics["numberOfSubmitters"] == 1
    assert metrics["numberOfGenes"] == metrics["numberOfUniqueGenes"] == 1
    assert metrics["numberOfFeatures"] == 3
    assert metrics["numberOfRequestsReceived"] == 1
    assert metrics["numberOfPotentialMatchesSent"] == 1
    assert metrics["numberOfUniqueGenesMatched"] == 1
    assert datetime.datetime.fromisoformat(metrics["dateGenerated"])
    assert body["disclaimer"]
