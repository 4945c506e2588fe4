"""Shared fixtures: the real HPO release and gene catalogue, and a fixed cast of users.

alice and bob are clinicians at the same institution; carol works elsewhere.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User

from matchmaker.cases.models import Institution, Membership
from matchmaker.reference.ontology import configured_hpo_sources, reset_reference_data
from ontologies.genes import build_from_hpo_annotations, build_from_org_hs_eg_db, merge_catalogues

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
PHENOPACKETS_DEV = SHARED_DATA / "phenopackets-dev.jsonl.gz"
MME_BENCHMARK = SHARED_DATA / "mme-benchmark-patients.json"


def org_hs_eg_db_path() -> Path | None:
    path = Path(
        os.environ.get("ORG_HS_EG_DB_SQLITE", settings.DATA_DIR / "reference" / "org.Hs.eg.sqlite")
    )
    return path if path.exists() else None


def free_port() -> int:
    """A loopback port nothing listens on: bound, then released (for a server to start on, or
    for a client to be refused by)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session", autouse=True)
def gene_catalogue_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Build the gene catalogue the way `load_genes` does, once per test session.

    Tests never read the developer's own catalogue under var/, so results do not depend on what
    was loaded by hand.
    """
    genes_path = configured_hpo_sources().genes_path
    assert genes_path is not None
    catalogues = [build_from_hpo_annotations(genes_path)]
    org_db = org_hs_eg_db_path()
    if org_db is not None:
        catalogues.insert(0, build_from_org_hs_eg_db(org_db))
    path = tmp_path_factory.mktemp("genes") / "genes.json.gz"
    merge_catalogues(*catalogues).save(path)
    previous = settings.GENE_CATALOGUE_PATH
    settings.GENE_CATALOGUE_PATH = path
    reset_reference_data()
    yield path
    settings.GENE_CATALOGUE_PATH = previous
    reset_reference_data()


def require_org_hs_eg_db() -> Path:
    """The org.Hs.eg.db sqlite; skips the test where it was not fetched (fails in CI)."""
    path = org_hs_eg_db_path()
    if path is None:
        message = "org.Hs.eg.sqlite not fetched: run scripts/fetch-reference-data"
        # CI fetches it: there, its absence is a failure, not a reason to skip.
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def own_cache(settings: Any) -> None:
    """An empty cache of this test's own (rate-limit counters, cached metrics).

    Not `cache.clear()`: on Redis that is FLUSHDB, which would also empty the Celery queues the
    other test processes and their workers are using.
    """
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"test-{uuid.uuid4()}",
        }
    }


@pytest.fixture
def requires_full_gene_catalogue() -> None:
    require_org_hs_eg_db()


@pytest.fixture
def institution(db: None) -> Institution:
    return Institution.objects.create(
        name="Example Genetics", contact_name="Genetics team", contact_email="mme@example.org"
    )


@pytest.fixture
def other_institution(db: None) -> Institution:
    return Institution.objects.create(name="Elsewhere Hospital", contact_email="mme@elsewhere.org")


def _member(username: str, institution: Institution) -> User:
    user = User.objects.create_user(username=username, password="correct horse battery staple")
    Membership.objects.create(user=user, institution=institution)
    return user


@pytest.fixture
def alice(institution: Institution) -> User:
    return _member("alice", institution)


@pytest.fixture
def bob(institution: Institution) -> User:
    return _member("bob", institution)


@pytest.fixture
def carol(other_institution: Institution) -> User:
    return _member("carol", other_institution)


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str | None]:
    """A real Celery worker on Redis for this test process, or None when tasks run eagerly.

    With REDIS_URL set (the CI run on PostgreSQL and Redis), tasks go to Redis and only a worker
    runs them: this starts one (`celery -A matchmaker worker`) on a queue of its own, against
    this test process's test database. Tests using it must commit their data
    (`@pytest.mark.django_db(transaction=True)`) so that the worker can see it.
    """
    if settings.CELERY_TASK_ALWAYS_EAGER:
        yield None
        return
    worker_name = os.environ.get("PYTEST_XDIST_WORKER", "main")
    queue = f"tests-{worker_name}-{os.getpid()}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    from matchmaker.celery import app

    app.conf.task_default_queue = queue
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    environment = worker_environment(
        queue,
        tmp_path_factory.mktemp("index") / "case-index.npz",
        # Transient peer failures are retried within the test's patience.
        FEDERATION_RETRY_BACKOFF_SECONDS="0.2",
        FEDERATION_MAX_RETRIES="1",
    )
    worker = start_celery_worker(queue, log, environment=environment)
    try:
        yield queue
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def worker_environment(queue: str, index_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a Celery worker serving this test process's database on `queue`."""
    from django.db import connection

    return {
        **os.environ,
        "POSTGRES_DB": connection.settings_dict["NAME"],
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "GENE_CATALOGUE_PATH": str(settings.GENE_CATALOGUE_PATH),
        "CASE_INDEX_PATH": str(index_path),
        **extra,
    }


def start_celery_worker(
    queue: str,
    log: Path,
    *,
    environment: dict[str, str],
    pool: tuple[str, ...] = ("--pool", "solo"),
    hostname: str | None = None,
) -> subprocess.Popen[bytes]:
    """`celery -A matchmaker worker` on `queue`, logging to `log`, once it says it is ready."""
    with log.open("wb") as output:
        worker = subprocess.Popen(  # noqa: S603 (fixed arguments)
            [
                sys.executable, "-m", "celery", "-A", "matchmaker", "worker", *pool,
                "--queues", queue, "--loglevel", "INFO", "--hostname", f"{hostname or queue}@%h",
            ],
            cwd=REPO_ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while "ready" not in log.read_text():
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            raise RuntimeError(f"the Celery worker did not start:\n{log.read_text()}")
        time.sleep(0.2)
    return worker


@pytest.fixture(autouse=True)
def _worker_idle_at_teardown(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that used the real worker ends only when the worker is idle again.

    Otherwise a task still running (a second matching run, a notification) holds row locks
    while the test database is flushed, and the flush deadlocks with it.
    """
    yield
    if "celery_worker_process" in request.fixturenames:
        queue = request.getfixturevalue("celery_worker_process")
        if queue is not None and not wait_for_idle_worker(queue):
            pytest.fail(f"the Celery worker on {queue} was still busy 30 s after the test")


def wait_for_idle_worker(queue: str, *, timeout: float = 30.0) -> bool:
    """Wait until nothing is queued for, reserved by or running on the test worker of `queue`."""
    from matchmaker.celery import app

    destination = [f"{queue}@{socket.gethostname()}"]

    def idle() -> bool:
        with app.connection_for_write() as connection:
            if connection.default_channel.client.llen(queue):
                return False
        inspector = app.control.inspect(destination=destination, timeout=1.0)
        active, reserved = inspector.active(), inspector.reserved()
        # A solo-pool worker answers control messages only between tasks: no answer = busy.
        if not active or not reserved:
            return False
        return not any(active.values()) and not any(reserved.values())

    return wait_until(idle, timeout=timeout)


def wait_until(condition: Callable[[], bool], *, timeout: float = 30.0) -> bool:
    """Poll `condition` until it holds (for work done by a real worker) or the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.fixture(autouse=True)
def _fresh_case_index() -> Iterator[None]:
    """Each test starts with no in-memory case index: rolled-back tests leave stale ones."""
    from matchmaker.matching.index import forget_case_index

    forget_case_index()
    yield
    forget_case_index()


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Run Celery tasks in this process even on the Redis run (for tests of one service chain)."""
    from matchmaker.celery import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous
