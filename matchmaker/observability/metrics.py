"""Counters and latency histograms shared by every web and worker process, for /metrics.

Several gunicorn workers and Celery workers each count what they see; Prometheus scrapes one of
them at a time. So the counts live in Redis (one hash per metric, HINCRBY / HINCRBYFLOAT, one
pipelined round trip per event) when Redis is configured, and in this process's memory otherwise
(the embedded default: one process, nothing to share). Counting is best effort by design: when
Redis cannot be reached, events are not counted for a few seconds and the request goes on; the
scrape then says `matchmaker_metrics_store_up 0`.

Gauges that the database already knows (cases, matches) are counted at scrape time instead.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

# Seconds. MME answers take tens of milliseconds; peers time out after seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# After a Redis error, events are dropped (not retried) for this long: a request must not pay a
# connection timeout each time while Redis is down.
_PAUSE_AFTER_ERROR_SECONDS = 10.0
# Counting happens on the request path: a slow Redis must cost milliseconds, not seconds.
_REDIS_TIMEOUT_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    kind: Literal["counter", "histogram"]
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()


MME_REQUESTS = Metric(
    "matchmaker_mme_requests_total",
    "counter",
    "MME API requests received from peers, by peer (empty: not authenticated), endpoint and "
    "HTTP status.",
    ("peer", "endpoint", "status"),
)
MME_REQUEST_DURATION = Metric(
    "matchmaker_mme_request_duration_seconds",
    "histogram",
    "Time to answer an MME API request, by endpoint.",
    ("endpoint",),
    LATENCY_BUCKETS,
)
PEER_QUERIES = Metric(
    "matchmaker_peer_queries_total",
    "counter",
    "MME match requests sent to peers, by peer and outcome (answered, malformed, refused = 4xx, "
    "server_error = 5xx, no_answer = timeout or connection error).",
    ("peer", "outcome"),
)
PEER_QUERY_DURATION = Metric(
    "matchmaker_peer_query_duration_seconds",
    "histogram",
    "Time a peer took to answer (or to fail), by peer.",
    ("peer",),
    LATENCY_BUCKETS,
)
TASK_FAILURES = Metric(
    "matchmaker_celery_task_failures_total",
    "counter",
    "Celery tasks that ended in an exception (after their retries), by task name.",
    ("task",),
)
TASK_RETRIES = Metric(
    "matchmaker_celery_task_retries_total",
    "counter",
    "Celery task attempts that failed and were retried, by task name.",
    ("task",),
)
IDENTIFIERS_NOT_IN_RELEASE = Metric(
    "matchmaker_identifiers_not_in_release_total",
    "counter",
    "Well-formed HPO ids (kind hpo_term) and genes (kind gene) in submissions and peers' queries "
    "that the loaded releases do not know: kept as submitted or ignored for scoring, never "
    "refused. A steady rise means peers use a newer release: load it.",
    ("kind",),
)
SHARED_METRICS = (
    MME_REQUESTS,
    MME_REQUEST_DURATION,
    PEER_QUERIES,
    PEER_QUERY_DURATION,
    TASK_FAILURES,
    TASK_RETRIES,
    IDENTIFIERS_NOT_IN_RELEASE,
)

# Samples of one metric: label values (plus, for histograms, the bucket bound, "sum" or "count")
# -> value. Histogram buckets are stored per bucket and made cumulative when exposed.
Samples = dict[tuple[str, ...], float]


# One change to a stored sample: (metric, its field, the amount to add).
Update = tuple[Metric, str, float]


def increment(metric: Metric, *label_values: str, amount: int = 1) -> None:
    """Add `amount` to a counter; never raises."""
    record(counted(metric, *label_values, amount=amount))


def observe(metric: Metric, seconds: float, *label_values: str) -> None:
    """Record one duration in a histogram; never raises."""
    record(timed(metric, seconds, *label_values))


def counted(metric: Metric, *label_values: str, amount: int = 1) -> list[Update]:
    """What `increment` records, for `record` to send together with other updates."""
    return [(metric, _field(label_values), amount)]


def timed(metric: Metric, seconds: float, *label_values: str) -> list[Update]:
    """What `observe` records, for `record` to send together with other updates."""
    bucket = next((bound for bound in metric.buckets if seconds <= bound), None)
    updates: list[Update] = [
        (metric, _field((*label_values, "count")), 1),
        (metric, _field((*label_values, "sum")), seconds),
    ]
    if bucket is not None:
        updates.append((metric, _field((*label_values, _bound(bucket))), 1))
    return updates


def record(updates: list[Update]) -> None:
    """Apply several updates at once (one Redis round trip); never raises."""
    try:
        _store().add(updates)
    except Exception:
        # Redis errors are handled by the store; this is for the unforeseen (a malformed
        # METRICS_REDIS_URL): the request being counted must go on all the same.
        logger.exception("metrics: could not count %s", updates[0][0].name)


def collect() -> tuple[dict[Metric, Samples], bool]:
    """Every shared metric's samples, and whether the store answered (False: Redis is down)."""
    return _store().read(SHARED_METRICS)


