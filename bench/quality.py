"""Leave-one-out ranking quality of the phenotype measures on the published dev cases.

    .venv/bin/python bench/quality.py [--limit N] [--methods a,b] [--workers 2] [--speed]
        [--folds 0,1,2,3,4] [--no-novel]

Every case (or a fixed random sample of ``--limit``) is held out as the query, without its
diagnosis, and all other cases are ranked. The figure is the rank of the first other case with
the same OMIM disease; ties count pessimistically (the true case goes after every tied other).
Queries whose disease has no eligible other case are skipped (``n`` says how many remain).

Settings: (a) phenotype only; (b) phenotype only, same-paper (shared PMID) candidates removed;
(c) = (b) with the query's excluded terms dropped, the headline; (d) = (b)'s candidates,
phenotype + shared gene (``combine_scores``). No method scores the query's excluded terms
(only the documented, unused ``bma_jaccard_mentioned`` looks at the candidate's), so (b) and (c)
get the same scores; they are computed once.

Known and novel diseases. HPO's disease annotations were curated in part from the very papers
the dev cases come from, so in (c) everything that reads them (the information content, the
disease bridge) may partly look the answer up. (c)-novel measures the diseases as if nobody had
annotated them: the dev diseases are split into 5 folds by the md5 of their id
(``fold_of``); for each fold, the IC and the bridge's disease set are built from the
annotations without that fold's diseases (their OMIM entries; Orphanet entries of the same
disorder stay, and count in the IC only), and the fold's (c) queries are ranked against all dev
cases, whose disease profiles come from that fold's profiler. (c)-known is (c) as above, on the
same queries. ``--folds`` restricts the queries (both settings) to some folds, so constants can
be chosen on some folds and checked on the others.

``--speed`` also times one core scoring 500,000 synthetic cases x 10 terms against a 10-term
query. The last line printed is one JSON object with the headline figures per method.
"""

from __future__ import annotations

import argparse
import hashlib
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
    BMA_JACCARD,
    BMA_JACCARD_BRIDGE,
    BMA_JACCARD_EXPLAINED_BRIDGE,
    BMA_JACCARD_GATED_BRIDGE,
    DEFAULT_METHOD,
    JACCARD,
    LIN_BMA,
    RESNIK_BMA,
    RESNIK_BMA_EXACT,
    SIM_GIC,
    CaseProfiles,
    DiseaseProfiler,
    PhenotypeScorer,
    combine_scores,
    sum_over_cases,
)

DATA = Path("/work/shared/data/phenopackets-dev.jsonl.gz")
CACHE_DIR = Path(__file__).resolve().parent.parent / "var" / "hpo-cache"
SETTINGS = ("a", "b", "c", "d")
FOLDS = 5


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
    # Mixture (see ``_mixed_scores``): weight of exact-term Jaccard, and of the share of the
    # query's observed terms that the case explicitly excludes (the same term: "mentioned").
    jaccard_weight: float = 0.0
    mentioned_weight: float = 0.0


