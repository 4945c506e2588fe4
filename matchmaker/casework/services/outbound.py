"""Asking peers about our cases: schedule, fan out one query per peer, record their answers.

The flow: `request_peer_search` (after a save, a clinician's click or the periodic re-search)
-> task `search_peers` (one per case, debounced) -> `start_peer_search` marks every peer waiting
or skipped and queues one `query_peer` task per peer -> `query_peer` asks that peer through the
one client and records the answer as outgoing matches, or the error. Each step checks the
generation it was queued for, so a superseded or redelivered task does nothing twice.
"""

from __future__ import annotations

import datetime
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import mail_admins
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from matchmaker.cases.models import Case
from matchmaker.cases.selectors import shareable_cases
from matchmaker.casework.models import Match
from matchmaker.casework.services import matches
from matchmaker.casework.services.inbound import query_of_mme_patient
from matchmaker.federation.client import (
    MmeClient,
    PeerAnswer,
    PeerError,
    PeerTarget,
    RemoteResult,
)
from matchmaker.federation.models import CaseSearchSchedule, MmeRequestLog, Peer, PeerSearch
from matchmaker.federation.services.audit import log_request
from matchmaker.federation.services.patients import mme_patient_of_case
from matchmaker.lib.errors import FieldValidationError
from matchmaker.lib.transactions import after_commit
from matchmaker.matching import services as matching

logger = logging.getLogger(__name__)


