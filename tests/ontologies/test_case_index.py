from __future__ import annotations

import itertools
import json
import random
import threading
import zipfile
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from ontologies.case_index import (
    FLAG_SHAREABLE,
    FLAG_TEST,
    CaseIndex,
    Hit,
    IndexedCase,
    pruning,
    ranking,
    storage,
    threads,
)
from ontologies.hpo import Ontology
from ontologies.similarity import (
    BMA_JACCARD,
    BMA_JACCARD_BRIDGE,
    BMA_JACCARD_EXPLAINED_BRIDGE,
    BMA_JACCARD_GATED_BRIDGE,
    RESNIK_BMA_EXACT,
    CaseProfiles,
    PhenotypeScorer,
    combine_scores,
)
from ontologies.similarity.diseases import shared_disease_profiler

TERM_COUNT = 40  # the overlap scorer's toy vocabulary: term indices 0..39
GENES = tuple(f"NCBIGene:{entrez}" for entrez in range(100, 112))
RELEASE = "test-release"


@dataclass(frozen=True, slots=True)
class OverlapQuery:
    terms: NDArray[np.bool_]  # one flag per term index
    size: int


class OverlapScorer:
    """Phenotype score = the share of query terms the case lists exactly (0..1).

    Follows PhenotypeScorer's interface, so the index logic is tested with answers that a plain
    Python set intersection reproduces exactly.
    """

    def prepare(self, observed: Sequence[int], excluded: Sequence[int] = ()) -> OverlapQuery:
        terms = np.zeros(TERM_COUNT, dtype=np.bool_)
        terms[list(observed)] = True
        return OverlapQuery(terms, int(terms.sum()))

    def score(
        self, query: OverlapQuery, profiles: CaseProfiles, start: int = 0, stop: int | None = None
    ) -> NDArray[np.float32]:
        indptr = profiles.observed_indptr
        stop = len(indptr) - 1 if stop is None else stop
        first = indptr[start]
        hits = query.terms[profiles.observed_terms[first : indptr[stop]]]
        running = np.concatenate([[0], np.cumsum(hits)])
        bounds = indptr[start : stop + 1] - first
        counts = running[bounds[1:]] - running[bounds[:-1]]
        return counts.astype(np.float32) / np.float32(max(query.size, 1))


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible test data, not secrets


def overlap(case: IndexedCase, query_terms: Collection[int]) -> np.float32:
    """What OverlapScorer gives ``case``, the slow way."""
    shared = sum(1 for term in case.observed if term in set(query_terms))
    return np.float32(shared) / np.float32(max(len(set(query_terms)), 1))


def brute_force(
    cases: Iterable[IndexedCase],
    phenotype_of: Any,
    *,
    query_genes: Collection[str] = (),
    limit: int = 50,
    min_score: float = 0.0,
    require_shared_gene: bool = False,
    shareable_only: bool = False,
    include_test: bool = True,
    exclude_keys: Collection[int] = (),
) -> list[Hit]:
    """The ranking search should give, one case at a time in Python."""
    hits = []
    for case in cases:
        shared = tuple(sorted(set(case.genes) & set(query_genes)))
        if (
            (require_shared_gene and not shared)
            or (shareable_only and not case.shareable)
            or (case.is_test and not include_test)
            or case.key in exclude_keys
        ):
            continue
        phenotype = np.float32(phenotype_of(case))
        genotype = np.float32(1.0 if shared else 0.0)
        # A query naming no gene has no genotype part: the score is the phenotype's.
        score = combine_scores(
            np.array([phenotype]), np.array([genotype]) if query_genes else None
        )[0]
        if score >= np.float32(max(min_score, 0.0)):
            hits.append(Hit(case.key, float(score), float(phenotype), float(genotype), shared))
    hits.sort(key=lambda hit: (-hit.score, hit.key))
    return hits[:limit]


