"""Request ids, structured logs and the /metrics counters an operator scrapes."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from matchmaker.cases.models import Institution
from matchmaker.casework.services import withdraw_case
from matchmaker.celery import app
from matchmaker.federation.models import MmeRequestLog, Peer
from matchmaker.federation.services import add_peer, log_request
from matchmaker.observability import celery_signals, health, metrics
from matchmaker.observability.logs import JsonFormatter, PlainFormatter, RequestIdFilter
from matchmaker.observability.request_ids import (
    bind_request_id,
    current_request_id,
    current_task,
    reset_request_id,
)
from tests.conftest import REPO_ROOT, free_port
from tests.factories import make_case

PEER_TOKEN = "9a8b7c6d5e4f30211203f4e5d6c7b8a9f0e1d2c3"
METRICS_TOKEN = "scrape-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def fresh_metrics(settings: Any) -> Iterator[str]:
    """Counters of this test only: a key prefix of its own in Redis, an empty memory store."""
    settings.METRICS_KEY_PREFIX = f"test-metrics-{uuid.uuid4().hex}:"
    metrics.clear_counters()
    yield settings.METRICS_KEY_PREFIX
    metrics.clear_counters()


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the root logger writes through a JSON handler, as production configures it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
def peer(db: None) -> Peer:
    return add_peer("Remote Node", base_url="", inbound_token=PEER_TOKEN, outbound_token="")


def shared_samples(metric: metrics.Metric) -> dict[tuple[str, ...], float]:
    samples, store_up = metrics.collect()
    assert store_up
    return samples[metric]


# --- Request ids ---------------------------------------------------------------------------------


def test_every_response_carries_a_new_request_id() -> None:
    first = Client().get("/health/live")
    second = Client().get("/health/live")

    assert len(first["X-Request-ID"]) == 32
    int(first["X-Request-ID"], 16)
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_the_proxys_request_id_is_kept() -> None:
    response = Client().get("/health/live", headers={"X-Request-ID": "nginx-4f2a9c0e1b7d"})

    assert response["X-Request-ID"] == "nginx-4f2a9c0e1b7d"


@pytest.mark.parametrize(
    "forged",
    ["two words", "x" * 65, 'quote"d', "new\nline", "<script>", "-leading-dash", "ünïcode"],
)
def test_an_unsafe_request_id_is_replaced_not_logged(forged: str, json_log: io.StringIO) -> None:
    response = Client().get("/no-such-page", headers={"X-Request-ID": forged})

    assert response.status_code == 404
    assert response["X-Request-ID"] != forged
    assert len(response["X-Request-ID"]) == 32
    assert forged not in json_log.getvalue()


@pytest.mark.django_db
def test_log_lines_of_a_request_carry_its_id_as_json(
    json_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise FileNotFoundError("no HPO cache")

    monkeypatch.setattr(health, "check_hpo", broken)

    Client().get("/health/ready", headers={"X-Request-ID": "probe-0001"})
    # Django logs a 404 after the middleware is done: the id is taken from the request.
    Client().get("/no-such-page", headers={"X-Request-ID": "lost-0002"})

    lines = log_lines(json_log)
    [check] = [line for line in lines if line["message"] == "readiness check hpo failed"]
    assert check["request_id"] == "probe-0001"
    assert check["level"] == "WARNING"
    assert check["logger"] == "matchmaker.observability.health"
    assert "FileNotFoundError: no HPO cache" in check["exception"]
    assert check["time"].endswith("+00:00")
    [not_found] = [line for line in lines if line["message"] == "Not Found: /no-such-page"]
    assert not_found["request_id"] == "lost-0002"
    assert not_found["status_code"] == 404
    # The request object Django passes along is never written out (its repr has the query).
    assert "request" not in not_found


def test_a_json_line_holds_plain_extra_fields_only_and_stays_one_line(
    json_log: io.StringIO,
) -> None:
    logging.getLogger("matchmaker.test").warning(
        "first line\nsecond line",
        extra={"peer": "Node B", "results": 3, "score": 0.5, "blob": object(), "data": {"a": 1}},
    )

    [line] = log_lines(json_log)
    assert line["message"] == "first line\nsecond line"
    assert line["request_id"] is None  # not in a request
    assert (line["peer"], line["results"], line["score"]) == ("Node B", 3, 0.5)
    assert "blob" not in line
    assert "data" not in line


def test_the_plain_format_shows_the_request_id_or_a_dash() -> None:
    record = logging.makeLogRecord({"name": "matchmaker.x", "levelname": "INFO", "msg": "hello"})
    RequestIdFilter().filter(record)
    token = bind_request_id("abc-123")
    try:
        inside = logging.makeLogRecord({"name": "matchmaker.x", "levelname": "INFO", "msg": "hi"})
        RequestIdFilter().filter(inside)
    finally:
        reset_request_id(token)

    assert PlainFormatter().format(record).endswith("INFO matchmaker.x [-] hello")
    assert PlainFormatter().format(inside).endswith("INFO matchmaker.x [abc-123] hi")


def test_a_task_carries_the_request_id_of_the_request_that_queued_it(
    json_log: io.StringIO,
) -> None:
    # What the web process does when it publishes a task inside a request...
    headers: dict[str, Any] = {}
    token = bind_request_id("req-queued-42")
    try:
        celery_signals._carry_request_id(headers=headers)
    finally:
        reset_request_id(token)
    assert headers == {celery_signals.REQUEST_ID_MESSAGE_HEADER: "req-queued-42"}

    # ...and what the worker does with the message's headers around the task.
    task = SimpleNamespace(name="matchmaker.matching.tasks.run_matching", request=SimpleNamespace())
    setattr(task.request, celery_signals.REQUEST_ID_MESSAGE_HEADER, "req-queued-42")
    celery_signals._bind_task_context(task_id="task-1", task=task)
    logging.getLogger("matchmaker.matching").warning("matching case 7")
    assert current_request_id() == "req-queued-42"
    celery_signals._unbind_task_context(task_id="task-1")

    assert current_request_id() is None
    assert current_task() is None
    [line] = log_lines(json_log)
    assert line["request_id"] == "req-queued-42"
    assert line["task_id"] == "task-1"
    assert line["task_name"] == "matchmaker.matching.tasks.run_matching"


def test_a_forged_request_id_header_on_a_task_message_is_ignored() -> None:
    task = SimpleNamespace(name="t", request=SimpleNamespace())
    setattr(task.request, celery_signals.REQUEST_ID_MESSAGE_HEADER, "evil\nINFO forged line")
    celery_signals._bind_task_context(task_id="task-2", task=task)
    try:
        assert current_request_id() is None
    finally:
        celery_signals._unbind_task_context(task_id="task-2")


@app.task(name="tests.test_observability.always_fails")
def always_fails() -> None:
    raise RuntimeError("this task always fails")


def test_failed_tasks_are_counted_by_name() -> None:
    # As a worker runs it: the failure is recorded, not raised into the caller (eager tasks
    # propagate errors instead, and then the caller's request fails).
    previous = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    try:
        for _ in range(2):
            assert always_fails.apply().failed()
    finally:
        app.conf.task_eager_propagates = previous

    assert shared_samples(metrics.TASK_FAILURES) == {("tests.test_observability.always_fails",): 2}


# --- Counters ------------------------------------------------------------------------------------


def test_mme_requests_are_counted_by_peer_endpoint_and_status(peer: Peer) -> None:
    client = Client()
    assert client.get("/mme/heartbeat", headers={"X-Auth-Token": PEER_TOKEN}).status_code == 200
    assert client.get("/mme/heartbeat", headers={"X-Auth-Token": PEER_TOKEN}).status_code == 200
    assert client.get("/mme/heartbeat", headers={"X-Auth-Token": "wrong" * 5}).status_code == 401
    assert client.get("/mme/nothing-here").status_code == 404

    assert shared_samples(metrics.MME_REQUESTS) == {
        ("Remote Node", "heartbeat", "200"): 2,
        ("", "heartbeat", "401"): 1,
        ("", "other", "404"): 1,
    }
    latency = shared_samples(metrics.MME_REQUEST_DURATION)
    assert latency[("heartbeat", "count")] == 3
    assert 0 < latency[("heartbeat", "sum")] < 30


def test_an_mme_request_reaches_the_metrics_store_once(
    peer: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The count and the duration go in one round trip (Redis, in production): one per request.
    store = metrics._store()
    batches: list[list[metrics.Update]] = []
    original = store.add

    def add(updates: list[metrics.Update]) -> None:
        batches.append(updates)
        original(updates)

    monkeypatch.setattr(store, "add", add)
    assert Client().get("/mme/heartbeat", headers={"X-Auth-Token": PEER_TOKEN}).status_code == 200

    assert [{metric for metric, _, _ in batch} for batch in batches] == [
        {metrics.MME_REQUESTS, metrics.MME_REQUEST_DURATION}
    ]
    assert shared_samples(metrics.MME_REQUESTS) == {("Remote Node", "heartbeat", "200"): 1}


def test_requests_outside_the_mme_api_are_not_counted(db: None) -> None:
    Client().get("/health/live")
    Client().get("/no-such-page")

    assert shared_samples(metrics.MME_REQUESTS) == {}


@pytest.mark.parametrize(
    ("status_code", "error", "outcome"),
    [
        (200, "", "answered"),
        (200, "results[0].score: required", "malformed"),
        (401, "401 Unauthorized", "refused"),
        (503, "503 Service Unavailable", "server_error"),
        (None, "timed out after 5 s", "no_answer"),
    ],
)
def test_peer_queries_are_counted_by_outcome_from_their_audit_rows(
    peer: Peer, status_code: int | None, error: str, outcome: str
) -> None:
    log_request(
        direction=MmeRequestLog.Direction.OUTBOUND,
        peer=peer,
        endpoint="match",
        method="POST",
        status_code=status_code,
        latency_ms=120.0,
        error=error,
    )

    assert shared_samples(metrics.PEER_QUERIES) == {("Remote Node", outcome): 1}
    durations = shared_samples(metrics.PEER_QUERY_DURATION)
    assert durations[("Remote Node", "0.25")] == 1
    assert durations[("Remote Node", "count")] == 1


def test_the_exposition_is_prometheus_text_with_cumulative_buckets_and_escaped_labels() -> None:
    metrics.increment(metrics.MME_REQUESTS, 'Clinic "A"\\B\nC', "match", "200", amount=3)
    metrics.observe(metrics.MME_REQUEST_DURATION, 0.02, "match")
    metrics.observe(metrics.MME_REQUEST_DURATION, 0.07, "match")
    metrics.observe(metrics.MME_REQUEST_DURATION, 99.0, "match")
    shared, _ = metrics.collect()

    text = metrics.exposition(shared, [])

    assert "# TYPE matchmaker_mme_requests_total counter" in text
    assert (
        'matchmaker_mme_requests_total{peer="Clinic \\"A\\"\\\\B\\nC",endpoint="match",status="200"} 3'
        in text.splitlines()
    )
    lines = text.splitlines()
    bucket = 'matchmaker_mme_request_duration_seconds_bucket{endpoint="match",le="%s"} %d'
    assert bucket % ("0.01", 0) in lines
    assert bucket % ("0.025", 1) in lines
    assert bucket % ("0.1", 2) in lines
    assert bucket % ("30", 2) in lines
    assert bucket % ("+Inf", 3) in lines
    assert 'matchmaker_mme_request_duration_seconds_count{endpoint="match"} 3' in lines
    assert text.endswith("\n")


@pytest.mark.django_db
def test_metrics_report_cases_and_matches_from_the_database(
    settings: Any, institution: Institution
) -> None:
    settings.METRICS_TOKEN = METRICS_TOKEN
    make_case(institution=institution, label="first", consented=True)
    make_case(institution=institution, label="second", consented=True)
    withdraw_case(make_case(institution=institution, label="third"))

    response = Client().get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    lines = response.content.decode().splitlines()
    assert 'matchmaker_cases{status="active",shared="true"} 2' in lines
    assert 'matchmaker_cases{status="withdrawn",shared="false"} 1' in lines
    assert 'matchmaker_matches{direction="incoming"} 0' in lines
    assert "matchmaker_database_up 1" in lines
    assert "matchmaker_metrics_store_up 1" in lines


@pytest.mark.django_db
def test_counting_never_fails_a_request_when_redis_is_down(settings: Any, peer: Peer) -> None:
    settings.METRICS_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.METRICS_TOKEN = METRICS_TOKEN

    answer = Client().get("/mme/heartbeat", headers={"X-Auth-Token": PEER_TOKEN})
    scrape = Client().get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})

    assert answer.status_code == 200
    assert scrape.status_code == 200
    lines = scrape.content.decode().splitlines()
    assert "matchmaker_metrics_store_up 0" in lines
    assert "matchmaker_database_up 1" in lines
    assert not any(line.startswith("matchmaker_mme_requests_total{") for line in lines)


def test_counters_are_shared_between_processes_through_redis(
    settings: Any, fresh_metrics: str
) -> None:
    if not settings.METRICS_REDIS_URL:
        pytest.skip("counters are shared through Redis; this run has none (REDIS_URL unset)")
    metrics.increment(metrics.TASK_FAILURES, "tests.shared")
    script = (
        "from matchmaker.observability import metrics\n"
        "metrics.increment(metrics.TASK_FAILURES, 'tests.shared', amount=2)\n"
        "samples, up = metrics.collect()\n"
        "print('RESULT', int(samples[metrics.TASK_FAILURES][('tests.shared',)]), up)\n"
    )
    done = subprocess.run(  # noqa: S603 (fixed arguments)
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "METRICS_REDIS_URL": settings.METRICS_REDIS_URL,
            "METRICS_KEY_PREFIX": fresh_metrics,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert "RESULT 3 True" in done.stdout, done.stderr
    assert shared_samples(metrics.TASK_FAILURES) == {("tests.shared",): 3}


# --- Who may scrape ------------------------------------------------------------------------------


def test_metrics_are_a_404_until_a_token_or_an_address_is_configured(db: None) -> None:
    assert Client().get("/metrics").status_code == 404


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (f"Bearer {METRICS_TOKEN}", 200),
        (f"bearer {METRICS_TOKEN}", 200),
        (f"Bearer {METRICS_TOKEN}x", 403),
        (f"Token {METRICS_TOKEN}", 403),
        ("Bearer ", 403),
        (None, 403),
    ],
)
def test_metrics_need_the_metrics_token(
    settings: Any, db: None, authorization: str | None, status: int
) -> None:
    settings.METRICS_TOKEN = METRICS_TOKEN
    headers = {"Authorization": authorization} if authorization is not None else {}

    assert Client().get("/metrics", headers=headers).status_code == status


@pytest.mark.parametrize(
    ("allowed", "headers", "status"),
    [
        (["127.0.0.1"], {}, 200),
        (["127.0.0.0/8", "10.1.2.3"], {}, 200),
        (["10.0.0.0/8"], {}, 403),
        # Through the reverse proxy every request comes from the proxy's own address.
        (["127.0.0.1"], {"X-Forwarded-For": "203.0.113.9"}, 403),
        (["127.0.0.1"], {"X-Real-IP": "203.0.113.9"}, 403),
    ],
)
def test_metrics_answer_allowed_addresses_on_direct_connections_only(
    settings: Any, db: None, allowed: list[str], headers: dict[str, str], status: int
) -> None:
    settings.METRICS_ALLOWED_IPS = allowed

    assert Client().get("/metrics", headers=headers).status_code == status


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("METRICS_ALLOWED_IPS", "127.0.0.1,intranet", "METRICS_ALLOWED_IPS: 'intranet'"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be plain or json"),
    ],
)
def test_bad_settings_are_refused_at_start(variable: str, value: str, message: str) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO_ROOT,
        env={**os.environ, variable: value},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode != 0
    assert message in done.stderr
