"""Federation fan-out: one shared case asked at ten peers, three of which hang.

    .venv/bin/python bench/federation_fanout.py [--cases 5] [--timeout 5] [--max-retries 0]
        [--layout threads|default-only] [--database matchmaker_fanout] [--redis-url URL]

Everything runs on this machine, through the production code path: the case is saved with
`submit_case` (a consented case queues its search after commit), a real Celery worker on Redis
runs `search_peers`, and each per-peer `query_peer` task asks a fake MME peer over HTTP on
loopback and records the answer in PostgreSQL. Seven peers answer a few valid results after
50-300 ms; three accept the request and never answer. The peers are named so that the three
hanging ones are queued first (`start_peer_search` goes by name): the order that hurts most.

Worker layouts (`--layout`): `threads` (the recommended one, see FEDERATION_QUEUE in
matchmaker/settings.py) runs one worker on the default queue (prefork, as started by
`celery -A matchmaker worker`) and one on the federation queue with a pool of 16 threads;
`default-only` leaves FEDERATION_QUEUE empty and runs the default worker alone, for contrast.

Measured from the commit of each case, by polling its PeerSearch rows every 20 ms: when the
seven answering peers' searches are all `answered` (and how many outgoing matches are stored by
then), and when the three hanging peers gave up their first attempt and ended `failed`. With
`--max-retries 0` (the default here) a hanging peer fails at its first timeout; with retries it
stays `waiting` ("retrying: ...") between attempts, which never holds up the others. The
circuit breaker is turned off (the hanging peers would be skipped from the sixth case on). The
first case after the workers start (they load the HPO and gene catalogue on first use) is
reported apart as the warm-up; then `--cases` cases, one at a time, each until all ten settle.

The PostgreSQL database (default `matchmaker_fanout`) is dropped and created again on every
run; files go to var/fanout-bench/ (worker logs in logs/). The Celery queues are named after
this process and deleted at the end; task results expire from Redis after a day. The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import django
import psycopg
import redis
from psycopg import sql

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO_ROOT / "var" / "fanout-bench"
MME_MEDIA_TYPE = "application/vnd.ga4gh.matchmaker.v1.0+json"
# The seven answering peers: (seconds before the answer, number of results).
ANSWERING = ((0.05, 3), (0.08, 1), (0.12, 4), (0.15, 2), (0.20, 5), (0.25, 2), (0.30, 3))
HANGING = 3
# A hanging peer holds the request this long (or until the benchmark ends): far past any timeout.
HANG_SECONDS = 600
POLL_SECONDS = 0.02
WORKER_THREADS = 16


@dataclass
class FakePeer:
    """One fake MME node on 127.0.0.1: answers after `delay` seconds, or never when `hangs`."""

    name: str
    delay: float
    result_count: int
    hangs: bool
    released: threading.Event
    arrivals: dict[str, list[float]] = field(default_factory=dict)  # patient id -> wall times
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/mme"

    def answer(self, patient_id: str) -> dict[str, Any]:
        return {
            "disclaimer": f"{self.name}: for research only.",
            "results": [
                _remote_result(f"{self.name}-{patient_id}-{number}", 0.9 - number * 0.1)
                for number in range(self.result_count)
            ],
        }


def _remote_result(patient_id: str, score: float) -> dict[str, Any]:
    """One result as a peer sends it: an NGLY1 patient with seizures (as in the tests)."""
    return {
        "score": {"patient": round(score, 3), "_genotype": 1.0, "_phenotype": 0.6},
        "patient": {
            "id": patient_id,
            "label": f"their {patient_id}",
            "contact": {
                "name": "Dr Far",
                "institution": "Far Genetics",
                "href": "mailto:far@x.org",
            },
            "features": [{"id": "HP:0001250"}, {"id": "HP:0001263"}],
            "genomicFeatures": [{"gene": {"id": "NGLY1"}}],
        },
    }


class _PeerServer(ThreadingHTTPServer):
    # Handler threads must not keep the benchmark alive, nor be joined when it closes.
    daemon_threads = True
    peer: FakePeer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client hanging up on a hanging peer is the point


class _PeerHandler(BaseHTTPRequestHandler):
    server: _PeerServer

    def do_POST(self) -> None:
        arrived = time.time()
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        peer = self.server.peer
        peer.arrivals.setdefault(body["patient"]["id"], []).append(arrived)
        if peer.hangs:
            peer.released.wait(HANG_SECONDS)
            return
        time.sleep(peer.delay)
        raw = json.dumps(peer.answer(body["patient"]["id"])).encode()
        self.send_response(200)
        self.send_header("Content-Type", MME_MEDIA_TYPE)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def start_peers(released: threading.Event) -> list[FakePeer]:
    # Hanging peers first by name: start_peer_search queues the tasks in name order.
    peers = [FakePeer(f"fanout-{n + 1:02d}-hangs", 0.0, 0, True, released) for n in range(HANGING)]
    peers += [
        FakePeer(f"fanout-{HANGING + n + 1:02d}-answers", delay, count, False, released)
        for n, (delay, count) in enumerate(ANSWERING)
    ]
    for peer in peers:
        server = _PeerServer(("127.0.0.1", 0), _PeerHandler)
        server.peer = peer
        peer.server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return peers


def bench_environment(arguments: argparse.Namespace, prefix: str) -> dict[str, str]:
    """What settings.py reads, for this process and the workers alike."""
    genes = REPO_ROOT / "var" / "genes.json.gz"  # the dev node's catalogue, read only
    environment = {
        "POSTGRES_HOST": arguments.postgres_host,
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": arguments.database,
        "REDIS_URL": arguments.redis_url,
        "CELERY_TASK_DEFAULT_QUEUE": f"{prefix}-default",
        "FEDERATION_QUEUE": f"{prefix}-federation" if arguments.layout == "threads" else "",
        "CACHE_KEY_PREFIX": prefix,
        "FEDERATION_DEBOUNCE_SECONDS": "0",
        "FEDERATION_ALLOW_HTTP": "True",
        "FEDERATION_MAX_RETRIES": str(arguments.max_retries),
        "FEDERATION_RETRY_BACKOFF_SECONDS": str(arguments.retry_backoff),
        # Each hanging peer fails once per case: the circuit breaker (5 failures in a row) would
        # skip them from the sixth case on, which is not what is measured here.
        "FEDERATION_CIRCUIT_FAILURES": "1000000",
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        # Production behaviour (DEBUG=True keeps every SQL query in memory); no web server runs.
        "DEBUG": "False",
        "SECRET_KEY": "fanout-bench-only-not-a-secret",
        "DATA_DIR": str(BENCH_DIR),
        "LOG_LEVEL": "WARNING",
    }
    if genes.exists():
        environment["GENE_CATALOGUE_PATH"] = str(genes)
    return environment


def recreate_database(host: str, name: str) -> None:
    # Dropped on every run: refuse anything that is not obviously this benchmark's own.
    if not name.startswith("matchmaker_fanout"):
        raise SystemExit(f"--database {name!r}: the name must start with matchmaker_fanout")
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def start_worker(name: str, queue: str, pool: list[str], log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "celery", "-A", "matchmaker", "worker", "-Q", queue]
    command += [*pool, "--loglevel", "INFO", "--hostname", f"{name}@%h"]
    with log.open("wb") as output:
        # A session of its own: stopping it reaches the prefork children too.
        return subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            command, cwd=REPO_ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_until_ready(workers: dict[str, tuple[subprocess.Popen[bytes], Path]]) -> None:
    deadline = time.monotonic() + 90
    for name, (worker, log) in workers.items():
        while " ready." not in log.read_text(errors="replace"):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start; see {log}")
            time.sleep(0.1)


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is not None:
        return
    worker.send_signal(signal.SIGTERM)  # warm shutdown: running tasks finish first
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def delete_queues(redis_url: str, prefix: str) -> int:
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"*{prefix}*"))
    if keys:
        client.delete(*keys)
    return len(keys)


@dataclass
class CaseTiming:
    """Seconds from the commit of one case."""

    fanout_started: float  # start_peer_search ran (PeerSearch.requested_at)
    first_request: float  # the first request reached a peer
    last_request: float  # the last of the ten first attempts reached a peer
    answered: float  # all seven answering peers' searches seen `answered` by a reader
    answered_recorded: float  # ... as recorded by the worker (latest finished_at)
    record_overhead: float  # max over the seven: finished_at - (request arrival + peer delay)
    hanging_gave_up: float  # all three hanging peers' first attempts gave up (seen)
    hanging_failed: float  # all three seen `failed`
    matches_when_answered: int  # outgoing Match rows when all seven were seen answered
    matches: int  # outgoing Match rows at the end
    expected_matches: int
    requests: int  # requests the ten peers received for this case (10 without retries)
    hanging_details: list[str]


def submit_shared_case(institution: Any, label: str) -> tuple[Any, float, float]:
    """Save a consented case; returns it and the commit's (perf_counter, wall) times."""
    from django.db import transaction

    from matchmaker.cases.records import CaseRecord, FeatureRecord, GenomicFeatureRecord
    from matchmaker.casework.services import submit_case

    record = CaseRecord(
        label=label,
        features=(
            FeatureRecord("HP:0001250"),
            FeatureRecord("HP:0001263"),
            FeatureRecord("HP:0000252", observed=False),
        ),
        genomic_features=(GenomicFeatureRecord(gene_id="NGLY1", zygosity=2),),
        sex="FEMALE",
    )
    committed: list[tuple[float, float]] = []
    with transaction.atomic():
        # Registered before submit_case's own callbacks, so it runs first: the moment of commit,
        # before the search task is even published.
        transaction.on_commit(lambda: committed.append((time.perf_counter(), time.time())))
        case = submit_case(record, institution=institution, owner=None, consented=True)
    return case, *committed[0]


