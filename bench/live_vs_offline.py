"""Ranking over /mme/match (live) against the engine's own ranking (offline), same queries.

    .venv/bin/python bench/live_vs_offline.py [--queries 300] [--every K] [--with-other-ids]
        [--drop-unknown-terms]

Issue 16 §2: hit@1 was lower over /mme/match than offline on the same queries. This bench
imports the dev phenopackets (../shared/data/phenopackets-dev.jsonl.gz, or every K-th document)
with `manage.py import_phenopackets --consented` into a fresh SQLite file in a temporary folder
(the case index cache goes there too), or into POSTGRES_DB when POSTGRES_HOST is set (an empty
database: it is migrated here), registers a peer, and asks the same queries three ways:

- live: a POST of an MME request to /mme/match through Django's test client with the peer's
  token, MME_MIN_SCORE=0, MME_MAX_RESULTS=50, MME_REQUIRE_SHARED_GENE=False. The request is
  marked `test` so no incoming match is recorded (that only skips the recording: the bench
  imports no test cases, so the candidates are the same);
- offline: `matching.services.find_matches` with the MatchQuery of the same terms, limit 50,
  min score 0, shareable only;
- exhaustive: every shareable case scored by the index with the node's scorer, ranked the way
  bench/quality.py ranks (ties pessimistic: the true case goes after every tied other).

Queries follow bench/quality.py's setting (c): a dev case whose (first OMIM) disease has another
case from a different paper (no shared PMID); the query is the case's observed terms only, as
stored (no genes, no excluded terms, no diagnosis). The MME request carries them as the
phenopacket writes them (an alternative or obsolete id as submitted, a term newer than the
node's HPO), as a peer holding that case would send them; find_matches gets the stored current
ids. The query's own case and the cases sharing a PMID with it never count: hit@1 is whether
the first other result has the query's disease. ``--with-other-ids`` adds to the sample every
query that writes an id the node's HPO has as no current term.
Disease and PMIDs are read from the stored cases by the public ids the answer gives (in the bench
only; the answer carries no diagnosis). Live is read twice: in the answer's order, and sorted
by score.patient (a stable sort, as a peer would); "tie-pessimistic" counts a hit only when
no other eligible result has the same score. A sample of ``--queries`` is drawn with a fixed seed.

For each query where live and offline differ, the reason is printed: a case missing from the
answer (e.g. no way to contact its owner), the same cases with a different order, different
scores. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import gzip
import io
import itertools
import json
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PHENOPACKETS_DEV = ROOT.parent / "shared" / "data" / "phenopackets-dev.jsonl.gz"
RESULTS = 50
TOKEN = secrets.token_urlsafe(32)  # the bench peer's, for this run only
MME_TYPE = "application/vnd.ga4gh.matchmaker.v1.0+json"


@dataclass(frozen=True, slots=True)
class _Stored:
    pk: int
    public_id: str
    observed: tuple[str, ...]  # current ids, as stored
    submitted: tuple[str, ...]  # its observed terms as the phenopacket gives them
    disease: str  # first OMIM disorder, "" if none
    pmids: frozenset[str]


def _submitted_terms(source: Path) -> dict[str, tuple[str, ...]]:
    """Each phenopacket's observed HPO ids as written in it (alt ids, newer terms), by its id."""
    terms: dict[str, tuple[str, ...]] = {}
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rt") as lines:
        for line in lines:
            document = json.loads(line)
            observed = [
                feature["type"]["id"]
                for feature in document.get("phenotypicFeatures", [])
                if not feature.get("excluded")
            ]
            terms[document["id"]] = tuple(dict.fromkeys(observed))
    return terms