def random_cases(count: int, *, seed: int = 1, first_key: int = 1) -> list[IndexedCase]:
    generator = seeded(seed)
    return [
        IndexedCase(
            key=key,
            observed=tuple(generator.sample(range(TERM_COUNT), generator.randint(0, 8))),
            excluded=tuple(generator.sample(range(TERM_COUNT), generator.randint(0, 3))),
            genes=tuple(generator.sample(GENES, generator.randint(0, 3))),
            shareable=generator.random() < 0.7,
            is_test=generator.random() < 0.1,
        )
        # Keys out of order, with gaps, so the index has to sort them.
        for key in generator.sample(range(first_key, first_key + 3 * count), count)
    ]


def random_queries(count: int, *, seed: int = 2) -> list[tuple[list[int], list[str]]]:
    generator = seeded(seed)
    return [
        (generator.sample(range(TERM_COUNT), 5), generator.sample(GENES, generator.randint(0, 2)))
        for _ in range(count)
    ]


def assert_same_hits(actual: list[Hit], expected: list[Hit]) -> None:
    assert [hit.key for hit in actual] == [hit.key for hit in expected]
    assert [hit.shared_genes for hit in actual] == [hit.shared_genes for hit in expected]
    np.testing.assert_allclose(
        [(hit.score, hit.phenotype, hit.genotype) for hit in actual],
        [(hit.score, hit.phenotype, hit.genotype) for hit in expected],
        rtol=1e-6,
    )


def check_against_brute_force(
    index: CaseIndex, cases: dict[int, IndexedCase], *, queries: int = 10, **filters: Any
) -> None:
    scorer = OverlapScorer()
    for terms, genes in random_queries(queries):
        expected = brute_force(
            cases.values(),
            lambda case, terms=terms: overlap(case, terms),
            query_genes=genes,
            **filters,
        )
        actual = index.search(scorer, scorer.prepare(terms), query_genes=genes, **filters)
        assert_same_hits(actual, expected)


@pytest.fixture
def cases() -> dict[int, IndexedCase]:
    return {case.key: case for case in random_cases(300)}


@pytest.fixture
def index(cases: dict[int, IndexedCase]) -> CaseIndex:
    return CaseIndex.build(cases.values(), hpo_release=RELEASE)


# Building and ranking --------------------------------------------------------------------------


def test_search_ranks_like_a_brute_force_ranking(
    index: CaseIndex, cases: dict[int, IndexedCase]
) -> None:
    check_against_brute_force(index, cases, queries=30)
    check_against_brute_force(index, cases, limit=len(cases) + 10)


def test_search_splits_the_rows_across_threads_with_the_same_result(
    index: CaseIndex, cases: dict[int, IndexedCase], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ranking, "_PARALLEL_MIN_ROWS", 10)
    monkeypatch.setattr(threads, "WORKERS", 4)
    check_against_brute_force(index, cases)
    for case in random_cases(20, seed=5, first_key=10_000):
        index.upsert(case)
        cases[case.key] = case
    check_against_brute_force(index, cases, limit=7)


def test_a_search_on_one_thread_ranks_as_on_several(
    index: CaseIndex, cases: dict[int, IndexedCase], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ranking, "_PARALLEL_MIN_ROWS", 10)
    monkeypatch.setattr(threads, "WORKERS", threads.WORKERS)  # restored after the test
    threads.set_workers(1)
    check_against_brute_force(index, cases)
    threads.set_workers(3)
    check_against_brute_force(index, cases)
    with pytest.raises(ValueError, match="at least 1 thread"):
        threads.set_workers(0)


@pytest.mark.parametrize(
    "filters",
    [
        {"require_shared_gene": True},
        {"shareable_only": True},
        {"include_test": False},
        {"min_score": 0.3},
        {"min_score": 1.0},
        {"limit": 1},
        {"limit": 0},
        {"shareable_only": True, "include_test": False, "require_shared_gene": True, "limit": 5},
    ],
)
def test_search_filters_match_the_brute_force_ranking(
    index: CaseIndex, cases: dict[int, IndexedCase], filters: dict[str, Any]
) -> None:
    check_against_brute_force(index, cases, **filters)


