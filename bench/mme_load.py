"""Load test of the MME API: POST /mme/match from concurrent clients, with real query patients.

    .venv/bin/python bench/mme_load.py --url http://127.0.0.1:8765/mme --token TOKEN \
        [--duration 60] [--warmup 10] [--concurrency 4] [--rate R] [--queries 500] [--seed 7] \
        [--mix phenotype]

`bench/mme_load.sh` prepares a node with 100k cases behind gunicorn and runs this against it.
The query patients are published cases (`../shared/data/phenopackets-dev.jsonl.gz`, read at run
time) written as MME patients the way a peer would send them: observed and excluded HPO terms,
genes with their variants, no diagnosis (peers ask about undiagnosed patients) and a contact.
Terms the node's HPO release does not know are left out, and cases the node would still refuse
are skipped, so every error counted is the server's: the release and the gene catalogue are read
through the project settings (`DATA_DIR`), as the node reads them. Queries are real (not `test`),
so the node records an incoming match per result and e-mails new ones, unless `--test-queries`.
`--mix phenotype` sends the same patients without their genes (phenotype-only queries: every
stored case is a candidate, none is ruled out by a gene); run the node with `MME_MIN_SCORE=0`
and `MME_REQUIRE_SHARED_GENE=False` so that every answer is a full `MME_MAX_RESULTS` (20).
The patient ids get a prefix that is new with each run: the first pass over the patients finds
only new matches (stored and e-mailed), later passes refresh them, whatever earlier runs left.

Closed loop by default: `--concurrency` clients each send the next query (round-robin over the
patients) as soon as the previous answer arrives, which measures what the node sustains. With
`--rate R` the requests are scheduled at R a second instead (open loop, at most `--concurrency`
in flight) and latency counts from the scheduled time, so a queue building up in front of a
saturated server shows in the figures instead of slowing the senders down. A warm-up phase, not
counted, lets every server process load the HPO, the gene catalogue and the case index.

One asyncio process: the server shares the machine's cores with this script, which should take
as little CPU as it can; its own CPU time is printed, and with `--server-pids` (mme_load.sh
passes gunicorn's workers) the server's CPU per request, which depends less on what else runs. After the run (real queries only), it
waits for the node's worker to record the incoming matches, reading the node's database, and
reports `lost`: results of the answers (each patient's last) with no incoming match recorded.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import math
import os
import random
import secrets
import ssl
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import django

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "phenopackets-dev.jsonl.gz"
MEDIA_TYPE = "application/vnd.ga4gh.matchmaker.v1.1+json"
# Requests finishing within each window of this many seconds, to show the rate is sustained.
WINDOW_SECONDS = 10


class HttpClientError(Exception):
    """The server's answer could not be read as HTTP/1.1."""


class LeanHttpClient:
    """HTTP/1.1 requests to one base URL, a connection each, read to the end: what a peer's
    node does against gunicorn's sync workers (they close every connection after answering).

    Written on asyncio streams because the generator shares the machine's cores with the server
    it measures: httpx's AsyncClient took ~4.4 ms of CPU per request, this ~1 ms (issue 16,
    docs/benchmarks.md), and every millisecond it takes is one the server does not get.
    """

    def __init__(self, base_url: str, headers: dict[str, str], timeout: float) -> None:
        parts = urlsplit(base_url.rstrip("/") + "/")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.path = parts.path
        self.timeout = timeout
        lines = [f"Host: {parts.netloc}", "Connection: close", "Accept-Encoding: identity"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.headers = ("\r\n".join(lines) + "\r\n").encode("latin-1")

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        """(status, body) of `method` on base URL + `path`."""
        return await asyncio.wait_for(self._exchange(method, path, body), self.timeout)

    async def _exchange(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self.tls)
        try:
            writer.write(
                f"{method} {self.path}{path} HTTP/1.1\r\n".encode("latin-1")
                + self.headers
                + f"Content-Length: {len(body)}\r\n\r\n".encode("latin-1")
                + body
            )
            answer = await reader.read()  # to the end: the server closes the connection
        finally:
            writer.close()
        return _parse_response(answer)


def _parse_response(answer: bytes) -> tuple[int, bytes]:
    head, separator, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not separator or not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise HttpClientError(f"not an HTTP/1.x answer: {answer[:80]!r}")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        if len(body) < length:
            raise HttpClientError(f"answer cut short: {len(body)} of {length} bytes")
        body = body[:length]
    return int(rest[:3]), body


def _dechunk(body: bytes) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line, separator, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16) if separator else -1
        if size < 0 or len(body) < size:
            raise HttpClientError("chunked answer cut short")
        if size == 0:
            return b"".join(parts)
        parts.append(body[:size])
        body = body[size + 2 :]


