"""Two of our own nodes, each a separate server process with its own database, matching over HTTP.

On the plain run each node uses SQLite and runs tasks in-process; on the PostgreSQL + Redis run
each has its own PostgreSQL database and its own Celery worker (own queue, own cache prefix).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings

from tests.conftest import REPO_ROOT, free_port, start_celery_worker, wait_until

# No Django test database here: each node migrates its own, in its own process.
TOKEN_A_SENDS = "token-node-a-sends-to-b-0123456789"
TOKEN_B_SENDS = "token-node-b-sends-to-a-0123456789"


def ngly1_patient(patient_id: str, *terms: str) -> dict[str, Any]:
    return {
        "id": patient_id,
        "contact": {"name": f"Dr {patient_id}", "href": f"mailto:{patient_id}@example.org"},
        "features": [{"id": term} for term in terms],
        "genomicFeatures": [{"gene": {"id": "NGLY1"}, "zygosity": 2}],
    }


@dataclass
class Node:
    name: str
    environment: dict[str, str]
    port: int
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mme"

    def manage(self, *arguments: str, stdin: str | None = None) -> str:
        done = subprocess.run(  # noqa: S603 (fixed arguments)
            [sys.executable, "manage.py", *arguments],
            cwd=REPO_ROOT,
            env=self.environment,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"{self.name}: manage.py {arguments}\n{done.stderr}"
        return done.stdout

    def query(self, code: str) -> Any:
        """Run Python in the node's environment; `code` sets `result`, printed as JSON."""
        script = (
            "import json\nfrom matchmaker.casework.models import Match\n"
            "from matchmaker.federation.models import PeerSearch\n"
            f"{code}\nprint('RESULT' + json.dumps(result))"
        )
        output = self.manage("shell", "-c", script)
        return json.loads(output.rsplit("RESULT", 1)[1])

    def start(self, log_dir: Path) -> None:
        web = self._spawn(
            [
                "-m",
                "gunicorn",
                "matchmaker.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--threads",
                "4",
            ],
            log_dir / f"{self.name}-web.log",
        )
        self.processes.append(web)
        if self.environment.get("REDIS_URL"):
            queue = self.environment["CELERY_TASK_DEFAULT_QUEUE"]
            self.processes.append(
                start_celery_worker(
                    queue,
                    log_dir / f"{self.name}-worker.log",
                    environment=self.environment,
                    pool=("--pool", "threads", "--concurrency", "4"),
                )
            )
        assert wait_until(self._answers, timeout=60), (log_dir / f"{self.name}-web.log").read_text()

    def _spawn(self, arguments: list[str], log: Path) -> subprocess.Popen[bytes]:
        output = log.open("wb")
        return subprocess.Popen(  # noqa: S603 (fixed arguments)
            [sys.executable, *arguments],
            cwd=REPO_ROOT,
            env=self.environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/heartbeat", timeout=1).status_code == 401
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)