def _stored_cases(submitted: dict[str, tuple[str, ...]]) -> list[_Stored]:
    from matchmaker.cases.models import Case

    stored = []
    cases = Case.objects.order_by("pk").prefetch_related("features", "disorders")
    for case in cases:
        disorders = sorted(case.disorders.all(), key=lambda d: d.pk)
        omim = [d.disorder_id for d in disorders if d.disorder_id.startswith("OMIM:")]
        observed = [f for f in sorted(case.features.all(), key=lambda f: f.pk) if f.observed]
        stored.append(
            _Stored(
                pk=case.pk,
                public_id=case.public_id,
                observed=tuple(f.hpo_id for f in observed),
                submitted=submitted[case.label],
                disease=omim[0] if omim else "",
                pmids=frozenset(r for r in case.external_references if str(r).startswith("PMID:")),
            )
        )
    return stored


def _writes_other_ids(case: _Stored) -> bool:
    """Whether the phenopacket writes a term as no current term of the node's HPO release."""
    from matchmaker.reference.ontology import get_hpo

    ontology = get_hpo()
    for hpo_id in case.submitted:
        try:
            ontology.index_of(hpo_id)
        except LookupError:
            return True
    return False


def _eligible(query: _Stored, other: _Stored) -> bool:
    """Whether `other` may count for `query`: not itself, no shared paper (quality.py (c))."""
    return other.pk != query.pk and not (other.pmids & query.pmids)


def _first_hit(query: _Stored, ranked: list[tuple[_Stored, float]]) -> dict[str, Any]:
    """hit@1 of a ranked answer, as given and with ties counted pessimistically."""
    eligible = [(case, score) for case, score in ranked if _eligible(query, case)]
    if not eligible:
        return {"hit": False, "pessimistic": False, "first": None}
    first, score = eligible[0]
    hit = first.disease == query.disease
    tied_other = any(
        other_score == score and other.disease != query.disease for other, other_score in eligible
    )
    return {"hit": hit, "pessimistic": hit and not tied_other, "first": first.public_id}


def _exhaustive_rank(query: _Stored, scores: dict[int, float], by_pk: dict[int, _Stored]) -> int:
    """quality.py's rank: 1 + eligible others of another disease scoring >= the best true one."""
    true = [
        s
        for pk, s in scores.items()
        if by_pk[pk].disease == query.disease and _eligible(query, by_pk[pk])
    ]
    if not true:
        return 0
    best = max(true)
    return 1 + sum(
        1
        for pk, s in scores.items()
        if s >= best and by_pk[pk].disease != query.disease and _eligible(query, by_pk[pk])
    )


def _run(*args: str) -> str:
    from django.core.management import call_command

    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue().strip().splitlines()[0]