@dataclass(frozen=True, slots=True)
class QuerySet:
    bodies: list[bytes]
    documents: int  # phenopackets read
    refused: Counter[str]  # why a phenopacket could not be a query, by reason
    dropped_terms: int  # HPO terms left out: unknown to the node's release
    with_gene: int  # queries with at least one gene (peers require a shared gene by default)
    mean_features: float


@dataclass(frozen=True, slots=True)
class Outcome:
    finished: float  # perf_counter seconds
    latency: float  # seconds, from the scheduled start (open loop) or the actual send
    status: str  # "200", "500", ... or the exception's class name
    results: int
    query: int = -1  # index of the query patient sent


def build_queries(
    path: Path, count: int, seed: int, *, test: bool, id_prefix: str, genes: bool = True
) -> QuerySet:
    """`count` MME match requests from the phenopackets at `path`, sampled with `seed`.

    Each patient id is `id_prefix` + the phenopacket id. Without `genes`, the patients' genes
    (and variants) are left out: phenotype-only queries.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "matchmaker.settings")
    django.setup()
    from django.conf import settings

    from matchmaker.cases.interchange import (
        case_record_from_phenopacket,
        mme_patient_from_case_record,
        read_documents,
    )
    from matchmaker.cases.records import ContactRecord, RecordFormatError
    from matchmaker.cases.services.validation import validate_case_record
    from matchmaker.lib.errors import FieldValidationError
    from matchmaker.reference.ontology import configured_hpo_sources, get_gene_catalogue
    from ontologies.hpo import load_ontology

    ontology = load_ontology(configured_hpo_sources(), cache_dir=settings.HPO_CACHE_DIR)
    catalogue = get_gene_catalogue()
    documents = list(read_documents(path))
    random.Random(seed).shuffle(documents)  # noqa: S311 - a reproducible sample, not a secret
    contact = ContactRecord(
        name="MME load test", institution="bench/mme_load.py", href="mailto:load@example.org"
    )
    bodies: list[bytes] = []
    refused: Counter[str] = Counter()
    dropped_terms = with_gene = features = 0
    for item in documents:
        if len(bodies) == count:
            break
        if item.document is None:
            refused["unreadable JSON"] += 1
            continue
        try:
            record = case_record_from_phenopacket(item.document)
            validated = validate_case_record(
                record,
                ontology=ontology,
                genes=catalogue,
                drop_unknown_terms=True,
                check_label=False,
            )
        except RecordFormatError:
            refused["not a readable phenopacket"] += 1
            continue
        except FieldValidationError as error:
            refused[f"refused by validation ({error.errors[0][0]})"] += 1
            continue
        known = {feature.submitted_hpo_id or feature.hpo_id for feature in validated.features}
        kept = tuple(feature for feature in record.features if feature.hpo_id in known)
        query = dataclasses.replace(
            record,
            features=kept,
            genomic_features=record.genomic_features if genes else (),
            disorders=(),
            contact=contact,
            external_references=(),
            extra={},
            notes=(),
            is_test=test,
        )
        try:
            patient = mme_patient_from_case_record(query, patient_id=id_prefix + record.label)
        except ValueError:
            refused["nothing to match on"] += 1
            continue
        dropped_terms += len(record.features) - len(kept)
        with_gene += bool(patient["genomicFeatures"])
        features += len(kept)
        bodies.append(json.dumps({"patient": patient}).encode())
    if not bodies:
        sys.exit(f"no usable query patient in {path}")
    return QuerySet(
        bodies=bodies,
        documents=len(documents),
        refused=refused,
        dropped_terms=dropped_terms,
        with_gene=with_gene,
        mean_features=features / len(bodies),
    )


async def run_phase(
    client: LeanHttpClient,
    bodies: list[bytes],
    order: itertools.count[int],
    *,
    seconds: float,
    concurrency: int,
    rate: float | None,
) -> tuple[list[Outcome], dict[str, str], float]:
    """Send requests for `seconds`; the outcomes, one answer text per error kind, and the start."""
    started = time.perf_counter()
    ends = started + seconds
    tickets = itertools.count()
    outcomes: list[Outcome] = []
    examples: dict[str, str] = {}

    async def send_requests() -> None:
        while True:
            now = time.perf_counter()
            if rate is None:
                scheduled = now
            else:
                scheduled = started + next(tickets) / rate
                if scheduled > now:
                    await asyncio.sleep(scheduled - now)
            if scheduled >= ends:
                return
            query = next(order) % len(bodies)
            body = bodies[query]
            results = 0
            try:
                code, answer = await client.request("POST", "match", body)
                status = str(code)
                if code == 200:
                    results = len(json.loads(answer)["results"])
                else:
                    examples.setdefault(status, answer[:300].decode("utf-8", "replace"))
            except (OSError, TimeoutError, HttpClientError, ValueError, KeyError) as error:
                status = type(error).__name__
                examples.setdefault(status, str(error)[:300])
            finished = time.perf_counter()
            outcomes.append(Outcome(finished, finished - scheduled, status, results, query))

    await asyncio.gather(*(send_requests() for _ in range(concurrency)))
    return outcomes, examples, started


def _percentile(sorted_values: list[float], percent: float) -> float:
    """Nearest-rank percentile of values sorted ascending."""
    rank = math.ceil(percent / 100 * len(sorted_values) - 1e-9)
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def _busy_cpu_seconds() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat; None elsewhere."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(value) for value in fields[:8]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    hertz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hertz, sum(ticks) / hertz


def _process_cpu_seconds(pids: list[int]) -> float | None:
    """User + system CPU seconds the processes `pids` have used so far; None without any, or
    when one is gone (its time can no longer be read)."""
    if not pids:
        return None
    total = 0
    try:
        for pid in pids:
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, ValueError, IndexError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


async def run(arguments: argparse.Namespace, queries: QuerySet) -> dict[str, Any]:
    headers = {
        "X-Auth-Token": arguments.token,
        "Content-Type": MEDIA_TYPE,
        "Accept": MEDIA_TYPE,
    }
    client = LeanHttpClient(arguments.url, headers, arguments.timeout)
    code, answer = await client.request("GET", "heartbeat")
    if code != 200:
        sys.exit(f"GET {arguments.url.rstrip('/')}/heartbeat: {code} {answer[:300]!r}")
    order = itertools.count()
    warmup, warmup_examples, _ = await run_phase(
        client,
        queries.bodies,
        order,
        seconds=arguments.warmup,
        concurrency=arguments.concurrency,
        rate=None,
    )
    cpu_before = _busy_cpu_seconds()
    server_before = _process_cpu_seconds(arguments.server_pids)
    process_before = time.process_time()
    outcomes, examples, started = await run_phase(
        client,
        queries.bodies,
        order,
        seconds=arguments.duration,
        concurrency=arguments.concurrency,
        rate=arguments.rate,
    )
    client_cpu = time.process_time() - process_before
    server_after = _process_cpu_seconds(arguments.server_pids)
    cpu_after = _busy_cpu_seconds()

    elapsed = max(outcome.finished for outcome in outcomes) - started
    statuses = Counter(outcome.status for outcome in outcomes)
    errors = sum(count for status, count in statuses.items() if status != "200")
    latencies = sorted(outcome.latency * 1000 for outcome in outcomes)
    answered = [outcome.results for outcome in outcomes if outcome.status == "200"]
    # Whole windows only: the requests still in flight at the end finish after it.
    full_windows = int(arguments.duration // WINDOW_SECONDS)
    windows = Counter(int((outcome.finished - started) // WINDOW_SECONDS) for outcome in outcomes)
    machine_busy = None
    if cpu_before and cpu_after:
        machine_busy = (cpu_after[0] - cpu_before[0]) / (cpu_after[1] - cpu_before[1])
    warmup_statuses = Counter(outcome.status for outcome in warmup)
    # What the node must have recorded: one incoming match per result of each patient's last
    # answer (a patient asked again gets the same results; its matches are refreshed, not added).
    last_results = {
        outcome.query: outcome.results
        for outcome in sorted(warmup + outcomes, key=lambda outcome: outcome.finished)
        if outcome.status == "200"
    }
    return {
        "last_results": last_results,
        "requests": len(outcomes),
        "errors": errors,
        "statuses": dict(sorted(statuses.items())),
        "error_examples": examples,
        "requests_per_s": round(len(outcomes) / elapsed, 1),
        "per_window_per_s": [
            round(windows[window] / WINDOW_SECONDS, 1) for window in range(full_windows)
        ],
        "p50_ms": round(_percentile(latencies, 50), 1),
        "p90_ms": round(_percentile(latencies, 90), 1),
        "p95_ms": round(_percentile(latencies, 95), 1),
        "p99_ms": round(_percentile(latencies, 99), 1),
        "max_ms": round(latencies[-1], 1),
        "mean_results": round(sum(answered) / len(answered), 2) if answered else 0.0,
        "answers_with_results": round(sum(count > 0 for count in answered) / len(answered), 3)
        if answered
        else 0.0,
        "client_cpu_share": round(client_cpu / elapsed, 3),
        "server_cpu_ms_per_request": round((server_after - server_before) * 1000 / len(outcomes), 1)
        if server_before is not None and server_after is not None
        else None,
        "machine_cpu_busy": round(machine_busy, 3) if machine_busy is not None else None,
        "warmup_requests": len(warmup),
        "warmup_statuses": dict(sorted(warmup_statuses.items())),
        "warmup_error_examples": warmup_examples,
        "warmup_max_ms": round(max(outcome.latency for outcome in warmup) * 1000, 1)
        if warmup
        else None,
    }


def count_lost_matches(
    bodies: list[bytes], last_results: dict[int, int], *, timeout: float
) -> dict[str, Any]:
    """Wait for the node's worker to record the incoming matches; how many never were.

    Reads the node's database directly (this process has its settings): the incoming matches of
    each query patient (ids are new each run), against the results of its last answer.
    """
    from django.db import close_old_connections

    from matchmaker.casework.models import Match

    expected = {
        json.loads(bodies[query])["patient"]["id"]: results
        for query, results in last_results.items()
    }
    started = time.monotonic()
    while True:
        close_old_connections()
        recorded = Counter(
            Match.objects.filter(
                direction=Match.Direction.INCOMING,
                remote_patient_id__in=list(expected),
                removed_at__isnull=True,
            ).values_list("remote_patient_id", flat=True)
        )
        lost = sum(max(0, count - recorded[patient]) for patient, count in expected.items())
        if lost == 0 or time.monotonic() - started > timeout:
            break
        time.sleep(5)
    return {
        "incoming_expected": sum(expected.values()),
        "incoming_recorded": sum(recorded[patient] for patient in expected),
        "lost": lost,
        "drain_s": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the node's MME base URL, e.g. .../mme")
    parser.add_argument("--token", required=True, help="X-Auth-Token of a peer of that node")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before, not counted")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight (max)")
    parser.add_argument("--rate", type=float, help="requests a second (open loop)")
    parser.add_argument("--queries", type=int, default=500, help="distinct query patients")
    parser.add_argument("--seed", type=int, default=7, help="which phenopackets become queries")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument("--phenopackets", type=Path, default=DATA)
    parser.add_argument("--test-queries", action="store_true", help='send them as "test": true')
    parser.add_argument(
        "--mix",
        choices=("as-published", "phenotype"),
        default="as-published",
        help="as-published: terms and genes; phenotype: the same patients without their genes",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=900.0,
        help="seconds to wait after the run for the worker to record every incoming match",
    )
    parser.add_argument(
        "--server-pids",
        type=lambda text: [int(pid) for pid in text.split(",") if pid],
        default=[],
        help="comma-separated PIDs of the server's processes (gunicorn's workers): their CPU "
        "per request is reported",
    )
    parser.add_argument(
        "--id-prefix",
        default=f"load-{secrets.token_hex(3)}-",
        help="prefix of the patient ids (default: new each run; '' for the phenopacket ids)",
    )
    arguments = parser.parse_args()
    if arguments.duration < WINDOW_SECONDS:
        parser.error(f"--duration: at least {WINDOW_SECONDS} seconds")

    started = time.perf_counter()
    queries = build_queries(
        arguments.phenopackets,
        arguments.queries,
        arguments.seed,
        test=arguments.test_queries,
        id_prefix=arguments.id_prefix,
        genes=arguments.mix != "phenotype",
    )
    refused = ", ".join(f"{count} {reason}" for reason, count in queries.refused.most_common())
    print(
        f"{len(queries.bodies)} query patients from {arguments.phenopackets.name} in "
        f"{time.perf_counter() - started:.1f} s: {queries.mean_features:.1f} HPO terms each "
        f"({queries.dropped_terms} unknown to the node's release left out), "
        f"{queries.with_gene / len(queries.bodies):.0%} with a gene; skipped: {refused or 'none'}"
    )
    mode = (
        f"open loop at {arguments.rate:g}/s, at most {arguments.concurrency} in flight"
        if arguments.rate
        else f"closed loop, {arguments.concurrency} clients"
    )
    print(
        f"POST {arguments.url.rstrip('/')}/match: {mode}, {arguments.warmup:g} s warm-up, "
        f"then {arguments.duration:g} s measured"
    )
    figures = asyncio.run(run(arguments, queries))
    last_results = figures.pop("last_results")
    if not arguments.test_queries:
        figures.update(
            count_lost_matches(queries.bodies, last_results, timeout=arguments.drain_timeout)
        )
        print(
            f"incoming matches recorded after the run: {figures['incoming_recorded']} of "
            f"{figures['incoming_expected']} (answers' results), lost {figures['lost']}, "
            f"after waiting {figures['drain_s']} s for the worker"
        )

    print(
        f"warm-up: {figures['warmup_requests']} requests {figures['warmup_statuses']}, "
        f"slowest {figures['warmup_max_ms']} ms"
    )
    for status, text in figures["warmup_error_examples"].items():
        print(f"  warm-up {status}: {text}")
    print(
        f"requests {figures['requests']} ({figures['requests_per_s']}/s; per "
        f"{WINDOW_SECONDS} s: {figures['per_window_per_s']}), errors {figures['errors']} "
        f"{figures['statuses']}"
    )
    for status, text in figures["error_examples"].items():
        print(f"  {status}: {text}")
    print(
        f"latency ms: p50 {figures['p50_ms']}, p90 {figures['p90_ms']}, p95 {figures['p95_ms']}, "
        f"p99 {figures['p99_ms']}, max {figures['max_ms']}"
    )
    print(
        f"results per answer: mean {figures['mean_results']} "
        f"({figures['answers_with_results']:.0%} of answers with at least one)"
    )
    busy = figures["machine_cpu_busy"]
    print(
        f"load generator CPU: {figures['client_cpu_share']:.0%} of one core; whole machine busy "
        f"{'?' if busy is None else f'{busy:.0%}'} of {os.cpu_count()} cores"
    )
    server_cpu = figures["server_cpu_ms_per_request"]
    if server_cpu is not None:
        print(f"server CPU per request: {server_cpu} ms ({len(arguments.server_pids)} processes)")
    print(
        json.dumps(
            {
                "url": arguments.url,
                "mix": arguments.mix,
                "concurrency": arguments.concurrency,
                "rate": arguments.rate,
                "duration_s": arguments.duration,
                "queries": len(queries.bodies),
                "test_queries": arguments.test_queries,
                "id_prefix": arguments.id_prefix,
                **{
                    key: value
                    for key, value in figures.items()
                    if not key.endswith("examples") and key != "warmup_statuses"
                },
            }
        )
    )


if __name__ == "__main__":
    main()