def test_exclude_keys_drops_those_cases_wherever_they_are(
    index: CaseIndex, cases: dict[int, IndexedCase]
) -> None:
    scorer = OverlapScorer()
    query = scorer.prepare([1, 2, 3])
    top = [hit.key for hit in index.search(scorer, query, limit=5)]
    moved = cases[top[1]]
    index.upsert(moved)  # now in the delta segment
    excluded = {top[0], top[1], 999_999}
    keys = [hit.key for hit in index.search(scorer, query, limit=5, exclude_keys=excluded)]
    assert not excluded & set(keys)
    check_against_brute_force(index, cases, exclude_keys=excluded)


def test_hits_carry_the_shared_genes_and_the_genotype_score() -> None:
    index = CaseIndex.build(
        [
            IndexedCase(key=1, observed=[1, 2], genes=[GENES[0], GENES[1], GENES[2]]),
            IndexedCase(key=2, observed=[1, 2], genes=[GENES[3]]),
            IndexedCase(key=3, observed=[1, 2]),
        ],
        hpo_release=RELEASE,
    )
    scorer = OverlapScorer()
    hits = index.search(
        scorer, scorer.prepare([1, 2]), query_genes=[GENES[2], GENES[0], "NCBIGene:1"]
    )
    assert [(hit.key, hit.genotype, hit.shared_genes) for hit in hits] == [
        (1, 1.0, (GENES[0], GENES[2])),
        (2, 0.0, ()),
        (3, 0.0, ()),
    ]
    assert hits[0].phenotype == hits[1].phenotype == 1.0
    assert hits[0].score > hits[1].score
    assert (
        index.search(
            scorer, scorer.prepare([1]), query_genes=["NCBIGene:1"], require_shared_gene=True
        )
        == []
    )


def test_equal_scores_rank_by_key_in_both_segments() -> None:
    index = CaseIndex.build(
        [IndexedCase(key=key, observed=[5]) for key in range(100, 0, -3)], hpo_release=RELEASE
    )
    for key in (2, 50, 51, 3):
        index.upsert(IndexedCase(key=key, observed=[5]))
    scorer = OverlapScorer()
    keys = [hit.key for hit in index.search(scorer, scorer.prepare([5]), limit=6)]
    assert keys == [1, 2, 3, 4, 7, 10]


def test_build_from_arrays_matches_build(index: CaseIndex, cases: dict[int, IndexedCase]) -> None:
    rows = list(cases.values())
    vocabulary = list(GENES)

    def indptr(lengths: Iterable[int]) -> NDArray[np.int64]:
        return np.concatenate([[0], np.cumsum(list(lengths))]).astype(np.int64)

    keys = np.array([case.key for case in rows])
    built = CaseIndex.build_from_arrays(
        keys=keys,
        observed_indptr=indptr(len(case.observed) for case in rows),
        observed_terms=[term for case in rows for term in case.observed],
        excluded_indptr=indptr(len(case.excluded) for case in rows),
        excluded_terms=[term for case in rows for term in case.excluded],
        gene_indptr=indptr(len(case.genes) for case in rows),
        gene_codes=[vocabulary.index(gene) for case in rows for gene in case.genes],
        gene_vocabulary=vocabulary,
        flags=[
            (FLAG_SHAREABLE if case.shareable else 0) | (FLAG_TEST if case.is_test else 0)
            for case in rows
        ],
        hpo_release=RELEASE,
    )
    assert keys.flags.writeable  # the caller's arrays are left alone
    assert len(built) == len(index) == len(cases)
    np.testing.assert_array_equal(built.keys(), sorted(cases))
    assert built.get(rows[7].key) == index.get(rows[7].key) == rows[7]
    check_against_brute_force(built, cases)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"keys": [1, 1]}, "appears twice"),
        ({"observed_terms": [0, 40_000]}, "outside"),
        ({"observed_terms": [0, -1]}, "outside"),
        ({"gene_codes": [0, 1]}, "outside"),
        ({"observed_indptr": [0, 2, 1], "observed_terms": [0]}, "must not decrease"),
        ({"observed_indptr": [0, 1]}, "one entry per case"),
        ({"flags": [0]}, "one entry per case"),
        ({"gene_vocabulary": ["NCBIGene:1", "NCBIGene:1"]}, "twice"),
    ],
)
def test_build_from_arrays_rejects_inconsistent_arrays(
    arrays: dict[str, Any], message: str
) -> None:
    valid: dict[str, Any] = {
        "keys": [1, 2],
        "observed_indptr": [0, 1, 2],
        "observed_terms": [0, 1],
        "excluded_indptr": [0, 0, 0],
        "excluded_terms": [],
        "gene_indptr": [0, 1, 2],
        "gene_codes": [0, 0],
        "gene_vocabulary": ["NCBIGene:1"],
        "flags": [0, 0],
    }
    with pytest.raises(ValueError, match=message):
        CaseIndex.build_from_arrays(**{**valid, **arrays}, hpo_release=RELEASE)


