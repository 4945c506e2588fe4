from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from ontologies.hpo import Ontology
from ontologies.similarity import (
    BMA_JACCARD,
    BMA_JACCARD_BRIDGE,
    BMA_JACCARD_EXPLAINED_BRIDGE,
    BMA_JACCARD_GATED_BRIDGE,
    DEFAULT_METHOD,
    JACCARD,
    LIN,
    LIN_BMA,
    METHODS,
    RESNIK,
    RESNIK_BMA,
    RESNIK_BMA_EXACT,
    SIM_GIC,
    CaseProfiles,
    PhenotypeScorer,
    combine_scores,
    kernels,
    lin_to_all,
    pack_pairs,
    resnik_to_all,
    sum_pairs_over_cases,
)
from ontologies.similarity.reference import (
    information_content_of,
    reference_best_match_average,
    reference_jaccard,
    reference_lin,
    reference_resnik,
    reference_sim_gic,
)

# Quantised BMA scores: each term similarity is off by at most half a quantum (max query IC /
# 255), so a normalised score is off by at most that over the query's self-score.
FLOAT_TOLERANCE = 1e-5
PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _index(ontology: Ontology, *hpo_ids: str) -> list[int]:
    return [ontology.index_of(hpo_id) for hpo_id in hpo_ids]


def _reference_bma(
    ontology: Ontology,
    ic: dict[str, float],
    query: list[str],
    case: list[str],
    *,
    measure: str,
    query_weight: float,
    exact_bonus: float,
    jaccard_weight: float = 0.0,
) -> float:
    bma = _reference_plain_bma(
        ontology,
        ic,
        query,
        case,
        measure=measure,
        query_weight=query_weight,
        exact_bonus=exact_bonus,
    )
    mixture = (1 - jaccard_weight) * bma + jaccard_weight * reference_jaccard(query, case)
    return min(1.0, max(0.0, mixture))


def _reference_plain_bma(
    ontology: Ontology,
    ic: dict[str, float],
    query: list[str],
    case: list[str],
    *,
    measure: str,
    query_weight: float,
    exact_bonus: float,
) -> float:
    def similarity(a: str, b: str) -> float:
        base = (
            reference_resnik(ontology, ic, a, b)
            if measure == RESNIK
            else reference_lin(ontology, ic, a, b)
        )
        return base + (exact_bonus if a == b else 0.0)

    if not query or not case:
        return 0.0
    self_score = reference_best_match_average(similarity, query, query)
    if self_score <= 0:
        return 0.0
    raw = query_weight * reference_best_match_average(similarity, query, case) + (
        1 - query_weight
    ) * reference_best_match_average(similarity, case, query)
    return min(1.0, max(0.0, raw / self_score))


@pytest.fixture(scope="module")
def real_ic(real_hpo: Ontology) -> dict[str, float]:
    return dict(information_content_of(real_hpo, real_hpo.information_content))


@pytest.fixture(scope="module")
def annotated_terms(real_hpo: Ontology) -> list[int]:
    # Terms that annotate diseases: where real profiles come from, and a mix of depths.
    return sorted(set(real_hpo.disease_term_indices.tolist()))


def _term_sets(pool: list[int], max_size: int = 6) -> st.SearchStrategy[list[int]]:
    return st.lists(st.sampled_from(pool), min_size=0, max_size=max_size, unique=True)


def _draw_cases(
    data: st.DataObject, query: list[int], pool: list[int], *, max_size: int = 6, max_cases: int = 5
) -> list[list[int]]:
    """Random cases, each also holding some of the query's own terms (so Jaccard is not 0)."""
    cases = data.draw(st.lists(_term_sets(pool, max_size), min_size=1, max_size=max_cases))
    if not query:
        return cases
    shared = [data.draw(st.lists(st.sampled_from(query), unique=True)) for _ in cases]
    return [list(dict.fromkeys([*some, *case])) for some, case in zip(shared, cases, strict=True)]


# --- term-to-term kernels on the real HPO ------------------------------------------------------


