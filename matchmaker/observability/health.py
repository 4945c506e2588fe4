"""Readiness checks: can this process answer requests right now?

Each check runs on every probe (nothing is cached: a cached "ok" would hide an outage) and is
cheap once the process is warm: `SELECT 1`, a Redis PING, the already loaded HPO and gene
catalogue, and the case index's catch-up query. The first probe of a fresh process loads them
(seconds, mostly the gene catalogue), which is what readiness means: a process is not ready until
it could answer a match, and then the first peer's query does not pay for the loading.

What a probe answers names each check and whether it passed, never why in detail (the reason
goes to the log): the endpoint needs no credentials, and error messages can carry host names.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.db import connection
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

_REDIS_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: str  # "ok", "failed", "skipped" (a check it depends on failed) or "not configured"
    milliseconds: float | None = None
    error: str = ""  # the exception's class name only
    required: bool = True

    @property
    def blocks_readiness(self) -> bool:
        return self.required and self.status in ("failed", "skipped")

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {"status": self.status}
        if self.milliseconds is not None:
            body["ms"] = round(self.milliseconds, 1)
        if self.error:
            body["error"] = self.error
        if not self.required:
            body["required"] = False
        return body


@dataclass(frozen=True, slots=True)
class Readiness:
    checks: list[CheckResult]
    # The age of the loaded HPO release and gene catalogue: information, never a reason to be
    # unready (an old release still answers; `stale` says it is past REFERENCE_RELEASE_MAX_AGE_DAYS).
    releases: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return not any(check.blocks_readiness for check in self.checks)

    def as_json(self) -> dict[str, object]:
        degraded = any(check.status == "failed" for check in self.checks)
        status = "unavailable" if not self.ready else "degraded" if degraded else "ok"
        body: dict[str, object] = {
            "status": status,
            "checks": {check.name: check.as_json() for check in self.checks},
        }
        if self.releases:
            body["releases"] = self.releases
        return body


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def redis_urls() -> list[str]:
    """The Redis servers this process needs: the broker, and the cache when it is elsewhere."""
    urls = [settings.REDIS_URL] if settings.REDIS_URL else []
    cache = settings.CACHES.get("default", {})
    if cache.get("BACKEND", "").endswith("RedisCache"):
        location = cache.get("LOCATION")
        for url in location if isinstance(location, list | tuple) else [location]:
            if url and url not in urls:
                urls.append(url)
    return urls


_redis_clients: dict[str, redis.Redis] = {}
_redis_clients_lock = threading.Lock()


def _redis_client(url: str) -> redis.Redis:
    with _redis_clients_lock:
        client = _redis_clients.get(url)
        if client is None:
            client = _redis_clients[url] = redis.Redis.from_url(
                url,
                socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
                socket_timeout=_REDIS_TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 0),
            )
        return client


def check_redis() -> None:
    for url in redis_urls():
        _redis_client(url).ping()


def check_hpo() -> None:
    from matchmaker.reference.ontology import get_hpo

    get_hpo()


def check_genes() -> None:
    """The gene catalogue every query's genes are resolved with (seconds to load: warm it here)."""
    from matchmaker.reference.ontology import get_gene_catalogue

    get_gene_catalogue()


def check_case_index() -> None:
    """Load this process's case index, or apply the changes other processes made since."""
    from matchmaker.matching.index import get_case_index

    get_case_index()


def _run(name: str, check: Callable[[], None], *, required: bool = True) -> CheckResult:
    started = time.perf_counter()
    try:
        check()
    except Exception as error:
        logger.warning("readiness check %s failed", name, exc_info=True)
        return CheckResult(
            name,
            "failed",
            (time.perf_counter() - started) * 1000,
            error=type(error).__name__,
            required=required,
        )
    return CheckResult(name, "ok", (time.perf_counter() - started) * 1000, required=required)


def readiness() -> Readiness:
    """Run every check; those that need the database are skipped when it is down."""
    checks = [_run("database", check_database)]
    if redis_urls():
        checks.append(_run("redis", check_redis, required=settings.HEALTH_REDIS_REQUIRED))
    else:
        checks.append(CheckResult("redis", "not configured", required=False))
    database_up = checks[0].status == "ok"
    for name, check in (
        ("hpo", check_hpo),
        ("genes", check_genes),
        ("case_index", check_case_index),
    ):
        checks.append(_run(name, check) if database_up else CheckResult(name, "skipped"))
    return Readiness(checks, releases=_release_ages() if database_up else {})


def _release_ages() -> dict[str, dict[str, object]]:
    from matchmaker.reference.releases import loaded_release_ages

    try:
        return {age.kind: age.as_json() for age in loaded_release_ages()}
    except Exception:
        logger.warning("could not read the reference release ages", exc_info=True)
        return {}