def test_build_rejects_duplicate_keys_and_impossible_terms() -> None:
    with pytest.raises(ValueError, match="appears twice"):
        CaseIndex.build([IndexedCase(1, [1]), IndexedCase(1, [2])], hpo_release=RELEASE)
    with pytest.raises(ValueError, match="outside"):
        CaseIndex.build([IndexedCase(1, [70_000])], hpo_release=RELEASE)
    with pytest.raises(ValueError, match="outside"):
        CaseIndex(CaseIndex.build([], hpo_release=RELEASE)._snapshot, hpo_release=RELEASE).upsert(
            IndexedCase(1, [-2])
        )


def test_an_empty_index_finds_nothing_and_accepts_cases() -> None:
    index = CaseIndex.build([], hpo_release=RELEASE)
    scorer = OverlapScorer()
    assert len(index) == 0
    assert index.search(scorer, scorer.prepare([1]), query_genes=[GENES[0]]) == []
    assert index.keys().tolist() == []
    index.upsert(IndexedCase(key=5, observed=[1]))
    assert [hit.key for hit in index.search(scorer, scorer.prepare([1]))] == [5]
    assert index.remove(5)
    assert index.search(scorer, scorer.prepare([1])) == []
    index.compact()
    assert len(index) == 0
    assert index.search(scorer, scorer.prepare([1])) == []


# Changes ---------------------------------------------------------------------------------------


def test_upsert_replaces_the_old_profile(index: CaseIndex, cases: dict[int, IndexedCase]) -> None:
    scorer = OverlapScorer()
    key = next(iter(cases))
    version = index.version
    index.upsert(IndexedCase(key=key, observed=[39], genes=["NCBIGene:7"], shareable=True))
    assert index.version == version + 1
    assert len(index) == len(cases)
    old_terms = [term for term in cases[key].observed if term != 39]
    if old_terms:
        old = index.search(scorer, scorer.prepare(old_terms), limit=len(cases))
        assert key not in {hit.key for hit in old if hit.phenotype > 0}
    new = index.search(scorer, scorer.prepare([39]), query_genes=["NCBIGene:7"], limit=1)
    assert new[0].key == key
    assert new[0].shared_genes == ("NCBIGene:7",)
    assert "NCBIGene:7" in index.gene_vocabulary
    # Replacing again, now within the delta segment.
    index.upsert(IndexedCase(key=key, observed=[38]))
    assert index.get(key) == IndexedCase(key=key, observed=(38,))
    assert len(index) == len(cases)
    assert (
        index.search(
            scorer, scorer.prepare([39]), query_genes=["NCBIGene:7"], require_shared_gene=True
        )
        == []
    )


def test_upsert_adds_a_new_case(index: CaseIndex, cases: dict[int, IndexedCase]) -> None:
    case = IndexedCase(key=123_456, observed=[1, 2], genes=[GENES[0]], shareable=True)
    assert case.key not in index
    index.upsert(case)
    cases[case.key] = case
    assert case.key in index
    assert len(index) == len(cases)
    check_against_brute_force(index, cases)


