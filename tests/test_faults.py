"""Faults: Redis down, PostgreSQL restarted or refusing connections.

Redis is a redis-server of the test's own on a spare port, started and stopped here (never the
machine's Redis, which other tests use): with it down, peers are still answered (the rate limit
and the metrics cache are skipped, the incoming matches are recorded in the request), and a
search at the peers whose task could not be queued is queued again once it is overdue.

PostgreSQL stays up for everyone else: a node (gunicorn) on this test's database sees it restart
when its connections are terminated, and sees an outage when the database refuses connections
(ALLOW_CONNECTIONS false). It answers a clean 503 meanwhile, and recovers without a restart.
A worker killed mid-task is tests/federation/test_worker_faults.py.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from bench.faults import Redis as SpareRedis
from matchmaker.cases.models import Case, Institution
from matchmaker.casework.models import Match
from matchmaker.casework.services.outbound import request_peer_search, research_due_cases
from matchmaker.federation.models import CaseSearchSchedule, Peer, PeerSearch
from matchmaker.federation.services import add_peer
from matchmaker.web.services import create_api_token
from tests.conftest import REPO_ROOT, free_port, wait_until
from tests.factories import make_case
from tests.federation.fake_peers import answering, remote_result, serve  # noqa: F401 (fixture)

PEER_TOKEN = "faults-peer-token-3e8d1c7b9a5f2e4d6c0a"
NODE_SECRET_KEY = "faults-test-only-not-a-secret"
MME_V1_1 = "application/vnd.ga4gh.matchmaker.v1.1+json"


@pytest.fixture
def spare_redis(tmp_path: Path) -> Iterator[SpareRedis]:
    """A redis-server of this test only, on a spare loopback port, that the test stops and starts."""
    server = SpareRedis(tmp_path, append_only=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def on_spare_redis(spare_redis: SpareRedis, settings: Any) -> Iterator[SpareRedis]:
    """This process's cache and Celery broker are the spare Redis; tasks are queued, not run."""
    from matchmaker.celery import app

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": spare_redis.url,
            "KEY_PREFIX": f"faults-{uuid.uuid4()}",
        }
    }
    names = ("broker_url", "task_always_eager", "task_default_queue")
    previous = {name: app.conf[name] for name in names}
    app.conf.update(
        broker_url=spare_redis.url, task_always_eager=False, task_default_queue="faults-test"
    )
    _forget_broker_connections(app)
    yield spare_redis
    app.conf.update(previous)
    _forget_broker_connections(app)


def _forget_broker_connections(app: Any) -> None:
    # Celery keeps a connection and a producer pool per app, made from broker_url on first use.
    app._pool = None
    app.amqp._producer_pool = None


def _queued(spare_redis: SpareRedis) -> int:
    return int(spare_redis.client().llen("faults-test"))


@pytest.fixture
def peer(db: None) -> Peer:
    return add_peer("Faulty Node", base_url="", inbound_token=PEER_TOKEN)


@pytest.fixture
def shared_cases(institution: Institution) -> list[Case]:
    return [
        make_case(institution=institution, consented=True, label=f"fam{number}-proband")
        for number in (21, 22)
    ]


def _post_match(client: Client, patient_id: str) -> Any:
    patient = {
        "id": patient_id,
        "contact": {"name": "Dr Remote", "href": "mailto:remote@example.org"},
        "features": [{"id": "HP:0001250"}, {"id": "HP:0001263"}],
        "genomicFeatures": [{"gene": {"id": "NGLY1"}}],
    }
    return client.post(
        "/mme/match",
        json.dumps({"patient": patient}),
        content_type=MME_V1_1,
        headers={"X-Auth-Token": PEER_TOKEN},
    )


def _incoming(patient_id: str) -> int:
    return Match.objects.filter(
        direction=Match.Direction.INCOMING, remote_patient_id=patient_id
    ).count()


