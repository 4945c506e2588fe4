"""Answering peers' MME queries: score against our shareable cases, record incoming matches."""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from matchmaker.cases.interchange import case_record_from_mme_patient, mme_patient_from_case_record
from matchmaker.cases.models import Case
from matchmaker.cases.records import ContactRecord, RecordFormatError
from matchmaker.cases.selectors import case_record_of
from matchmaker.cases.services.validation import validate_case_record
from matchmaker.federation.models import Peer
from matchmaker.lib.errors import FieldValidationError
from matchmaker.matching import services as matching
from matchmaker.matching import tasks as matching_tasks
from matchmaker.matching.models import Match
from matchmaker.matching.ontology import get_gene_catalogue, get_hpo

logger = logging.getLogger(__name__)


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
    query = query_of_mme_patient(patient)
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


def query_of_mme_patient(
    patient: Mapping[str, Any], *, drop_unknown_terms: bool = False
) -> matching.MatchQuery:
    """A peer's patient as a query; `FieldValidationError` names fields from the request root.

    With `drop_unknown_terms`, HPO terms our release does not know are left out instead of
    refused (for peers' answers, which we read but do not judge).
    """
    try:
        record = case_record_from_mme_patient(patient)
    except RecordFormatError as error:
        raise FieldValidationError([(_patient_field(error.field), error.message)]) from None
    try:
        validated = validate_case_record(
            record,
            ontology=get_hpo(),
            genes=get_gene_catalogue(),
            check_label=False,
            drop_unknown_terms=drop_unknown_terms,
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