def test_remove_takes_the_case_out(index: CaseIndex, cases: dict[int, IndexedCase]) -> None:
    scorer = OverlapScorer()
    main_key, delta_key = list(cases)[:2]
    index.upsert(cases[delta_key])
    version = index.version
    assert index.remove(main_key)
    assert index.remove(delta_key)
    assert not index.remove(delta_key)
    assert not index.remove(424_242)
    assert index.version == version + 2
    assert main_key not in index
    assert delta_key not in index
    assert index.get(main_key) is None
    del cases[main_key], cases[delta_key]
    assert len(index) == len(cases)
    everything = index.search(scorer, scorer.prepare([1]), limit=10_000)
    assert {hit.key for hit in everything} == set(cases)
    check_against_brute_force(index, cases)


def test_compact_preserves_the_results(index: CaseIndex, cases: dict[int, IndexedCase]) -> None:
    scorer = OverlapScorer()
    generator = seeded(3)
    for case in random_cases(60, seed=4, first_key=1):  # some replace, some are new
        index.upsert(case)
        cases[case.key] = case
    for key in generator.sample(sorted(cases), 40):
        index.remove(key)
        del cases[key]
    queries = [(scorer.prepare(terms), genes) for terms, genes in random_queries(10)]
    before = [index.search(scorer, query, query_genes=genes) for query, genes in queries]
    version = index.version
    assert index.delta_rows > 0
    index.compact()
    assert index.delta_rows == 0
    assert index.version == version
    after = [index.search(scorer, query, query_genes=genes) for query, genes in queries]
    assert after == before
    np.testing.assert_array_equal(index.keys(), sorted(cases))
    check_against_brute_force(index, cases)


def test_upsert_compacts_once_the_delta_passes_the_threshold(cases: dict[int, IndexedCase]) -> None:
    index = CaseIndex.build(cases.values(), hpo_release=RELEASE, compact_threshold=5)
    for case in random_cases(12, seed=8, first_key=50_000):
        index.upsert(case)
        cases[case.key] = case
        assert index.delta_rows <= 5
    check_against_brute_force(index, cases)


# Persistence -----------------------------------------------------------------------------------


def test_save_and_load_give_the_same_results(
    index: CaseIndex, cases: dict[int, IndexedCase], tmp_path: Path
) -> None:
    scorer = OverlapScorer()
    index.upsert(IndexedCase(key=777_777, observed=[3], genes=["NCBIGene:77"]))
    index.remove(next(iter(cases)))
    index.metadata["last_change_id"] = 4321
    path = tmp_path / "sub" / "cases.npz"
    index.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["cases.npz"]  # no temporary left over
    loaded = CaseIndex.load(path)
    assert loaded.hpo_release == RELEASE
    assert loaded.version == index.version
    assert loaded.metadata == {"last_change_id": 4321}
    assert loaded.gene_vocabulary == index.gene_vocabulary
    assert len(loaded) == len(index)
    np.testing.assert_array_equal(loaded.keys(), index.keys())
    for terms, genes in random_queries(10):
        query = scorer.prepare(terms)
        assert loaded.search(scorer, query, query_genes=genes) == index.search(
            scorer, query, query_genes=genes
        )
    loaded.upsert(IndexedCase(key=1, observed=[1]))  # a loaded index takes changes too
    assert 1 in loaded


def test_load_refuses_another_format_version(index: CaseIndex, tmp_path: Path) -> None:
    path = tmp_path / "cases.npz"
    index.save(path)
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    meta = json.loads(arrays["meta"].tobytes())
    meta["version"] = storage.FORMAT_VERSION + 1
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="format version"):
        CaseIndex.load(path)


def test_load_refuses_a_file_that_is_not_a_case_index(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, meta=np.frombuffer(b'{"format": "hpo"}', dtype=np.uint8))
    with pytest.raises(ValueError, match="not a case index"):
        CaseIndex.load(path)
    np.savez(path, terms=np.arange(3))
    with pytest.raises(ValueError, match="not a case index"):
        CaseIndex.load(path)


