"""How fast the clinicians' pages and the local REST API answer with many cases in the database.

Run by bench/web_pages.sh, which prepares a PostgreSQL database of N synthetic cases (one
institution, one clinician) with matches on a sample of them. Each page is requested through
Django's full stack (middleware, sessions, templates, real database; no HTTP socket) `--runs`
times after two warm-ups, signed in as that clinician. Prints one line per page (p50, p95, max,
SQL queries) and, last, one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "matchmaker.settings")

import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from matchmaker.cases.models import Case  # noqa: E402
from matchmaker.matching.models import Match  # noqa: E402
from matchmaker.web.models import ApiToken  # noqa: E402


def _pages(case: Case, match: Match, api_key: str) -> list[tuple[str, str, dict[str, str]]]:
    """(name, url, extra headers) of the pages to time."""
    api = {"HTTP_AUTHORIZATION": f"Token {api_key}"}
    return [
        ("case list", "/cases/", {}),
        ("case list, page 1000", "/cases/?page=1000", {}),
        ("search: label", "/cases/?q=SYN-1-4242", {}),
        ("search: gene", "/cases/?q=NGLY1", {}),
        ("search: HPO term + subterms", "/cases/?q=Seizure", {}),
        ("filter: new matches", "/cases/?new_matches=1", {}),
        ("case detail", f"/cases/{case.public_id}/", {}),
        ("case edit form", f"/cases/{case.public_id}/edit/", {}),
        ("case matches", f"/cases/{case.public_id}/matches/", {}),
        ("match detail + comparison", f"/matches/{match.pk}/", {}),
        ("term autocomplete 'seiz'", "/terms/search/?q=seiz", {}),
        ("gene check", "/genes/check/?genes-0-gene=ngly1", {}),
        ("API: case list", "/api/v1/cases/", api),
        ("API: case", f"/api/v1/cases/{case.public_id}/", api),
        ("API: matches", f"/api/v1/matches/?case={case.public_id}", api),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--username", default="bench-clinician")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    user = User.objects.get(username=args.username)
    # The case with the most current matches: the heaviest matches page.
    match = (
        Match.objects.filter(case__institution=user.membership.institution, removed_at=None)
        .order_by("-case__matches__score")
        .select_related("case")
        .first()
    )
    if match is None:
        sys.exit("no matches: run bench/web_pages.sh, which prepares them")
    case = match.case
    token, key = ApiToken.issue(user=user, name="bench/web_pages.py")
    client = Client()
    client.force_login(user)
    cases = Case.objects.filter(institution=user.membership.institution).count()
    print(f"{cases} cases in the clinician's institution; case {case.public_id}")

    figures = {}
    try:
        for name, url, headers in _pages(case, match, key):
            for _ in range(2):
                response = client.get(url, **headers)
                if response.status_code != 200:
                    sys.exit(f"{name}: {url} answered {response.status_code}")
            timings = []
            with CaptureQueriesContext(connection) as queries:
                reset_queries()
                started = time.perf_counter()
                client.get(url, **headers)
                timings.append((time.perf_counter() - started) * 1000)
            query_count = len(queries)
            for _ in range(args.runs - 1):
                started = time.perf_counter()
                client.get(url, **headers)
                timings.append((time.perf_counter() - started) * 1000)
            timings.sort()
            p50 = statistics.median(timings)
            p95 = timings[max(0, round(0.95 * len(timings)) - 1)]
            figures[name] = {
                "p50_ms": round(p50, 1),
                "p95_ms": round(p95, 1),
                "max_ms": round(timings[-1], 1),
                "queries": query_count,
            }
            print(
                f"{name:32} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  max {timings[-1]:7.1f} ms"
                f"  {query_count:3d} queries"
            )
    finally:
        token.delete()
    print(json.dumps({"cases": cases, "pages": figures}))


if __name__ == "__main__":
    main()
