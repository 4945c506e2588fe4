"""Answering peers' MME queries: score against our shareable cases, record incoming matches."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from matchmaker.cases.signals import report_identifiers_not_in_release
from matchmaker.casework.models import Match
from matchmaker.casework.services import notifications
from matchmaker.federation.models import Peer
from matchmaker.federation.services.patients import mme_patients_of_cases, validated_mme_patient
from matchmaker.lib.api import warn_degraded
from matchmaker.lib.errors import FieldValidationError
from matchmaker.lib.transactions import after_commit
from matchmaker.matching import services as matching

logger = logging.getLogger(__name__)

# Scores are float32 (about 7 significant digits). At 4 decimals, neighbours in a ranking of a few
# hundred similar cases already collide (1 pair in 50 on real terms), and a peer that sorts by
# score then loses our order; 6 keeps every difference the engine makes.
_SCORE_DECIMALS = 6


@dataclass(slots=True)
class MatchAnswer:
    """What we answer a peer's query with, and what the audit log keeps of it."""

    body: dict[str, Any]
    is_test: bool
    returned_case_ids: list[str] = field(default_factory=list)
    # The query's HPO ids and genes our releases do not know: ignored for scoring, audited.
    ignored_identifiers: list[str] = field(default_factory=list)

    @property
    def result_count(self) -> int:
        return len(self.body["results"])


def answer_match_request(peer: Peer, document: Mapping[str, Any]) -> MatchAnswer:
    """Score a peer's patient against our shareable cases and build the MME answer.

    `document` has passed the MME schema. Raises `FieldValidationError` (fields named from the
    request's root: `patient.features[2].id`) for data the schema cannot judge: unknown HPO ids,
    genes that do not resolve, impossible variants. Only active cases whose owner consented to
    external matching are ever considered. Unless the query is a test, the owners of matched cases
    get an incoming Match and one e-mail per new match.
    """
    patient = document["patient"]
    validated = validated_mme_patient(patient)
    report_identifiers_not_in_release(validated.unknown_terms, validated.unknown_genes)
    query = matching.query_of_validated_case(validated)
    is_test = patient.get("test") is True
    answered = _best_answerable(
        query,
        limit=settings.MME_MAX_RESULTS,
        require_shared_gene=(
            settings.MME_REQUIRE_SHARED_GENE
            if peer.require_shared_gene is None
            else peer.require_shared_gene
        ),
        is_test=is_test,
    )
    answer = MatchAnswer(
        body={
            "disclaimer": settings.MME_DISCLAIMER,
            "terms": settings.MME_TERMS,
            "results": [
                {
                    "score": {
                        "patient": round(result.score, _SCORE_DECIMALS),
                        "_phenotype": round(result.phenotype_score, _SCORE_DECIMALS),
                        "_genotype": round(result.genotype_score, _SCORE_DECIMALS),
                    },
                    "patient": written,
                }
                for result, written in answered
            ],
        },
        is_test=is_test,
        returned_case_ids=[result.case.public_id for result, _ in answered],
        ignored_identifiers=[*validated.unknown_terms, *validated.unknown_genes],
    )
    had_matches = (
        not answered
        and Match.objects.filter(
            direction=Match.Direction.INCOMING,
            peer=peer,
            remote_patient_id=str(patient["id"]),
            removed_at__isnull=True,
        ).exists()
    )
    if not is_test and (answered or had_matches):
        # Recording and explaining the matches for their owners is not the peer's business:
        # it happens after the answer (a task), so the answer stays fast.
        scored = [
            [result.case.pk, result.score, result.phenotype_score, result.genotype_score]
            for result, _ in answered
        ]
        after_commit(
            _queue_recording,
            peer_id=peer.pk,
            patient=dict(patient),
            scored=scored,
            scored_with=matching.scoring_basis(),
        )
    return answer


def _best_answerable(
    query: matching.MatchQuery, *, limit: int, require_shared_gene: bool, is_test: bool
) -> list[tuple[matching.MatchResult, dict[str, Any]]]:
    """The `limit` best shareable cases that can be written for a peer, best first, each with
    its MME patient.

    A case that cannot go out gives its place to the next best: one whose consent or status
    changed since the index caught up is replaced inside `find_matches` (it reads the rows
    through `shareable_cases()`); one with no contact to write, here, by searching again without
    the cases already answered or left out, for the places still free.
    """
    answered: list[tuple[matching.MatchResult, dict[str, Any]]] = []
    left_out: set[int] = set()
    while len(answered) < limit:
        wanted = limit - len(answered)
        results = matching.find_matches(
            query,
            # The answer carries scores, not explanations; owners get theirs after commit.
            explain=False,
            limit=wanted,
            min_score=settings.MME_MIN_SCORE,
            require_shared_gene=require_shared_gene,
            shareable_only=True,
            # A test query may see test cases (MME §1.9); real queries never do.
            include_test=is_test,
            exclude_case_ids={*left_out, *(result.case.pk for result, _ in answered)},
        )
        # find_matches read the rows through shareable_cases(): consent holds for each.
        patients = mme_patients_of_cases([result.case for result in results])
        for result in results:
            written = patients[result.case.pk]
            if written is None:
                left_out.add(result.case.pk)
            else:
                answered.append((result, written))
        if len(results) < wanted or all(result.case.pk in left_out for result in results):
            # No more candidates; or none of these could go out: stop rather than walk the
            # whole ranking (a node whose cases all lack a contact answers what it can).
            break
    return answered


