"""Phenotype similarity: term and set measures over the HPO, and the case scorer built on them.

Public names live here; ``kernels`` holds the vectorised building blocks and ``reference`` the
slow, literal definitions the tests check them against.
"""

from __future__ import annotations

from ontologies.similarity.diseases import DiseaseProfile, DiseaseProfiler
from ontologies.similarity.kernels import (
    LIN,
    RESNIK,
    ancestor_mask,
    average_over_cases,
    best_match_query_to_cases,
    case_closures,
    lin_to_all,
    pack_pairs,
    resnik_to_all,
    sum_over_cases,
    sum_pairs_over_cases,
    term_similarity_matrix,
)
from ontologies.similarity.scorer import (
    BMA_JACCARD,
    BMA_JACCARD_BRIDGE,
    BMA_JACCARD_EXPLAINED_BRIDGE,
    BMA_JACCARD_GATED_BRIDGE,
    DEFAULT_METHOD,
    JACCARD,
    LIN_BMA,
    METHODS,
    RESNIK_BMA,
    RESNIK_BMA_EXACT,
    SIM_GIC,
    CaseProfiles,
    CloserDiseaseExplanation,
    PhenotypeConflict,
    PhenotypeExplanation,
    PhenotypeScorer,
    PreparedQuery,
    SharedDiseaseExplanation,
    TermMatchExplanation,
    combine_scores,
)

__all__ = [
    "BMA_JACCARD",
    "BMA_JACCARD_BRIDGE",
    "BMA_JACCARD_EXPLAINED_BRIDGE",
    "BMA_JACCARD_GATED_BRIDGE",
    "DEFAULT_METHOD",
    "JACCARD",
    "LIN",
    "LIN_BMA",
    "METHODS",
    "RESNIK",
    "RESNIK_BMA",
    "RESNIK_BMA_EXACT",
    "SIM_GIC",
    "CaseProfiles",
    "CloserDiseaseExplanation",
    "DiseaseProfile",
    "DiseaseProfiler",
    "PhenotypeConflict",
    "PhenotypeExplanation",
    "PhenotypeScorer",
    "PreparedQuery",
    "SharedDiseaseExplanation",
    "TermMatchExplanation",
    "ancestor_mask",
    "average_over_cases",
    "best_match_query_to_cases",
    "case_closures",
    "combine_scores",
    "lin_to_all",
    "pack_pairs",
    "resnik_to_all",
    "sum_over_cases",
    "sum_pairs_over_cases",
    "term_similarity_matrix",
]
