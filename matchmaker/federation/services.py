"""Answering peers' MME queries, and recording what crossed the node's boundary."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from matchmaker.cases.interchange import case_record_from_mme_patient, mme_patient_from_case_record
from matchmaker.cases.models import Case
from matchmaker.cases.records import ContactRecord, RecordFormatError
from matchmaker.cases.selectors import case_record_of
from matchmaker.cases.services.validation import validate_case_record
from matchmaker.federation.models import MAX_TOKEN_LENGTH, MmeRequestLog, Peer
from matchmaker.lib.errors import FieldValidationError
from matchmaker.lib.secrets import hash_token
from matchmaker.matching import services as matching
from matchmaker.matching import tasks as matching_tasks
from matchmaker.matching.models import Match
from matchmaker.matching.ontology import get_gene_catalogue, get_hpo

logger = logging.getLogger(__name__)

# Shorter tokens are guessable; the join protocol recommends 40 random hex characters.
MIN_TOKEN_LENGTH = 16


@dataclass(slots=True)
class MatchAnswer:
    """What we answer a peer's query with, and what the audit log keeps of it."""

    body: dict[str, Any]
    is_test: bool
    returned_case_ids: list[str] = field(default_factory=list)
    new_match_ids: list[int] = field(default_factory=list)

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
    query = _match_query_of(patient)
    is_test = patient.get("test") is True
    results = matching.find_matches(
        query,
        limit=settings.MME_MAX_RESULTS,
        min_score=settings.MME_MIN_SCORE,
        require_shared_gene=(
            settings.MME_REQUIRE_SHARED_GENE
            if peer.require_shared_gene is None
            else peer.require_shared_gene
        ),
        shareable_only=True,
        # A test query may see test cases (MME §1.9); real queries never do.
        include_test=is_test,
    )
    # The index is current, but consent is the one rule that must never be broken: check the rows.
    results = [
        result
        for result in results
        if result.case.external_matching_consent and result.case.status == Case.Status.ACTIVE
    ]

    answered = []
    for result in results:
        written = mme_patient_of_case(result.case)
        if written is None:
            continue
        answered.append((result, written))

    answer = MatchAnswer(
        body={
            "disclaimer": settings.MME_DISCLAIMER,
            "terms": settings.MME_TERMS,
            "results": [
                {
                    "score": {
                        "patient": round(result.score, 4),
                        "_phenotype": round(result.phenotype_score, 4),
                        "_genotype": round(result.genotype_score, 4),
                    },
                    "patient": written,
                }
                for result, written in answered
            ],
        },
        is_test=is_test,
        returned_case_ids=[result.case.public_id for result, _ in answered],
    )
    if not is_test:
        answer.new_match_ids = _record_incoming_matches(
            peer, patient, query, [result for result, _ in answered]
        )
    return answer


def _match_query_of(patient: Mapping[str, Any]) -> matching.MatchQuery:
    try:
        record = case_record_from_mme_patient(patient)
    except RecordFormatError as error:
        raise FieldValidationError([(_patient_field(error.field), error.message)]) from None
    try:
        validated = validate_case_record(
            record, ontology=get_hpo(), genes=get_gene_catalogue(), check_label=False
        )
    except FieldValidationError as error:
        raise FieldValidationError(
            [(_patient_field(name), message) for name, message in error.errors]
        ) from None
    return matching.query_of_validated_case(validated)


def _patient_field(name: str) -> str:
    return f"patient.{name}" if name else "patient"


def mme_patient_of_case(case: Case) -> dict[str, Any] | None:
    """Our case as an MME patient for a peer: public id, label, contact and the shared data.

    Genes go out as Ensembl ids where known (MME recommends them), with the symbol in
    `_geneName`. Free-form extras stay home. A case without a usable contact falls back to its
    institution's; None (and a log line) if there is still no way to reach anyone.
    """
    record = dataclasses.replace(case_record_of(case, ontology=get_hpo()), extra={})
    contact = record.contact
    if not contact.name or not (contact.href or contact.email):
        institution = case.institution
        record = dataclasses.replace(
            record,
            contact=ContactRecord(
                name=contact.name or institution.contact_name or institution.name,
                institution=contact.institution or institution.name,
                href=contact.href or institution.contact_url,
                email=contact.email or institution.contact_email,
            ),
        )
    try:
        patient = mme_patient_from_case_record(record, patient_id=case.public_id)
    except ValueError as error:
        logger.warning("case %s left out of an MME answer: %s", case.public_id, error)
        return None
    for written, feature in zip(
        patient["genomicFeatures"], case.genomic_features.all(), strict=True
    ):
        if feature.ensembl_gene_id:
            written["gene"] = {"id": feature.ensembl_gene_id, "_geneName": feature.gene_symbol}
    return patient


def _record_incoming_matches(
    peer: Peer,
    patient: Mapping[str, Any],
    query: matching.MatchQuery,
    results: list[matching.MatchResult],
) -> list[int]:
    """Store or refresh one incoming Match per (our case, peer, their patient); new ids.

    A case this peer patient matched before but matches no more is marked removed.
    """
    now = timezone.now()
    remote_patient_id = str(patient["id"])
    with transaction.atomic():
        existing = {
            match.case_id: match
            for match in Match.objects.filter(
                direction=Match.Direction.INCOMING, peer=peer, remote_patient_id=remote_patient_id
            )
        }
        new_ids = []
        for result in results:
            values = {
                "score": result.score,
                "phenotype_score": result.phenotype_score,
                "genotype_score": result.genotype_score,
                "explanation": matching.explain_profiles(
                    matching.query_of_case(result.case), query
                ),
                "remote_patient": dict(patient),
                "last_seen": now,
                "removed_at": None,
            }
            match = existing.get(result.case.pk)
            if match is None:
                created = Match.objects.create(
                    case=result.case,
                    direction=Match.Direction.INCOMING,
                    peer=peer,
                    remote_patient_id=remote_patient_id,
                    **values,
                )
                new_ids.append(created.pk)
            else:
                Match.objects.filter(pk=match.pk).update(**values)
        found = {result.case.pk for result in results}
        Match.objects.filter(
            pk__in=[match.pk for case_id, match in existing.items() if case_id not in found],
            removed_at__isnull=True,
        ).update(removed_at=now)
        if new_ids:
            # robust: the answer must not fail because the broker is down; the periodic sweep
            # (notify_pending_matches) sends what could not be queued.
            transaction.on_commit(
                functools.partial(matching_tasks.notify_new_matches.delay, new_ids), robust=True
            )
    return new_ids