def _node_environment(name: str, tmp_path: Path) -> dict[str, str]:
    environment = {
        **os.environ,
        "DEBUG": "True",
        "FEDERATION_ALLOW_HTTP": "True",
        "FEDERATION_DEBOUNCE_SECONDS": "0",
        "GENE_CATALOGUE_PATH": str(settings.GENE_CATALOGUE_PATH),
        "CASE_INDEX_PATH": str(tmp_path / f"{name}-index.npz"),
        "SITE_NAME": f"node {name}",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    if os.environ.get("POSTGRES_HOST"):
        environment["POSTGRES_DB"] = f"e2e_{name}_{os.getpid()}"
    else:
        environment["SQLITE_PATH"] = str(tmp_path / f"{name}.sqlite3")
    if os.environ.get("REDIS_URL"):
        environment["CELERY_TASK_DEFAULT_QUEUE"] = f"e2e-{name}-{os.getpid()}"
        environment["CACHE_KEY_PREFIX"] = f"e2e-{name}-{os.getpid()}"
    return environment


def _postgres_admin(*statements: str) -> None:
    """Run statements on the server's `postgres` database (creating and dropping nodes' ones)."""
    import psycopg

    with psycopg.connect(
        host=os.environ["POSTGRES_HOST"],
        user=os.environ.get("POSTGRES_USER", "postgres"),
        dbname="postgres",
        autocommit=True,
    ) as connection:
        for statement in statements:
            connection.execute(statement)


def _create_database(name: str) -> None:
    _postgres_admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')


def _drop_database(name: str) -> None:
    _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    nodes = [Node(name, _node_environment(name, tmp_path), free_port()) for name in ("a", "b")]
    try:
        for node in nodes:
            if "POSTGRES_DB" in node.environment and os.environ.get("POSTGRES_HOST"):
                _create_database(node.environment["POSTGRES_DB"])
            node.manage("migrate", "--verbosity", "0")
            node.start(tmp_path)
        yield nodes[0], nodes[1]
    finally:
        for node in nodes:
            node.stop()
            if os.environ.get("POSTGRES_HOST"):
                _drop_database(node.environment["POSTGRES_DB"])


def test_two_nodes_joined_by_tokens_find_each_others_cases(two_nodes, tmp_path) -> None:
    node_a, node_b = two_nodes
    node_a.manage(
        "add_peer", "Node B", "--base-url", node_b.base_url,
        "--inbound-token", TOKEN_B_SENDS, "--outbound-token", TOKEN_A_SENDS,
    )  # fmt: skip
    node_b.manage(
        "add_peer", "Node A", "--base-url", node_a.base_url,
        "--inbound-token", TOKEN_A_SENDS, "--outbound-token", TOKEN_B_SENDS,
    )  # fmt: skip
    # Related cases: NGLY1 with overlapping features, one at each node, consented.
    for node, patient in (
        (node_a, ngly1_patient("a-proband", "HP:0001250", "HP:0001263", "HP:0000252")),
        (node_b, ngly1_patient("b-proband", "HP:0001250", "HP:0001263", "HP:0002167")),
    ):
        path = tmp_path / f"{node.name}-patient.json"
        path.write_text(json.dumps([patient]))
        node.manage("import_mme", str(path), "--consented", "--institution", f"Clinic {node.name}")

    # Node A: a clinician edits the case; saving searches every peer (over HTTP, after commit).
    node_a.manage(
        "shell",
        "-c",
        "from matchmaker.cases.models import Case\n"
        "from matchmaker.cases.selectors import case_record_of\n"
        "from matchmaker.casework.services import update_case\n"
        "case = Case.objects.get(label='a-proband')\n"
        "update_case(case, case_record_of(case))",
    )

    def outgoing_at_a() -> Any:
        return node_a.query(
            "result = list(Match.objects.filter(direction='outgoing')"
            ".values_list('remote_patient_id', 'peer__name', 'score'))"
        )

    assert wait_until(lambda: bool(outgoing_at_a()), timeout=90)
    [(remote_id, peer_name, score)] = outgoing_at_a()
    b_public_id = node_b.query(
        "from matchmaker.cases.models import Case\n"
        "result = Case.objects.get(label='b-proband').public_id"
    )
    assert (remote_id, peer_name) == (b_public_id, "Node B")
    assert 0 < score <= 1
    # Node B saw the query: its owner has an incoming match with node A's case.
    incoming_at_b = node_b.query(
        "result = list(Match.objects.filter(direction='incoming')"
        ".values_list('case__label', 'peer__name', 'remote_patient_id'))"
    )
    a_public_id = node_a.query(
        "from matchmaker.cases.models import Case\n"
        "result = Case.objects.get(label='a-proband').public_id"
    )
    assert incoming_at_b == [["b-proband", "Node A", a_public_id]]
    assert node_a.query(
        "result = list(PeerSearch.objects.values_list('status', 'result_count'))"
    ) == [["answered", 1]]

    # And the other way round, as an operator would check a new peer.
    output = node_b.manage("match", b_public_id, "--peers")
    assert "Node A: answered, 1 results" in output
    assert a_public_id in output
    assert (
        node_a.query(
            "result = Match.objects.filter(direction='incoming', remote_patient_id="
            f"{b_public_id!r}).count()"
        )
        == 1
    )