def _explain_difference(
    query: _Stored,
    live: list[tuple[_Stored, float]],
    offline: list[tuple[_Stored, float]],
) -> str:
    live_ids = [c.pk for c, _ in live]
    offline_ids = [c.pk for c, _ in offline]
    missing = [pk for pk in offline_ids if pk not in live_ids]
    if missing:
        return f"{len(missing)} offline result(s) missing from the answer"
    extra = [pk for pk in live_ids if pk not in offline_ids]
    if extra:
        return f"{len(extra)} answer result(s) not offline"
    offline_scores = {c.pk: s for c, s in offline}
    if any(abs(offline_scores[c.pk] - s) > 1e-6 for c, s in live):
        return "different scores"
    return "same cases and scores, different order"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=300, help="queries sampled (0 = all)")
    parser.add_argument("--every", type=int, default=1, help="import only every K-th document")
    parser.add_argument(
        "--drop-unknown-terms",
        action="store_true",
        help="import with --drop-unknown-terms (for code that refused newer HPO terms)",
    )
    parser.add_argument(
        "--with-other-ids",
        action="store_true",
        help="also ask every eligible query whose phenopacket writes a term as no current term of "
        "the node's HPO (alternative, obsolete or newer ids), beyond the sample",
    )
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        if "POSTGRES_HOST" not in os.environ:
            os.environ["SQLITE_PATH"] = str(folder / "live.sqlite3")
        os.environ["CASE_INDEX_PATH"] = str(folder / "case-index.npz")
        os.environ.update(
            MME_MIN_SCORE="0",
            MME_MAX_RESULTS=str(RESULTS),
            MME_REQUIRE_SHARED_GENE="False",
            MME_RATE_LIMIT_PER_MINUTE="1000000",
        )
        sys.path.insert(0, str(ROOT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "matchmaker.settings")
        import django

        django.setup()
        from django.test import Client
        from django.test.utils import setup_test_environment

        setup_test_environment()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        source = PHENOPACKETS_DEV
        if options.every > 1:
            source = folder / "sample.jsonl"
            with gzip.open(PHENOPACKETS_DEV, "rt") as documents:
                source.write_text("".join(itertools.islice(documents, 0, None, options.every)))
        started = time.perf_counter()
        command = ["import_phenopackets", str(source), "--institution", "Bench", "--consented"]
        if options.drop_unknown_terms:
            command.append("--drop-unknown-terms")
        print(_run(*command))
        print(f"  ({time.perf_counter() - started:.0f} s)")
        # Phenopackets carry no contact; a node's institution has one (set by its operator), and
        # without any the MME answer must leave a case out (nobody to reach).
        from matchmaker.cases.models import Institution

        Institution.objects.filter(name="Bench").update(
            contact_name="Bench genetics team", contact_email="bench@example.org"
        )
        figures = _measure(
            options.queries,
            Client(),
            _submitted_terms(source),
            with_other_ids=options.with_other_ids,
        )
    print(json.dumps(figures))


def _measure(
    sample: int,
    client: Any,
    submitted: dict[str, tuple[str, ...]],
    *,
    with_other_ids: bool = False,
) -> dict[str, Any]:
    from matchmaker.federation.services import add_peer
    from matchmaker.matching import services as matching
    from matchmaker.matching.index import get_case_index
    from matchmaker.reference.ontology import get_phenotype_scorer

    add_peer("Bench peer", inbound_token=TOKEN)
    cases = _stored_cases(submitted)
    by_pk = {c.pk: c for c in cases}
    by_public_id = {c.public_id: c for c in cases}
    by_disease: dict[str, list[_Stored]] = {}
    for case in cases:
        by_disease.setdefault(case.disease, []).append(case)
    eligible = [
        case
        for case in cases
        if case.disease
        and case.observed
        and any(
            other.disease == case.disease and _eligible(case, other)
            for other in by_disease[case.disease]
        )
    ]
    queries = list(eligible)
    if sample and sample < len(eligible):
        picked = np.random.default_rng(0).choice(len(eligible), sample, replace=False)
        queries = [eligible[i] for i in sorted(picked.tolist())]
    if with_other_ids:
        asked = {query.pk for query in queries}
        queries += [q for q in eligible if _writes_other_ids(q) and q.pk not in asked]
    print(f"{len(cases)} cases stored, {len(eligible)} eligible queries, {len(queries)} asked")

    get_case_index()  # built once, before the clock runs
    scorer = get_phenotype_scorer()
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    examples: list[str] = []
    timings = {"live": 0.0, "offline": 0.0}
    for number, query in enumerate(queries):
        body = {
            "patient": {
                "id": f"bench-query-{number}",
                "contact": {"name": "Bench", "href": "mailto:bench@example.org"},
                "features": [{"id": hpo_id} for hpo_id in query.submitted],
                "test": True,
            }
        }
        started = time.perf_counter()
        response = client.post(
            "/mme/match",
            json.dumps(body),
            content_type=MME_TYPE,
            headers={"X-Auth-Token": TOKEN, "Accept": MME_TYPE},
        )
        timings["live"] += time.perf_counter() - started
        live: list[tuple[_Stored, float]] = []
        if response.status_code == 200:
            live = [
                (by_public_id[result["patient"]["id"]], float(result["score"]["patient"]))
                for result in response.json()["results"]
            ]
        else:
            # A refused query finds nothing for the peer: a miss, counted in n.
            counts["live_refused"] += 1
            reasons[f"refused with HTTP {response.status_code}"] += 1
            if len(examples) < 10:
                examples.append(f"{query.public_id}: {response.content[:160]!r}")
        started = time.perf_counter()
        results = matching.find_matches(
            matching.MatchQuery(observed=query.observed),
            limit=RESULTS,
            min_score=0.0,
            require_shared_gene=False,
            shareable_only=True,
            explain=False,
        )
        timings["offline"] += time.perf_counter() - started
        offline = [(by_pk[r.case.pk], r.score) for r in results]
        hits = get_case_index().search(
            scorer,
            scorer.prepare(matching._term_indices(query.observed), []),
            limit=len(cases),
            min_score=0.0,
            shareable_only=True,
        )
        rank = _exhaustive_rank(query, {h.key: float(h.score) for h in hits}, by_pk)

        live_hit = _first_hit(query, live)
        peer_hit = _first_hit(query, sorted(live, key=lambda item: -item[1]))
        offline_hit = _first_hit(query, offline)
        counts["queries"] += 1
        counts["queries_with_other_ids"] += _writes_other_ids(query)
        counts["live_hit1"] += live_hit["hit"]
        counts["live_sorted_hit1"] += peer_hit["hit"]
        counts["live_pessimistic_hit1"] += live_hit["pessimistic"]
        counts["offline_hit1"] += offline_hit["hit"]
        counts["offline_pessimistic_hit1"] += offline_hit["pessimistic"]
        counts["exhaustive_hit1"] += rank == 1
        if live_hit["hit"] != offline_hit["hit"]:
            counts["hit1_differs"] += 1
        if response.status_code == 200 and [c.pk for c, _ in live] != [c.pk for c, _ in offline]:
            counts["answers_differ"] += 1
            reason = _explain_difference(query, live, offline)
            reasons[reason] += 1
            if len(examples) < 10:
                examples.append(f"{query.public_id}: {reason}")
        if offline_hit["hit"] != (rank == 1):
            counts["offline_vs_exhaustive_differs"] += 1
        if number % 50 == 49:
            print(f"  {number + 1} queries asked", flush=True)

    n = max(counts["queries"], 1)
    figures: dict[str, Any] = {
        "queries": counts["queries"],
        "live_refused": counts["live_refused"],
        # Queries whose request carries an id that is no current term here (alt, obsolete, newer).
        "queries_with_other_ids": counts["queries_with_other_ids"],
        "hit1": {
            "live": round(counts["live_hit1"] / n, 4),
            "live_sorted_by_score": round(counts["live_sorted_hit1"] / n, 4),
            "live_tie_pessimistic": round(counts["live_pessimistic_hit1"] / n, 4),
            "offline": round(counts["offline_hit1"] / n, 4),
            "offline_tie_pessimistic": round(counts["offline_pessimistic_hit1"] / n, 4),
            "exhaustive_quality_rule": round(counts["exhaustive_hit1"] / n, 4),
        },
        "queries_hit1_differs": counts["hit1_differs"],
        "queries_answer_differs": counts["answers_differ"],
        "queries_offline_vs_exhaustive_differs": counts["offline_vs_exhaustive_differs"],
        "reasons": dict(reasons),
        "mean_ms": {k: round(v * 1000 / n, 1) for k, v in timings.items()},
    }
    print(f"\n{'':32}{'hit@1':>8}")
    for name, value in figures["hit1"].items():
        print(f"{name:32}{value:>8}")
    print(
        f"queries where live and offline hit@1 differ: {counts['hit1_differs']};"
        f" where the answers differ at all: {counts['answers_differ']}"
    )
    for reason, count in reasons.most_common():
        print(f"  {count} x {reason}")
    for example in examples:
        print(f"  e.g. {example}")
    return figures


if __name__ == "__main__":
    main()