def log_request(
    *,
    direction: str,
    peer: Peer | None,
    endpoint: str,
    method: str,
    status_code: int | None,
    latency_ms: float,
    api_version: str = "",
    result_count: int | None = None,
    is_test: bool = False,
    remote_address: str | None = None,
    error: str = "",
    query_payload: Any = None,
    matched: bool = False,
    returned_case_ids: list[str] | None = None,
) -> MmeRequestLog:
    """Append one row to the audit log.

    The query payload is kept for good only when it matched; otherwise it expires after
    MME_QUERY_RETENTION_DAYS and `purge_expired_query_payloads` clears it.
    """
    expires = None
    if query_payload is not None and not matched:
        expires = timezone.now() + datetime.timedelta(days=settings.MME_QUERY_RETENTION_DAYS)
    return MmeRequestLog.objects.create(
        direction=direction,
        peer=peer,
        peer_name=peer.name if peer is not None else "",
        endpoint=endpoint,
        method=method,
        status_code=status_code,
        api_version=api_version,
        result_count=result_count,
        latency_ms=latency_ms,
        is_test=is_test,
        remote_address=remote_address,
        error=error[:2000],
        query_payload=query_payload,
        payload_expires_at=expires,
        returned_case_ids=returned_case_ids or [],
    )


def purge_expired_query_payloads(*, now: datetime.datetime | None = None) -> int:
    """Clear stored query payloads whose retention period has ended; returns how many."""
    now = now or timezone.now()
    return MmeRequestLog.objects.filter(
        query_payload__isnull=False, payload_expires_at__lte=now
    ).update(query_payload=None, payload_expires_at=None)


def check_peer_base_url(base_url: str, *, field: str = "base_url") -> None:
    """Peers are reached over HTTPS (join protocol); HTTP only where FEDERATION_ALLOW_HTTP."""
    if not base_url:
        return
    if base_url.startswith("https://"):
        return
    if base_url.startswith("http://") and settings.FEDERATION_ALLOW_HTTP:
        return
    raise FieldValidationError(
        [(field, "must be an https:// URL (MME requires TLS between nodes)")]
    )


def check_inbound_token_free(token: str, *, except_peer: Peer | None = None) -> None:
    """Tokens identify the peer, so each must be unique; raises naming the field otherwise."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise FieldValidationError(
            [("inbound_token", f"is longer than {MAX_TOKEN_LENGTH} characters")]
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise FieldValidationError(
            [("inbound_token", f"is shorter than {MIN_TOKEN_LENGTH} characters: too easy to guess")]
        )
    clash = Peer.objects.filter(inbound_token_hash=hash_token(token))
    if except_peer is not None and except_peer.pk is not None:
        clash = clash.exclude(pk=except_peer.pk)
    if clash.exists():
        raise FieldValidationError([("inbound_token", "is already the token of another peer")])


@transaction.atomic
def add_peer(
    name: str,
    *,
    base_url: str = "",
    inbound_token: str = "",
    outbound_token: str = "",
    description: str = "",
    api_version: str = Peer.ApiVersion.V1_0,
    contact_email: str = "",
    timeout_seconds: float = 30.0,
    enabled: bool = True,
) -> Peer:
    """Register a peer node; every problem raises `FieldValidationError` naming the option."""
    errors: list[tuple[str, str]] = []
    if not name.strip():
        errors.append(("name", "is required"))
    elif Peer.objects.filter(name=name.strip()).exists():
        errors.append(("name", f"a peer named {name.strip()!r} already exists"))
    if api_version not in Peer.ApiVersion.values:
        errors.append(("api_version", f"must be one of {', '.join(Peer.ApiVersion.values)}"))
    if not 0 < timeout_seconds <= 600:
        errors.append(("timeout", "must be more than 0 and at most 600 seconds"))
    if outbound_token and not base_url:
        errors.append(("base_url", "is required to send the outbound token anywhere"))
    for check in (
        lambda: check_peer_base_url(base_url),
        lambda: inbound_token and check_inbound_token_free(inbound_token),
    ):
        try:
            check()
        except FieldValidationError as error:
            errors.extend(error.errors)
    if len(outbound_token) > MAX_TOKEN_LENGTH:
        errors.append(("outbound_token", f"is longer than {MAX_TOKEN_LENGTH} characters"))
    if errors:
        raise FieldValidationError(errors)
    peer = Peer(
        name=name.strip(),
        base_url=base_url,
        description=description,
        api_version=api_version,
        contact_email=contact_email,
        timeout_seconds=timeout_seconds,
        enabled=enabled,
    )
    peer.set_inbound_token(inbound_token)
    peer.set_outbound_token(outbound_token)
    try:
        peer.full_clean()
    except ValidationError as error:
        raise FieldValidationError(
            [
                (name, message)
                for name, messages in error.message_dict.items()
                for message in messages
            ]
        ) from None
    peer.save()
    return peer
