"""GDPR erasure against a large MME audit log, and what its indexes cost each audited request.

    .venv/bin/python bench/audit_erasure.py [--rows 300000] [--database matchmaker_audit_bench]

On the machine's PostgreSQL (POSTGRES_HOST, default 127.0.0.1, user postgres): the database is
dropped and created again, migrated, and filled with `--rows` inbound audit rows, each with a
peer's patient as payload and two of our case ids in returned_case_ids (100,000 distinct ids,
so each id is in about six rows). Then `erase_case_from_audit_log` runs for a few ids with the
two indexes of migration federation/0003 and again without them (dropped for the comparison,
then put back); and `log_request` (one audited peer request, its own commit) is timed with and
without them (three alternating rounds). The append-only trigger is on throughout. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INDEXES = {
    "federation_mmerequestlog_returned_gin": (
        "ON federation_mmerequestlog USING gin (returned_case_ids jsonb_path_ops)"
    ),
    "federation_mmerequestlog_payload_patient": (
        "ON federation_mmerequestlog ((query_payload #> '{patient,id}'::text[])) "
        "WHERE query_payload IS NOT NULL"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--database", default="matchmaker_audit_bench")
    arguments = parser.parse_args()

    os.environ.setdefault("POSTGRES_HOST", "127.0.0.1")
    os.environ.setdefault("POSTGRES_USER", "postgres")
    os.environ["POSTGRES_DB"] = arguments.database
    os.environ.pop("REDIS_URL", None)
    psql = ["psql", "-h", os.environ["POSTGRES_HOST"], "-U", os.environ["POSTGRES_USER"], "-q"]
    for statement in (
        f"DROP DATABASE IF EXISTS {arguments.database}",
        f"CREATE DATABASE {arguments.database}",
    ):
        subprocess.run([*psql, "-c", statement], check=True)  # noqa: S603 (fixed arguments)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "matchmaker.settings")
    import django

    django.setup()
    from django.db import connection

    from matchmaker.federation.services.audit import erase_case_from_audit_log, log_request

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO federation_mmerequestlog (direction, peer_name, endpoint, method,
                requested_at, status_code, api_version, latency_ms, is_test, error,
                query_payload, returned_case_ids)
            SELECT 'inbound', 'Bench Peer', 'match', 'POST', now() - (i || ' seconds')::interval,
                200, '1.1', 5.0, false, '',
                jsonb_build_object('patient', jsonb_build_object('id', 'remote-' || i,
                    'features', jsonb_build_array(jsonb_build_object('id', 'HP:0001250'),
                                                  jsonb_build_object('id', 'HP:0001263')))),
                jsonb_build_array('MM-' || lpad((i %% 100000)::text, 12, '0'),
                                  'MM-' || lpad(((i * 7) %% 100000)::text, 12, '0'))
            FROM generate_series(1, %s) AS i
            """,
            [arguments.rows],
        )
        cursor.execute("ANALYZE federation_mmerequestlog")
    filled = time.perf_counter() - started
    payload = {"patient": {"id": "remote-x", "features": [{"id": "HP:0001250"}] * 20}}

    def erase(first: int) -> list[float]:
        times = []
        for number in range(first, first + 5):
            public_id = f"MM-{number:012d}"
            begun = time.perf_counter()
            erase_case_from_audit_log(public_id)
            times.append((time.perf_counter() - begun) * 1000)
        return times

    def audit_one_request(count: int = 1000) -> list[float]:
        times = []
        for number in range(count):
            begun = time.perf_counter()
            log_request(
                direction="inbound",
                peer=None,
                endpoint="match",
                method="POST",
                status_code=200,
                latency_ms=1.0,
                query_payload=payload,
                matched=True,
                returned_case_ids=[f"MM-{number:012d}"],
            )
            times.append((time.perf_counter() - begun) * 1000)
        return times

    def drop_indexes() -> None:
        with connection.cursor() as cursor:
            for name in INDEXES:
                cursor.execute(f"DROP INDEX {name}")

    def create_indexes() -> None:
        with connection.cursor() as cursor:
            for name, definition in INDEXES.items():
                cursor.execute(f"CREATE INDEX {name} {definition}")

    with_indexes = erase(1000)
    drop_indexes()
    without_indexes = erase(2000)
    create_indexes()
    # Alternating rounds: a commit's time varies more with the machine's load than with indexes.
    insert_with: list[float] = []
    insert_without: list[float] = []
    for _ in range(3):
        insert_with += audit_one_request(300)
        drop_indexes()
        insert_without += audit_one_request(300)
        create_indexes()

    result = {
        "rows": arguments.rows,
        "fill_seconds": round(filled, 1),
        "erase_ms_median_with_indexes": round(statistics.median(with_indexes), 1),
        "erase_ms_median_without_indexes": round(statistics.median(without_indexes), 1),
        "log_request_ms_median_with_indexes": round(statistics.median(insert_with), 2),
        "log_request_ms_median_without_indexes": round(statistics.median(insert_without), 2),
    }
    for name, value in result.items():
        print(f"{name:40} {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