def measure_case(
    institution: Any, label: str, peers: list[FakePeer], ids: dict[str, int], patience: float
) -> CaseTiming:
    from matchmaker.casework.models import Match
    from matchmaker.federation.models import PeerSearch

    answering_ids = {ids[p.name] for p in peers if not p.hangs}
    hanging_ids = {ids[p.name] for p in peers if p.hangs}
    case, committed, committed_wall = submit_shared_case(institution, label)
    outgoing = Match.objects.filter(case=case, direction=Match.Direction.OUTGOING)
    settled: dict[int, float] = {}
    gave_up: dict[int, float] = {}
    matches_when_answered = -1
    deadline = committed + patience
    while len(settled) < len(ids) and time.perf_counter() < deadline:
        rows = list(PeerSearch.objects.filter(case=case).values_list("peer_id", "status", "detail"))
        seen = time.perf_counter() - committed
        for peer_id, status, detail in rows:
            if status in (PeerSearch.Status.ANSWERED, PeerSearch.Status.FAILED):
                settled.setdefault(peer_id, seen)
            if status == PeerSearch.Status.FAILED or detail.startswith("retrying:"):
                gave_up.setdefault(peer_id, seen)
        if matches_when_answered < 0 and answering_ids <= settled.keys():
            matches_when_answered = outgoing.count()
        time.sleep(POLL_SECONDS)
    searches = {s.peer_id: s for s in PeerSearch.objects.filter(case=case)}
    expected_matches = 0
    problems = []
    for peer in peers:
        search = searches.get(ids[peer.name])
        wanted = PeerSearch.Status.FAILED if peer.hangs else PeerSearch.Status.ANSWERED
        if search is None or search.status != wanted:
            problems.append(f"{peer.name}: {search.status if search else 'no search'}")
        elif not peer.hangs:
            expected_matches += search.result_count or 0
    if problems:
        raise RuntimeError(f"case {case.public_id} after {patience:.0f} s: {'; '.join(problems)}")

    def since_commit(moment: datetime | None) -> float:
        assert moment is not None
        return moment.timestamp() - committed_wall

    arrivals = [peer.arrivals.get(case.public_id, []) for peer in peers]
    first_attempts = [times[0] for times in arrivals]
    return CaseTiming(
        fanout_started=min(since_commit(s.requested_at) for s in searches.values()),
        first_request=min(first_attempts) - committed_wall,
        last_request=max(first_attempts) - committed_wall,
        answered=max(settled[peer_id] for peer_id in answering_ids),
        answered_recorded=max(since_commit(searches[i].finished_at) for i in answering_ids),
        record_overhead=max(
            since_commit(searches[ids[p.name]].finished_at)
            - (p.arrivals[case.public_id][-1] - committed_wall + p.delay)
            for p in peers
            if not p.hangs
        ),
        hanging_gave_up=max(gave_up[peer_id] for peer_id in hanging_ids),
        hanging_failed=max(settled[peer_id] for peer_id in hanging_ids),
        matches_when_answered=matches_when_answered,
        matches=outgoing.count(),
        expected_matches=expected_matches,
        requests=sum(len(times) for times in arrivals),
        hanging_details=sorted({searches[i].detail for i in hanging_ids}),
    )