class RetryableSearchError(Exception):
    """A transient failure (timeout, 5xx, connection refused) worth another attempt."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class PeerSearchOutcome:
    peer_name: str
    status: str  # a PeerSearch.Status value
    detail: str
    result_count: int | None


def searchable_peers() -> list[Peer]:
    """Peers we can query: enabled, with a base URL and a token to send."""
    return list(
        Peer.objects.filter(enabled=True)
        .exclude(base_url="")
        .exclude(outbound_token_encrypted="")
        .order_by("name")
    )


def is_shared(case: Case) -> bool:
    """Whether the case may go to peers now (read from the database, not the loaded row)."""
    return shareable_cases(test_data=None).filter(pk=case.pk).exists()


def request_peer_search(
    case_id: int, *, delay_seconds: float | None = None, queue_task: bool = True
) -> int:
    """Ask for a search of this case at every peer, after `delay_seconds` (debounced).

    Call inside the transaction that changed the case. Each call supersedes the previous ones:
    only the latest request's task runs the search. Without `queue_task` the caller runs the
    search itself (`search_peers_now`). Returns the request's generation.
    """
    if delay_seconds is None:
        delay_seconds = settings.FEDERATION_DEBOUNCE_SECONDS
    with transaction.atomic():
        schedule, _ = CaseSearchSchedule.objects.select_for_update().get_or_create(case_id=case_id)
        schedule.generation += 1
        schedule.due_at = timezone.now() + datetime.timedelta(seconds=delay_seconds)
        schedule.save(update_fields=["generation", "due_at"])
        generation = schedule.generation
        if not queue_task:
            return generation
        after_commit(_queue_search, case_id=case_id, generation=generation, delay=delay_seconds)
    return generation


def _queue_search(*, case_id: int, generation: int, delay: float) -> None:
    from matchmaker.casework import tasks  # the tasks import this module

    try:
        tasks.search_peers.apply_async((case_id, generation), countdown=delay)
    except KombuOperationalError as error:
        # The broker (Redis) is down: the case is saved all the same, and its request stays in
        # CaseSearchSchedule, due; research_due_cases queues it again once it is overdue.
        logger.warning(
            "broker unreachable, search of case %s at the peers postponed: %r", case_id, error
        )


def start_peer_search(case_id: int, generation: int) -> list[int]:
    """Mark each peer waiting (or skipped) for this case and return the peers to query.

    Does nothing (returns []) when a newer request superseded this one. A case that is not
    active and consented is never sent: its searches are marked skipped.
    """
    now = timezone.now()
    with transaction.atomic():
        schedule = CaseSearchSchedule.objects.select_for_update().filter(case_id=case_id).first()
        if schedule is None or schedule.generation != generation:
            return []
        case = Case.objects.filter(pk=case_id).first()
        if case is None:
            return []
        schedule.last_searched_at = now
        schedule.due_at = None
        schedule.save(update_fields=["last_searched_at", "due_at"])
        if not is_shared(case):
            PeerSearch.objects.filter(case=case).update(
                status=PeerSearch.Status.SKIPPED,
                detail="the case is not shared (withdrawn, or consent revoked)",
                finished_at=now,
            )
            return []
        to_query = []
        for peer in searchable_peers():
            circuit_open = peer.circuit_open_until is not None and peer.circuit_open_until > now
            PeerSearch.objects.update_or_create(
                case=case,
                peer=peer,
                defaults={
                    "generation": generation,
                    "status": PeerSearch.Status.SKIPPED
                    if circuit_open
                    else PeerSearch.Status.WAITING,
                    "detail": (
                        f"{peer.name} failed {peer.consecutive_failures} times in a row; "
                        f"not asked again before {peer.circuit_open_until:%Y-%m-%d %H:%M} UTC"
                        if circuit_open
                        else ""
                    ),
                    "result_count": None,
                    "attempts": 0,
                    "requested_at": now,
                    "finished_at": now if circuit_open else None,
                },
            )
            if not circuit_open:
                to_query.append(peer.pk)
    return to_query


def query_peer(
    case_id: int,
    peer_id: int,
    generation: int,
    *,
    final_attempt: bool = True,
    client: MmeClient | None = None,
) -> PeerSearchOutcome | None:
    """Ask one peer about one case and record the answer, or the error.

    Returns None when there is nothing to do (superseded, already answered). Raises
    `RetryableSearchError` for a transient failure unless `final_attempt`: the search stays
    waiting and the caller retries. Idempotent: matches are keyed by (case, peer, remote
    patient), and a search is answered once per generation.
    """
    search = (
        PeerSearch.objects.select_related("peer", "case")
        .filter(case_id=case_id, peer_id=peer_id, generation=generation)
        .first()
    )
    if search is None or search.status != PeerSearch.Status.WAITING:
        return None
    case, peer = search.case, search.peer
    if not is_shared(case) or not peer.enabled:
        return _finish(
            search, PeerSearch.Status.SKIPPED, "the case or the peer is no longer shared"
        )
    now = timezone.now()
    if peer.circuit_open_until is not None and peer.circuit_open_until > now:
        return _finish(search, PeerSearch.Status.SKIPPED, f"{peer.name} is failing; not asked")

    # With its children: what is sent now is also what its answer is explained against.
    case = (
        Case.objects.prefetch_related("features", "genomic_features", "disorders")
        .select_related("institution")
        .get(pk=case.pk)
    )
    patient = mme_patient_of_case(case)
    if patient is None:
        return _finish(search, PeerSearch.Status.FAILED, "the case has no contact to send")
    body = {
        "patient": patient,
        "disclaimer": settings.MME_DISCLAIMER,
        "terms": settings.MME_TERMS,
    }
    PeerSearch.objects.filter(pk=search.pk).update(attempts=F("attempts") + 1)
    started = time.perf_counter()
    client = client or shared_client()
    try:
        answer = client.match(peer_target(peer), body, max_results=settings.MME_MAX_RESULTS)
    except PeerError as error:
        _record_peer_failure(peer, error, case=case)
        if error.transient and not final_attempt:
            PeerSearch.objects.filter(pk=search.pk).update(detail=f"retrying: {error.reason}")
            raise RetryableSearchError(error.reason, retry_after=error.retry_after) from None
        return _finish(search, PeerSearch.Status.FAILED, error.reason)
    except Exception as error:  # a bug of ours must not leave the search waiting forever
        logger.exception("query of %s for case %s failed", peer.name, case.public_id)
        _record_peer_failure(
            peer,
            PeerError(
                f"internal error: {type(error).__name__}",
                transient=False,
                malformed=False,
                status_code=None,
                latency_ms=(time.perf_counter() - started) * 1000,
            ),
            case=case,
        )
        return _finish(search, PeerSearch.Status.FAILED, f"internal error: {type(error).__name__}")
    return _record_answer(search, case, answer)


def peer_target(peer: Peer) -> PeerTarget:
    """What the client needs to ask `peer`; raises `PeerError` when its token cannot be decrypted."""
    try:
        token = peer.outbound_token
    except Exception as error:
        # Typically a token encrypted under a key that is gone; say which kind, nothing more.
        raise PeerError(f"cannot read the peer's settings: {type(error).__name__}") from None
    return PeerTarget(
        match_url=peer.match_url,
        outbound_token=token,
        api_version=peer.api_version,
        connect_timeout_seconds=peer.connect_timeout_seconds,
        timeout_seconds=peer.timeout_seconds,
    )


@functools.cache
def shared_client() -> MmeClient:
    """One client per process: its connection pool and TLS context serve every peer query
    (httpx clients are thread-safe; building one costs ~25 ms of CPU)."""
    return MmeClient()


def _finish(
    search: PeerSearch, status: str, detail: str, count: int | None = None
) -> PeerSearchOutcome:
    PeerSearch.objects.filter(pk=search.pk, generation=search.generation).update(
        status=status, detail=detail, result_count=count, finished_at=timezone.now()
    )
    return PeerSearchOutcome(search.peer.name, status, detail, count)


def _record_peer_failure(peer: Peer, error: PeerError, *, case: Case) -> None:
    now = timezone.now()
    Peer.objects.filter(pk=peer.pk).update(
        consecutive_failures=F("consecutive_failures") + 1,
        last_failure_at=now,
        last_error=error.reason,
    )
    peer.refresh_from_db(fields=["consecutive_failures"])
    if peer.consecutive_failures >= settings.FEDERATION_CIRCUIT_FAILURES:
        Peer.objects.filter(pk=peer.pk).update(
            circuit_open_until=now
            + datetime.timedelta(seconds=settings.FEDERATION_CIRCUIT_COOLDOWN_SECONDS)
        )
    log_request(
        direction=MmeRequestLog.Direction.OUTBOUND,
        peer=peer,
        endpoint="match",
        method="POST",
        status_code=error.status_code,
        latency_ms=error.latency_ms,
        api_version=peer.api_version,
        is_test=case.is_test,
        error=error.reason,
    )
    if error.malformed:
        _alert_admins_once(peer, error.reason)


def _alert_admins_once(peer: Peer, reason: str) -> None:
    """E-mail the admins about a peer's malformed answers, at most once an hour per peer."""
    if not cache.add(f"malformed-answer-alert:{peer.pk}", 1, timeout=3600):
        return
    mail_admins(
        subject=f"MME peer {peer.name} returned a malformed answer",
        message=(
            f"Our query to {peer.name} ({peer.match_url}) got an answer that breaks the MME "
            f"protocol, so it was not stored:\n\n{reason}\n\n"
            "The peer's other answers this hour are refused the same way without a new e-mail. "
            "See Federation > MME request log for every attempt."
        ),
    )


