"""GDPR erasure and retention: a deleted case leaves no trace that names it, and the retention job
forgets what the settings say. Runs against the real PostgreSQL on the CI's second run, where the
audit log's append-only trigger must let exactly these changes through."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from matchmaker.cases.models import Case
from matchmaker.casework.models import Match
from matchmaker.casework.services import delete_case
from matchmaker.casework.services.matches import run_matching
from matchmaker.federation.models import MmeRequestLog, Peer
from matchmaker.federation.services import add_peer
from matchmaker.security import tasks
from matchmaker.security.retention import apply_retention_policy
from tests.factories import make_case
from tests.federation.conftest import PEER_TOKEN, mme_patient, post_match

pytestmark = pytest.mark.django_db


@pytest.fixture
def peer(db: None) -> Peer:
    return add_peer(
        "GDPR Peer",
        base_url="https://mme.gdpr-peer.example/mme",
        inbound_token=PEER_TOKEN,
        outbound_token="token-we-send-to-the-gdpr-peer",
    )


@pytest.fixture
def ask(client: Client, eager_tasks: None, django_capture_on_commit_callbacks: Any) -> Any:
    """A peer's query, with what follows its commit (recording incoming matches) run here."""

    def post(**patient: Any) -> dict[str, Any]:
        with django_capture_on_commit_callbacks(execute=True):
            response = post_match(client, {"patient": mme_patient(**patient)})
        assert response.status_code == 200, response.content
        return json.loads(response.content)

    return post


def _returned_ids(body: dict[str, Any]) -> set[str]:
    return {result["patient"]["id"] for result in body["results"]}


def test_a_deleted_case_is_no_longer_found_by_peers_or_local_matching(
    institution, other_institution, alice, carol, peer, ask
) -> None:
    ours = make_case(institution=institution, owner=alice, consented=True, label="fam1-proband")
    theirs = make_case(
        institution=other_institution, owner=carol, consented=True, label="fam9-proband"
    )
    run_matching(ours.pk, notify=False)
    assert ours.public_id in _returned_ids(ask())
    # Both owners see the local match, and the peer's query left an incoming match.
    assert Match.objects.filter(case=theirs, matched_case=ours).exists()
    assert Match.objects.filter(case=ours, matched_case=theirs).exists()
    assert Match.objects.filter(case=ours, direction=Match.Direction.INCOMING).exists()

    delete_case(ours)

    assert ours.public_id not in _returned_ids(ask(id="remote-P0002"))
    assert not Case.objects.filter(public_id=ours.public_id).exists()
    # The other owner's match to it, ours, and the incoming ones: all gone.
    assert not Match.objects.filter(matched_case__public_id=ours.public_id).exists()
    assert list(Match.objects.filter(case=theirs, direction=Match.Direction.LOCAL)) == []
    assert not Match.objects.exclude(case=theirs).exists()
    run_matching(theirs.pk, notify=False)
    assert not Match.objects.filter(case=theirs, direction=Match.Direction.LOCAL).exists()


def test_deleting_a_case_scrubs_its_public_id_and_the_query_kept_for_it_from_the_audit_log(
    institution, alice, peer, ask
) -> None:
    doomed = make_case(institution=institution, owner=alice, consented=True, label="fam1-a")
    ask(id="only-doomed")
    kept = make_case(institution=institution, owner=alice, consented=True, label="fam1-b")
    ask(id="both")
    only_doomed, both = MmeRequestLog.objects.filter(endpoint="match").order_by("id")
    assert only_doomed.returned_case_ids == [doomed.public_id]
    assert set(both.returned_case_ids) == {doomed.public_id, kept.public_id}
    assert only_doomed.query_payload is not None  # kept for good: it matched

    delete_case(doomed)

    only_doomed.refresh_from_db()
    both.refresh_from_db()
    # The rows stay (that a request happened is the audit record), minus the case.
    assert only_doomed.returned_case_ids == []
    assert only_doomed.query_payload is None  # kept only because it matched the deleted case
    assert (only_doomed.status_code, only_doomed.result_count) == (200, 1)
    assert both.returned_case_ids == [kept.public_id]
    assert both.query_payload["patient"]["id"] == "both"  # still matches a case we hold
    assert doomed.public_id not in json.dumps(
        list(MmeRequestLog.objects.values("query_payload", "returned_case_ids", "error"))
    )