def _field(values: Iterable[str]) -> str:
    # JSON keeps any peer name (commas, quotes, newlines) apart from its neighbours.
    return json.dumps([str(value) for value in values], ensure_ascii=False)


def _bound(bucket: float) -> str:
    return format(bucket, "g")


class _MemoryStore:
    """This process's counts (no Redis configured)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: defaultdict[str, defaultdict[str, float]] = defaultdict(
            lambda: defaultdict(float)
        )

    def add(self, updates: list[tuple[Metric, str, float]]) -> None:
        with self._lock:
            for metric, field, amount in updates:
                self._values[metric.name][field] += amount

    def read(self, metrics: Iterable[Metric]) -> tuple[dict[Metric, Samples], bool]:
        with self._lock:
            return {
                metric: _decoded(self._values.get(metric.name, {}).items()) for metric in metrics
            }, True

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


class _RedisStore:
    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(
            url,
            socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
            socket_timeout=_REDIS_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),
        )
        self._paused_until = 0.0

    def _key(self, metric: Metric) -> str:
        return f"{settings.METRICS_KEY_PREFIX}{metric.name}"

    def add(self, updates: list[tuple[Metric, str, float]]) -> None:
        if time.monotonic() < self._paused_until:
            return
        try:
            pipeline = self._client.pipeline(transaction=False)
            for metric, field, amount in updates:
                if isinstance(amount, int):
                    pipeline.hincrby(self._key(metric), field, amount)
                else:
                    pipeline.hincrbyfloat(self._key(metric), field, amount)
            pipeline.execute()
        except (redis.RedisError, OSError) as error:
            self._paused_until = time.monotonic() + _PAUSE_AFTER_ERROR_SECONDS
            logger.warning(
                "metrics: Redis unreachable (%s); not counting for %.0f s",
                type(error).__name__,
                _PAUSE_AFTER_ERROR_SECONDS,
            )

    def read(self, metrics: Iterable[Metric]) -> tuple[dict[Metric, Samples], bool]:
        metrics = list(metrics)
        try:
            pipeline = self._client.pipeline(transaction=False)
            for metric in metrics:
                pipeline.hgetall(self._key(metric))
            hashes: list[dict[bytes, bytes]] = pipeline.execute()
        except (redis.RedisError, OSError) as error:
            logger.warning("metrics: cannot read counters from Redis (%s)", type(error).__name__)
            return {metric: {} for metric in metrics}, False
        return {
            metric: _decoded(
                (field.decode(), float(value.decode())) for field, value in values.items()
            )
            for metric, values in zip(metrics, hashes, strict=True)
        }, True

    def clear(self) -> None:
        """Delete this node's counters (tests; each uses its own METRICS_KEY_PREFIX)."""
        try:
            self._client.delete(*(self._key(metric) for metric in SHARED_METRICS))
        except (redis.RedisError, OSError):
            logger.warning("metrics: Redis unreachable; counters not cleared")


def _decoded(items: Iterable[tuple[str, float]]) -> Samples:
    samples: Samples = {}
    for field, value in items:
        try:
            labels = tuple(json.loads(field))
        except ValueError:
            continue  # not ours
        samples[labels] = value
    return samples


_memory_store = _MemoryStore()
_redis_stores: dict[str, _RedisStore] = {}
_stores_lock = threading.Lock()


def _store() -> _MemoryStore | _RedisStore:
    url = settings.METRICS_REDIS_URL
    if not url:
        return _memory_store
    with _stores_lock:
        store = _redis_stores.get(url)
        if store is None:
            store = _redis_stores[url] = _RedisStore(url)
        return store


def clear_counters() -> None:
    """Forget every shared count of this node (tests)."""
    _store().clear()


# --- Peer queries, counted from the audit log they already write ------------------------------


