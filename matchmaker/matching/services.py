"""Finding matches for a case or a query, explaining them, and recording them for their owners."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from matchmaker.cases.models import Case
from matchmaker.lib.api import warn_degraded
from matchmaker.lib.errors import FieldValidationError
from matchmaker.lib.transactions import after_commit
from matchmaker.matching import tasks
from matchmaker.matching.genotype import VariantCall, compare_genotypes
from matchmaker.matching.index import get_case_index, record_index_change
from matchmaker.matching.models import Match, MatchEvent
from matchmaker.matching.ontology import get_hpo, get_phenotype_scorer
from ontologies.similarity import PhenotypeExplanation, combine_scores

if TYPE_CHECKING:
    from django.contrib.auth.models import User

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
        for feature in case.genomic_features.all()
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
    show it (the MME answer) pass `explain=False` and get only the shared genes.
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

    def fetch(hits: list[Hit]) -> dict[int, Case]:
        cases = Case.objects.select_related("institution")
        if query.variants:
            # Genes for every candidate (the variant check re-orders them).
            cases = cases.prefetch_related("genomic_features")
        return cases.in_bulk([hit.key for hit in hits])

    if query.variants:
        # Extra candidates: variant evidence can re-order the top results.
        hits = search(limit * _RERANK_FACTOR)
        cases = fetch(hits)
    else:
        # Without a gene nothing re-orders the index's ranking: its first `limit` hits are the
        # answer, unless some were deleted or withdrawn since the index last caught up; then the
        # extra candidates fill their places, as they always do for a query with genes.
        hits = search(limit)
        cases = fetch(hits)
        if len(hits) == limit and any(
            hit.key not in cases or cases[hit.key].status != Case.Status.ACTIVE for hit in hits
        ):
            hits = search(limit * _RERANK_FACTOR)
            cases = fetch(hits)

    results = []
    for hit in hits:
        case = cases.get(hit.key)
        if case is None or case.status != Case.Status.ACTIVE:
            continue  # deleted or withdrawn since the index last caught up
        if query.variants:
            genotype, comparisons = compare_genotypes(query.variants, variant_calls_of(case))
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
    # What answers and explanations read of the kept cases (their genes, if not fetched above).
    models.prefetch_related_objects(
        [result.case for result in results], "features", "disorders", "genomic_features"
    )
    if explain:
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


def explain_profiles(owner: MatchQuery, other: MatchQuery) -> dict[str, Any]:
    """Why `other` resembles `owner`, read from the owner's side: "my term X met their Y".

    The same JSON as a stored match's explanation, genes included.
    """
    detail = get_phenotype_scorer().explain(
        _term_indices(owner.observed),
        _term_indices(owner.excluded),
        _term_indices(other.observed),
        _term_indices(other.excluded),
    )
    explanation = _explanation_as_json(detail)
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


def mark_local_scores_out_of_date(case_id: int) -> None:
    """Flag the current local matches of an edited case until its re-match (queued) rewrites them.

    Both sides' copies: their scores and explanations were computed from the case as it was.
    `run_matching` replaces the explanation, which drops the flag.
    """
    matches = Match.objects.filter(
        models.Q(case_id=case_id) | models.Q(matched_case_id=case_id),
        direction=Match.Direction.LOCAL,
        removed_at__isnull=True,
    ).only("pk", "explanation")
    for match in matches:
        explanation = dict(match.explanation) if isinstance(match.explanation, dict) else {}
        explanation[SCORE_OUT_OF_DATE] = True
        Match.objects.filter(pk=match.pk).update(explanation=explanation)


# Key of a stored explanation whose scores predate an edit of one of the cases (until refreshed).
SCORE_OUT_OF_DATE = "score_out_of_date"


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
    }


@transaction.atomic
def run_matching(case_id: int, *, notify: bool = True) -> int:
    """Match one case against the local cases and record the matches for both owners.

    Idempotent: running it again updates scores and `last_seen` instead of adding rows. A match
    that a new run no longer finds is marked removed (kept for the record). Returns the number of
    new matches. Withdrawn or deleted cases are not matched. New matches are e-mailed to both
    owners after commit (test cases never are); without `notify` they are recorded as told.
    """
    case = (
        Case.objects.filter(pk=case_id, status=Case.Status.ACTIVE)
        .prefetch_related("features", "genomic_features")
        .first()
    )
    if case is None:
        return 0
    now = timezone.now()
    results = find_matches(case, include_test=case.is_test)
    found_ids = {result.case.pk for result in results}
    existing = {
        (match.case_id, match.matched_case_id): match
        for match in Match.objects.filter(direction=Match.Direction.LOCAL).filter(
            case_id__in=[case.pk, *found_ids], matched_case_id__in=[case.pk, *found_ids]
        )
    }
    new_ids: list[int] = []
    for result in results:
        # Each owner reads the explanation from their own case's side: "my term X met their Y".
        reverse_explanation = _explanation_from_other_side(result.case, case)
        for owner_case, other_case, explanation in (
            (case.pk, result.case.pk, result.explanation),
            (result.case.pk, case.pk, reverse_explanation),
        ):
            match = existing.get((owner_case, other_case))
            values = {
                "score": result.score,
                "phenotype_score": result.phenotype_score,
                "genotype_score": result.genotype_score,
                "explanation": explanation,
                "last_seen": now,
                "removed_at": None,
            }
            if match is None:
                created_id = _create_local_match(
                    owner_case,
                    other_case,
                    notified_at=None if notify and not case.is_test else now,
                    values=values,
                )
                if created_id is not None:
                    new_ids.append(created_id)
            else:
                Match.objects.filter(pk=match.pk).update(**values)
    gone = Match.objects.filter(direction=Match.Direction.LOCAL, removed_at__isnull=True).filter(
        models.Q(case_id=case.pk) & ~models.Q(matched_case_id__in=found_ids)
        | models.Q(matched_case_id=case.pk) & ~models.Q(case_id__in=found_ids)
    )
    gone.update(removed_at=now)
    if new_ids and notify and not case.is_test:
        queue_notifications(new_ids)
    return len(new_ids)


def remove_matches_of_case(case_id: int) -> int:
    """Mark every current match of a case removed, on both sides, at once (a withdrawal).

    Our owner's copies (local, incoming, outgoing) and the other owners' local matches to it;
    a reactivation re-matches the case, which clears `removed_at` of those found again.
    Returns how many matches were marked.
    """
    return Match.objects.filter(
        models.Q(case_id=case_id) | models.Q(matched_case_id=case_id), removed_at__isnull=True
    ).update(removed_at=timezone.now())


def _create_local_match(
    owner_case: int, other_case: int, *, notified_at: Any, values: dict[str, Any]
) -> int | None:
    """Insert the pair's match and return its id; or, when a concurrent run of the other case
    inserted the pair first (it matched this case at the same moment), update that row and
    return None: the match is not new."""
    try:
        with transaction.atomic():  # a savepoint: the failed insert must not end the transaction
            return Match.objects.create(
                case_id=owner_case,
                matched_case_id=other_case,
                direction=Match.Direction.LOCAL,
                notified_at=notified_at,
                **values,
            ).pk
    except IntegrityError:
        Match.objects.filter(case_id=owner_case, matched_case_id=other_case).update(**values)
        return None


def _explanation_from_other_side(owner: Case, other: Case) -> dict[str, Any]:
    return explain_profiles(query_of_case(owner), query_of_case(other))


def note_case_changed(
    first_case_id: int, last_case_id: int | None = None, *, rematch: bool
) -> None:
    """Tell matching that cases changed: log it for every process's index, and re-match if asked.

    Call inside the transaction that changes the cases. Matching is queued only after commit, so
    a worker never sees a row that is not committed yet.
    """
    record_index_change(first_case_id, last_case_id)
    if rematch:
        last = first_case_id if last_case_id is None else last_case_id
        queue_matching(range(first_case_id, last + 1))


def queue_matching(case_ids: Iterable[int]) -> None:
    """Match each case against the local cases, in a task queued after the transaction commits.

    With the broker (Redis) down, the cases are matched in this process instead: the save has
    been committed and must get its matches, at the cost of the caller's time.
    """
    after_commit(_send_matching_tasks, list(case_ids))


def _send_matching_tasks(case_ids: list[int]) -> None:
    for position, case_id in enumerate(case_ids):
        try:
            tasks.run_matching.delay(case_id)
        except KombuOperationalError as error:
            warn_degraded(
                logger, "broker unreachable, cases matched in the request instead: %r", error
            )
            for unsent_case_id in case_ids[position:]:
                run_matching(unsent_case_id)
            return


def queue_notifications(match_ids: list[int]) -> None:
    """E-mail the owners of new matches, in a task queued after the transaction commits.

    With the broker down nothing is lost: `notify_pending_matches` (beat) sends them later.
    """
    after_commit(_send_notification_task, list(match_ids))


def _send_notification_task(match_ids: list[int]) -> None:
    try:
        tasks.notify_new_matches.delay(match_ids)
    except KombuOperationalError as error:
        warn_degraded(
            logger, "broker unreachable, new-match e-mails left to the periodic sweep: %r", error
        )


MAX_NOTES_LENGTH = 10_000


@transaction.atomic
def triage_match(match: Match, *, status: str, notes: str, by: User | None) -> MatchEvent | None:
    """Set a match's triage status and notes, appending the step to its history.

    Returns the new history entry, or None when nothing changed. Raises `FieldValidationError`
    naming `status` or `notes` for a value the match cannot take (nothing is changed then).
    """
    errors = []
    if status not in Match.Status.values:
        errors.append(
            ("status", f"must be one of {', '.join(Match.Status.values)}, not {status!r}")
        )
    if len(notes) > MAX_NOTES_LENGTH:
        errors.append(("notes", f"is longer than {MAX_NOTES_LENGTH} characters"))
    if errors:
        raise FieldValidationError(errors)
    # Lock the row: two clinicians triaging at once must each see the other's step in the history.
    current = Match.objects.select_for_update().get(pk=match.pk)
    if current.status == status and current.notes == notes:
        return None
    event = MatchEvent.objects.create(
        match=current, by=by, from_status=current.status, to_status=status, notes=notes
    )
    Match.objects.filter(pk=match.pk).update(status=status, notes=notes)
    match.status, match.notes = status, notes
    return event


@transaction.atomic
def record_contact(match: Match, *, contacted: str, message: str, by: User | None) -> MatchEvent:
    """Log that `by` contacted the other team about `match` (at `contacted`, with `message`),
    and set the match's status to Contacted; the notes stay as they were."""
    current = Match.objects.select_for_update().get(pk=match.pk)
    event = MatchEvent.objects.create(
        match=current,
        by=by,
        from_status=current.status,
        to_status=Match.Status.CONTACTED,
        notes=current.notes,
        contacted=contacted[:512],
        message=message,
    )
    Match.objects.filter(pk=match.pk).update(status=Match.Status.CONTACTED)
    match.status = Match.Status.CONTACTED
    return event
