"""A worker killed in the middle of a fan-out: its task is redone, every result stored once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from matchmaker.casework.models import Match
from matchmaker.federation.models import PeerSearch
from matchmaker.federation.services import add_peer
from tests.conftest import start_celery_worker, wait_until, worker_environment
from tests.factories import make_case
from tests.federation.fake_peers import FakeNodeHandler, answering, remote_result

pytestmark = [
    pytest.mark.alone,
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"),
        reason="needs Redis and real workers (runs in the PostgreSQL + Redis pass of .ci/run)",
    ),
]


def _start_worker(queue: str, log: Path) -> subprocess.Popen[bytes]:
    environment = worker_environment(
        queue,
        log.with_suffix(".npz"),
        # What a dead worker had taken is handed out again after 3 s, not two hours.
        CELERY_VISIBILITY_TIMEOUT="3",
        CELERY_UNACKED_RESTORE_INTERVAL="1",
        CELERY_UNACKED_RESTORE_THROTTLE="1",
    )
    return start_celery_worker(queue, log, environment=environment, hostname=log.stem)


@pytest.fixture
def own_queue(settings) -> Iterator[str]:
    """Tasks of this test go to a queue of its own (its workers), and back afterwards."""
    from matchmaker.celery import app

    queue = f"kill-test-{os.getpid()}"
    previous = app.conf.task_default_queue
    settings.CELERY_TASK_DEFAULT_QUEUE = app.conf.task_default_queue = queue
    yield queue
    app.conf.task_default_queue = previous


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_fan_out_loses_and_duplicates_nothing(
    own_queue, serve, institution, settings, tmp_path
) -> None:
    queue = own_queue
    settings.FEDERATION_DEBOUNCE_SECONDS = 0

    def slow(handler: FakeNodeHandler) -> None:
        time.sleep(4)
        answering(remote_result("slow-1"), remote_result("slow-2"))(handler)

    slow_node = serve(slow)
    fast_nodes = [serve(answering(remote_result(f"fast-{n}"))) for n in range(2)]
    for name, node in [("Slow Node", slow_node)] + [
        (f"Fast Node {n}", node) for n, node in enumerate(fast_nodes)
    ]:
        peer = add_peer(name, base_url=node.base_url, outbound_token="token-we-send-0123456789")
        peer.timeout_seconds = 30
        peer.save()

    first = _start_worker(queue, tmp_path / "first-worker.log")
    try:
        case = make_case(institution=institution, consented=True)
        # The slow peer has the query: the worker is in the middle of that task. Kill it hard.
        assert wait_until(lambda: slow_node.requests, timeout=60)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()

    second = _start_worker(queue, tmp_path / "second-worker.log")
    try:
        assert wait_until(
            lambda: PeerSearch.objects.filter(case=case, status="answered").count() == 3,
            timeout=90,
        ), list(PeerSearch.objects.values_list("peer__name", "status", "detail"))
    finally:
        second.terminate()
        second.wait(timeout=30)

    assert len(slow_node.requests) == 2  # the killed task was redone, once
    stored = sorted(
        Match.objects.filter(case=case, direction="outgoing").values_list(
            "remote_patient_id", flat=True
        )
    )
    assert stored == ["fast-0", "fast-1", "slow-1", "slow-2"]  # each exactly once