@pytest.mark.alone
@pytest.mark.django_db
def test_peers_are_answered_and_their_matches_recorded_while_redis_is_down(
    client: Client,
    peer: Peer,
    shared_cases: list[Case],
    on_spare_redis: SpareRedis,
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Redis up: the answer's follow-up work is queued for a worker, the rate limit counted.
    with django_capture_on_commit_callbacks(execute=True):
        response = _post_match(client, "before-outage")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 2
    assert _queued(on_spare_redis) == 1
    assert _incoming("before-outage") == 0  # the worker's job

    on_spare_redis.stop()
    caplog.set_level(logging.WARNING)
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = _post_match(client, "during-outage")
    took = time.monotonic() - started

    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == 2
    assert _incoming("during-outage") == 2  # recorded in the request instead
    assert took < 5
    assert "MME rate limit not applied" in caplog.text
    assert "incoming matches recorded in the request" in caplog.text
    metrics = client.get("/mme/metrics", headers={"X-Auth-Token": PEER_TOKEN})
    assert metrics.status_code == 200
    assert metrics.json()["metrics"]["numberOfCases"] == 2
    assert client.get("/mme/heartbeat", headers={"X-Auth-Token": PEER_TOKEN}).status_code == 200

    on_spare_redis.start()
    with django_capture_on_commit_callbacks(execute=True):
        response = _post_match(client, "after-outage")
    assert response.status_code == 200
    assert _queued(on_spare_redis) == 1  # queued again, on the new (empty) server


@pytest.mark.alone
@pytest.mark.django_db
def test_a_search_that_could_not_be_queued_runs_once_it_is_overdue_and_redis_is_back(
    institution: Institution,
    on_spare_redis: SpareRedis,
    serve: Callable[..., Any],  # noqa: F811 (the fixture)
    django_capture_on_commit_callbacks: Any,
    eager_tasks: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = serve(answering(remote_result("far-1")))
    add_peer("Far Node", base_url=node.base_url, outbound_token="token-we-send-0123456789")
    case = make_case(institution=institution, consented=True)
    from matchmaker.celery import app

    app.conf.task_always_eager = False  # queued for real: onto a Redis that is down
    on_spare_redis.stop()
    caplog.set_level(logging.WARNING)
    with django_capture_on_commit_callbacks(execute=True):
        request_peer_search(case.pk, delay_seconds=0)
    assert "search of case" in caplog.text
    assert CaseSearchSchedule.objects.get(case=case).due_at is not None
    assert not PeerSearch.objects.exists()

    on_spare_redis.start()
    app.conf.task_always_eager = True  # the worker's part runs here
    with django_capture_on_commit_callbacks(execute=True):
        assert research_due_cases() == 0  # not overdue yet: its task may still be on its way
    later = timezone.now() + datetime.timedelta(hours=1, minutes=5)
    with time_machine.travel(later, tick=True), django_capture_on_commit_callbacks(execute=True):
        assert research_due_cases() == 1

    search = PeerSearch.objects.get(case=case)
    assert search.status == PeerSearch.Status.ANSWERED, search.detail
    assert len(node.requests) == 1
    assert Match.objects.filter(case=case, direction=Match.Direction.OUTGOING).count() == 1


@pytest.mark.alone
@pytest.mark.django_db
def test_a_case_saved_through_the_api_while_redis_is_down_is_stored_answered_and_matched(
    alice: Any,
    institution: Institution,
    on_spare_redis: SpareRedis,
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    earlier = make_case(institution=institution, label="fam7-proband")
    on_spare_redis.stop()
    caplog.set_level(logging.WARNING)
    api = Client(raise_request_exception=False)
    body = {
        "label": "fam23-proband",
        "externalMatchingConsent": True,
        "features": [{"id": "HP:0001250"}],
        "genomicFeatures": [{"gene": {"id": "NGLY1"}}],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/cases/",
            json.dumps(body),
            content_type="application/json",
            headers={"Authorization": f"Token {create_api_token(alice, name='lims')[1]}"},
        )
    assert response.status_code == 201, response.content
    saved = Case.objects.get(label="fam23-proband")
    # Its matching task could not be queued, so it was matched in the request instead.
    assert "cases matched in the request instead" in caplog.text
    assert Match.objects.filter(
        case=saved, matched_case=earlier, direction=Match.Direction.LOCAL
    ).exists()


@pytest.mark.django_db
def test_a_lost_search_request_is_queued_again_an_hour_later_even_after_a_recent_search(
    institution: Institution, eager_tasks: None
) -> None:
    add_peer("Far Node", base_url="https://far.example/mme", outbound_token="token-0123456789")
    case = make_case(institution=institution, consented=True)
    # Searched yesterday; then edited, and the new request's task never reached the broker.
    yesterday = timezone.now() - datetime.timedelta(days=1)
    CaseSearchSchedule.objects.filter(case=case).update(
        last_searched_at=yesterday, due_at=timezone.now()
    )
    generation = CaseSearchSchedule.objects.get(case=case).generation

    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=30)):
        assert research_due_cases() == 0  # its task may still be on its way
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=1, minutes=5)):
        assert research_due_cases() == 1

    assert CaseSearchSchedule.objects.get(case=case).generation == generation + 1


# --- PostgreSQL --------------------------------------------------------------------------------

needs_postgresql = pytest.mark.skipif(
    not os.environ.get("POSTGRES_HOST"),
    reason="PostgreSQL faults: runs in the PostgreSQL + Redis pass of .ci/run",
)