def _record_answer(search: PeerSearch, case: Case, answer: PeerAnswer) -> PeerSearchOutcome:
    """`case`: the search's case with its features and genes, as it was sent."""
    peer = search.peer
    # Explaining reads the ontology and gene catalogue: do it before taking any row lock.
    own_query = matching.query_of_case(case)
    explanations = {
        result.patient_id: _explain_remote(own_query, result) for result in answer.results
    }
    with transaction.atomic():
        now = timezone.now()
        # Lock the search row: a redelivered task racing this one records nothing twice.
        current = (
            PeerSearch.objects.select_for_update()
            .filter(pk=search.pk, generation=search.generation, status=PeerSearch.Status.WAITING)
            .first()
        )
        if current is None:
            return PeerSearchOutcome(peer.name, search.status, "already recorded", None)
        new_ids = _record_outgoing_matches(case, peer, answer, explanations, now=now)
        Peer.objects.filter(pk=peer.pk).update(
            consecutive_failures=0,
            circuit_open_until=None,
            last_success_at=now,
            disclaimer=answer.disclaimer or peer.disclaimer,
            terms=answer.terms or peer.terms,
        )
        count = len(answer.results)
        # Said where the operator and the clinician look: the peer may think it sent them all.
        detail = (
            f"kept the best {count} of the {answer.offered} results {peer.name} sent"
            if answer.offered > count
            else ""
        )
        PeerSearch.objects.filter(pk=search.pk).update(
            status=PeerSearch.Status.ANSWERED,
            detail=detail,
            result_count=count,
            finished_at=now,
        )
        log_request(
            direction=MmeRequestLog.Direction.OUTBOUND,
            peer=peer,
            endpoint="match",
            method="POST",
            status_code=answer.status_code,
            latency_ms=answer.latency_ms,
            api_version=answer.api_version or peer.api_version,
            result_count=count,
            is_test=case.is_test,
        )
        if new_ids and not case.is_test:
            matches.queue_notifications(new_ids)
    return PeerSearchOutcome(peer.name, PeerSearch.Status.ANSWERED, detail, count)


def _record_outgoing_matches(
    case: Case,
    peer: Peer,
    answer: PeerAnswer,
    explanations: dict[str, dict[str, Any]],
    *,
    now: datetime.datetime,
) -> list[int]:
    """One outgoing Match per remote patient; those no longer returned are marked removed."""
    existing = {
        match.remote_patient_id: match
        for match in Match.objects.filter(case=case, peer=peer, direction=Match.Direction.OUTGOING)
    }
    new_ids = []
    for result in answer.results:
        values = {
            "score": result.score,
            "phenotype_score": _part(result.phenotype_score),
            "genotype_score": _part(result.genotype_score),
            "remote_patient": result.patient,
            "remote_disclaimer": answer.disclaimer,
            "explanation": explanations[result.patient_id],
            "last_seen": now,
            "removed_at": None,
        }
        match = existing.get(result.patient_id)
        if match is None:
            created = Match.objects.create(
                case=case,
                peer=peer,
                direction=Match.Direction.OUTGOING,
                remote_patient_id=result.patient_id,
                **values,
            )
            new_ids.append(created.pk)
        else:
            Match.objects.filter(pk=match.pk).update(**values)
    returned = {result.patient_id for result in answer.results}
    Match.objects.filter(
        pk__in=[match.pk for patient_id, match in existing.items() if patient_id not in returned],
        removed_at__isnull=True,
    ).update(removed_at=now)
    return new_ids


