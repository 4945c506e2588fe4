"""The disease bridge: disease profiles of phenotypes, and their part in the default score."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ontologies.hpo import Ontology
from ontologies.similarity import (
    BMA_JACCARD,
    BMA_JACCARD_BRIDGE,
    BMA_JACCARD_EXPLAINED_BRIDGE,
    BMA_JACCARD_GATED_BRIDGE,
    DiseaseProfiler,
    PhenotypeScorer,
)
from ontologies.similarity.diseases import DEFAULT_PROFILE_SIZE, shared_disease_profiler
from ontologies.similarity.reference import information_content_of, reference_disease_similarity

PROPERTY_SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def real_profiler(real_hpo: Ontology) -> DiseaseProfiler:
    return shared_disease_profiler(real_hpo)


@pytest.fixture(scope="module")
def annotated(real_hpo: Ontology) -> list[int]:
    return sorted(set(real_hpo.disease_term_indices.tolist()))


def _phenotypes(pool: list[int], min_size: int, max_size: int) -> st.SearchStrategy[list[int]]:
    """Sets of annotated terms (as term indices) of ``min_size`` to ``max_size`` terms."""
    return st.lists(st.sampled_from(pool), min_size=min_size, max_size=max_size, unique=True)


def _index(ontology: Ontology, *hpo_ids: str) -> list[int]:
    return [ontology.index_of(hpo_id) for hpo_id in hpo_ids]


def _annotation(ontology: Ontology, profiler: DiseaseProfiler, row: int) -> list[str]:
    ontology_row = int(profiler.ontology_rows[row])
    indptr = ontology.disease_term_indptr
    terms = ontology.disease_term_indices[indptr[ontology_row] : indptr[ontology_row + 1]]
    return [ontology.term_ids[t] for t in terms.tolist()]


@PROPERTY_SETTINGS
@given(data=st.data())
def test_disease_similarities_equal_the_reference(
    real_hpo: Ontology, real_profiler: DiseaseProfiler, annotated: list[int], data: st.DataObject
) -> None:
    ic = information_content_of(real_hpo, real_hpo.information_content)
    query = data.draw(_phenotypes(annotated, 1, 8))
    similarities = real_profiler.similarities(query)
    # The reference is slow: check a sample of diseases, always including the best one.
    rows = data.draw(st.lists(st.integers(0, len(real_profiler) - 1), max_size=8, unique=True))
    for row in [*rows, int(np.argmax(similarities))]:
        expected = reference_disease_similarity(
            real_hpo,
            ic,
            [real_hpo.term_ids[t] for t in query],
            _annotation(real_hpo, real_profiler, row),
            real_profiler.exact_bonus,
        )
        assert similarities[row] == pytest.approx(expected, abs=1e-5)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_a_profile_is_the_closest_diseases_with_softmax_weights(
    real_profiler: DiseaseProfiler, annotated: list[int], data: st.DataObject
) -> None:
    query = data.draw(_phenotypes(annotated, 1, 10))
    similarities = real_profiler.similarities(query).astype(np.float64)
    profile = real_profiler.profile(query)
    assert len(profile.rows) == real_profiler.size == DEFAULT_PROFILE_SIZE
    # Best first, ties by ascending row, and no disease left out scores above one kept.
    expected_order = sorted(range(len(similarities)), key=lambda r: (-similarities[r], r))
    assert profile.rows.tolist() == expected_order[: real_profiler.size]
    kept = similarities[profile.rows]
    expected = np.exp((kept - kept[0]) / real_profiler.temperature)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(profile.weights, expected, rtol=1e-6)
    assert np.linalg.norm(profile.weights) == pytest.approx(1.0, abs=1e-6)
    # The query side: the same weights over every disease, scaled to the profile's length, so
    # the phenotype's bridge to itself is 1.
    vector = real_profiler.query_vector(query)
    all_weights = np.exp((similarities - similarities.max()) / real_profiler.temperature)
    np.testing.assert_allclose(
        vector, all_weights / np.linalg.norm(all_weights[profile.rows]), rtol=1e-5, atol=1e-12
    )
    assert float(np.dot(vector[profile.rows], profile.weights)) == pytest.approx(1.0, abs=1e-5)


def test_a_phenotype_close_to_hundreds_of_diseases_bridges_to_its_refinements(
    real_hpo: Ontology, real_profiler: DiseaseProfiler
) -> None:
    # Seizure and developmental delay annotate hundreds of diseases equally well: the profile
    # keeps 10 of them, chosen by row. The query side reads all of them, so a case with the same
    # two terms and one more (its profile drawn from the same diseases) still bridges fully.
    generic = _index(real_hpo, "HP:0001250", "HP:0001263")
    refined = _index(real_hpo, "HP:0001250", "HP:0001263", "HP:0007359")
    similarities = real_profiler.similarities(generic)
    assert (similarities == similarities.max()).sum() > 100
    profile = real_profiler.profile(refined)
    bridge = float(np.dot(real_profiler.query_vector(generic)[profile.rows], profile.weights))
    assert bridge == pytest.approx(1.0, abs=1e-4)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_the_default_score_mixes_bma_jaccard_with_the_bridge(
    real_hpo: Ontology, annotated: list[int], data: st.DataObject
) -> None:
    query = data.draw(_phenotypes(annotated, 1, 6))
    cases = data.draw(
        st.lists(
            _phenotypes(annotated, 0, 6),
            min_size=1,
            max_size=5,
        )
    )
    cases.append(list(query))
    bridged = PhenotypeScorer(real_hpo, method=BMA_JACCARD_BRIDGE, quantise=False)
    plain = PhenotypeScorer(real_hpo, method=BMA_JACCARD, quantise=False)
    profiler = bridged.disease_profiler
    assert profiler is not None
    scores = bridged.score(bridged.prepare(query), bridged.case_profiles(cases))
    parts = plain.score(plain.prepare(query), plain.case_profiles(cases))
    ours = profiler.query_vector(query)
    for case, score, part in zip(cases, scores.tolist(), parts.tolist(), strict=True):
        theirs = profiler.profile(case)
        bridge = min(
            1.0, sum(float(ours[r]) * w for r, w in zip(theirs.rows, theirs.weights, strict=True))
        )
        assert score == pytest.approx(0.5 * part + 0.5 * bridge, abs=1e-5)
    assert scores[-1] == pytest.approx(1.0, abs=1e-5)


# --- edge cases on the mini ontology (6 diseases) ---------------------------------------------


def test_profiles_on_the_mini_ontology(mini_hpo: Ontology) -> None:
    profiler = DiseaseProfiler(mini_hpo, size=20)
    omim = [d for d in mini_hpo.disease_ids if d.startswith("OMIM:")]
    assert profiler.size == len(profiler) <= len(omim)
    assert set(profiler.disease_ids) <= set(omim)
    # No terms, or only the root (IC 0 and annotated to no disease): an empty profile.
    assert len(profiler.profile([]).rows) == 0
    root = _index(mini_hpo, "HP:0000001")
    assert len(profiler.profile(root).rows) == 0
    seizure = _index(mini_hpo, "HP:0001250")
    profile = profiler.profile(seizure)
    assert len(profile.rows) == len(profiler)
    assert np.linalg.norm(profile.weights) == pytest.approx(1.0)
    assert np.all(np.diff(profile.weights) <= 0)


def test_identical_and_empty_phenotypes_under_the_bridge(mini_hpo: Ontology) -> None:
    scorer = PhenotypeScorer(mini_hpo, method=BMA_JACCARD_BRIDGE)
    terms = _index(mini_hpo, "HP:0002069", "HP:0000252", "HP:0000486")
    profiles = scorer.case_profiles([terms[::-1], [], _index(mini_hpo, "HP:0000001")])
    scores = scorer.score(scorer.prepare(terms), profiles)
    assert scores[0] == pytest.approx(1.0)
    assert scores[1] == 0.0
    assert scores[2] < 0.5  # only the root in common: no shared disease, no shared term


def test_profiles_need_the_cases_disease_profiles(mini_hpo: Ontology) -> None:
    from ontologies.similarity import CaseProfiles

    scorer = PhenotypeScorer(mini_hpo, method=BMA_JACCARD_BRIDGE)
    with pytest.raises(ValueError, match="disease profiles"):
        scorer.score(scorer.prepare(_index(mini_hpo, "HP:0001250")), CaseProfiles.from_lists([[1]]))


def test_bad_profiler_settings_are_refused(mini_hpo: Ontology) -> None:
    with pytest.raises(ValueError, match="size"):
        DiseaseProfiler(mini_hpo, size=0)
    with pytest.raises(ValueError, match="temperature"):
        DiseaseProfiler(mini_hpo, temperature=0)
    with pytest.raises(ValueError, match="no annotated disease"):
        DiseaseProfiler(mini_hpo, disease_prefix="NOSUCH:")
    with pytest.raises(ValueError, match="bridge_weight"):
        PhenotypeScorer(mini_hpo, bridge_weight=1.5)


def test_the_fingerprint_names_the_information_content(mini_hpo: Ontology) -> None:
    default = DiseaseProfiler(mini_hpo)
    assert default.fingerprint == DiseaseProfiler(mini_hpo).fingerprint
    other_ic = np.array(mini_hpo.information_content) * 2
    assert DiseaseProfiler(mini_hpo, other_ic).fingerprint != default.fingerprint
    assert shared_disease_profiler(mini_hpo) is shared_disease_profiler(mini_hpo)


def test_left_out_diseases_take_no_part_in_profiles_or_scores(mini_hpo: Ontology) -> None:
    """bench/quality.py's novel-disease setting: a profiler as if nobody annotated some ids."""
    default = DiseaseProfiler(mini_hpo, size=20)
    left_out = default.disease_ids[0]
    profiler = DiseaseProfiler(mini_hpo, size=20, excluded_diseases={left_out})
    assert left_out not in profiler.disease_ids
    assert len(profiler) == len(default) - 1
    assert profiler.fingerprint != default.fingerprint
    seizure = _index(mini_hpo, "HP:0001250")
    assert len(profiler.profile(seizure).rows) == len(profiler)
    scorer = PhenotypeScorer(mini_hpo, method=BMA_JACCARD_BRIDGE, disease_profiler=profiler)
    assert scorer.disease_profiler is profiler
    profiles = scorer.case_profiles([seizure])
    assert profiles.disease_rows is not None
    assert profiles.disease_rows.max() < len(profiler)
    assert scorer.score(scorer.prepare(seizure), profiles)[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no annotated disease"):
        DiseaseProfiler(mini_hpo, excluded_diseases=set(default.disease_ids))


def test_the_gated_bridge_fades_for_a_query_like_hundreds_of_diseases(
    real_hpo: Ontology, real_profiler: DiseaseProfiler
) -> None:
    """bma_jaccard_gated_bridge (issue 16): the bridge's share falls with the query's spread."""
    gated = PhenotypeScorer(real_hpo, method=BMA_JACCARD_GATED_BRIDGE, quantise=False)
    plain = PhenotypeScorer(real_hpo, method=BMA_JACCARD, quantise=False)
    bridged = PhenotypeScorer(
        real_hpo, method=BMA_JACCARD_BRIDGE, quantise=False, bridge_weight=1.0
    )
    cases = [
        _index(real_hpo, "HP:0001250", "HP:0001263", "HP:0007359"),
        _index(real_hpo, "HP:0001250"),
        _index(real_hpo, "HP:0000252", "HP:0001263", "HP:0002119"),
        _index(real_hpo, "HP:0004322", "HP:0000347", "HP:0001631"),
    ]
    # Seizure and developmental delay resemble hundreds of diseases equally: no bridge at all.
    generic = _index(real_hpo, "HP:0001250", "HP:0001263")
    _, spread = real_profiler.query_vector_and_spread(generic)
    assert spread > 100
    prepared = gated.prepare(generic)
    assert prepared.bridge_weight == 0.0
    # The explanation says so and offers no shared disease as a reason for the score.
    unbridged = gated.explain(generic, [], cases[0], [])
    assert unbridged.bridge_share == 0.0
    assert unbridged.shared_diseases == ()
    np.testing.assert_allclose(
        gated.score(prepared, gated.case_profiles(cases)),
        plain.score(plain.prepare(generic), plain.case_profiles(cases)),
        atol=1e-6,
    )
    # Marfan-like features resemble about 9 diseases as much as their closest: a part.
    marfan = _index(real_hpo, "HP:0001166", "HP:0001083", "HP:0002616", "HP:0001519")
    _, spread = real_profiler.query_vector_and_spread(marfan)
    assert 5 < spread < 50
    share = 0.6 * np.log(50 / spread) / np.log(50 / 5)
    assert gated.prepare(marfan).bridge_weight == pytest.approx(share)
    assert gated.explain(marfan, [], cases[3], []).bridge_share == pytest.approx(share)
    # A disease's whole annotation points at it alone: the full share, 0.6.
    specific = [
        real_hpo.index_of(hpo_id)
        for hpo_id in _annotation(
            real_hpo, real_profiler, real_profiler.disease_ids.index("OMIM:100100")
        )
    ]
    _, spread = real_profiler.query_vector_and_spread(specific)
    assert spread <= 5
    prepared = gated.prepare(specific)
    assert prepared.bridge_weight == pytest.approx(0.6)
    scores = gated.score(prepared, gated.case_profiles(cases))
    parts = plain.score(plain.prepare(specific), plain.case_profiles(cases))
    bridges = bridged.score(bridged.prepare(specific), bridged.case_profiles(cases))
    np.testing.assert_allclose(scores, 0.4 * parts + 0.6 * bridges, atol=1e-5)
    bounds = gated.score_upper_bounds(prepared, gated.case_profiles(cases))
    assert bounds is not None
    assert np.all(bounds >= scores)


def test_the_default_lowers_a_case_a_known_disease_explains_better_than_the_query(
    real_hpo: Ontology, real_profiler: DiseaseProfiler
) -> None:
    """bma_jaccard_explained_bridge (seventh session): the gated bridge's score, less 0.2 x
    max(0, fit of the case to its closest known disease - the query's similarity to it)."""
    explained = PhenotypeScorer(real_hpo, method=BMA_JACCARD_EXPLAINED_BRIDGE, quantise=False)
    gated = PhenotypeScorer(real_hpo, method=BMA_JACCARD_GATED_BRIDGE, quantise=False)
    marfan_row = real_profiler.disease_ids.index("OMIM:154700")
    marfan_terms = [
        real_hpo.index_of(hpo_id) for hpo_id in _annotation(real_hpo, real_profiler, marfan_row)
    ]
    # The query has a few of the disease's features and others of its own.
    query = [
        *marfan_terms[:3],
        *_index(real_hpo, "HP:0001250", "HP:0000252", "HP:0004322"),
    ]
    textbook = marfan_terms  # the disease's whole annotation: it fits the disease perfectly
    cases = [textbook, list(query), _index(real_hpo, "HP:0001166", "HP:0001519"), []]
    profile = real_profiler.profile(textbook)
    assert real_profiler.disease_ids[int(profile.rows[0])] == "OMIM:154700"
    assert profile.fit == pytest.approx(1.0)
    query_fit = float(real_profiler.similarities(query)[marfan_row])
    assert query_fit < 0.9

    prepared = explained.prepare(query)
    scores = explained.score(prepared, explained.case_profiles(cases))
    base = gated.score(gated.prepare(query), gated.case_profiles(cases))
    similarities = real_profiler.similarities(query)
    excess = [
        max(
            0.0,
            real_profiler.profile(c).fit - float(similarities[real_profiler.profile(c).rows[0]]),
        )
        if c
        else 0.0
        for c in cases
    ]
    np.testing.assert_allclose(scores, np.clip(base - 0.2 * np.array(excess), 0, 1), atol=1e-6)
    assert scores[0] < base[0] - 0.2 * (1.0 - query_fit) + 1e-6
    # The query's own phenotype is explained no better than the query: nothing taken.
    assert excess[1] == 0.0
    assert scores[1] == pytest.approx(1.0)
    assert scores[3] == 0.0
    # The bounds the search prunes with still hold, coarse and tight.
    for coarse in (False, True):
        bounds = explained.score_upper_bounds(
            prepared, explained.case_profiles(cases), coarse=coarse
        )
        assert bounds is not None
        assert np.all(bounds >= scores)

    # The explanation names the disease and what the score lost; none for the query's twin.
    reason = explained.explain(query, [], textbook, []).closer_disease
    assert reason is not None
    assert reason.disease_id == "OMIM:154700"
    assert "Marfan" in reason.disease_name or "MARFAN" in reason.disease_name
    assert reason.query_fit == pytest.approx(query_fit, abs=1e-6)
    assert reason.lowered_by == pytest.approx(0.2 * (reason.case_fit - query_fit), abs=1e-6)
    assert explained.explain(query, [], list(query), []).closer_disease is None
    assert gated.explain(query, [], textbook, []).closer_disease is None
