"""/health/live and /health/ready: what a load balancer or an orchestrator asks each process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client

from matchmaker.observability import health
from tests.conftest import REPO_ROOT, free_port


def test_live_answers_ok_without_touching_the_database() -> None:
    # No `db` fixture: pytest-django refuses every query, so a query here would be a 500.
    response = Client().get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]
    assert "Set-Cookie" not in response.headers


@pytest.mark.django_db
def test_ready_answers_200_with_every_check_when_the_node_is_up() -> None:
    response = Client().get("/health/ready")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "hpo", "genes", "case_index"}
    for name in ("database", "hpo", "genes", "case_index"):
        assert body["checks"][name]["status"] == "ok"
        assert body["checks"][name]["ms"] >= 0
    expected_redis = "ok" if os.environ.get("REDIS_URL") else "not configured"
    assert body["checks"]["redis"]["status"] == expected_redis
    assert "Set-Cookie" not in response.headers


def test_probes_take_no_post_and_need_no_csrf_token() -> None:
    client = Client(enforce_csrf_checks=True)

    assert client.post("/health/live").status_code == 405
    assert client.head("/health/live").status_code == 200


@pytest.mark.django_db
def test_probes_over_plain_http_are_not_redirected_to_https(settings: Any) -> None:
    # In production every other page redirects to HTTPS; a probe talks to gunicorn directly.
    settings.SECURE_SSL_REDIRECT = True

    assert Client().get("/accounts/login/").status_code == 301
    assert Client().get("/health/live").status_code == 200
    assert Client().get("/health/ready").status_code == 200


@pytest.mark.django_db
def test_ready_is_503_naming_the_database_when_it_cannot_connect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse() -> None:
        raise OperationalError('connection to server at "db.internal" (10.0.0.5) failed')

    monkeypatch.setattr(connection, "ensure_connection", refuse)

    response = Client().get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["status"] == "failed"
    assert body["checks"]["database"]["error"] == "OperationalError"
    # What depends on the database is not tried (and not reported ok).
    for name in ("hpo", "genes", "case_index"):
        assert body["checks"][name] == {"status": "skipped"}
    # Nothing of the reason leaks to an unauthenticated caller; the log has it.
    assert "db.internal" not in response.content.decode()


@pytest.mark.django_db
def test_ready_is_503_naming_redis_when_it_does_not_answer(settings: Any) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"

    response = Client().get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["redis"]["status"] == "failed"
    assert body["checks"]["redis"]["error"] == "ConnectionError"
    assert body["checks"]["database"]["status"] == "ok"
    assert "127.0.0.1" not in response.content.decode()


@pytest.mark.django_db
def test_a_node_may_stay_ready_without_redis_when_told_to(settings: Any) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.HEALTH_REDIS_REQUIRED = False

    response = Client().get("/health/ready")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["redis"] == {
        "status": "failed",
        "ms": pytest.approx(response.json()["checks"]["redis"]["ms"]),
        "error": "ConnectionError",
        "required": False,
    }


@pytest.mark.django_db
def test_ready_is_503_when_the_hpo_cannot_be_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise FileNotFoundError("/var/lib/matchmaker/hpo-cache/hp.npz")

    monkeypatch.setattr(health, "check_hpo", missing)

    response = Client().get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["hpo"]["status"] == "failed"
    assert response.json()["checks"]["case_index"]["status"] == "ok"


def _probe_in_a_process(environment: dict[str, str]) -> Any:
    """GET /health/ready in a fresh `manage.py shell` with `environment` (its own settings)."""
    script = (
        "from django.test import Client\n"
        "response = Client(HTTP_HOST='localhost').get('/health/ready')\n"
        "print('RESULT', response.status_code, response.content.decode())\n"
    )
    done = subprocess.run(  # noqa: S603 (fixed arguments)
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=REPO_ROOT,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "RESULT" in done.stdout, done.stderr
    status, body = done.stdout.rsplit("RESULT ", 1)[1].split(" ", 1)
    return int(status), json.loads(body)


def test_ready_is_503_in_a_process_whose_database_is_unreachable(tmp_path: Any) -> None:
    if os.environ.get("POSTGRES_HOST"):
        broken = {"POSTGRES_PORT": str(free_port())}
    else:
        broken = {"SQLITE_PATH": str(tmp_path / "no-such-folder" / "matchmaker.sqlite3")}

    status, body = _probe_in_a_process(broken)

    assert status == 503
    assert body["checks"]["database"]["status"] == "failed"
    assert body["checks"]["database"]["error"] == "OperationalError"
    assert body["status"] == "unavailable"
