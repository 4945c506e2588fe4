"""Settings come from the environment, and production refuses development defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PRODUCTION_ENVIRONMENT = {
    "DEBUG": "False",
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789abcdefghijklmnop",
    "POSTGRES_HOST": "127.0.0.1",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
    "ALLOWED_HOSTS": "matchmaker.example.org",
}


def manage(*args: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in {"POSTGRES_HOST", "REDIS_URL", "DEBUG", "SECRET_KEY"}
    }
    return subprocess.run(  # noqa: S603 (fixed arguments)
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env={**clean, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_refuses_development_defaults() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", environment={"DEBUG": "False"})
    assert result.returncode != 0
    for check_id in ("matchmaker.E001", "matchmaker.E002", "matchmaker.E003"):
        assert check_id in result.stderr


def test_a_production_configuration_passes_the_deploy_check() -> None:
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", environment=PRODUCTION_ENVIRONMENT
    )
    assert result.returncode == 0, result.stderr


def test_development_defaults_need_no_configuration() -> None:
    result = manage("check", environment={})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("value", ["yes", "1", "true", ""])
def test_booleans_must_be_spelled_true_or_false(value: str) -> None:
    result = manage("check", environment={"DEBUG": value})
    assert result.returncode != 0
    assert "DEBUG must be True or False" in result.stderr


def test_secrets_can_come_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret_key"
    secret.write_text(PRODUCTION_ENVIRONMENT["SECRET_KEY"] + "\n")
    environment = {**PRODUCTION_ENVIRONMENT, "SECRET_KEY_FILE": str(secret)}
    del environment["SECRET_KEY"]
    result = manage("check", "--deploy", "--fail-level", "WARNING", environment=environment)
    assert result.returncode == 0, result.stderr


def test_the_search_threads_setting_reaches_the_case_index() -> None:
    shell = (
        "from ontologies.case_index import threads; "
        "from matchmaker.matching.index import get_case_index; print(threads.WORKERS)"
    )
    one = manage("shell", "-v", "0", "-c", shell, environment={"CASE_INDEX_SEARCH_THREADS": "1"})
    per_core = manage(
        "shell", "-v", "0", "-c", shell, environment={"CASE_INDEX_SEARCH_THREADS": "0"}
    )
    negative = manage("check", environment={"CASE_INDEX_SEARCH_THREADS": "-2"})

    assert one.stdout.strip() == "1", one.stderr
    assert per_core.stdout.strip() == str(os.cpu_count() or 1), per_core.stderr
    assert negative.returncode != 0
    assert "CASE_INDEX_SEARCH_THREADS must be 0 (one per core) or more, not -2" in negative.stderr