VARIANTS = {
    "jaccard": _Variant("jaccard", JACCARD, "all"),
    "resnik_bma_omim": _Variant("resnik_bma_omim", RESNIK_BMA, "omim"),
    "lin_bma": _Variant("lin_bma", LIN_BMA, "all"),
    "simgic": _Variant("simgic", SIM_GIC, "all"),
    "resnik_bma_exact_omim": _Variant("resnik_bma_exact_omim", RESNIK_BMA_EXACT, "omim"),
    "resnik_bma_exact": _Variant("resnik_bma_exact", RESNIK_BMA_EXACT, "all"),
    # The previous default (issues 3-16): bma_jaccard mixed half and half with the disease
    # bridge (the cosine of the two cases' profiles over the OMIM diseases they resemble;
    # ontologies/similarity/diseases.py). Profile size, temperature and the mix were chosen on
    # one half of the diseases (split by disease id) and checked on the other.
    "bma_jaccard_bridge": _Variant("bma_jaccard_bridge", BMA_JACCARD_BRIDGE, "all"),
    # The node's default since issue 16, exactly as the node scores: the bridge's share (up to
    # 0.6) falls as the query resembles more known diseases about equally (spread 5 -> 50).
    # Gate and share chosen on novel-disease folds 0 and 1, checked on 2, 3 and 4.
    "bma_jaccard_gated_bridge": _Variant(
        "bma_jaccard_gated_bridge", BMA_JACCARD_GATED_BRIDGE, "all"
    ),
    # The node's default since the seventh session: the gated bridge, less 0.2 x how much
    # better the case's closest known disease explains the case than the query (the "fit
    # penalty"; bench/novel_signal_experiment.py explained; weight chosen on folds 0 and 1).
    "bma_jaccard_explained_bridge": _Variant(
        "bma_jaccard_explained_bridge", BMA_JACCARD_EXPLAINED_BRIDGE, "all"
    ),
    # The previous default: query weight 0.8, Jaccard 0.4 (chosen the same way).
    "bma_jaccard": _Variant("bma_jaccard", BMA_JACCARD, "all"),
    # The previous default: resnik_bma_exact (query weight 0.7) mixed with exact Jaccard, a = 0.3.
    "bma_jaccard_v1": _Variant("bma_jaccard_v1", RESNIK_BMA_EXACT, "all", jaccard_weight=0.3),
    # Measured, NOT used by the node: + 0.2 x the share of the query's observed terms that the
    # candidate explicitly excludes. It gains ~0.017 hit@1 in (c) because curators record as
    # excluded the features a case was examined for (those of the suspected disease), i.e. it
    # scores what a curated case *mentions*, not what the patient has. Excluded terms are never
    # scored as if present; kept here only so the measurement can be repeated.
    "bma_jaccard_mentioned": _Variant(
        "bma_jaccard_mentioned", RESNIK_BMA_EXACT, "all", jaccard_weight=0.3, mentioned_weight=0.2
    ),
}
DEFAULT_VARIANTS = (
    "jaccard",
    "resnik_bma_omim",
    "lin_bma",
    "resnik_bma_exact",
    "bma_jaccard",
    "bma_jaccard_bridge",
    "bma_jaccard_gated_bridge",
    "bma_jaccard_explained_bridge",
)
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


def fold_of(disease: str) -> int:
    """The novel-disease fold of a disease id: md5 of the id, modulo ``FOLDS``."""
    return int(hashlib.md5(disease.encode(), usedforsecurity=False).hexdigest(), 16) % FOLDS


@dataclass(frozen=True, slots=True)
class _Knowledge:
    """Everything built from the disease annotations, with some diseases left out (or none)."""

    ic: dict[str, NDArray[np.float64]]  # "all" and "omim", as ``_Variant.ic`` names them
    profiler: DiseaseProfiler
    profiles: CaseProfiles


def build_knowledge(ontology: Ontology, cases: list[_Case], left_out: frozenset[str]) -> _Knowledge:
    """IC, disease bridge and every case's profile from the annotations without ``left_out``."""
    kept = np.array([d not in left_out for d in ontology.disease_ids])
    omim = np.array([d.startswith("OMIM:") for d in ontology.disease_ids])
    if left_out:
        ic = {
            "all": compute_information_content(ontology, disease_mask=kept),
            "omim": compute_information_content(ontology, disease_mask=kept & omim),
        }
    else:
        ic = {
            "all": ontology.information_content,
            "omim": compute_information_content(ontology, disease_mask=omim),
        }
    profiler = DiseaseProfiler(ontology, ic["all"], excluded_diseases=left_out)
    profiles = CaseProfiles.from_lists(
        [c.observed for c in cases], [c.excluded for c in cases], disease_profiler=profiler
    )
    return _Knowledge(ic, profiler, profiles)


def _rank(scores: NDArray[np.float32], valid: NDArray[np.bool_], true: NDArray[np.bool_]) -> int:
    best = scores[true].max()
    return 1 + int((scores[valid & ~true] >= best).sum())


