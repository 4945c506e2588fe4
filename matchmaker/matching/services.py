"""Finding matches for a case or a query, explaining them, and recording them for their owners."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from django.conf import settings
from django.db import models

from matchmaker.cases.models import Case
from matchmaker.cases.selectors import RECORD_FIELDS, genomic_feature_rows_of, shareable_cases
from matchmaker.matching.genotype import VariantCall, compare_genotypes
from matchmaker.matching.index import get_case_index
from matchmaker.reference.ontology import get_hpo, get_phenotype_scorer
from ontologies.similarity import CloserDiseaseExplanation, PhenotypeExplanation, combine_scores

if TYPE_CHECKING:
    from matchmaker.cases.services.validation import ValidatedCase
    from ontologies.case_index import Hit

logger = logging.getLogger(__name__)

# Extra candidates fetched from the index so that variant evidence can re-order the top results.
_RERANK_FACTOR = 2


@dataclass(frozen=True, slots=True)
class MatchQuery:
    """What is matched: current HPO ids, observed and excluded, and the candidate genes."""

    observed: tuple[str, ...]
    excluded: tuple[str, ...] = ()
    variants: tuple[VariantCall, ...] = ()

    @property
    def gene_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(call.gene_id for call in self.variants))


@dataclass(frozen=True, slots=True)
class MatchResult:
    case: Case
    score: float  # patient score, 0..1, higher = more likely the same disorder
    phenotype_score: float  # 0..1
    genotype_score: float  # 0..1
    explanation: dict[str, Any] = field(default_factory=dict)


def variant_calls_of(case: Case) -> tuple[VariantCall, ...]:
    return _variant_calls(case.genomic_features.all())


def _variant_calls(features: Iterable[Any]) -> tuple[VariantCall, ...]:
    """The calls of genomic features: model instances or `genomic_feature_rows_of` rows."""
    return tuple(
        VariantCall(
            gene_id=feature.gene_id,
            gene_symbol=feature.gene_symbol,
            assembly=feature.assembly,
            reference_name=feature.reference_name,
            start=feature.start,
            reference_bases=feature.reference_bases,
            alternate_bases=feature.alternate_bases,
            zygosity=feature.zygosity,
        )
        for feature in features
    )


def query_of_validated_case(validated: ValidatedCase) -> MatchQuery:
    """The query for a validated submission that is not stored (e.g. a peer's MME query)."""
    return MatchQuery(
        observed=tuple(feature.hpo_id for feature in validated.features if feature.observed),
        excluded=tuple(feature.hpo_id for feature in validated.features if not feature.observed),
        variants=tuple(
            VariantCall(
                gene_id=feature.gene.gene_id,
                gene_symbol=feature.gene.symbol,
                assembly=feature.submitted.variant.assembly if feature.submitted.variant else "",
                reference_name=(
                    feature.submitted.variant.reference_name if feature.submitted.variant else ""
                ),
                start=feature.submitted.variant.start if feature.submitted.variant else None,
                reference_bases=(
                    feature.submitted.variant.reference_bases if feature.submitted.variant else ""
                ),
                alternate_bases=(
                    feature.submitted.variant.alternate_bases if feature.submitted.variant else ""
                ),
                zygosity=feature.submitted.zygosity,
            )
            for feature in validated.genomic_features
        ),
    )


def query_of_case(case: Case) -> MatchQuery:
    features = list(case.features.all())
    return MatchQuery(
        observed=tuple(f.hpo_id for f in features if f.observed),
        excluded=tuple(f.hpo_id for f in features if not f.observed),
        variants=variant_calls_of(case),
    )


def _term_indices(hpo_ids: Sequence[str]) -> list[int]:
    ontology = get_hpo()
    indices = []
    for hpo_id in hpo_ids:
        try:
            indices.append(ontology.index_of(hpo_id))
        except LookupError:
            continue  # a term the loaded release no longer has: it cannot be scored
    return indices


def find_matches(
    query: Case | MatchQuery,
    *,
    limit: int | None = None,
    min_score: float | None = None,
    require_shared_gene: bool | None = None,
    shareable_only: bool = False,
    include_test: bool = True,
    exclude_case_ids: Collection[int] = (),
    explain: bool = True,
) -> list[MatchResult]:
    """Rank the stored active cases against `query`, best first, each with its explanation.

    Defaults come from the MATCHING_* settings. A case is never matched with itself. Scores are
    in [0, 1]; `genotype_score` counts a shared gene and, for the results returned, whether the
    variant and zygosity are the same too. Explaining costs ~15 ms a result: callers that do not
    show it (the MME answer) pass `explain=False` and get only the shared genes; their cases then
    come without their children prefetched (the MME answer reads them as rows, in bulk) and with
    only the fields their records read (`RECORD_FIELDS`; others load one query a case).
    """
    limit = settings.MATCHING_MAX_RESULTS if limit is None else limit
    min_score = settings.MATCHING_MIN_SCORE if min_score is None else min_score
    if require_shared_gene is None:
        require_shared_gene = settings.MATCHING_REQUIRE_SHARED_GENE
    excluded_ids = set(exclude_case_ids)
    if isinstance(query, Case):
        excluded_ids.add(query.pk)
        query = query_of_case(query)

    scorer = get_phenotype_scorer()
    observed = _term_indices(query.observed)
    excluded = _term_indices(query.excluded)
    prepared = scorer.prepare(observed, excluded)
    index = get_case_index()

    def search(count: int) -> list[Hit]:
        return index.search(
            scorer,
            prepared,
            query_genes=query.gene_ids,
            limit=count,
            # The index counts a shared gene as genotype 1; the variant check below can only
            # lower that (to 0.8-1.0), so a hit under min_score here stays under it.
            min_score=min_score,
            require_shared_gene=require_shared_gene,
            shareable_only=shareable_only,
            include_test=include_test,
            exclude_keys=excluded_ids,
        )

    # The rows are read through the same rule the index applied: a case withdrawn, deleted or
    # (for peers) no longer consented since the index last caught up is not returned, and the
    # next candidates take its place. For peers this is the one consent rule, shareable_cases().
    candidates = (
        shareable_cases(test_data=None if include_test else False)
        if shareable_only
        else Case.objects.filter(status=Case.Status.ACTIVE)
    )

    def fetch(hits: list[Hit]) -> dict[int, Case]:
        cases = candidates.select_related("institution")
        if not explain:
            # The MME answer reads the cases' records only: loading the rest of each row (its
            # timestamps, consent and audit fields) cost ~0.7 ms for 20 cases.
            cases = cases.only(*RECORD_FIELDS)
        return cases.in_bulk([hit.key for hit in hits])

    if query.variants:
        # Extra candidates: variant evidence can re-order the top results.
        hits = search(limit * _RERANK_FACTOR)
        cases = fetch(hits)
    else:
        # Without a gene nothing re-orders the index's ranking: its first `limit` hits are the
        # answer, unless some were deleted, withdrawn or unshared since the index last caught up;
        # then the extra candidates fill their places, as they always do for a query with genes.
        hits = search(limit)
        cases = fetch(hits)
        if len(hits) == limit and any(hit.key not in cases for hit in hits):
            hits = search(limit * _RERANK_FACTOR)
            cases = fetch(hits)

    # Genes for every candidate (the variant check re-orders them), read as rows: prefetching
    # them as model instances cost ~6 ms for the 40 candidates of a 20-result answer.
    genomic_features = genomic_feature_rows_of(list(cases)) if query.variants else {}
    results = []
    for hit in hits:
        case = cases.get(hit.key)
        if case is None:
            continue  # deleted, withdrawn or no longer shared since the index last caught up
        if query.variants:
            genotype, comparisons = compare_genotypes(
                query.variants, _variant_calls(genomic_features[case.pk])
            )
        else:
            genotype, comparisons = 0.0, []  # what compare_genotypes gives a query with no gene
        patient = float(
            combine_scores(
                np.array([hit.phenotype], dtype=np.float32),
                # A query naming no gene has no genotype part: its score is the phenotype's.
                np.array([genotype], dtype=np.float32) if query.gene_ids else None,
            )[0]
        )
        if patient < min_score:
            continue
        results.append(
            MatchResult(
                case=case,
                score=patient,
                phenotype_score=float(hit.phenotype),
                genotype_score=genotype,
                explanation={"genes": [comparison.as_json() for comparison in comparisons]},
            )
        )
    results.sort(key=lambda result: (-result.score, result.case.pk))
    results = results[:limit]
    if explain:
        # What explanations and their readers need of the kept cases.
        models.prefetch_related_objects(
            [result.case for result in results], "features", "disorders", "genomic_features"
        )
        for result in results:
            result.explanation.update(
                explain_match(
                    query,
                    result.case,
                    observed=observed,
                    excluded=excluded,
                    score=result.phenotype_score,
                )
            )
            # Keep the genes last, where readers of stored explanations expect them.
            result.explanation["genes"] = result.explanation.pop("genes")
    return results


def explain_match(
    query: MatchQuery,
    case: Case,
    *,
    observed: Sequence[int],
    excluded: Sequence[int],
    score: float | None = None,
) -> dict[str, Any]:
    """Why `case` resembles the query, as JSON: term pairs, common ancestors, conflicts.

    `score`, the phenotype score when the caller already has it, spares recomputing it.
    """
    case_observed = _term_indices([f.hpo_id for f in case.features.all() if f.observed])
    case_excluded = _term_indices([f.hpo_id for f in case.features.all() if not f.observed])
    detail = get_phenotype_scorer().explain(
        observed, excluded, case_observed, case_excluded, score=score
    )
    return _explanation_as_json(detail)


def explain_profiles(
    owner: MatchQuery, other: MatchQuery, *, scored_from: str | None = "owner"
) -> dict[str, Any]:
    """Why `other` resembles `owner`, read from the owner's side: "my term X met their Y".

    The same JSON as a stored match's explanation, genes included. `scored_from` says which
    side was the query of the stored score ("owner", "other"; None for a peer's score): the
    parts of the score that depend on the query's side (the disease bridge's share and the
    diseases behind it, and the fit penalty) are explained as that score took them, and
    `scored_from` is recorded ("owner", "other", "peer") for the page's wording.
    """
    if scored_from not in ("owner", "other", None):
        raise ValueError(f"scored_from must be 'owner', 'other' or None, not {scored_from!r}")
    scorer = get_phenotype_scorer()
    owner_terms, owner_excluded = _term_indices(owner.observed), _term_indices(owner.excluded)
    other_terms, other_excluded = _term_indices(other.observed), _term_indices(other.excluded)
    explanation = _explanation_as_json(
        scorer.explain(owner_terms, owner_excluded, other_terms, other_excluded)
    )
    if scored_from == "other":
        explanation = scored_by_the_other_side(
            explanation,
            _explanation_as_json(
                scorer.explain(other_terms, other_excluded, owner_terms, owner_excluded)
            ),
        )
    elif scored_from is None:
        explanation.update(scored_from="peer", closer_disease=None)
    _, comparisons = compare_genotypes(owner.variants, other.variants)
    explanation["genes"] = [comparison.as_json() for comparison in comparisons]
    return explanation


def score_profiles(query: MatchQuery, case: MatchQuery) -> tuple[float, float, float]:
    """(patient, phenotype, genotype) scores, each 0..1, of `case` against `query`.

    The score `find_matches` gives the pair (the same scorer, genotype comparison and
    combination), for one pair whose other side is not in the index (a peer's patient).
    """
    scorer = get_phenotype_scorer()
    phenotype = float(
        scorer.explain(
            _term_indices(query.observed),
            _term_indices(query.excluded),
            _term_indices(case.observed),
            _term_indices(case.excluded),
        ).score
    )
    genotype, _ = compare_genotypes(query.variants, case.variants)
    patient = float(
        combine_scores(
            np.array([phenotype], dtype=np.float32), np.array([genotype], dtype=np.float32)
        )[0]
    )
    return patient, phenotype, float(genotype)


# Key of a stored explanation whose scores predate an edit of one of the cases (until refreshed).
SCORE_OUT_OF_DATE = "score_out_of_date"


def scored_by_the_other_side(
    explanation: dict[str, Any], score_side: dict[str, Any]
) -> dict[str, Any]:
    """`explanation`, read from its owner's side, for a score the other side's search computed:
    the parts that depend on the score's query (the disease bridge's share, the diseases behind
    it, the fit penalty) are taken from `score_side`, the explanation read from that other side
    (e.g. the searching case's own, which `find_matches` has already made)."""
    closer = score_side["closer_disease"]
    return {
        **explanation,
        "scored_from": "other",
        "disease_bridge_share": score_side["disease_bridge_share"],
        "shared_diseases": score_side["shared_diseases"],
        "closer_disease": None if closer is None else {**closer, "patient": "this"},
    }


def scoring_basis() -> str:
    """What this process's scores depend on besides the two cases: the scoring method and the
    HPO release (its information content and disease annotations), e.g.
    "bma_jaccard_explained_bridge, HPO 2025-01-16".

    Stored with every score the node computes (`Match.scored_with`), so that scores from an
    earlier method or release are found and re-scored after an upgrade or a `load_hpo`.
    """
    scorer = get_phenotype_scorer()
    return f"{scorer.method}, HPO {scorer.ontology.release}"


def bridge_share_percent(explanation: dict[str, Any]) -> int | None:
    """The disease bridge's share of the phenotype score in a stored explanation, in percent;
    None for an explanation recorded before the share was (the bridge then weighed half)."""
    share = explanation.get("disease_bridge_share")
    if isinstance(share, int | float) and not isinstance(share, bool) and 0 <= share <= 1:
        return round(100 * share)
    return None


def _explanation_as_json(detail: PhenotypeExplanation) -> dict[str, Any]:
    """The scorer's explanation with term labels, as stored on a Match and shown to clinicians."""
    ontology = get_hpo()

    def label(hpo_id: str | None) -> str:
        return ontology.label(hpo_id) if hpo_id else ""

    conflicts = []
    for conflict in detail.conflicts:
        excluder = "the matched case" if conflict.observed_in == "query" else "this case"
        conflicts.append(
            {
                "observed_term": conflict.observed_hpo_id,
                "excluded_term": conflict.excluded_hpo_id,
                "observed_in": conflict.observed_in,
                "description": (
                    f"{conflict.observed_hpo_id} {label(conflict.observed_hpo_id)} is observed, "
                    f"but {excluder} excludes {conflict.excluded_hpo_id} "
                    f"{label(conflict.excluded_hpo_id)}"
                ),
            }
        )
    return {
        "phenotype_score": detail.score,
        "term_matches": [
            {
                "query_term": match.query_hpo_id,
                "query_label": label(match.query_hpo_id),
                "case_term": match.case_hpo_id,
                "case_label": label(match.case_hpo_id),
                "common_ancestor": match.common_ancestor_hpo_id,
                "common_ancestor_label": label(match.common_ancestor_hpo_id),
                "information_content": match.common_ancestor_ic,
                "similarity": match.similarity,
            }
            for match in detail.matches
        ],
        "conflicts": conflicts,
        # The disease bridge's share of the phenotype score (0.6 at most with the default,
        # less, down to 0, for a phenotype resembling many known diseases about equally).
        "disease_bridge_share": round(detail.bridge_share, 2),
        # The disease bridge: known diseases both patients resemble (their phenotypes only);
        # the five largest parts, leaving out the crumbs.
        "shared_diseases": [
            {
                "disease_id": disease.disease_id,
                "disease_name": disease.disease_name,
                "contribution": round(disease.contribution, 4),
            }
            for disease in detail.shared_diseases[:5]
            if disease.contribution >= 0.01
        ],
        # The fit penalty, as taken by a search from the owner's case.
        "closer_disease": _closer_disease_as_json(detail.closer_disease, patient="other"),
        # Whose search computed the score explained: "owner" here (see explain_profiles).
        "scored_from": "owner",
    }


_CLOSER_DISEASE_SHOWN_FROM: Final = 0.02


def _closer_disease_as_json(
    closer: CloserDiseaseExplanation | None, *, patient: str
) -> dict[str, Any] | None:
    """The fit penalty's reason as stored: a known disease that resembles one patient
    (`patient`, from the owner's side: "other" or "this") more closely than the query of the
    score, and what it took; None when it took less than 0.02 (on the demo cases about half of
    the matches lose something, one in five of those 0.01: not worth a clinician's reading)."""
    if closer is None or closer.lowered_by < _CLOSER_DISEASE_SHOWN_FROM:
        return None
    return {
        "disease_id": closer.disease_id,
        "disease_name": closer.disease_name,
        "patient": patient,
        "patient_fit": round(closer.case_fit, 2),
        "query_fit": round(closer.query_fit, 2),
        "lowered_by": round(closer.lowered_by, 2),
    }