def test_deleting_a_case_clears_the_patient_we_sent_about_it(institution, alice, peer) -> None:
    case = make_case(institution=institution, owner=alice, consented=True)
    other = make_case(institution=institution, owner=alice, consented=True, label="other-1")
    about_case, about_other = (
        MmeRequestLog.objects.create(
            direction=MmeRequestLog.Direction.OUTBOUND,
            peer=peer,
            peer_name=peer.name,
            endpoint="match",
            method="POST",
            status_code=200,
            latency_ms=12.0,
            query_payload={"patient": {"id": sent.public_id, "features": [{"id": "HP:0001250"}]}},
        )
        for sent in (case, other)
    )

    delete_case(case)

    about_case.refresh_from_db()
    about_other.refresh_from_db()
    assert about_case.query_payload is None
    assert about_case.status_code == 200
    assert about_other.query_payload["patient"]["id"] == other.public_id


def test_the_web_delete_erases_the_case_the_same_way(institution, alice, peer, ask) -> None:
    case = make_case(institution=institution, owner=alice, consented=True)
    ask()
    client = Client()
    client.force_login(alice)

    response = client.post(
        f"/cases/{case.public_id}/status/", {"action": "delete", "confirm": case.public_id}
    )

    assert response.status_code == 302
    assert MmeRequestLog.objects.get(endpoint="match").returned_case_ids == []


def _log_row(peer: Peer, *, days_ago: float, **fields: Any) -> MmeRequestLog:
    return MmeRequestLog.objects.create(
        direction=MmeRequestLog.Direction.INBOUND,
        peer=peer,
        peer_name=peer.name,
        endpoint="match",
        method="POST",
        status_code=200,
        latency_ms=5.0,
        requested_at=timezone.now() - datetime.timedelta(days=days_ago),
        **fields,
    )


def _removed_match(
    case: Case, peer: Peer, *, removed_days_ago: float | None, patient: str
) -> Match:
    now = timezone.now()
    return Match.objects.create(
        case=case,
        direction=Match.Direction.OUTGOING,
        peer=peer,
        remote_patient_id=patient,
        remote_patient={"id": patient},
        score=0.8,
        phenotype_score=0.8,
        genotype_score=1.0,
        last_seen=now,
        removed_at=None
        if removed_days_ago is None
        else now - datetime.timedelta(days=removed_days_ago),
    )


def test_the_retention_job_forgets_what_the_settings_say(
    settings, institution, alice, peer
) -> None:
    settings.AUDIT_LOG_RETENTION_DAYS = 365
    settings.MATCH_RETENTION_DAYS = 90
    old_row = _log_row(peer, days_ago=400)
    recent_row = _log_row(peer, days_ago=300)
    expired_payload = _log_row(
        peer,
        days_ago=40,
        query_payload={"patient": {"id": "x"}},
        payload_expires_at=timezone.now() - datetime.timedelta(days=10),
    )
    case = make_case(institution=institution, owner=alice, consented=True)
    long_gone = _removed_match(case, peer, removed_days_ago=100, patient="p-long-gone")
    lately_gone = _removed_match(case, peer, removed_days_ago=10, patient="p-lately-gone")
    current = _removed_match(case, peer, removed_days_ago=None, patient="p-current")

    report = apply_retention_policy()

    assert (report.audit_rows_deleted, report.matches_deleted) == (1, 1)
    assert report.payloads_cleared == 1
    assert not MmeRequestLog.objects.filter(pk=old_row.pk).exists()
    assert MmeRequestLog.objects.filter(pk=recent_row.pk).exists()
    expired_payload.refresh_from_db()
    assert expired_payload.query_payload is None
    assert set(Match.objects.values_list("pk", flat=True)) == {lately_gone.pk, current.pk}
    assert long_gone.pk not in set(Match.objects.values_list("pk", flat=True))
    # Run again: nothing left to do.
    assert apply_retention_policy().audit_rows_deleted == 0


def test_zero_days_keeps_audit_rows_and_removed_matches_for_good(
    settings, institution, alice, peer
) -> None:
    settings.AUDIT_LOG_RETENTION_DAYS = 0
    settings.MATCH_RETENTION_DAYS = 0
    _log_row(peer, days_ago=5000)
    case = make_case(institution=institution, owner=alice, consented=True)
    _removed_match(case, peer, removed_days_ago=5000, patient="p-ancient")

    report = apply_retention_policy()

    assert (report.audit_rows_deleted, report.matches_deleted) == (0, 0)
    assert MmeRequestLog.objects.count() == 1
    assert Match.objects.count() == 1


def test_the_retention_job_is_a_daily_beat_task(settings, eager_tasks, peer) -> None:
    settings.AUDIT_LOG_RETENTION_DAYS = 30
    _log_row(peer, days_ago=31)
    entry = settings.CELERY_BEAT_SCHEDULE["apply-retention-policy"]
    assert entry["task"] == tasks.apply_retention_policy.name
    assert entry["schedule"] == 86400.0

    result = tasks.apply_retention_policy.delay().get()

    assert result["audit_rows_deleted"] == 1
    assert not MmeRequestLog.objects.exists()
