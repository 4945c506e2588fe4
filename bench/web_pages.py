"""How fast the clinicians' pages and the local REST API answer with many cases in the database.

Run by bench/web_pages.sh, which prepares a PostgreSQL database of N synthetic cases (one
institution, one clinician) with matches on a sample of them. Each page is requested through
Django's full stack (middleware, sessions, templates, real database; no HTTP socket) `--runs`
times after two warm-ups, signed in as that clinician. Prints one line per page (p50, p95, max,
SQL queries) and, last, one JSON object with every figure.

The SQL queries are counted on one more request, apart from the timed ones: capturing them
turns on Django's debug cursor, which would add its own cost to the timings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "matchmaker.settings")

import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count, Q  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from matchmaker.cases.models import Case  # noqa: E402
from matchmaker.casework.models import Match  # noqa: E402
from matchmaker.lib.secrets import hash_token  # noqa: E402
from matchmaker.web.models import ApiToken  # noqa: E402

# What the issue asks of every page; the term picker answers each keystroke, so it gets less.
TARGET_MS = 300
AUTOCOMPLETE_TARGET_MS = 100


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
        ("API: matches, whole institution", "/api/v1/matches/", api),
    ]


def _issue_token(user: User) -> tuple[ApiToken, str]:
    """A throw-away API key, stored hashed as ApiTokenAuthentication looks it up."""
    key = "mmapi_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name="bench/web_pages.py", key_hash=hash_token(key), hint=key[-4:]
    )
    return token, key


def _busiest_case(user: User) -> Case | None:
    """The clinician's case with the most current matches: the heaviest matches pages."""
    return (
        Case.objects.filter(institution=user.membership.institution)
        .annotate(current=Count("matches", filter=Q(matches__removed_at=None)))
        .filter(current__gt=0)
        .order_by("-current", "id")
        .first()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--username", default="bench-clinician")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    user = User.objects.get(username=args.username)
    case = _busiest_case(user)
    if case is None:
        sys.exit("no matches: run bench/web_pages.sh, which prepares them")
    # Its best match: the comparison page of the most similar pair.
    match = case.matches.filter(removed_at=None).order_by("-score", "id").first()
    assert match is not None
    current = case.matches.filter(removed_at=None).count()
    token, key = _issue_token(user)
    client = Client()
    client.force_login(user)
    cases = Case.objects.filter(institution=user.membership.institution).count()
    print(f"{cases} cases in the clinician's institution; case {case.public_id}, {current} matches")

    figures = {}
    slow = []
    try:
        for name, url, headers in _pages(case, match, key):
            for _ in range(2):
                response = client.get(url, **headers)
                if response.status_code != 200:
                    sys.exit(f"{name}: {url} answered {response.status_code}")
            with CaptureQueriesContext(connection) as captured:
                client.get(url, **headers)
            # Now: the next request's start empties the connection's log it reads from.
            queries = len(captured)
            timings = []
            for _ in range(args.runs):
                started = time.perf_counter()
                client.get(url, **headers)
                timings.append((time.perf_counter() - started) * 1000)
            timings.sort()
            p50 = statistics.median(timings)
            p95 = timings[math.ceil(0.95 * len(timings)) - 1]  # nearest rank
            target = AUTOCOMPLETE_TARGET_MS if url.startswith("/terms/") else TARGET_MS
            if p95 > target:
                slow.append(name)
            figures[name] = {
                "p50_ms": round(p50, 1),
                "p95_ms": round(p95, 1),
                "max_ms": round(timings[-1], 1),
                "queries": queries,
                "target_ms": target,
            }
            print(
                f"{name:32} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  max {timings[-1]:7.1f} ms"
                f"  {queries:3d} queries{'  OVER TARGET' if p95 > target else ''}",
                flush=True,
            )
    finally:
        token.delete()
    print(json.dumps({"cases": cases, "matches_of_case": current, "pages": figures}))
    if slow:
        sys.exit(f"p95 over target: {', '.join(slow)}")


if __name__ == "__main__":
    main()
