"""Scale-out on one machine: two web processes and two Celery workers, one PostgreSQL, one Redis.

A case created through web process A is found by a peer's query to web process B; changed and
then withdrawn through B, it is answered differently and then no longer by A. Each process keeps
its own in-memory case index and catches up through the IndexChange log, so no process needs to
be told about another's writes. The tasks both web processes queue land on one Redis queue and
are taken by whichever worker is free; each worker's JSON log names the request that queued it.
`bench/scale_out.sh` runs the same demonstration by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.models import User

from matchmaker.cases.models import Institution, Membership
from matchmaker.federation.services import add_peer
from matchmaker.web.services import create_api_token
from tests.conftest import (
    REPO_ROOT,
    free_port,
    start_celery_worker,
    wait_until,
    worker_environment,
)

pytestmark = [
    pytest.mark.skipif(
        not (os.environ.get("POSTGRES_HOST") and os.environ.get("REDIS_URL")),
        reason="scale-out shares one PostgreSQL and one Redis between processes (CI has both)",
    ),
    # Four server processes starting at once: on 2 cores beside the parallel run they take a
    # minute to be ready, alone a few seconds.
    pytest.mark.alone,
]

PEER_TOKEN = "scale-out-peer-token-0123456789abcdef"
METRICS_TOKEN = "scale-out-metrics-token-0123456789"
MME_V1_1 = "application/vnd.ga4gh.matchmaker.v1.1+json"
FEATURES = ["HP:0001250", "HP:0001263", "HP:0000252", "HP:0002167"]


@dataclass
class WebProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def is_ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health/ready", timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    def api(self, method: str, path: str, request_id: str, key: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Token {key}", "X-Request-ID": request_id}
        return httpx.request(
            method, f"{self.url}/api/v1/{path}", json=body, headers=headers, timeout=30
        )

    def match(self, gene: str, request_id: str) -> list[str]:
        """A peer's MME query (these features and `gene`): the public ids answered, best first."""
        patient = {
            "id": f"peer-{gene}",
            "contact": {"name": "Dr Peer", "href": "mailto:peer@example.org"},
            "features": [{"id": term} for term in FEATURES],
            "genomicFeatures": [{"gene": {"id": gene}}],
        }
        response = httpx.post(
            f"{self.url}/mme/match",
            content=json.dumps({"patient": patient}),
            headers={
                "Content-Type": MME_V1_1,
                "Accept": MME_V1_1,
                "X-Auth-Token": PEER_TOKEN,
                "X-Request-ID": request_id,
            },
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return [result["patient"]["id"] for result in response.json()["results"]]


@dataclass
class Cluster:
    web_a: WebProcess
    web_b: WebProcess
    worker_logs: dict[str, Path]
    api_key: str


def _start_web(name: str, environment: dict[str, str], log_dir: Path) -> WebProcess:
    port = free_port()
    log = (log_dir / f"web-{name}.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 (fixed arguments)
        [
            sys.executable, "-m", "gunicorn", "matchmaker.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", "1",
        ],
        cwd=REPO_ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    return WebProcess(name, port, process)


@pytest.fixture
def cluster(transactional_db: None, tmp_path: Path) -> Iterator[Cluster]:
    """Both web processes and both workers on this test's database and a queue of its own.

    The data they need (a clinician with an API token, a peer) is committed here first.
    """
    institution = Institution.objects.create(
        name="Scale-out Genetics", contact_name="Genetics team", contact_email="mme@example.org"
    )
    alice = User.objects.create_user("alice", password="correct horse battery staple")
    Membership.objects.create(user=alice, institution=institution)
    _, api_key = create_api_token(alice, name="scale-out test")
    add_peer("Scale Peer", inbound_token=PEER_TOKEN)

    queue = f"scale-out-{os.getpid()}"
    environment = worker_environment(
        queue,
        # No saved index: each process builds its own from the database on its first use.
        tmp_path / "no-saved-index.npz",
        DEBUG="True",
        LOG_FORMAT="json",
        FEDERATION_DEBOUNCE_SECONDS="0",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        CACHE_KEY_PREFIX=queue,
        METRICS_KEY_PREFIX=f"{queue}:metrics:",
        METRICS_TOKEN=METRICS_TOKEN,
    )
    processes: list[subprocess.Popen[bytes]] = []
    try:
        web_a = _start_web("a", environment, tmp_path)
        web_b = _start_web("b", environment, tmp_path)
        processes += [web_a.process, web_b.process]
        worker_logs = {name: tmp_path / f"{name}.log" for name in ("worker-1", "worker-2")}
        # Started side by side (each start waits for its worker to say it is ready).
        with ThreadPoolExecutor(max_workers=2) as pool:
            starting = [
                pool.submit(start_celery_worker, queue, log, environment=environment, hostname=name)
                for name, log in worker_logs.items()
            ]
            failures = []
            for started in starting:
                try:
                    processes.append(started.result())
                except RuntimeError as failure:  # the other one is still stopped below
                    failures.append(failure)
            if failures:
                raise failures[0]
        for web in (web_a, web_b):
            assert wait_until(web.is_ready, timeout=60), (
                tmp_path / f"web-{web.name}.log"
            ).read_text()
        yield Cluster(web_a, web_b, worker_logs, api_key)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        _clear_redis_keys(f"{queue}*")


def _clear_redis_keys(pattern: str) -> None:
    import redis

    client = redis.Redis.from_url(settings.METRICS_REDIS_URL)
    for key in client.scan_iter(match=pattern):
        client.delete(key)


def tasks_run(worker_logs: dict[str, Path]) -> list[dict[str, Any]]:
    """Every task that finished, from the workers' JSON logs: worker, task, request id."""
    finished = []
    for worker, log in worker_logs.items():
        for line in log.read_text().splitlines():
            if not line.startswith("{"):
                continue  # Celery's start-up banner is printed, not logged
            entry = json.loads(line)
            if entry["logger"] == "celery.app.trace" and " succeeded in " in entry["message"]:
                finished.append({"worker": worker, **entry})
    return finished


def test_two_web_processes_and_two_workers_share_one_database_and_one_queue(
    cluster: Cluster,
) -> None:
    web_a, web_b, key = cluster.web_a, cluster.web_b, cluster.api_key
    case = {
        "label": "scale-proband",
        "features": [{"id": term} for term in FEATURES],
        "genomicFeatures": [{"gene": {"id": "NGLY1"}}],
        "externalMatchingConsent": True,
        "contact": {"name": "Dr A", "href": "mailto:a@example.org"},
    }

    created = web_a.api("POST", "cases/", "create-on-a", key, case)
    assert created.status_code == 201, created.text
    assert created.headers["X-Request-ID"] == "create-on-a"
    public_id = created.json()["publicId"]

    # B never saw the write, yet its index has the case before answering.
    assert public_id in web_b.match("NGLY1", "match-on-b")

    # Changed through B: A answers from the new data (the new gene, not the old one)...
    current = web_b.api("GET", f"cases/{public_id}/", "read-on-b", key).json()
    changed = current | {"genomicFeatures": [{"gene": {"id": "SCN1A"}}]}
    updated = web_b.api("PUT", f"cases/{public_id}/", "update-on-b", key, changed)
    assert updated.status_code == 200, updated.text
    assert public_id not in web_a.match("NGLY1", "old-gene-on-a")
    assert public_id in web_a.match("SCN1A", "new-gene-on-a")

    # ...and once it is withdrawn through B, A no longer answers with it at all.
    withdrawn = web_b.api("POST", f"cases/{public_id}/withdraw/", "withdraw-on-b", key)
    assert withdrawn.status_code == 200, withdrawn.text
    assert public_id not in web_a.match("SCN1A", "after-withdrawal-on-a")
    assert public_id not in web_b.match("SCN1A", "after-withdrawal-on-b")

    # The tasks both web processes queued ran, each once, on either worker, and each worker's
    # log line names the request that queued its task.
    queued_by = {
        "create-on-a": "a",  # run_matching, search_peers
        "match-on-b": "b",  # record_incoming_matches
        "update-on-b": "b",  # run_matching, search_peers
        "new-gene-on-a": "a",  # record_incoming_matches
    }

    def all_ran() -> bool:
        return set(queued_by) <= {task["request_id"] for task in tasks_run(cluster.worker_logs)}

    assert wait_until(all_ran, timeout=60), tasks_run(cluster.worker_logs)
    finished = tasks_run(cluster.worker_logs)
    assert {task["worker"] for task in finished} == {"worker-1", "worker-2"}
    task_ids = [task["task_id"] for task in finished]
    assert len(task_ids) == len(set(task_ids))
    by_request = {(task["request_id"], task["task_name"].rsplit(".", 1)[1]) for task in finished}
    assert {
        ("create-on-a", "run_matching"),
        ("create-on-a", "search_peers"),
        ("match-on-b", "record_incoming_matches"),
        ("update-on-b", "run_matching"),
        ("new-gene-on-a", "record_incoming_matches"),
    } <= by_request

    # Counters are shared: A's /metrics counts the MME requests B answered too.
    scrape = httpx.get(
        f"{web_a.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    )
    assert scrape.status_code == 200
    assert (
        'matchmaker_mme_requests_total{peer="Scale Peer",endpoint="match",status="200"} 5'
        in scrape.text.splitlines()
    )