@PROPERTY_SETTINGS
@given(data=st.data())
def test_resnik_and_lin_to_all_equal_the_reference(
    real_hpo: Ontology, real_ic: dict[str, float], annotated_terms: list[int], data: st.DataObject
) -> None:
    term = data.draw(st.sampled_from(annotated_terms))
    others = data.draw(st.lists(st.sampled_from(annotated_terms), min_size=1, max_size=8))
    resnik = resnik_to_all(real_hpo, np.array([term]), real_hpo.information_content)
    lin = lin_to_all(real_hpo, term, real_hpo.information_content)
    a = real_hpo.term_ids[term]
    for other in others:
        b = real_hpo.term_ids[other]
        assert resnik[other] == pytest.approx(reference_resnik(real_hpo, real_ic, a, b))
        assert lin[other] == pytest.approx(reference_lin(real_hpo, real_ic, a, b))


# --- set measures against many cases --------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "quantise"),
    [
        (RESNIK_BMA, False),
        (RESNIK_BMA, True),
        (LIN_BMA, False),
        (RESNIK_BMA_EXACT, True),
        (BMA_JACCARD, True),
        (BMA_JACCARD, False),
    ],
)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_bma_scores_equal_the_reference(
    real_hpo: Ontology,
    real_ic: dict[str, float],
    annotated_terms: list[int],
    method: str,
    quantise: bool,
    data: st.DataObject,
) -> None:
    query = data.draw(_term_sets(annotated_terms))
    cases = _draw_cases(data, query, annotated_terms)
    scorer = PhenotypeScorer(real_hpo, method=method, quantise=quantise)
    scores = scorer.score(scorer.prepare(query), CaseProfiles.from_lists(cases))
    preset = METHODS[method]
    ids = real_hpo.term_ids
    max_ic = max((real_ic[ids[t]] for t in query), default=0.0) + preset.exact_bonus
    self_ic = np.mean([real_ic[ids[t]] + preset.exact_bonus for t in query]) if query else 1.0
    tolerance = (0.5 * max_ic / 255 / max(self_ic, 1e-9) + 1e-4) if quantise else FLOAT_TOLERANCE
    for case, score in zip(cases, scores.tolist(), strict=True):
        expected = _reference_bma(
            real_hpo,
            real_ic,
            [ids[t] for t in query],
            [ids[t] for t in case],
            measure=preset.term_measure or RESNIK,
            query_weight=preset.query_weight,
            exact_bonus=preset.exact_bonus,
            jaccard_weight=preset.jaccard_weight,
        )
        assert score == pytest.approx(expected, abs=tolerance)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_simgic_and_jaccard_equal_the_reference(
    real_hpo: Ontology, real_ic: dict[str, float], annotated_terms: list[int], data: st.DataObject
) -> None:
    query = data.draw(_term_sets(annotated_terms))
    cases = data.draw(st.lists(_term_sets(annotated_terms), min_size=1, max_size=5))
    profiles = CaseProfiles.from_lists(cases)
    ids = real_hpo.term_ids
    gic = PhenotypeScorer(real_hpo, method=SIM_GIC)
    jaccard = PhenotypeScorer(real_hpo, method=JACCARD)
    gic_scores = gic.score(gic.prepare(query), profiles)
    jaccard_scores = jaccard.score(jaccard.prepare(query), profiles)
    for i, case in enumerate(cases):
        q, c = [ids[t] for t in query], [ids[t] for t in case]
        expected_gic = reference_sim_gic(real_hpo, real_ic, q, c) if q else 0.0
        assert gic_scores[i] == pytest.approx(expected_gic, abs=FLOAT_TOLERANCE)
        expected_jaccard = reference_jaccard(q, c) if q else 0.0
        assert jaccard_scores[i] == pytest.approx(expected_jaccard, abs=FLOAT_TOLERANCE)


@pytest.mark.parametrize("method", sorted(METHODS))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_scores_stay_within_0_and_1_and_chunks_equal_the_whole(
    real_hpo: Ontology, annotated_terms: list[int], method: str, data: st.DataObject
) -> None:
    query = data.draw(_term_sets(annotated_terms))
    cases = _draw_cases(data, query, annotated_terms, max_cases=8)
    split = data.draw(st.integers(0, len(cases)))
    scorer = PhenotypeScorer(real_hpo, method=method)
    prepared = scorer.prepare(query)
    profiles = scorer.case_profiles(cases)
    whole = scorer.score(prepared, profiles)
    assert whole.dtype == np.float32
    assert np.all((whole >= 0) & (whole <= 1))
    assert not np.isnan(whole).any()
    chunks = np.concatenate(
        [scorer.score(prepared, profiles, 0, split), scorer.score(prepared, profiles, split)]
    )
    np.testing.assert_array_equal(chunks, whole)