def _part(score: float | None) -> float:
    # A peer that sends no breakdown: 0 marks "not given" (the explanation says so too).
    return 0.0 if score is None else score


def _explain_remote(own_query: matching.MatchQuery, result: RemoteResult) -> dict[str, Any]:
    """Our own reading of why the peer's patient resembles our case (their score stays theirs)."""
    try:
        remote_query = query_of_mme_patient(result.patient, drop_unknown_terms=True)
    except FieldValidationError as error:
        return {"note": f"the peer's patient could not be read here: {error.message}"}
    explanation = matching.explain_profiles(own_query, remote_query, scored_from=None)
    if result.phenotype_score is None or result.genotype_score is None:
        explanation["note"] = "the peer gave no phenotype/genotype breakdown of its score"
    return explanation


def search_peers_now(case: Case, *, client: MmeClient | None = None) -> list[PeerSearchOutcome]:
    """Search every peer for this case in this process, now (operators: `match --peers`)."""
    generation = request_peer_search(case.pk, delay_seconds=0, queue_task=False)
    outcomes = []
    for peer_id in start_peer_search(case.pk, generation):
        outcome = query_peer(case.pk, peer_id, generation, client=client)
        if outcome is not None:
            outcomes.append(outcome)
    skipped = PeerSearch.objects.filter(
        case=case, generation=generation, status=PeerSearch.Status.SKIPPED
    ).select_related("peer")
    outcomes += [PeerSearchOutcome(s.peer.name, s.status, s.detail, None) for s in skipped]
    return sorted(outcomes, key=lambda outcome: outcome.peer_name)


def cases_due_for_research(*, limit: int) -> list[int]:
    """Shared cases whose last search is older than FEDERATION_RESEARCH_DAYS, oldest first."""
    cutoff = timezone.now() - datetime.timedelta(days=settings.FEDERATION_RESEARCH_DAYS)
    never = (
        shareable_cases(test_data=None)
        .filter(search_schedule__isnull=True)
        .values_list("pk", flat=True)[:limit]
    )
    ids = list(never)
    if len(ids) < limit:
        # Not searched for a while (and no search pending), or a request that never ran: its
        # task was lost (e.g. the broker was down), however recently the case was searched.
        stale = Q(last_searched_at__lt=cutoff) | Q(last_searched_at__isnull=True)
        lost = Q(due_at__lt=timezone.now() - datetime.timedelta(hours=1))
        ids += list(
            CaseSearchSchedule.objects.filter(
                (stale & Q(due_at__isnull=True)) | lost,
                case__in=shareable_cases(test_data=None),
            )
            .order_by("last_searched_at")
            .values_list("case_id", flat=True)[: limit - len(ids)]
        )
    return ids


def research_due_cases(*, limit: int | None = None) -> int:
    """Periodic job: ask again for the shared cases not searched for a while (a batch per run)."""
    if not searchable_peers():
        return 0
    ids = cases_due_for_research(limit=limit or settings.FEDERATION_RESEARCH_BATCH)
    for case_id in ids:
        request_peer_search(case_id, delay_seconds=0)
    return len(ids)


def requeue_stalled_searches() -> int:
    """Queue again the peer queries still waiting long after every retry should have ended.

    A query's task can be lost (a broker restarted without persistence, a delayed retry dropped);
    its search would then say "waiting" forever. The task is idempotent, so asking again is safe.
    """
    cutoff = timezone.now() - datetime.timedelta(seconds=settings.FEDERATION_STALLED_SECONDS)
    stalled = list(
        PeerSearch.objects.filter(status=PeerSearch.Status.WAITING, requested_at__lt=cutoff)
        .values_list("case_id", "peer_id", "generation")
        .order_by("requested_at")[:1000]
    )
    from matchmaker.casework import tasks  # the tasks import this module

    for case_id, peer_id, generation in stalled:
        tasks.query_peer.apply_async(
            (case_id, peer_id, generation), queue=settings.FEDERATION_QUEUE or None
        )
    return len(stalled)