def _queue_recording(
    *, peer_id: int, patient: dict[str, Any], scored: list[list[Any]], scored_with: str
) -> None:
    from matchmaker.casework import tasks  # the tasks import this module

    try:
        # argsrepr: Celery would otherwise render the whole patient for its logs on every request.
        tasks.record_incoming_matches.apply_async(
            (peer_id, patient, scored),
            {"scored_with": scored_with},
            argsrepr=f"(peer {peer_id}, patient {patient.get('id')!r})",
        )
    except KombuOperationalError as error:
        # The broker (Redis) is down. The peer has its answer; the owners must still get their
        # matches, so they are recorded here, at the cost of this request's time.
        warn_degraded(
            logger, "broker unreachable, incoming matches recorded in the request: %r", error
        )
        record_incoming_matches(peer_id, patient, scored, scored_with=scored_with)


def query_of_mme_patient(
    patient: Mapping[str, Any], *, drop_unknown_terms: bool = False
) -> matching.MatchQuery:
    """A peer's patient as a query; `FieldValidationError` names fields from the request root.

    With `drop_unknown_terms`, HPO terms our release does not know are left out (for peers'
    answers, which we read but do not judge); without, they are kept and ignored by the scorer.
    """
    return matching.query_of_validated_case(
        validated_mme_patient(patient, drop_unknown_terms=drop_unknown_terms)
    )


def record_incoming_matches(
    peer_id: int, patient: Mapping[str, Any], scored: list[list[Any]], *, scored_with: str = ""
) -> list[int]:
    """Store or refresh one incoming Match per (our case, peer, their patient); tell the owners.

    `scored` holds [case id, score, phenotype score, genotype score] per case we answered. New
    matches and those whose remote patient changed get their explanation (from our case's
    side); the owners of new ones are e-mailed. A case this peer patient matched before but
    matches no more is marked removed. Idempotent: a second run refreshes, adds nothing.
    `scored_with` is the answering process's `scoring_basis()` ("" for a task queued by a
    release that did not pass it: unknown).
    """
    now = timezone.now()
    remote_patient_id = str(patient["id"])
    snapshot = dict(patient)
    with transaction.atomic():
        existing = {
            match.case_id: match
            for match in Match.objects.filter(
                direction=Match.Direction.INCOMING,
                peer_id=peer_id,
                remote_patient_id=remote_patient_id,
            )
        }
        fresh: list[Match] = []
        to_explain: list[int] = []
        for case_id, score, phenotype_score, genotype_score in scored:
            scores = {
                "score": score,
                "phenotype_score": phenotype_score,
                "genotype_score": genotype_score,
                "scored_with": scored_with,
            }
            match = existing.get(case_id)
            if match is None:
                fresh.append(
                    Match(
                        case_id=case_id,
                        direction=Match.Direction.INCOMING,
                        peer_id=peer_id,
                        remote_patient_id=remote_patient_id,
                        remote_patient=snapshot,
                        last_seen=now,
                        **scores,
                    )
                )
                continue
            Match.objects.filter(pk=match.pk).update(
                remote_patient=snapshot, last_seen=now, removed_at=None, **scores
            )
            if match.remote_patient != snapshot or not match.explanation:
                to_explain.append(match.pk)
        new_ids = [match.pk for match in Match.objects.bulk_create(fresh)]
        found = {case_id for case_id, *_ in scored}
        Match.objects.filter(
            pk__in=[match.pk for case_id, match in existing.items() if case_id not in found],
            removed_at__isnull=True,
        ).update(removed_at=now)
    _explain_incoming(new_ids + to_explain)
    if new_ids:
        notifications.notify_new_matches(new_ids)
    return new_ids


def _explain_incoming(match_ids: list[int]) -> None:
    matches = (
        Match.objects.filter(pk__in=match_ids)
        .select_related("case")
        .prefetch_related("case__features", "case__genomic_features")
    )
    for match in matches:
        try:
            remote = query_of_mme_patient(match.remote_patient, drop_unknown_terms=True)
        except FieldValidationError as error:
            explanation: dict[str, Any] = {
                "note": f"the peer's patient could not be read here: {error.message}"
            }
        else:
            # The peer's patient was the query of our score.
            explanation = matching.explain_profiles(
                matching.query_of_case(match.case), remote, scored_from="other"
            )
        Match.objects.filter(pk=match.pk).update(explanation=explanation)