def outcome_of_peer_query(status_code: int | None, error: str) -> str:
    """The `outcome` label of an outbound query, from its audit row."""
    if status_code is None:
        return "no_answer"
    if 200 <= status_code < 300:
        return "malformed" if error else "answered"
    if status_code >= 500:
        return "server_error"
    return "refused"


def _count_outbound_audit_row(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    from matchmaker.federation.models import MmeRequestLog

    if not created or instance.direction != MmeRequestLog.Direction.OUTBOUND:
        return
    peer = instance.peer_name
    increment(PEER_QUERIES, peer, outcome_of_peer_query(instance.status_code, instance.error))
    if instance.latency_ms is not None:
        observe(PEER_QUERY_DURATION, instance.latency_ms / 1000, peer)


def _count_identifiers_not_in_release(
    sender: Any, terms: tuple[str, ...] = (), genes: tuple[str, ...] = (), **kwargs: Any
) -> None:
    if terms:
        increment(IDENTIFIERS_NOT_IN_RELEASE, "hpo_term", amount=len(terms))
    if genes:
        increment(IDENTIFIERS_NOT_IN_RELEASE, "gene", amount=len(genes))


def connect_identifier_counters() -> None:
    """Count the identifiers validation kept or ignored because the releases do not know them."""
    from matchmaker.cases.signals import identifiers_not_in_release

    identifiers_not_in_release.connect(
        _count_identifiers_not_in_release,
        dispatch_uid="matchmaker.observability.count_identifiers_not_in_release",
    )


def connect_audit_log_counters() -> None:
    """Count each outbound peer query when its audit row is written.

    Every query, answered or failed, writes exactly one `MmeRequestLog` row (federation
    services); observing that row counts them all without a second code path to keep in step.
    """
    from django.db.models.signals import post_save

    from matchmaker.federation.models import MmeRequestLog

    post_save.connect(
        _count_outbound_audit_row,
        sender=MmeRequestLog,
        dispatch_uid="matchmaker.observability.count_peer_queries",
    )


# --- Prometheus text exposition (format 0.0.4) --------------------------------------------------

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Iterable[str], values: Iterable[str]) -> str:
    pairs = [f'{name}="{_escape(value)}"' for name, value in zip(names, values, strict=True)]
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _header(name: str, kind: str, help_text: str) -> list[str]:
    help_text = help_text.replace("\\", "\\\\").replace("\n", "\\n")
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


@dataclass(frozen=True, slots=True)
class Gauge:
    """A value read at scrape time (from the database, or about the store itself)."""

    name: str
    help: str
    labels: tuple[str, ...]
    samples: dict[tuple[str, ...], float]


def exposition(shared: dict[Metric, Samples], gauges: Iterable[Gauge]) -> str:
    """Prometheus text: the shared counters and histograms, then the gauges."""
    lines: list[str] = []
    for metric, samples in shared.items():
        lines += _header(metric.name, metric.kind, metric.help)
        if metric.kind == "counter":
            for labels, value in sorted(samples.items()):
                if len(labels) == len(metric.labels):
                    lines.append(f"{metric.name}{_labels(metric.labels, labels)} {_number(value)}")
        else:
            lines += _histogram_lines(metric, samples)
    for gauge in gauges:
        lines += _header(gauge.name, "gauge", gauge.help)
        for labels, value in sorted(gauge.samples.items()):
            lines.append(f"{gauge.name}{_labels(gauge.labels, labels)} {_number(value)}")
    return "\n".join(lines) + "\n"


def _histogram_lines(metric: Metric, samples: Samples) -> list[str]:
    per_series: defaultdict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
    for key, value in samples.items():
        if len(key) == len(metric.labels) + 1:
            per_series[key[:-1]][key[-1]] = value
    lines = []
    for labels, parts in sorted(per_series.items()):
        count = parts.get("count", 0.0)
        cumulative = 0.0
        for bound in metric.buckets:
            cumulative += parts.get(_bound(bound), 0.0)
            bucket_labels = _labels((*metric.labels, "le"), (*labels, _bound(bound)))
            lines.append(f"{metric.name}_bucket{bucket_labels} {_number(cumulative)}")
        infinite = _labels((*metric.labels, "le"), (*labels, "+Inf"))
        lines.append(f"{metric.name}_bucket{infinite} {_number(count)}")
        series = _labels(metric.labels, labels)
        lines.append(f"{metric.name}_sum{series} {_number(parts.get('sum', 0.0))}")
        lines.append(f"{metric.name}_count{series} {_number(count)}")
    return lines
