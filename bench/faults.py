"""Fault runs under load: Redis down, PostgreSQL restarted, a Celery worker killed.

    bench/faults.sh [redis] [postgres] [worker]      # all three when none is named
    DURATION=45 OUTAGE=15 bench/faults.sh redis
    .venv/bin/python bench/faults.py redis --duration 45 --outage 15   # one, as faults.sh runs it

Each scenario runs a node of its own on this machine: gunicorn (2 sync workers, DEBUG=False), one
Celery worker, Redis on a spare port with an append-only file (as deploy/compose.yaml runs it),
and a fresh database in a PostgreSQL cluster of its own on a spare port (`pg_createcluster`,
dropped at the end; without it, a database on the main server, whose "restart" is then
simulated by refusing and terminating that database's connections). Two peers: "load" (this
script) and "self" (the node itself, so that searches at the peers go over real HTTP).

Load: two clients send real MME queries (a new patient id each: seizures, delay, NGLY1) for
DURATION seconds, and a third submits a consented NGLY1 case through the REST API every two
seconds. At DURATION/3 the fault starts and lasts OUTAGE seconds. Then the script waits for the
node to finish its work, running the beat's catch-up jobs as they would run later
(`research_due_cases` for searches whose task was never queued, their due time moved an hour
back; `requeue_stalled_searches`), and counts:

- requests and errors (answers other than 200/201, and failed connections), by status;
- lost incoming matches: every query answered 200 with N results must leave N incoming matches
  recorded for the peer's patient;
- lost searches: every case stored (whatever the answer to its submission said) must end with
  its search at the peer answered.

The last line is the scenario's figures as one JSON object.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
# Logs, Redis' append-only file and the case index of each scenario: var/faults/<scenario>/.
WORK = ROOT / "var" / "faults"
MME_V1_1 = "application/vnd.ga4gh.matchmaker.v1.1+json"
PG_VERSION = "15"
CLUSTER = "mmfaults"
LOAD_TOKEN = "faults-load-peer-" + "0" * 24
# How long the node may take to finish the run's work (the worker shares 2 cores with the rest).
DRAIN_TIMEOUT = 900


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(condition: Any, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except Exception:  # noqa: S110 (a service still starting)
            pass
        time.sleep(interval)
    return False


# --- Services ----------------------------------------------------------------------------------


class Redis:
    """redis-server on a spare loopback port, to stop and start at will (also used by
    tests/test_faults.py). With an append-only file (the default, as deploy/compose.yaml runs
    it) a clean stop loses no task."""

    def __init__(self, folder: Path, *, append_only: bool = True) -> None:
        self.port = _free_port()
        self.folder = folder
        self.append_only = append_only
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603 (fixed arguments)
            [
                shutil.which("redis-server") or "redis-server", "--port", str(self.port),
                "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "yes" if self.append_only else "no", "--dir", str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        assert _wait(self.answers, 10), "redis-server did not start"

    def client(self) -> Any:
        import redis

        return redis.Redis(port=self.port, socket_connect_timeout=1)

    def answers(self) -> bool:
        return bool(self.client().ping())

    def idle(self) -> bool:
        """No task waiting in the queue and none taken by a worker and not yet acknowledged."""
        client = self.client()
        return client.llen("faults") == 0 and client.hlen("unacked") == 0

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: redis-server writes its append-only file first
            self.process.wait(timeout=30)
            self.process = None


class PostgreSQL:
    """A cluster of our own when pg_createcluster can make one, else the main server."""

    def __init__(self) -> None:
        self.own_cluster = shutil.which("pg_createcluster") is not None
        self.port = _free_port() if self.own_cluster else 5432
        self.database = "matchmaker_faults"

    def create(self) -> None:
        if self.own_cluster:
            subprocess.run(["pg_dropcluster", PG_VERSION, CLUSTER, "--stop"], capture_output=True)  # noqa: S603, S607
            subprocess.run(  # noqa: S603
                ["pg_createcluster", PG_VERSION, CLUSTER, "--port", str(self.port), "--",  # noqa: S607
                 "--auth-host=trust", "--auth-local=trust"],
                check=True, capture_output=True,
            )  # fmt: skip
            self._ctl("start")
        self.sql("postgres", f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        self.sql("postgres", f'CREATE DATABASE "{self.database}"')

    def _ctl(self, action: str, *options: str) -> None:
        subprocess.run(  # noqa: S603
            ["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, CLUSTER, action, *options],  # noqa: S607
            check=True,
            capture_output=True,
        )

    def sql(self, database: str, statement: str, *parameters: Any) -> list[Any]:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database, autocommit=True
        ) as connection:
            cursor = connection.execute(statement, parameters)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    def go_away(self) -> str:
        """Stop the server (or, on the shared one, refuse and cut this database's connections)."""
        if self.own_cluster:
            self._ctl("stop", "-m", "fast")
            return "cluster stopped"
        self.sql("postgres", f'ALTER DATABASE "{self.database}" WITH ALLOW_CONNECTIONS false')
        self.sql(
            "postgres",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            self.database,
        )
        return "connections refused and terminated"

    def come_back(self) -> None:
        if self.own_cluster:
            self._ctl("start")
        else:
            self.sql("postgres", f'ALTER DATABASE "{self.database}" WITH ALLOW_CONNECTIONS true')

    def drop(self) -> None:
        if self.own_cluster:
            subprocess.run(["pg_dropcluster", PG_VERSION, CLUSTER, "--stop"], capture_output=True)  # noqa: S603, S607
        else:
            self.sql("postgres", f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def node_environment(postgres: PostgreSQL, redis_url: str, port: int) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("POSTGRES", "REDIS", "METRICS_REDIS", "CELERY", "DJANGO"))
    }
    environment.update(
        DJANGO_SETTINGS_MODULE="matchmaker.settings",
        POSTGRES_HOST="127.0.0.1",
        POSTGRES_PORT=str(postgres.port),
        POSTGRES_USER="postgres",
        POSTGRES_DB=postgres.database,
        REDIS_URL=redis_url,
        CELERY_TASK_DEFAULT_QUEUE="faults",
        DEBUG="False",
        SECURE_SSL_REDIRECT="False",
        SECRET_KEY="faults-bench-only-not-a-secret",  # noqa: S106
        ALLOWED_HOSTS="127.0.0.1",
        SITE_ROOT=f"http://127.0.0.1:{port}",
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        LOG_LEVEL="WARNING",
        CASE_INDEX_PATH=str(WORK / "case-index.npz"),
        MME_RATE_LIMIT_PER_MINUTE="1000000",
        # The node is its own peer, over plain HTTP on loopback.
        FEDERATION_ALLOW_HTTP="True",
        FEDERATION_DEBOUNCE_SECONDS="1",
        FEDERATION_RETRY_BACKOFF_SECONDS="2",
        FEDERATION_RETRY_BACKOFF_MAX="10",
        FEDERATION_MAX_RETRIES="5",
        FEDERATION_STALLED_SECONDS="60",
        # A killed worker's tasks come back after 20 s, not two hours (must exceed the longest
        # countdown above, or delayed retries would run twice).
        CELERY_VISIBILITY_TIMEOUT="20",
        CELERY_UNACKED_RESTORE_INTERVAL="2",
        CELERY_UNACKED_RESTORE_THROTTLE="1",
        HEALTH_REDIS_REQUIRED="False",
    )
    return environment