def test_saved_file_holds_no_pickles(index: CaseIndex, tmp_path: Path) -> None:
    path = tmp_path / "cases.npz"
    index.save(path)
    with zipfile.ZipFile(path) as archive:
        assert all(name.endswith(".npy") for name in archive.namelist())
    with np.load(path, allow_pickle=False) as data:
        assert all(data[name].dtype != object for name in data.files)


# Threads ---------------------------------------------------------------------------------------


def test_searches_during_changes_never_see_a_removed_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ranking, "_PARALLEL_MIN_ROWS", 50)
    cases = random_cases(2_000, seed=9)
    index = CaseIndex.build(cases, hpo_release=RELEASE, compact_threshold=100)
    scorer = OverlapScorer()
    query = scorer.prepare([1, 2, 3, 4, 5])
    removed: set[int] = set()  # keys whose removal has returned
    failures: list[str] = []
    stop = threading.Event()

    def search_repeatedly() -> None:
        try:
            while not stop.is_set():
                gone = set(removed)  # copied before the search starts
                hits = index.search(scorer, query, limit=3_000)
                if seen := gone & {hit.key for hit in hits}:
                    failures.append(f"removed keys returned: {sorted(seen)[:5]}")
                if any(hit.score > 1 or hit.score < 0 for hit in hits):
                    failures.append("a score outside 0..1")
        except Exception as error:  # reported in the main thread
            failures.append(repr(error))

    threads = [threading.Thread(target=search_repeatedly) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        generator = seeded(10)
        for step, case in enumerate(random_cases(400, seed=11, first_key=100_000)):
            index.upsert(case)
            if step % 2:
                key = generator.choice(cases).key
                if index.remove(key):
                    removed.add(key)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    hits = index.search(scorer, query, limit=10_000)
    assert not removed & {hit.key for hit in hits}


# The real scorer on real HPO terms -----------------------------------------------------------


def real_cases(ontology: Ontology, count: int, seed: int) -> list[IndexedCase]:
    """Cases drawn from the disease annotations: a disease's terms and gene, and the disease
    profile the default scorer needs."""
    generator = seeded(seed)
    profiler = shared_disease_profiler(ontology)
    indptr = ontology.disease_term_indptr
    diseases = [
        row for row in range(len(ontology.disease_ids)) if indptr[row + 1] - indptr[row] >= 5
    ]
    cases = []
    for key in range(1, count + 1):
        disease = generator.choice(diseases)
        terms = ontology.disease_term_indices[indptr[disease] : indptr[disease + 1]].tolist()
        genes = ontology.disease_genes.get(ontology.disease_ids[disease], ())
        observed = generator.sample(terms, generator.randint(3, min(10, len(terms))))
        cases.append(
            IndexedCase(
                key=key,
                observed=observed,
                excluded=generator.sample(range(len(ontology)), generator.randint(0, 2)),
                genes=[f"NCBIGene:{entrez}" for entrez, _ in genes[:1]],
                shareable=generator.random() < 0.8,
                disease_profile=profiler.profile(observed),
            )
        )
    return cases


def one_case_profiles(case: IndexedCase) -> CaseProfiles:
    # The zero-padded row the index stores for the profile.
    disease_rows, disease_weights, disease_fit = storage.profile_row(case.disease_profile)
    return CaseProfiles(
        observed_indptr=np.array([0, len(case.observed)], dtype=np.int64),
        observed_terms=np.array(case.observed, dtype=np.int16),
        excluded_indptr=np.array([0, len(case.excluded)], dtype=np.int64),
        excluded_terms=np.array(case.excluded, dtype=np.int16),
        disease_rows=disease_rows[None, :],
        disease_weights=disease_weights[None, :],
        disease_fits=np.array([disease_fit], dtype=np.float32),
    )


def test_real_scorer_ranks_real_cases_like_scoring_them_one_by_one(real_hpo: Ontology) -> None:
    cases = real_cases(real_hpo, 400, seed=12)
    index = CaseIndex.build(cases, hpo_release=real_hpo.release)
    scorer = PhenotypeScorer(real_hpo)
    for query_case in real_cases(real_hpo, 5, seed=13):
        query = scorer.prepare(query_case.observed, query_case.excluded)
        expected = brute_force(
            cases,
            lambda case, query=query: scorer.score(query, one_case_profiles(case))[0],
            query_genes=query_case.genes,
            limit=20,
            shareable_only=True,
        )
        actual = index.search(
            scorer, query, query_genes=query_case.genes, limit=20, shareable_only=True
        )
        assert_same_hits(actual, expected)
        assert all(0.0 <= hit.score <= 1.0 for hit in actual)


# Exact top-k with pruning ----------------------------------------------------------------------


class FullScoring:
    """The real scorer without its bounds: search then scores every row (the reference)."""

    def __init__(self, scorer: PhenotypeScorer) -> None:
        self.scorer = scorer

    def score(
        self, query: Any, profiles: CaseProfiles, start: int = 0, stop: int | None = None
    ) -> NDArray[np.float32]:
        return self.scorer.score(query, profiles, start, stop)


def pruning_index(ontology: Ontology, count: int, seed: int) -> CaseIndex:
    """Real-HPO cases with many exact ties (repeated profiles), random ones, a delta segment
    and tombstones: everything the pruned search has to get right."""
    generator = seeded(seed)
    cases = real_cases(ontology, count, seed)
    annotated = sorted(set(ontology.disease_term_indices.tolist()))
    cases += [
        replace_key(case, count + position + 1)
        for position, case in enumerate(generator.sample(cases, count // 4))
    ]
    cases += [
        IndexedCase(
            key=2 * count + position,
            observed=generator.sample(annotated, generator.randint(0, 12)),
            genes=generator.sample([case.genes[0] for case in cases if case.genes], 1),
            shareable=generator.random() < 0.5,
            is_test=generator.random() < 0.1,
        )
        for position in range(count // 4)
    ]
    index = CaseIndex.build(cases, hpo_release=ontology.release)
    for case in generator.sample(cases, 40):
        index.upsert(replace_key(case, 10 * count + case.key))
    for case in generator.sample(cases, 20):
        index.remove(case.key)
    return index


def replace_key(case: IndexedCase, key: int) -> IndexedCase:
    return IndexedCase(key, case.observed, case.excluded, case.genes, case.shareable, case.is_test)


# Every method is bounded coarsely first, then tightly for the rows left; those with a disease
# bridge weigh it per query (by the query's spread; the default also lowers cases a known disease
# explains better than the query) or always at half.
@pytest.mark.parametrize(
    "method",
    [
        BMA_JACCARD_EXPLAINED_BRIDGE,
        BMA_JACCARD_GATED_BRIDGE,
        BMA_JACCARD_BRIDGE,
        BMA_JACCARD,
        RESNIK_BMA_EXACT,
    ],
)
@pytest.mark.parametrize("quantise", [True, False])
def test_pruned_search_returns_exactly_the_full_ranking(
    real_hpo: Ontology, method: str, quantise: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A tiny first batch forces several exact-scoring rounds, each raising the threshold.
    monkeypatch.setattr(pruning, "_FIRST_EXACT_BATCH", 16)
    monkeypatch.setattr(pruning, "_SCORE_ALL_ELIGIBLE_UP_TO", 16)
    monkeypatch.setattr(pruning, "_TIGHTEN_FROM_ROWS", 8)  # tighten nearly every search
    monkeypatch.setattr(pruning, "_BOUND_BLOCK_ROWS", 256)  # bounds in several blocks
    index = pruning_index(real_hpo, 2000, seed=21)
    scorer = PhenotypeScorer(real_hpo, method=method, quantise=quantise)
    full = FullScoring(scorer)
    annotated = sorted(set(real_hpo.disease_term_indices.tolist()))
    generator = seeded(22)
    queries = [(case.observed, list(case.genes)) for case in real_cases(real_hpo, 4, seed=23)]
    # Weak queries: unrelated terms, no gene; and a query repeating a stored profile (score 1).
    queries += [(generator.sample(annotated, 10), []) for _ in range(2)]
    stored = index.get(int(index.keys()[5]))
    assert stored is not None
    queries.append((list(stored.observed), list(stored.genes)))
    filter_sets: list[dict[str, Any]] = [
        {},
        {"require_shared_gene": True},
        {"shareable_only": True, "include_test": False},
        {"exclude_keys": set(index.keys()[:300].tolist())},
    ]
    rounds = set()
    for observed, genes in queries:
        query = scorer.prepare(observed)
        for limit, min_score, filters in itertools.product(
            [1, 7, 50, 400], [0.0, 0.3, 0.6], filter_sets
        ):
            options = {"query_genes": genes, "limit": limit, "min_score": min_score, **filters}
            expected, full_statistics = index.search_with_statistics(full, query, **options)
            actual, statistics = index.search_with_statistics(scorer, query, **options)
            assert actual == expected, (limit, min_score, filters)
            assert not full_statistics.pruned
            if expected or not filters.get("require_shared_gene"):
                assert statistics.pruned
            assert statistics.exact_rows <= statistics.eligible_rows
            rounds.add(statistics.rounds)
    # Several rounds, each raising the threshold (tightening the bounds after the first round
    # leaves fewer rows, hence fewer rounds, for the bridge).
    assert max(rounds) > (1 if method == BMA_JACCARD_BRIDGE else 2)


def test_pruned_search_breaks_ties_at_the_threshold_by_key(real_hpo: Ontology) -> None:
    # 300 identical profiles tie on every score; the hits must be the smallest keys.
    scorer = PhenotypeScorer(real_hpo)
    profile = real_cases(real_hpo, 1, seed=31)[0]
    cases = [replace_key(profile, key) for key in seeded(32).sample(range(1, 10_000), 300)]
    cases += real_cases(real_hpo, 300, seed=33)
    cases = [
        replace_key(case, 20_000 + position) for position, case in enumerate(cases[300:])
    ] + cases[:300]
    index = CaseIndex.build(cases, hpo_release=real_hpo.release)
    query = scorer.prepare(profile.observed)
    for limit in (1, 10, 299, 300, 301):
        actual = index.search(scorer, query, limit=limit)
        assert actual == index.search(FullScoring(scorer), query, limit=limit)
    hits = index.search(scorer, query, limit=10)
    assert [hit.key for hit in hits] == sorted(case.key for case in cases[-300:])[:10]


@pytest.mark.parametrize("method", ["simgic", "jaccard"])
def test_methods_without_bounds_score_every_row(real_hpo: Ontology, method: str) -> None:
    index = CaseIndex.build(real_cases(real_hpo, 200, seed=41), hpo_release=real_hpo.release)
    scorer = PhenotypeScorer(real_hpo, method=method)
    query = scorer.prepare(real_cases(real_hpo, 1, seed=42)[0].observed)
    hits, statistics = index.search_with_statistics(scorer, query, limit=20)
    assert not statistics.pruned
    assert statistics.exact_rows == 200
    assert hits == index.search(FullScoring(scorer), query, limit=20)


def test_with_few_eligible_rows_the_search_scores_them_without_bounds_and_ranks_the_same(
    real_hpo: Ontology,
) -> None:
    cases = real_cases(real_hpo, 3000, seed=43)
    index = CaseIndex.build(cases, hpo_release=real_hpo.release)
    scorer = PhenotypeScorer(real_hpo)
    query_case = next(case for case in cases if case.genes)
    query = scorer.prepare(query_case.observed)
    gene = query_case.genes[0]

    hits, statistics = index.search_with_statistics(
        scorer, query, query_genes=[gene], require_shared_gene=True, limit=20
    )

    sharing = sum(gene in case.genes for case in cases)
    assert 0 < sharing <= 2048
    assert statistics.exact_rows == statistics.eligible_rows == sharing
    assert "levels" not in query.level_cache  # no bound was computed
    assert hits == index.search(
        FullScoring(scorer), query, query_genes=[gene], require_shared_gene=True, limit=20
    )