def _mixed_scores(
    variant: _Variant,
    scorer: PhenotypeScorer,
    jaccard: PhenotypeScorer,
    profiles: CaseProfiles,
    observed: list[int],
    excluded: list[int],
) -> NDArray[np.float32]:
    """((1 - a) BMA + a Jaccard + m mentioned) / (1 + m), 0..1.

    BMA is ``scorer``'s score (resnik_bma_exact), Jaccard the exact-term Jaccard, and
    mentioned = |query observed terms that the case excludes (same term)| / |query observed|.
    The last is a reward, not a penalty: curated cases list as excluded the features examined
    for (those of the suspected disease), so a case that explicitly rules out a query feature
    was examined for the same disease's features. All three parts are sums over the case's
    CSR rows, so this stays vectorised.
    """
    phenotype = scorer.score(scorer.prepare(observed, excluded), profiles).astype(np.float64)
    a, m = variant.jaccard_weight, variant.mentioned_weight
    if a:
        exact = jaccard.score(jaccard.prepare(observed, excluded), profiles)
        phenotype = (1.0 - a) * phenotype + a * exact
    if m and observed:
        in_query = np.zeros(len(scorer.ontology.term_ids), dtype=np.float64)
        in_query[list(dict.fromkeys(observed))] = 1.0
        mentioned = sum_over_cases(
            in_query, profiles.excluded_indptr, profiles.excluded_terms.astype(np.intp)
        ) / len(set(observed))
        phenotype = phenotype + m * mentioned
    return np.clip(phenotype / (1.0 + m), 0.0, 1.0).astype(np.float32)


def _evaluate(queries: list[int]) -> dict[str, list[int]]:
    variant = _STATE["variant"]
    jaccard = _STATE["jaccard"]
    assert isinstance(variant, _Variant)
    assert isinstance(jaccard, PhenotypeScorer)
    scorer = _STATE["scorer"]
    profiles = _STATE["profiles"]
    cases = _STATE["cases"]
    diseases = _STATE["diseases"]
    assert isinstance(scorer, PhenotypeScorer)
    assert isinstance(profiles, CaseProfiles)
    assert isinstance(cases, list)
    assert isinstance(diseases, np.ndarray)
    settings = _STATE.get("settings", SETTINGS)
    assert isinstance(settings, tuple)
    ranks: dict[str, list[int]] = {setting: [] for setting in SETTINGS}
    for query in queries:
        case: _Case = cases[query]
        # The query's excluded terms enter no score, so one call serves (a), (b) and (c).
        phenotype = _mixed_scores(variant, scorer, jaccard, profiles, case.observed, case.excluded)
        others = np.ones(len(cases), dtype=np.bool_)
        others[query] = False
        other_paper = others & np.array([not (c.pmids & case.pmids) for c in cases])
        true = diseases == case.disease
        if "d" in settings:
            genotype = np.array([1.0 if c.genes & case.genes else 0.0 for c in cases], np.float32)
            patient = combine_scores(phenotype, genotype)
        else:
            patient = phenotype
        for setting, valid, scores in (
            ("a", others, phenotype),
            ("b", other_paper, phenotype),
            ("c", other_paper, phenotype),
            ("d", other_paper, patient),
        ):
            if setting not in settings:
                continue
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
    scorer = PhenotypeScorer(ontology)
    # Disease profiles of the default width, drawn at random: only their cost matters here.
    width, diseases = 20, len(scorer.disease_profiler or ())
    disease_rows = rng.integers(0, max(diseases, 1), (n_cases, width)).astype(np.int16)
    disease_weights = np.full((n_cases, width), 1 / np.sqrt(width), dtype=np.float32)
    disease_fits = rng.random(n_cases).astype(np.float32)
    profiles = CaseProfiles(
        indptr,
        terms,
        np.zeros(n_cases + 1, np.int64),
        np.zeros(0, np.int16),
        disease_rows,
        disease_weights,
        disease_fits,
    )
    started = time.perf_counter()
    query = scorer.prepare(rng.choice(pool, 10).tolist())
    prepare_ms = (time.perf_counter() - started) * 1000
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        scorer.score(query, profiles)
        timings.append((time.perf_counter() - started) * 1000)
    return {"prepare_ms": round(prepare_ms, 1), "score_500k_ms": round(min(timings), 1)}