# --- hand-computed answers on the mini ontology ----------------------------------------------------


@pytest.mark.parametrize("method", sorted(METHODS))
def test_identical_profiles_score_1(mini_hpo: Ontology, method: str) -> None:
    terms = _index(mini_hpo, "HP:0002069", "HP:0000252", "HP:0000486")
    scorer = PhenotypeScorer(mini_hpo, method=method)
    scores = scorer.score(scorer.prepare(terms), scorer.case_profiles([terms[::-1]]))
    assert scores[0] == pytest.approx(1.0)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_empty_case_and_empty_query_score_0(mini_hpo: Ontology, method: str) -> None:
    scorer = PhenotypeScorer(mini_hpo, method=method)
    profiles = scorer.case_profiles([[], _index(mini_hpo, "HP:0001250"), []])
    scores = scorer.score(scorer.prepare(_index(mini_hpo, "HP:0001250")), profiles)
    assert scores.tolist() == [0.0, pytest.approx(1.0), 0.0]
    empty_query = scorer.score(scorer.prepare([]), profiles)
    assert empty_query.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "method", [RESNIK_BMA, LIN_BMA, RESNIK_BMA_EXACT, BMA_JACCARD, SIM_GIC, JACCARD]
)
def test_disjoint_branches_score_0(mini_hpo: Ontology, method: str) -> None:
    # Mode of inheritance and phenotypic abnormality meet only at the root (IC 0).
    scorer = PhenotypeScorer(mini_hpo, method=method)
    query = scorer.prepare(_index(mini_hpo, "HP:0000006"))
    scores = scorer.score(query, CaseProfiles.from_lists([_index(mini_hpo, "HP:0002069")]))
    assert scores[0] == 0.0


def test_root_only_query_scores_0_without_nan(mini_hpo: Ontology) -> None:
    scorer = PhenotypeScorer(mini_hpo, method=RESNIK_BMA)
    profiles = CaseProfiles.from_lists(
        [_index(mini_hpo, "HP:0000001"), _index(mini_hpo, "HP:0001250")]
    )
    scores = scorer.score(scorer.prepare(_index(mini_hpo, "HP:0000001")), profiles)
    assert scores.tolist() == [0.0, 0.0]


def test_resnik_bma_by_hand(mini_hpo: Ontology) -> None:
    ic = mini_hpo.information_content
    seizure, tonic, focal, microcephaly = _index(
        mini_hpo, "HP:0001250", "HP:0002069", "HP:0007359", "HP:0000252"
    )
    scorer = PhenotypeScorer(mini_hpo, method=RESNIK_BMA, quantise=False)
    score = scorer.score(scorer.prepare([tonic, microcephaly]), CaseProfiles.from_lists([[focal]]))[
        0
    ]
    # query->case: tonic~focal meet at Seizure; microcephaly~focal at nervous-system abnormality.
    nervous = mini_hpo.index_of("HP:0000707")
    query_to_case = (ic[seizure] + ic[nervous]) / 2
    case_to_query = ic[seizure]
    expected = (0.5 * query_to_case + 0.5 * case_to_query) / ((ic[tonic] + ic[microcephaly]) / 2)
    assert score == pytest.approx(min(1.0, expected), rel=1e-6)


def test_bma_jaccard_adds_0_4_of_the_exact_term_jaccard_by_hand(mini_hpo: Ontology) -> None:
    tonic, focal, microcephaly = _index(mini_hpo, "HP:0002069", "HP:0007359", "HP:0000252")
    profiles = CaseProfiles.from_lists([[tonic, focal], [focal], [tonic, microcephaly]])
    # bma_jaccard's BMA part is resnik_bma_exact with the query->case direction weighted 0.8.
    bma = PhenotypeScorer(mini_hpo, method=RESNIK_BMA_EXACT, query_weight=0.8)
    mixed = PhenotypeScorer(mini_hpo, method=BMA_JACCARD)
    bma_scores = bma.score(bma.prepare([tonic, microcephaly]), profiles)
    query = mixed.prepare([tonic, microcephaly])
    scores = mixed.score(query, profiles)
    # Jaccard: {tonic} of {tonic, microcephaly, focal}; nothing shared; the same two terms.
    expected = 0.6 * bma_scores.astype(np.float64) + 0.4 * np.array([1 / 3, 0.0, 1.0])
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    assert scores[2] == 1.0
    bounds = mixed.score_upper_bounds(query, profiles)
    assert bounds is not None
    assert np.all(bounds >= scores)


