"""Leave-one-out ranking quality of the phenotype measures on the published dev cases.

    .venv/bin/python bench/quality.py [--limit N] [--methods a,b] [--workers 2] [--speed]

Every case (or a fixed random sample of ``--limit``) is held out as the query, without its
diagnosis, and all other cases are ranked. The figure is the rank of the first other case with
the same OMIM disease; ties count pessimistically (the true case goes after every tied other).
Queries whose disease has no eligible other case are skipped (``n`` says how many remain).

Settings: (a) phenotype only; (b) phenotype only, same-paper (shared PMID) candidates removed;
(c) = (b) with the query's excluded terms dropped, the headline; (d) = (b)'s candidates,
phenotype + shared gene (``combine_scores``). No method scores excluded terms, so (b) and (c)
get the same scores; they are computed once.

``--speed`` also times one core scoring 500,000 synthetic cases x 10 terms against a 10-term
query. The last line printed is one JSON object with the headline figures per method.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from matchmaker.cases.interchange import case_record_from_phenopacket, read_documents
from ontologies.hpo import (
    HpoSources,
    ObsoleteTermError,
    Ontology,
    UnknownTermError,
    compute_information_content,
    load_ontology,
)
from ontologies.similarity import (
    DEFAULT_METHOD,
    JACCARD,
    LIN_BMA,
    RESNIK_BMA,
    RESNIK_BMA_EXACT,
    SIM_GIC,
    CaseProfiles,
    PhenotypeScorer,
    combine_scores,
)

DATA = Path("/work/shared/data/phenopackets-dev.jsonl.gz")
CACHE_DIR = Path(__file__).resolve().parent.parent / "var" / "hpo-cache"
SETTINGS = ("a", "b", "c", "d")


@dataclass(frozen=True, slots=True)
class _Case:
    observed: list[int]
    excluded: list[int]
    genes: frozenset[str]
    disease: str
    pmids: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Variant:
    name: str  # as reported
    method: str
    ic: str  # "all" (every annotated disease) or "omim"


VARIANTS = {
    "jaccard": _Variant("jaccard", JACCARD, "all"),
    "resnik_bma_omim": _Variant("resnik_bma_omim", RESNIK_BMA, "omim"),
    "lin_bma": _Variant("lin_bma", LIN_BMA, "all"),
    "simgic": _Variant("simgic", SIM_GIC, "all"),
    "resnik_bma_exact_omim": _Variant("resnik_bma_exact_omim", RESNIK_BMA_EXACT, "omim"),
    "resnik_bma_exact": _Variant("resnik_bma_exact", RESNIK_BMA_EXACT, "all"),
}
DEFAULT_VARIANTS = ("jaccard", "resnik_bma_omim", "lin_bma", "resnik_bma_exact")
BASELINES = ("jaccard", "resnik_bma_omim")

# Set in the parent before the worker pool forks, then only read.
_STATE: dict[str, object] = {}


def load_cases(ontology: Ontology) -> tuple[list[_Case], int]:
    """Read the dev set; HPO ids unknown to this release are dropped (count returned)."""
    cases: list[_Case] = []
    dropped = 0
    for source in read_documents(DATA):
        if source.error or source.document is None:
            continue
        record = case_record_from_phenopacket(source.document)
        observed: dict[int, None] = {}
        excluded: dict[int, None] = {}
        for feature in record.features:
            try:
                index = ontology.index_of(ontology.resolve(feature.hpo_id).hpo_id)
            except (UnknownTermError, ObsoleteTermError):
                dropped += 1
                continue
            (observed if feature.observed else excluded)[index] = None
        disorders = [d.disorder_id for d in record.disorders if d.disorder_id.startswith("OMIM:")]
        if not disorders:
            continue
        cases.append(
            _Case(
                observed=list(observed),
                excluded=[term for term in excluded if term not in observed],
                genes=frozenset(g.gene_symbol for g in record.genomic_features if g.gene_symbol),
                disease=disorders[0],
                pmids=frozenset(r for r in record.external_references if r.startswith("PMID:")),
            )
        )
    return cases, dropped


def _rank(scores: NDArray[np.float32], valid: NDArray[np.bool_], true: NDArray[np.bool_]) -> int:
    best = scores[true].max()
    return 1 + int((scores[valid & ~true] >= best).sum())


def _evaluate(queries: list[int]) -> dict[str, list[int]]:
    scorer = _STATE["scorer"]
    profiles = _STATE["profiles"]
    cases = _STATE["cases"]
    diseases = _STATE["diseases"]
    assert isinstance(scorer, PhenotypeScorer)
    assert isinstance(profiles, CaseProfiles)
    assert isinstance(cases, list)
    assert isinstance(diseases, np.ndarray)
    ranks: dict[str, list[int]] = {setting: [] for setting in SETTINGS}
    for query in queries:
        case: _Case = cases[query]
        # Excluded terms do not enter any score, so one call serves (a), (b) and (c).
        phenotype = scorer.score(scorer.prepare(case.observed, case.excluded), profiles)
        others = np.ones(len(cases), dtype=np.bool_)
        others[query] = False
        other_paper = others & np.array([not (c.pmids & case.pmids) for c in cases])
        true = diseases == case.disease
        genotype = np.array([1.0 if c.genes & case.genes else 0.0 for c in cases], np.float32)
        patient = combine_scores(phenotype, genotype)
        for setting, valid, scores in (
            ("a", others, phenotype),
            ("b", other_paper, phenotype),
            ("c", other_paper, phenotype),
            ("d", other_paper, patient),
        ):
            if (valid & true).any():
                ranks[setting].append(_rank(scores, valid, true & valid))
            else:
                ranks[setting].append(0)  # skipped: no eligible case with the same disease
    return ranks


def _summary(ranks: list[int]) -> dict[str, float]:
    kept = np.array([rank for rank in ranks if rank > 0])
    if len(kept) == 0:
        return {"n": 0, "hit1": 0.0, "hit10": 0.0, "mrr": 0.0}
    return {
        "n": len(kept),
        "hit1": round(float((kept == 1).mean()), 4),
        "hit10": round(float((kept <= 10).mean()), 4),
        "mrr": round(float((1.0 / kept).mean()), 4),
    }


def _speed(ontology: Ontology) -> dict[str, float]:
    rng = np.random.default_rng(1)
    n_cases, per_case = 500_000, 10
    # Draw case terms from terms that annotate diseases, like real profiles.
    pool = np.unique(ontology.disease_term_indices)
    terms = rng.choice(pool, n_cases * per_case).astype(np.int16)
    indptr = np.arange(0, n_cases * per_case + 1, per_case, dtype=np.int64)
    profiles = CaseProfiles(indptr, terms, np.zeros(n_cases + 1, np.int64), np.zeros(0, np.int16))
    scorer = PhenotypeScorer(ontology)
    started = time.perf_counter()
    query = scorer.prepare(rng.choice(pool, 10).tolist())
    prepare_ms = (time.perf_counter() - started) * 1000
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        scorer.score(query, profiles)
        timings.append((time.perf_counter() - started) * 1000)
    return {"prepare_ms": round(prepare_ms, 1), "score_500k_ms": round(min(timings), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=3000, help="queries (0 = all cases)")
    parser.add_argument("--methods", default=",".join(DEFAULT_VARIANTS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--speed", action="store_true")
    args = parser.parse_args()

    ontology = load_ontology(HpoSources.bundled(), cache_dir=CACHE_DIR)
    started = time.perf_counter()
    cases, dropped = load_cases(ontology)
    print(
        f"{len(cases)} cases, {dropped} unknown HPO ids dropped ({time.perf_counter() - started:.1f} s)"
    )
    omim_mask = np.array([d.startswith("OMIM:") for d in ontology.disease_ids])
    ic = {
        "all": ontology.information_content,
        "omim": compute_information_content(ontology, disease_mask=omim_mask),
    }
    profiles = CaseProfiles.from_lists([c.observed for c in cases], [c.excluded for c in cases])
    queries = list(range(len(cases)))
    if args.limit and args.limit < len(cases):
        queries = sorted(
            np.random.default_rng(0).choice(len(cases), args.limit, replace=False).tolist()
        )

    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in args.methods.split(","):
        variant = VARIANTS[name]
        _STATE.update(
            scorer=PhenotypeScorer(
                ontology, method=variant.method, information_content=ic[variant.ic]
            ),
            profiles=profiles,
            cases=cases,
            diseases=np.array([c.disease for c in cases]),
        )
        started = time.perf_counter()
        chunks = [queries[i :: args.workers] for i in range(args.workers)]
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            parts = pool.map(_evaluate, chunks)
        ranks = {s: [r for part in parts for r in part[s]] for s in SETTINGS}
        results[name] = {s: _summary(ranks[s]) for s in SETTINGS}
        elapsed = time.perf_counter() - started
        print(f"\n{name} ({variant.method}, IC {variant.ic}; {elapsed:.0f} s)")
        for s in SETTINGS:
            print(f"  ({s}) " + "  ".join(f"{k}={v}" for k, v in results[name][s].items()))
        sys.stdout.flush()

    baseline_hit1 = max((results[b]["c"]["hit1"] for b in BASELINES if b in results), default=0.0)
    headline: dict[str, object] = {
        name: {"c": results[name]["c"], "d": results[name]["d"]} for name in results
    }
    headline["default_method"] = DEFAULT_METHOD
    headline["queries"] = len(queries)
    headline["c_hit1_gain_over_best_baseline"] = {
        name: round(results[name]["c"]["hit1"] - baseline_hit1, 4) for name in results
    }
    if args.speed:
        speed = _speed(ontology)
        print(f"\nspeed (one core, default method): {speed}")
        headline["speed"] = speed
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