def _admin_sql(statement: str, *parameters: Any) -> list[Any]:
    """Run SQL as the server's superuser from the `postgres` database, outside Django."""
    import psycopg

    settings_dict = connection.settings_dict
    with psycopg.connect(
        host=settings_dict["HOST"],
        port=settings_dict["PORT"] or 5432,
        user=settings_dict["USER"],
        password=settings_dict["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        cursor = admin.execute(statement, parameters)
        return cursor.fetchall() if cursor.description else []


def _terminate_node_connections(database: str, keep_pid: int) -> int:
    """What a PostgreSQL restart does to the node: every connection to its database dies."""
    return len(
        _admin_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> %s",
            database,
            keep_pid,
        )
    )


def _allow_connections(database: str, allowed: bool) -> None:
    quoted = '"' + database.replace('"', '""') + '"'
    _admin_sql(f"ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS {str(allowed).lower()}")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[str]:
    """gunicorn (one sync worker, production settings) on this test's database, without Redis."""
    port = free_port()
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("REDIS", "METRICS_REDIS", "CELERY"))
    }
    environment.update(
        POSTGRES_DB=connection.settings_dict["NAME"],
        DEBUG="False",
        SECURE_SSL_REDIRECT="False",
        SECRET_KEY=NODE_SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1",
        GENE_CATALOGUE_PATH=str(django_settings.GENE_CATALOGUE_PATH),
        CASE_INDEX_PATH=str(tmp_path / "case-index.npz"),
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        LOG_LEVEL="WARNING",
    )
    log = (tmp_path / "node.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 (fixed arguments)
        [
            sys.executable, "-m", "gunicorn", "matchmaker.wsgi:application",
            "--workers", "1", "--bind", f"127.0.0.1:{port}", "--timeout", "60",
        ],
        cwd=REPO_ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"

    def heartbeat() -> bool:
        try:
            return httpx.get(f"{base_url}/mme/heartbeat", timeout=2).status_code == 401
        except httpx.HTTPError:
            return False

    try:
        assert wait_until(heartbeat, timeout=30), (tmp_path / "node.log").read_text()
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.mark.alone
@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_node_answers_503_while_postgresql_is_away_and_recovers_without_a_restart(
    node: str, peer: Peer, shared_cases: list[Case], alice: Any
) -> None:
    database = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own_pid = cursor.fetchone()[0]
    api_key = create_api_token(alice, name="lims")[1]
    http = httpx.Client(base_url=node, timeout=30)

    def match() -> httpx.Response:
        body = {
            "patient": {
                "id": f"remote-{uuid.uuid4()}",
                "contact": {"name": "Dr Remote", "href": "mailto:remote@example.org"},
                "features": [{"id": "HP:0001250"}, {"id": "HP:0001263"}],
                "genomicFeatures": [{"gene": {"id": "NGLY1"}}],
                "test": True,
            }
        }
        return http.post(
            "/mme/match",
            content=json.dumps(body),
            headers={"Content-Type": MME_V1_1, "X-Auth-Token": PEER_TOKEN},
        )

    def cases() -> httpx.Response:
        return http.get("/api/v1/cases/", headers={"Authorization": f"Token {api_key}"})

    # alice signed in with her browser: her session is a row in the database, signed with the
    # node's key.
    with override_settings(SECRET_KEY=NODE_SECRET_KEY):
        signed_in = Client()
        signed_in.force_login(alice)
        session_cookie = f"__Host-sessionid={signed_in.session.session_key}"

    def case_page() -> httpx.Response:
        return http.get("/cases/", headers={"Cookie": session_cookie})

    assert len(match().json()["results"]) == 2
    assert cases().status_code == 200
    assert case_page().status_code == 200

    # A restart: the node's persistent connections are gone; the next requests reconnect.
    assert _terminate_node_connections(database, own_pid) >= 1
    answered = match()
    assert answered.status_code == 200, answered.text
    assert len(answered.json()["results"]) == 2
    assert cases().status_code == 200

    # An outage: no connection can be made. Clean JSON errors, no trace, and a hint to retry.
    _allow_connections(database, False)
    try:
        assert _terminate_node_connections(database, own_pid) >= 1
        for response in (match(), cases()):
            assert response.status_code == 503, response.text
            assert response.json()["message"]
            assert response.headers["Retry-After"]
            assert "Traceback" not in response.text
        # The clinicians' pages too: a page that says so, not a bare server error.
        page = case_page()
        assert page.status_code == 503, page.text
        assert page.headers["Retry-After"]
        assert "text/html" in page.headers["Content-Type"]
        assert "Temporarily unavailable" in page.text
    finally:
        _allow_connections(database, True)

    answered = match()
    assert answered.status_code == 200, answered.text
    assert len(answered.json()["results"]) == 2
    assert cases().status_code == 200
    assert case_page().status_code == 200
