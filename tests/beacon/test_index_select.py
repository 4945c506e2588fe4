"""CaseIndex.select, which the Beacon counts on, against a case-by-case count (no database)."""

from __future__ import annotations

import numpy as np

from ontologies.case_index import FLAG_SHAREABLE, FLAG_TEST, CaseIndex, IndexedCase


def _brute_force(
    cases: dict[int, IndexedCase],
    term_sets: list[set[int]],
    excluded: set[int],
    gene_sets: list[set[str]],
) -> list[int]:
    return sorted(
        case.key
        for case in cases.values()
        if case.shareable
        and not case.is_test
        and all(set(case.observed) & terms for terms in term_sets)
        and not set(case.excluded) & excluded
        and all(set(case.genes) & genes for genes in gene_sets)
    )


def test_select_finds_exactly_the_cases_passing_every_filter_after_updates() -> None:
    rng = np.random.default_rng(3)
    terms, genes = 40, ["NCBIGene:1", "NCBIGene:2", "NCBIGene:3", "NCBIGene:4"]

    def random_case(key: int) -> IndexedCase:
        return IndexedCase(
            key=key,
            observed=rng.choice(terms, size=int(rng.integers(0, 6)), replace=False).tolist(),
            excluded=rng.choice(terms, size=int(rng.integers(0, 3)), replace=False).tolist(),
            genes=list(rng.choice(genes, size=int(rng.integers(0, 3)), replace=False)),
            shareable=bool(rng.random() < 0.8),
            is_test=bool(rng.random() < 0.1),
        )

    cases = {key: random_case(key) for key in range(1, 400)}
    index = CaseIndex.build(cases.values(), hpo_release="test")
    # Upserts land in the delta segment, removals leave tombstones: both must count right.
    for key in (5, 17, 400, 401):
        cases[key] = random_case(key)
        index.upsert(cases[key])
    for key in (9, 300):
        del cases[key]
        index.remove(key)

    for _ in range(30):
        term_sets = [set(rng.choice(terms, size=12, replace=False).tolist()) for _ in range(3)]
        excluded = set(rng.choice(terms, size=3, replace=False).tolist())
        gene_sets = [{str(rng.choice(genes))}] if rng.random() < 0.5 else []
        masks = []
        for wanted in term_sets:
            mask = np.zeros(terms, dtype=np.bool_)
            mask[list(wanted)] = True
            masks.append(mask)
        excluded_mask = np.zeros(terms, dtype=np.bool_)
        excluded_mask[list(excluded)] = True
        keys = index.select(
            term_filters=masks,
            excluded_terms=excluded_mask,
            gene_filters=gene_sets,
            required_flags=FLAG_SHAREABLE,
            rejected_flags=FLAG_TEST,
        )
        assert keys.tolist() == _brute_force(cases, term_sets, excluded, gene_sets)
    # No filter at all: every shareable, non-test case.
    assert len(index.select(required_flags=FLAG_SHAREABLE, rejected_flags=FLAG_TEST)) == len(
        _brute_force(cases, [], set(), [])
    )
    # An unknown gene matches nothing.
    assert len(index.select(gene_filters=[{"NCBIGene:999"}])) == 0
