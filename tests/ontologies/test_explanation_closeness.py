"""Explanations a geneticist believes, on the real HPO: a query term whose best counterpart
meets it only at a very general ancestor is listed with no counterpart, never as a match."""

from __future__ import annotations

import pytest

from ontologies.hpo import Ontology
from ontologies.similarity.scorer import PhenotypeScorer, is_close_ancestor

HYPOTONIA = "HP:0001252"
BRACHYCEPHALY = "HP:0000248"
MICROCEPHALY = "HP:0000252"
TONIC_CLONIC = "HP:0002069"
FOCAL_SEIZURE = "HP:0007359"
SEIZURE = "HP:0001250"
DEVELOPMENTAL_DELAY = "HP:0001263"
INTELLECTUAL_DISABILITY = "HP:0001249"
SHORT_STATURE = "HP:0004322"
FAILURE_TO_THRIVE = "HP:0001508"
VSD = "HP:0001629"
ASD = "HP:0001631"


@pytest.fixture(scope="module")
def scorer(real_hpo: Ontology) -> PhenotypeScorer:
    return PhenotypeScorer(real_hpo)


def _pair(scorer: PhenotypeScorer, ours: str, theirs: str) -> tuple[str | None, str | None]:
    hpo = scorer.ontology
    [match] = scorer.explain([hpo.index_of(ours)], [], [hpo.index_of(theirs)], []).matches
    return match.case_hpo_id, match.common_ancestor_hpo_id


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        # Through Abnormality of the musculoskeletal system (an organ system, 0.42 nats).
        (HYPOTONIA, BRACHYCEPHALY),
        # Through Abnormal nervous system physiology (0.53 nats).
        (SEIZURE, DEVELOPMENTAL_DELAY),
        # Through Growth abnormality: 1.07 nats, but an organ-system term.
        (SHORT_STATURE, FAILURE_TO_THRIVE),
        # Through Phenotypic abnormality itself.
        (SEIZURE, HYPOTONIA),
    ],
)
def test_a_term_met_only_at_a_general_ancestor_has_no_counterpart(
    scorer: PhenotypeScorer, ours: str, theirs: str
) -> None:
    assert _pair(scorer, ours, theirs) == (None, None)


@pytest.mark.parametrize(
    ("ours", "theirs", "ancestor"),
    [
        (TONIC_CLONIC, FOCAL_SEIZURE, SEIZURE),
        (MICROCEPHALY, BRACHYCEPHALY, "HP:0000929"),  # Abnormal skull morphology
        (DEVELOPMENTAL_DELAY, INTELLECTUAL_DISABILITY, "HP:0012759"),  # Neurodevelopmental abn.
        (VSD, ASD, "HP:0001671"),  # Abnormal cardiac septum morphology
        (SEIZURE, SEIZURE, SEIZURE),
    ],
)
def test_terms_with_a_specific_common_ancestor_still_match(
    scorer: PhenotypeScorer, ours: str, theirs: str, ancestor: str
) -> None:
    assert _pair(scorer, ours, theirs) == (theirs, ancestor)


def test_the_same_general_term_on_both_sides_is_still_a_match(scorer: PhenotypeScorer) -> None:
    general = "HP:0000707"  # Abnormality of the nervous system
    assert _pair(scorer, general, general) == (general, general)


def test_the_best_close_term_is_chosen_among_several(scorer: PhenotypeScorer) -> None:
    hpo = scorer.ontology
    explanation = scorer.explain(
        [hpo.index_of(HYPOTONIA), hpo.index_of(TONIC_CLONIC)],
        [],
        [hpo.index_of(BRACHYCEPHALY), hpo.index_of(FOCAL_SEIZURE)],
        [],
    )
    assert [(m.query_hpo_id, m.case_hpo_id) for m in explanation.matches] == [
        (HYPOTONIA, None),
        (TONIC_CLONIC, FOCAL_SEIZURE),
    ]


def test_the_line_sits_where_docs_matching_says_on_the_real_hpo(scorer: PhenotypeScorer) -> None:
    hpo, ic = scorer.ontology, scorer.information_content
    assert float(ic.max()) * 0.095 == pytest.approx(0.90, abs=0.01)
    for hpo_id, close in (
        ("HP:0033127", False),  # Abnormality of the musculoskeletal system
        ("HP:0001871", False),  # Abnormality of blood and blood-forming tissues (1.69 nats)
        ("HP:0003011", False),  # Abnormality of the musculature (0.87)
        ("HP:0000234", False),  # Abnormality of the head (0.68)
        ("HP:0012759", True),  # Neurodevelopmental abnormality (0.94)
        ("HP:0000929", True),  # Abnormal skull morphology (1.13)
        (SEIZURE, True),
    ):
        assert is_close_ancestor(hpo, ic, hpo.index_of(hpo_id)) is close, hpo_id