def describe(timing: CaseTiming) -> str:
    return (
        f"7 answered at {timing.answered:.3f} s (recorded {timing.answered_recorded:.3f} s; "
        f"{timing.matches_when_answered} of {timing.expected_matches} matches stored by then), "
        f"3 hanging failed at {timing.hanging_failed:.3f} s "
        f"(first attempt gave up {timing.hanging_gave_up:.3f} s); fan-out started "
        f"{timing.fanout_started * 1000:.0f} ms, requests reached the peers "
        f"{timing.first_request * 1000:.0f}-{timing.last_request * 1000:.0f} ms, finished_at "
        f"stamped up to {timing.record_overhead * 1000:.0f} ms after an answer; "
        f"{timing.requests} requests"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5, help="measured cases (after a warm-up)")
    parser.add_argument("--timeout", type=float, default=5.0, help="each peer's timeout, s")
    parser.add_argument("--max-retries", type=int, default=0, help="FEDERATION_MAX_RETRIES")
    parser.add_argument("--retry-backoff", type=float, default=1.0, help="seconds, first retry")
    parser.add_argument("--layout", choices=("threads", "default-only"), default="threads")
    parser.add_argument("--database", default="matchmaker_fanout", help="dropped and recreated")
    parser.add_argument("--postgres-host", default="127.0.0.1")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    arguments = parser.parse_args()
    if arguments.cases < 1:
        parser.error("--cases must be at least 1")
    prefix = f"fanout-{os.getpid()}"
    environment = bench_environment(arguments, prefix)
    os.environ.update(environment)
    os.environ["DJANGO_SETTINGS_MODULE"] = "matchmaker.settings"
    (BENCH_DIR / "logs").mkdir(parents=True, exist_ok=True)
    for old_log in (BENCH_DIR / "logs").glob("fanout-*.log"):
        old_log.unlink()
    for stale in BENCH_DIR.glob("case-index*"):  # the index belongs to the dropped database
        stale.unlink()

    recreate_database(arguments.postgres_host, arguments.database)
    django.setup()
    from django.core.management import call_command

    from matchmaker.cases.models import Institution
    from matchmaker.federation.models import Peer
    from matchmaker.reference.ontology import get_gene_catalogue, get_hpo

    call_command("migrate", interactive=False, verbosity=0)
    # Compile or load the HPO here, once, before the workers look for its cache.
    get_hpo()
    get_gene_catalogue()
    institution = Institution.objects.create(
        name="Fan-out bench", contact_name="Bench team", contact_email="bench@example.org"
    )

    released = threading.Event()
    peers = start_peers(released)
    workers: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    try:
        for number, peer in enumerate(peers):
            call_command(
                "add_peer",
                peer.name,
                base_url=peer.base_url,
                outbound_token=f"fanout-bench-outbound-token-{number:02d}",
                timeout=arguments.timeout,
                stdout=io.StringIO(),
            )
        ids = dict(Peer.objects.values_list("name", "pk"))
        layout = {
            f"{prefix}-default": (environment["CELERY_TASK_DEFAULT_QUEUE"], []),
        }
        if environment["FEDERATION_QUEUE"]:
            layout[f"{prefix}-federation"] = (
                environment["FEDERATION_QUEUE"],
                ["--pool", "threads", "--concurrency", str(WORKER_THREADS)],
            )
        for name, (queue, pool) in layout.items():
            log = BENCH_DIR / "logs" / f"{name}.log"
            workers[name] = (start_worker(name, queue, pool, log), log)
            print(f"worker {name}: -Q {queue} {' '.join(pool) or '(prefork)'}; log {log}")
        wait_until_ready(workers)

        patience = (arguments.max_retries + 1) * (arguments.timeout + 2) + 30
        patience += arguments.retry_backoff * (2 ** (arguments.max_retries + 1))
        print(
            f"10 peers (timeout {arguments.timeout:g} s): 3 hang, 7 answer after "
            f"{', '.join(f'{d * 1000:.0f}' for d, _ in ANSWERING)} ms with "
            f"{sum(c for _, c in ANSWERING)} results in all; FEDERATION_MAX_RETRIES="
            f"{arguments.max_retries}, backoff {arguments.retry_backoff:g} s; layout "
            f"{arguments.layout}"
        )
        warm_up = measure_case(institution, f"{prefix}-warm-up", peers, ids, patience)
        print(f"warm-up (first case for fresh workers; not counted): {describe(warm_up)}")
        timings = []
        for number in range(arguments.cases):
            timing = measure_case(institution, f"{prefix}-{number}", peers, ids, patience)
            timings.append(timing)
            print(f"case {number + 1}: {describe(timing)}")
    finally:
        for worker, _ in workers.values():
            stop_worker(worker)
        released.set()
        for peer in peers:
            assert peer.server is not None
            peer.server.shutdown()
            peer.server.server_close()
        delete_queues(arguments.redis_url, prefix)

    limit = arguments.timeout + 1
    summary: dict[str, Any] = {
        "layout": arguments.layout,
        "timeout_s": arguments.timeout,
        "max_retries": arguments.max_retries,
        "cases": arguments.cases,
        "warm_up_answered_s": round(warm_up.answered, 3),
        "warm_up_hanging_failed_s": round(warm_up.hanging_failed, 3),
    }
    for name in ("answered", "answered_recorded", "hanging_gave_up", "hanging_failed"):
        values = [getattr(timing, name) for timing in timings]
        summary[f"{name}_p50_s"] = round(statistics.median(values), 3)
        summary[f"{name}_max_s"] = round(max(values), 3)
    for name in ("fanout_started", "last_request", "record_overhead"):
        values = [getattr(timing, name) for timing in timings]
        summary[f"{name}_p50_ms"] = round(statistics.median(values) * 1000, 1)
        summary[f"{name}_max_ms"] = round(max(values) * 1000, 1)
    complete = all(t.matches_when_answered == t.matches == t.expected_matches for t in timings)
    summary["matches_per_case"] = sorted({t.matches for t in timings})
    summary["expected_matches_per_case"] = sum(count for _, count in ANSWERING)
    summary["matches_complete"] = complete
    summary["within_limit"] = complete and summary["answered_max_s"] <= limit
    print(
        f"over {arguments.cases} cases: all 7 answered p50 {summary['answered_p50_s']:.3f} s, "
        f"max {summary['answered_max_s']:.3f} s (limit: timeout + 1 s = {limit:g} s: "
        f"{'met' if summary['within_limit'] else 'NOT met'}); 3 hanging failed p50 "
        f"{summary['hanging_failed_p50_s']:.3f} s, max {summary['hanging_failed_max_s']:.3f} s; "
        f"outgoing matches per case {summary['matches_per_case']} "
        f"(expected {summary['expected_matches_per_case']}); hanging peers' detail: "
        f"{timings[-1].hanging_details}"
    )
    print(json.dumps(summary))
    if not summary["within_limit"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