@pytest.mark.parametrize("quantise", [True, False])
def test_jaccard_weight_0_and_1_give_each_part_bit_for_bit(
    real_hpo: Ontology, annotated_terms: list[int], quantise: bool
) -> None:
    rng = np.random.default_rng(5)
    query = rng.choice(annotated_terms, 8, replace=False).tolist()
    cases = [
        list(
            dict.fromkeys([*rng.choice(query, rng.integers(0, 5)), *rng.choice(annotated_terms, 6)])
        )
        for _ in range(300)
    ] + [[]]
    profiles = CaseProfiles.from_lists(cases)

    def scores(method: str, **options: float) -> NDArray[np.float32]:
        scorer = PhenotypeScorer(real_hpo, method=method, quantise=quantise, **options)
        return scorer.score(scorer.prepare(query), profiles)

    np.testing.assert_array_equal(
        scores(BMA_JACCARD, jaccard_weight=0.0), scores(RESNIK_BMA_EXACT, query_weight=0.8)
    )
    np.testing.assert_array_equal(scores(BMA_JACCARD, jaccard_weight=1.0), scores(JACCARD))
    np.testing.assert_array_equal(
        scores(RESNIK_BMA_EXACT, query_weight=0.8, jaccard_weight=0.4), scores(BMA_JACCARD)
    )


def test_bma_jaccard_counts_shared_terms_when_the_bma_part_is_0(mini_hpo: Ontology) -> None:
    # Without the exact bonus a root-only query has self-score 0: no BMA, but the exact
    # Jaccard still sees the shared root (and nothing may turn into NaN on the way).
    root, seizure = _index(mini_hpo, "HP:0000001", "HP:0001250")
    scorer = PhenotypeScorer(mini_hpo, method=BMA_JACCARD, exact_bonus=0.0)
    profiles = CaseProfiles.from_lists([[root], [seizure], [root, seizure], []])
    query = scorer.prepare([root])
    scores = scorer.score(query, profiles)
    assert scores.tolist() == pytest.approx([0.4, 0.0, 0.2, 0.0])
    bounds = scorer.score_upper_bounds(query, profiles)
    assert bounds is not None
    np.testing.assert_array_equal(bounds, scores)
    rows = np.array([2, 0])
    np.testing.assert_array_equal(scorer.score_rows(query, profiles, rows), scores[rows])