def _run(
    queries: list[int], workers: int, settings: tuple[str, ...] = SETTINGS
) -> dict[str, list[int]]:
    """Ranks of ``queries`` under the scorer etc. in ``_STATE``, on ``workers`` processes."""
    _STATE["settings"] = settings
    chunks = [queries[i::workers] for i in range(workers)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        parts = pool.map(_evaluate, chunks)
    return {s: [r for part in parts for r in part[s]] for s in SETTINGS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=3000, help="queries (0 = all cases)")
    parser.add_argument("--methods", default=",".join(DEFAULT_VARIANTS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--speed", action="store_true")
    parser.add_argument(
        "--folds",
        default=",".join(str(f) for f in range(FOLDS)),
        help="only the queries whose disease falls in these novel-disease folds",
    )
    parser.add_argument("--no-novel", action="store_true", help="skip the (c)-novel setting")
    args = parser.parse_args()
    folds = sorted({int(f) for f in args.folds.split(",")})

    ontology = load_ontology(HpoSources.bundled(), cache_dir=CACHE_DIR)
    started = time.perf_counter()
    cases, dropped = load_cases(ontology)
    print(
        f"{len(cases)} cases, {dropped} unknown HPO ids dropped ({time.perf_counter() - started:.1f} s)"
    )
    diseases = np.array([c.disease for c in cases])
    # Every case's disease profile, for the methods with a disease bridge (~10 s); the others
    # ignore it.
    started = time.perf_counter()
    known = build_knowledge(ontology, cases, frozenset())
    print(f"disease profiles of {len(cases)} cases ({time.perf_counter() - started:.1f} s)")
    queries = list(range(len(cases)))
    if args.limit and args.limit < len(cases):
        queries = sorted(
            np.random.default_rng(0).choice(len(cases), args.limit, replace=False).tolist()
        )
    queries = [q for q in queries if fold_of(cases[q].disease) in folds]
    # (c)-novel scores only the queries (c) keeps: another case of the disease, another paper.
    by_disease: dict[str, list[_Case]] = {}
    for case in cases:
        by_disease.setdefault(case.disease, []).append(case)
    eligible = [
        q
        for q in queries
        if any(not (c.pmids & cases[q].pmids) for c in by_disease[cases[q].disease])
    ]
    novel: dict[int, _Knowledge] = {}

    def knowledge_without(fold: int) -> _Knowledge:
        if fold not in novel:
            started = time.perf_counter()
            left_out = frozenset(d for d in set(diseases.tolist()) if fold_of(d) == fold)
            novel[fold] = build_knowledge(ontology, cases, left_out)
            print(
                f"fold {fold}: {len(left_out)} diseases left out, IC and"
                f" {len(novel[fold].profiler)} disease profiles rebuilt"
                f" ({time.perf_counter() - started:.1f} s)"
            )
        return novel[fold]

    def scorer_for(variant: _Variant, knowledge: _Knowledge) -> PhenotypeScorer:
        return PhenotypeScorer(
            ontology,
            method=variant.method,
            information_content=knowledge.ic[variant.ic],
            disease_profiler=knowledge.profiler,
        )

    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in args.methods.split(","):
        variant = VARIANTS[name]
        _STATE.update(
            scorer=scorer_for(variant, known),
            variant=variant,
            jaccard=PhenotypeScorer(ontology, method=JACCARD),
            profiles=known.profiles,
            cases=cases,
            diseases=diseases,
        )
        started = time.perf_counter()
        ranks = _run(queries, args.workers)
        results[name] = {s: _summary(ranks[s]) for s in SETTINGS}
        if not args.no_novel:
            novel_ranks: list[int] = []
            for fold in folds:
                fold_queries = [q for q in eligible if fold_of(cases[q].disease) == fold]
                knowledge = knowledge_without(fold)
                _STATE.update(scorer=scorer_for(variant, knowledge), profiles=knowledge.profiles)
                novel_ranks += _run(fold_queries, args.workers, ("c",))["c"]
            results[name]["c_novel"] = _summary(novel_ranks)
        elapsed = time.perf_counter() - started
        scorer = _STATE["scorer"]
        assert isinstance(scorer, PhenotypeScorer)
        jaccard_weight = scorer.jaccard_weight or variant.jaccard_weight
        mix = (
            f", query weight {scorer.query_weight}, Jaccard {jaccard_weight},"
            f" mentioned {variant.mentioned_weight}"
        )
        print(f"\n{name} ({variant.method}, IC {variant.ic}{mix}; {elapsed:.0f} s)")
        for s, summary in results[name].items():
            label = "c-novel" if s == "c_novel" else s
            print(f"  ({label}) " + "  ".join(f"{k}={v}" for k, v in summary.items()))
        sys.stdout.flush()

    baseline_hit1 = max((results[b]["c"]["hit1"] for b in BASELINES if b in results), default=0.0)
    headline: dict[str, object] = {
        name: {k: v for k, v in results[name].items() if k in ("c", "c_novel", "d")}
        for name in results
    }
    headline["default_method"] = DEFAULT_METHOD
    headline["queries"] = len(queries)
    headline["folds"] = folds
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