@dataclass
class Node:
    environment: dict[str, str]
    port: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _start(self, name: str, arguments: list[str]) -> None:
        log = (WORK / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(  # noqa: S603 (fixed arguments)
            [sys.executable, "-m", *arguments],
            cwd=ROOT,
            env=self.environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def start_web(self) -> None:
        self._start(
            "gunicorn",
            ["gunicorn", "matchmaker.wsgi:application", "--workers", "2",
             "--bind", f"127.0.0.1:{self.port}", "--timeout", "60"],
        )  # fmt: skip
        assert _wait(
            lambda: httpx.get(f"{self.url}/mme/heartbeat", timeout=2).status_code == 401, 60
        ), f"gunicorn did not start; see {WORK / 'gunicorn.log'}"

    def start_worker(self) -> None:
        self._start(
            "worker",
            ["celery", "-A", "matchmaker", "worker", "--pool", "threads", "--concurrency", "4",
             "--queues", "faults", "--loglevel", "WARNING", "--hostname", f"faults-{uuid.uuid4().hex[:6]}@%h"],
        )  # fmt: skip

    def kill_worker(self) -> None:
        worker = self.processes.pop("worker")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()


# --- The node's data, through the ORM (this process shares the node's settings) ---------------


def manage(environment: dict[str, str], *arguments: str) -> None:
    subprocess.run(  # noqa: S603 (fixed arguments)
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env=environment,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def set_up_data(node_url: str) -> str:
    """A clinician with an API token, the peers "load" and "self"; returns the API key."""
    from django.contrib.auth.models import User

    from matchmaker.cases.models import Institution, Membership
    from matchmaker.federation.services import add_peer
    from matchmaker.web.services import create_api_token

    institution = Institution.objects.create(
        name="Faults Genetics", contact_name="Faults team", contact_email="faults@example.org"
    )
    user = User.objects.create(username="faults")
    Membership.objects.create(user=user, institution=institution)
    add_peer("load", base_url="", inbound_token=LOAD_TOKEN)
    self_token = "faults-self-peer-" + uuid.uuid4().hex
    add_peer(
        "self", base_url=f"{node_url}/mme", inbound_token=self_token, outbound_token=self_token
    )
    return create_api_token(user, name="bench/faults.py")[1]


def run_beat_catch_up() -> int:
    """What the beat's jobs do once their time has come: overdue searches and stalled queries.

    Searches whose task could not be queued are overdue only an hour later; that hour is
    skipped here by moving their due time back.
    """
    from django.db import close_old_connections
    from django.db.models import F
    from django.utils import timezone

    from matchmaker.casework.services.outbound import requeue_stalled_searches, research_due_cases
    from matchmaker.federation.models import CaseSearchSchedule

    close_old_connections()
    CaseSearchSchedule.objects.filter(due_at__lt=timezone.now()).update(
        due_at=F("due_at") - datetime.timedelta(hours=1, minutes=1)
    )
    return research_due_cases() + requeue_stalled_searches()


def lost_work(run_id: str, expected_incoming: dict[str, int]) -> dict[str, int]:
    from django.db import close_old_connections

    from matchmaker.cases.models import Case
    from matchmaker.casework.models import Match
    from matchmaker.federation.models import PeerSearch

    close_old_connections()
    recorded = Counter(
        Match.objects.filter(
            direction=Match.Direction.INCOMING,
            peer__name="load",
            remote_patient_id__in=list(expected_incoming),
        ).values_list("remote_patient_id", flat=True)
    )
    stored = Case.objects.filter(label__startswith=f"faults-{run_id}-")
    searched = PeerSearch.objects.filter(
        case__in=stored, peer__name="self", status=PeerSearch.Status.ANSWERED
    )
    return {
        "incoming_expected": sum(expected_incoming.values()),
        "incoming_recorded": sum(recorded.values()),
        "lost_incoming": sum(
            max(0, count - recorded[patient]) for patient, count in expected_incoming.items()
        ),
        "cases_stored": stored.count(),
        "lost_searches": stored.count() - searched.count(),
    }


# --- Load --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    at: float  # seconds since the start of the load
    kind: str  # "match" or "case"
    status: str  # "200", "503", ... or the exception's class name
    results: int = 0
    key: str = ""  # the patient id or the case label


def _query(patient_id: str) -> bytes:
    patient = {
        "id": patient_id,
        "contact": {"name": "Dr Load", "href": "mailto:load@example.org"},
        "features": [{"id": "HP:0001250"}, {"id": "HP:0001263"}, {"id": "HP:0000252"}],
        "genomicFeatures": [{"gene": {"id": "NGLY1"}, "zygosity": 2}],
    }
    return json.dumps({"patient": patient}).encode()


def _case(label: str) -> dict[str, Any]:
    return {
        "label": label,
        "externalMatchingConsent": True,
        "sex": "FEMALE",
        "features": [{"id": "HP:0001250"}, {"id": "HP:0001263"}, {"id": "HP:0001252"}],
        "genomicFeatures": [{"gene": {"id": "NGLY1"}, "zygosity": 2}],
    }


def run_load(
    node_url: str, api_key: str, run_id: str, duration: float, fault: Any, fault_at: float
) -> tuple[list[Outcome], dict[str, float]]:
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    started = time.monotonic()
    stop = started + duration

    def record(outcome: Outcome) -> None:
        with lock:
            outcomes.append(outcome)

    def query_loop(client_number: int) -> None:
        with httpx.Client(base_url=node_url, timeout=30) as http:
            number = 0
            while time.monotonic() < stop:
                number += 1
                patient_id = f"faults-{run_id}-q{client_number}-{number}"
                at = time.monotonic() - started
                try:
                    response = http.post(
                        "/mme/match",
                        content=_query(patient_id),
                        headers={"Content-Type": MME_V1_1, "X-Auth-Token": LOAD_TOKEN},
                    )
                    results = len(response.json().get("results", [])) if response.is_success else 0
                    record(Outcome(at, "match", str(response.status_code), results, patient_id))
                except (httpx.HTTPError, ValueError) as error:
                    record(Outcome(at, "match", type(error).__name__, key=patient_id))
                    time.sleep(0.5)

    def case_loop() -> None:
        with httpx.Client(base_url=node_url, timeout=30) as http:
            number = 0
            while time.monotonic() < stop:
                number += 1
                label = f"faults-{run_id}-{number}"
                at = time.monotonic() - started
                try:
                    response = http.post(
                        "/api/v1/cases/",
                        json=_case(label),
                        headers={"Authorization": f"Token {api_key}"},
                    )
                    record(Outcome(at, "case", str(response.status_code), key=label))
                except httpx.HTTPError as error:
                    record(Outcome(at, "case", type(error).__name__, key=label))
                time.sleep(2)

    threads = [threading.Thread(target=query_loop, args=(n,)) for n in range(2)]
    threads.append(threading.Thread(target=case_loop))
    for thread in threads:
        thread.start()
    time.sleep(fault_at)
    window = fault(started)
    for thread in threads:
        thread.join()
    return outcomes, window


# --- Scenarios ---------------------------------------------------------------------------------


def run_scenario(name: str, *, duration: float, outage: float) -> dict[str, Any]:
    global WORK
    WORK = ROOT / "var" / "faults" / name
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    postgres = PostgreSQL()
    redis_server = Redis(WORK / "redis")
    port = _free_port()
    postgres.create()
    redis_server.start()
    environment = node_environment(postgres, redis_server.url, port)
    os.environ.update(environment)
    node = Node(environment, port)
    try:
        manage(environment, "migrate", "--no-input", "--verbosity", "0")
        manage(environment, "load_hpo")
        import django

        django.setup()
        from django.db import connections

        connections.close_all()
        api_key = set_up_data(node.url)
        node.start_web()
        node.start_worker()
        run_id = uuid.uuid4().hex[:8]
        # Warm up both web workers (HPO, genes, case index) and give the peers cases to find.
        with httpx.Client(base_url=node.url, timeout=60) as http:
            for number in range(6):
                http.post(
                    "/api/v1/cases/",
                    json=_case(f"base-{number}"),
                    headers={"Authorization": f"Token {api_key}"},
                ).raise_for_status()

        def fault(started: float) -> dict[str, float]:
            begin = time.monotonic() - started
            if name == "redis":
                redis_server.stop()
                time.sleep(outage)
                redis_server.start()
            elif name == "postgres":
                postgres.go_away()
                time.sleep(outage)
                postgres.come_back()
            elif name == "worker":
                node.kill_worker()
                time.sleep(outage)
                node.start_worker()
            return {"from_s": round(begin, 1), "to_s": round(time.monotonic() - started, 1)}

        outcomes, window = run_load(
            node.url, api_key, run_id, duration, fault, fault_at=duration / 3
        )
        expected = {o.key: o.results for o in outcomes if o.kind == "match" and o.status == "200"}
        expected = {key: count for key, count in expected.items() if count}
        # Let the worker drain its queue; whenever it is idle and work is still missing, run the
        # beat's catch-up jobs (as the beat would, later). Lost is what is missing at the end.
        drain_started = time.monotonic()
        idle_since: float | None = None
        catch_ups = 0
        counts = lost_work(run_id, expected)
        while counts["lost_incoming"] or counts["lost_searches"]:
            if time.monotonic() - drain_started > DRAIN_TIMEOUT:
                break
            if redis_server.idle():
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 10:
                    run_beat_catch_up()
                    catch_ups += 1
                    idle_since = None
            else:
                idle_since = None
            time.sleep(3)
            counts = lost_work(run_id, expected)
        statuses = Counter(f"{o.kind} {o.status}" for o in outcomes)
        errors = [o for o in outcomes if o.status not in ("200", "201")]
        return {
            "scenario": name,
            "fault": {
                "redis": "redis-server stopped (SIGTERM), then started again",
                "postgres": "PostgreSQL " + ("cluster stopped (-m fast), then started"
                                             if postgres.own_cluster
                                             else "connections refused and terminated"),
                "worker": "Celery worker killed (SIGKILL), a new one started",
            }[name],
            "fault_window_s": window,
            "duration_s": duration,
            "requests": len(outcomes),
            "mme_requests": sum(1 for o in outcomes if o.kind == "match"),
            "case_submissions": sum(1 for o in outcomes if o.kind == "case"),
            "errors": len(errors),
            "errors_outside_fault_window": sum(
                1 for o in errors if not window["from_s"] - 1 <= o.at <= window["to_s"] + 1
            ),
            "by_status": dict(sorted(statuses.items())),
            **counts,
            "drain_s": round(time.monotonic() - drain_started, 1),
            "beat_catch_ups": catch_ups,
            "lost": counts["lost_incoming"] + counts["lost_searches"],
        }  # fmt: skip
    finally:
        node.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: S110 (Django was never set up)
            pass
        redis_server.stop()
        postgres.drop()


def print_summary(lines: list[str]) -> None:
    """One line per scenario from the JSON lines of several runs (bench/faults.sh)."""
    for line in lines:
        try:
            result = json.loads(line)
        except ValueError:
            print(f"(no result) {line.strip()}")
            continue
        print(
            f"{result['scenario']:9} requests {result['requests']:5}  errors {result['errors']:4} "
            f"(outside the fault window: {result['errors_outside_fault_window']})  "
            f"lost {result['lost']}"
        )


def main() -> int:
    if sys.argv[1:] == ["summary"]:
        print_summary(sys.stdin.read().splitlines())
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=["redis", "postgres", "worker"])
    parser.add_argument("--duration", type=float, default=45)
    parser.add_argument("--outage", type=float, default=15)
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    result = run_scenario(options.scenario, duration=options.duration, outage=options.outage)
    print(json.dumps(result), flush=True)
    return 0 if result["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