def test_sum_pairs_over_cases_equals_plain_sums(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    low = rng.integers(0, 256, 50).astype(np.uint8)
    high = rng.integers(0, 256, 50).astype(np.uint8)
    lengths = rng.integers(0, 6, 40)
    lengths[[0, 17, 39]] = 0
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    terms = rng.integers(0, 50, int(indptr[-1]))
    expected_low = [int(low[terms[a:b]].sum()) for a, b in itertools.pairwise(indptr)]
    expected_high = [int(high[terms[a:b]].sum()) for a, b in itertools.pairwise(indptr)]
    packed = pack_pairs(low, high)
    # Also a slice of the CSR (indptr not from 0). The limit picks the path: a running sum over
    # all terms; reduceat row by row (more terms in all, rows all shorter: no row reaches 6);
    # and the long-row path, which takes the halves apart before summing.
    for limit in (1 << 24, 6, 2):
        monkeypatch.setattr(kernels, "_PACKED_ROW_LIMIT", limit)
        sums_low, sums_high = sum_pairs_over_cases(packed, indptr, terms)
        assert sums_low.tolist() == expected_low
        assert sums_high.tolist() == expected_high
        part_low, part_high = sum_pairs_over_cases(
            packed, indptr[5:21], terms[indptr[5] : indptr[20]]
        )
        assert part_low.tolist() == expected_low[5:20]
        assert part_high.tolist() == expected_high[5:20]
    empty_low, empty_high = sum_pairs_over_cases(packed, np.zeros(4, np.int64), terms[:0])
    assert empty_low.tolist() == empty_high.tolist() == [0.0, 0.0, 0.0]


def test_explain_reports_matches_and_conflicts_both_ways(mini_hpo: Ontology) -> None:
    tonic, focal, seizure, microcephaly, strabismus = _index(
        mini_hpo, "HP:0002069", "HP:0007359", "HP:0001250", "HP:0000252", "HP:0000486"
    )
    scorer = PhenotypeScorer(mini_hpo, method=RESNIK_BMA)
    explanation = scorer.explain(
        observed=[tonic, microcephaly],
        excluded=[strabismus],
        case_observed=[focal, strabismus],
        case_excluded=[seizure],
    )
    first = explanation.matches[0]
    assert (first.query_hpo_id, first.case_hpo_id) == ("HP:0002069", "HP:0007359")
    assert first.common_ancestor_hpo_id == "HP:0001250"
    assert first.common_ancestor_ic == pytest.approx(mini_hpo.information_content[seizure])
    conflicts = {
        (c.observed_in, c.observed_hpo_id, c.excluded_hpo_id) for c in explanation.conflicts
    }
    # The case excludes Seizure, an ancestor of the query's tonic-clonic seizure; the query
    # excludes Strabismus, which the case observes.
    assert conflicts == {
        ("query", "HP:0002069", "HP:0001250"),
        ("case", "HP:0000486", "HP:0000486"),
    }
    profiles = CaseProfiles.from_lists([[focal, strabismus]])
    assert explanation.score == scorer.score(scorer.prepare([tonic, microcephaly]), profiles)[0]


def test_explain_of_the_default_method_matches_its_score(mini_hpo: Ontology) -> None:
    tonic, focal, seizure, microcephaly, strabismus = _index(
        mini_hpo, "HP:0002069", "HP:0007359", "HP:0001250", "HP:0000252", "HP:0000486"
    )
    scorer = PhenotypeScorer(mini_hpo)
    assert scorer.method == DEFAULT_METHOD == BMA_JACCARD_EXPLAINED_BRIDGE
    explanation = scorer.explain(
        observed=[tonic, microcephaly],
        excluded=[strabismus],
        case_observed=[tonic, focal, strabismus],
        case_excluded=[seizure],
    )
    exact = explanation.matches[0]
    assert (exact.query_hpo_id, exact.case_hpo_id) == ("HP:0002069", "HP:0002069")
    # An exact match carries the method's bonus of 1 nat on top of the term's own IC.
    assert exact.similarity == pytest.approx(mini_hpo.information_content[tonic] + 1.0)
    assert {(c.observed_in, c.excluded_hpo_id) for c in explanation.conflicts} == {
        ("query", "HP:0001250"),
        ("case", "HP:0000486"),
    }
    profiles = scorer.case_profiles([[tonic, focal, strabismus]])
    assert explanation.score == scorer.score(scorer.prepare([tonic, microcephaly]), profiles)[0]
    assert 0.0 < explanation.score < 1.0
    # The disease bridge: the case profile's diseases, whose parts sum to the bridge.
    profiler = scorer.disease_profiler
    assert profiler is not None
    ours = profiler.query_vector([tonic, microcephaly])
    theirs = profiler.profile([tonic, focal, strabismus])
    bridge = float(np.dot(ours[theirs.rows.astype(np.intp)], theirs.weights))
    assert explanation.shared_diseases
    assert explanation.bridge_share == scorer.prepare([tonic, microcephaly]).bridge_weight > 0
    assert sum(d.contribution for d in explanation.shared_diseases) == pytest.approx(bridge)
    assert all(d.disease_id in mini_hpo.disease_ids for d in explanation.shared_diseases)


def test_explain_with_an_empty_case_has_no_matches(mini_hpo: Ontology) -> None:
    scorer = PhenotypeScorer(mini_hpo)
    explanation = scorer.explain(_index(mini_hpo, "HP:0001250"), [], [], [])
    assert explanation.score == 0.0
    assert explanation.matches[0].case_hpo_id is None


def test_scoring_from_two_threads_gives_the_same_scores(
    real_hpo: Ontology, annotated_terms: list[int]
) -> None:
    rng = np.random.default_rng(7)
    cases = [rng.choice(annotated_terms, 10).tolist() for _ in range(20_000)]
    scorer = PhenotypeScorer(real_hpo)
    profiles = scorer.case_profiles(cases)
    query = scorer.prepare(rng.choice(annotated_terms, 10).tolist())
    expected = scorer.score(query, profiles)
    results: list[np.ndarray] = []

    def work(start: int, stop: int) -> None:
        for _ in range(5):
            results.append((start, scorer.score(query, profiles, start, stop)))  # type: ignore[arg-type]

    threads = [
        threading.Thread(target=work, args=(0, 10_000)),
        threading.Thread(target=work, args=(10_000, 20_000)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 10
    for start, scores in results:  # type: ignore[misc]
        np.testing.assert_array_equal(scores, expected[start : start + 10_000])


def test_combine_scores_puts_a_shared_gene_first() -> None:
    phenotype = np.array([0.9, 0.2, 0.0], dtype=np.float32)
    genotype = np.array([0.0, 1.0, 1.0], dtype=np.float32)
    combined = combine_scores(phenotype, genotype)
    assert combined.dtype == np.float32
    assert combined.tolist() == pytest.approx([0.45, 0.6, 0.5])
    assert np.all((combined >= 0) & (combined <= 1))


def test_it_rejects_unknown_methods_and_options(mini_hpo: Ontology) -> None:
    with pytest.raises(ValueError, match="unknown method"):
        PhenotypeScorer(mini_hpo, method="cosine")
    with pytest.raises(TypeError, match="unknown options"):
        PhenotypeScorer(mini_hpo, colour="blue")
    for weight in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="jaccard_weight"):
            PhenotypeScorer(mini_hpo, jaccard_weight=weight)
    with pytest.raises(ValueError, match="jaccard_weight"):
        PhenotypeScorer(mini_hpo, method=SIM_GIC, jaccard_weight=0.3)
    assert LIN in (METHODS[LIN_BMA].term_measure,)


# --- upper bounds and row scoring (exact top-k search relies on both) ---------------------------


@pytest.mark.parametrize("quantise", [True, False])
@pytest.mark.parametrize("method", [BMA_JACCARD, RESNIK_BMA_EXACT, RESNIK_BMA, LIN_BMA])
@PROPERTY_SETTINGS
@given(data=st.data())
def test_upper_bounds_never_fall_below_the_scores(
    real_hpo: Ontology, annotated_terms: list[int], method: str, quantise: bool, data: st.DataObject
) -> None:
    query = data.draw(_term_sets(annotated_terms, max_size=12))
    cases = _draw_cases(data, query, annotated_terms, max_size=12, max_cases=30)
    scorer = PhenotypeScorer(real_hpo, method=method, quantise=quantise)
    prepared = scorer.prepare(query)
    profiles = CaseProfiles.from_lists(cases)
    bounds = scorer.score_upper_bounds(prepared, profiles)
    assert bounds is not None
    assert bounds.dtype == np.float32
    assert np.all(bounds >= scorer.score(prepared, profiles))
    assert np.all((bounds >= 0) & (bounds <= 1))
    # No disease bridge in these scores: the coarse bound would rule nothing out, so it is the
    # tight one.
    coarse = scorer.score_upper_bounds(prepared, profiles, coarse=True)
    assert coarse is not None
    assert np.array_equal(coarse, bounds)


@pytest.mark.parametrize(
    "method", [BMA_JACCARD_EXPLAINED_BRIDGE, BMA_JACCARD_GATED_BRIDGE, BMA_JACCARD_BRIDGE]
)
@pytest.mark.parametrize("quantise", [True, False])
@pytest.mark.parametrize("query_size", [1, 10, 40, 70])
def test_upper_bounds_hold_on_many_real_cases(
    real_hpo: Ontology, annotated_terms: list[int], quantise: bool, query_size: int, method: str
) -> None:
    # Disease-like cases (terms of one annotated disease) and random ones, against queries of
    # every size the level masks handle differently (more than 64 terms: some get no bit).
    rng = np.random.default_rng(query_size)
    indptr, terms = real_hpo.disease_term_indptr, real_hpo.disease_term_indices
    cases = []
    for disease in rng.choice(len(real_hpo.disease_ids), 1500):
        annotated = terms[indptr[disease] : indptr[disease + 1]]
        cases.append(rng.choice(annotated, min(len(annotated), 8), replace=False).tolist())
    cases += [rng.choice(annotated_terms, 8, replace=False).tolist() for _ in range(1500)]
    cases.append([])
    scorer = PhenotypeScorer(real_hpo, method=method, quantise=quantise)
    profiles = scorer.case_profiles(cases)
    for query_case in (cases[0], cases[-2]):
        query = list(dict.fromkeys([*query_case, *rng.choice(annotated_terms, query_size)]))
        prepared = scorer.prepare(query[:query_size])
        scores = scorer.score(prepared, profiles)
        bounds = scorer.score_upper_bounds(prepared, profiles)
        assert bounds is not None
        assert np.all(bounds >= scores)
        assert bounds[-1] == 0.0  # the empty case
        # Useful as well as valid: most cases sit well below a bound of 1.
        assert np.median(bounds) < 0.9
        # The coarse bound of a first pass: never below the tight one. With a disease bridge
        # in this query's score it is looser for some rows; without (the default's gate shut
        # for a query resembling many diseases), it rules nothing out, so it is the tight one.
        coarse = scorer.score_upper_bounds(prepared, profiles, coarse=True)
        assert coarse is not None
        assert np.all(coarse >= bounds)
        assert np.median(coarse) < 0.9
        if prepared.bridge_weight:
            assert (coarse > bounds).any()
        else:
            assert np.array_equal(coarse, bounds)
        rows = rng.permutation(len(cases))[:700]
        by_rows = scorer.score_upper_bounds_rows(prepared, profiles, rows)
        assert by_rows is not None
        assert np.array_equal(by_rows, bounds[rows])


@pytest.mark.parametrize("quantise", [True, False])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_score_rows_equals_score_bit_for_bit(
    real_hpo: Ontology, annotated_terms: list[int], method: str, quantise: bool
) -> None:
    rng = np.random.default_rng(4)
    cases = [
        rng.choice(annotated_terms, rng.integers(0, 12), replace=False).tolist() for _ in range(400)
    ]
    scorer = PhenotypeScorer(real_hpo, method=method, quantise=quantise)
    profiles = scorer.case_profiles(cases)
    prepared = scorer.prepare(rng.choice(annotated_terms, 10, replace=False).tolist())
    rows = rng.integers(0, len(cases), 300)
    np.testing.assert_array_equal(
        scorer.score_rows(prepared, profiles, rows), scorer.score(prepared, profiles)[rows]
    )
    assert len(scorer.score_rows(prepared, profiles, np.zeros(0, dtype=np.int64))) == 0
    with pytest.raises(IndexError):
        scorer.score_rows(prepared, profiles, np.array([len(cases)]))


@pytest.mark.parametrize("method", [SIM_GIC, JACCARD])
def test_set_measures_offer_no_upper_bound(mini_hpo: Ontology, method: str) -> None:
    scorer = PhenotypeScorer(mini_hpo, method=method)
    profiles = CaseProfiles.from_lists([_index(mini_hpo, "HP:0001250")])
    assert (
        scorer.score_upper_bounds(scorer.prepare(_index(mini_hpo, "HP:0001250")), profiles) is None
    )


def _level_masks_by_definition(similarity: NDArray[np.generic], *, integral: bool) -> list[int]:
    """``_level_masks``' docstring, term by term: K = 64 // Q levels per query term, evenly
    spaced in (0, R_i] (integer quanta: floor + 1), bit i * K + k set when S[i, t] >= L_ik."""
    count, n_terms = similarity.shape
    per_term = max(1, 64 // count)
    masks = [0] * n_terms
    for i in range(min(count, 64 // per_term)):
        reach = float(similarity[i].max())
        for k in range(per_term):
            level = (k + 1) / (per_term + 1) * reach
            level = np.asarray(np.floor(level) + 1.0 if integral else level).astype(
                similarity.dtype
            )
            for t in np.flatnonzero(similarity[i] >= level):
                masks[t] |= 1 << (i * per_term + k)
    return masks


@pytest.mark.parametrize("quantise", [True, False])
@pytest.mark.parametrize("query_size", [1, 3, 20, 70])
def test_level_masks_set_exactly_the_levels_each_term_reaches(
    real_hpo: Ontology, annotated_terms: list[int], quantise: bool, query_size: int
) -> None:
    from ontologies.similarity.scorer import _level_masks

    rng = np.random.default_rng(query_size)
    scorer = PhenotypeScorer(real_hpo, quantise=quantise)
    prepared = scorer.prepare(rng.choice(annotated_terms, query_size, replace=False).tolist())
    similarity = prepared.similarity
    assert similarity is not None
    masks, _, _ = _level_masks(similarity, integral=quantise)

    expected = _level_masks_by_definition(similarity, integral=quantise)
    assert masks.dtype == np.dtype("<u8")
    assert masks.tolist() == expected
