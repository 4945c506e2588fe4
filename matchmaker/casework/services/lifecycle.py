"""Create, update, withdraw, delete and import cases."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from matchmaker.cases.models import Case, Institution
from matchmaker.cases.records import CaseRecord, RecordFormatError
from matchmaker.cases.services.validation import (
    MAX_CONSENT_NOTE_LENGTH,
    ValidatedCase,
    text_problem,
    validate_case_record,
)
from matchmaker.casework.services import matches, outbound
from matchmaker.casework.services.refresh import refresh_remote_matches
from matchmaker.casework.services.storage import (
    CaseOwnership,
    bulk_insert_cases,
    case_field_values,
    new_public_id,
    write_case_children,
)
from matchmaker.federation.services.audit import erase_case_from_audit_log
from matchmaker.lib.errors import ConflictError, FieldValidationError, UnconfirmedWarningsError
from matchmaker.reference.ontology import get_gene_catalogue, get_hpo


def validate(record: CaseRecord) -> ValidatedCase:
    """Validate `record` against this process's HPO release and gene catalogue."""
    return validate_case_record(record, ontology=get_hpo(), genes=get_gene_catalogue())


def _validated_and_confirmed(record: CaseRecord, *, confirm_warnings: bool) -> ValidatedCase:
    validated = validate(record)
    if validated.warnings and not confirm_warnings:
        raise UnconfirmedWarningsError(list(validated.warnings))
    return validated


def _check_consent_note(note: str) -> None:
    if problem := text_problem(note, max_length=MAX_CONSENT_NOTE_LENGTH):
        raise FieldValidationError([("consentNote", problem)])


def _ensure_label_free(
    institution: Institution, label: str, *, except_case: Case | None = None
) -> None:
    clash = Case.objects.filter(institution=institution, label=label.strip())
    if except_case is not None:
        clash = clash.exclude(pk=except_case.pk)
    if clash.exists():
        raise ConflictError(
            f"a case labelled {label.strip()!r} already exists in {institution.name}", field="label"
        )


@transaction.atomic
def submit_case(
    record: CaseRecord,
    *,
    institution: Institution,
    owner: User | None,
    source: str = Case.Source.ENTERED,
    consented: bool = False,
    consent_note: str = "",
    confirm_warnings: bool = True,
) -> Case:
    """Validate and store a new case; raise `FieldValidationError` (nothing stored) if any field is wrong.

    Without `confirm_warnings` (the case form before its confirmation box is ticked), a case
    with warnings raises `UnconfirmedWarningsError` and nothing is stored; API callers get the
    warnings from `validate(record).warnings`.
    """
    _check_consent_note(consent_note)
    validated = _validated_and_confirmed(record, confirm_warnings=confirm_warnings)
    _ensure_label_free(institution, record.label)
    ownership = CaseOwnership(
        institution=institution,
        owner=owner,
        source=source,
        consented=consented,
        consent_note=consent_note,
    )
    now = timezone.now()
    case = Case.objects.create(
        public_id=new_public_id(),
        institution=institution,
        owner=owner,
        source=source,
        external_matching_consent=consented,
        consent_recorded_by=owner if consented else None,
        consent_recorded_at=now if consented else None,
        consent_note=consent_note if consented else "",
        **case_field_values(validated, ownership),
    )
    write_case_children(case, validated)
    matches.note_case_changed(case.pk, rematch=True)
    _search_peers_if_shared(case)
    return case


def _search_peers_if_shared(case: Case) -> None:
    """A shared case is (re)searched at the peers, debounced; a case that is not, never."""
    if outbound.is_shared(case):
        outbound.request_peer_search(case.pk)


@transaction.atomic
def update_case(case: Case, record: CaseRecord, *, confirm_warnings: bool = True) -> Case:
    """Replace a case's data with `record`, keeping its public id, owner, consent and history.

    Its matches follow in the same transaction, so no page shows an old score next to the new
    data: the local ones are marked out of date until the re-match (queued) re-scores them on
    both sides; the remote ones are re-explained from the stored peer patient (and re-scored
    where the score is ours: incoming), an outgoing one marked out of date until the next search.
    """
    validated = _validated_and_confirmed(record, confirm_warnings=confirm_warnings)
    _ensure_label_free(case.institution, record.label, except_case=case)
    ownership = CaseOwnership(institution=case.institution, owner=case.owner, source=case.source)
    for name, value in case_field_values(validated, ownership).items():
        setattr(case, name, value)
    case.save()
    write_case_children(case, validated)
    matches.note_case_changed(case.pk, rematch=True)
    matches.queue_searches_that_found(case.pk)
    matches.mark_local_scores_out_of_date(case.pk)
    refresh_remote_matches(case)
    _search_peers_if_shared(case)
    return case


@transaction.atomic
def record_consent(case: Case, *, consented: bool, by: User | None, note: str = "") -> Case:
    """Record (or revoke) consent to external matching, with who recorded it and when."""
    _check_consent_note(note)
    case.external_matching_consent = consented
    case.consent_recorded_by = by
    case.consent_recorded_at = timezone.now()
    case.consent_note = note
    case.save(
        update_fields=[
            "external_matching_consent",
            "consent_recorded_by",
            "consent_recorded_at",
            "consent_note",
            "updated_at",
        ]
    )
    matches.note_case_changed(case.pk, rematch=False)
    _search_peers_if_shared(case)
    return case


@transaction.atomic
def withdraw_case(case: Case) -> Case:
    """Take a case out of matching; it stays stored (and visible to its institution) until deleted.

    Every match of the case is marked removed in the same transaction, on both sides: the other
    institutions' matches to it stop being current at once, and their pages and API no longer
    show anything of the case (`Match.other_case_withheld`).
    """
    if case.status == Case.Status.WITHDRAWN:
        return case
    case.status = Case.Status.WITHDRAWN
    case.withdrawn_at = timezone.now()
    case.save(update_fields=["status", "withdrawn_at", "updated_at"])
    matches.note_case_changed(case.pk, rematch=False)
    matches.remove_matches_of_case(case.pk)
    return case


@transaction.atomic
def reactivate_case(case: Case) -> Case:
    if case.status == Case.Status.ACTIVE:
        return case
    case.status = Case.Status.ACTIVE
    case.withdrawn_at = None
    case.save(update_fields=["status", "withdrawn_at", "updated_at"])
    matches.note_case_changed(case.pk, rematch=True)
    matches.queue_searches_that_found(case.pk)
    _search_peers_if_shared(case)
    return case


@transaction.atomic
def delete_case(case: Case) -> None:
    """Delete a case and everything stored with it, for good (GDPR erasure).

    Every process's index drops it (IndexChange); its matches go with it in both directions
    (ours, the other owners' local matches to it, peers' incoming matches: foreign keys cascade);
    the audit log keeps that requests happened but loses the case's public id and the patient we
    sent about it; the admin's history of the case loses its public id and label.
    """
    public_id, case_id = case.public_id, case.pk
    matches.note_case_changed(case.pk, rematch=False)
    case.delete()
    erase_case_from_audit_log(public_id)
    _erase_case_from_admin_log(case_id)


def _erase_case_from_admin_log(case_id: int) -> None:
    """The admin's history names a case by its public id and label (its str()): keep that the
    actions happened, by whom and when, but no longer what the case was called."""
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Case), object_id=str(case_id)
    ).update(object_repr="(erased case)", change_message="")


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    case_ids: list[int] = field(default_factory=list)  # of the cases imported, in input order
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (origin, reason)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (origin, note)

    @property
    def seen(self) -> int:
        return self.imported + len(self.rejected)


def import_case_records(
    items: Iterable[tuple[str, CaseRecord | RecordFormatError]],
    *,
    ownership: CaseOwnership,
    batch_size: int = 1000,
    drop_unknown_terms: bool = False,
    match_each: bool = False,
) -> ImportReport:
    """Import many cases, each all-or-nothing: a document with any problem is reported, not stored.

    `items` pairs an origin (file and line) with a parsed record or the error that parsing gave.
    Valid cases are written in batches with the bulk writer, one transaction per batch; a label
    that already exists in the institution (or twice in the input) rejects that document.

    Bulk loads are indexed but not matched: thousands of matching runs would swamp the workers.
    With `match_each` (an upload of a few cases by a clinician) each new case is matched, and
    searched at the peers when consented, as if entered by hand.
    """
    report = ImportReport()
    _check_consent_note(ownership.consent_note)
    ontology, genes = get_hpo(), get_gene_catalogue()
    batch: list[tuple[str, ValidatedCase]] = []
    labels_in_input: set[str] = set()

    def flush() -> None:
        if not batch:
            return
        labels = [validated.record.label.strip() for _, validated in batch]
        existing = set(
            Case.objects.filter(institution=ownership.institution, label__in=labels).values_list(
                "label", flat=True
            )
        )
        fresh = []
        for origin, validated in batch:
            if validated.record.label.strip() in existing:
                report.rejected.append(
                    (
                        origin,
                        f"label: a case labelled {validated.record.label.strip()!r} already "
                        f"exists in {ownership.institution.name}",
                    )
                )
            else:
                fresh.append(validated)
                report.notes.extend((origin, note) for note in validated.notes)
                # Imports store a case with warnings, and say so in the report.
                report.notes.extend(
                    (origin, f"warning: {field}: {message}")
                    for field, message in validated.warnings
                )
        with transaction.atomic():
            case_ids = bulk_insert_cases(fresh, ownership)
            if match_each:
                matches.queue_matching(case_ids)
                if ownership.consented:
                    for case_id in case_ids:
                        outbound.request_peer_search(case_id)
        report.imported += len(case_ids)
        report.case_ids.extend(case_ids)
        batch.clear()

    for origin, item in items:
        if isinstance(item, RecordFormatError):
            report.rejected.append((origin, str(item)))
            continue
        try:
            validated = validate_case_record(
                item, ontology=ontology, genes=genes, drop_unknown_terms=drop_unknown_terms
            )
        except FieldValidationError as error:
            report.rejected.append((origin, error.message))
            continue
        label = item.label.strip()
        if label in labels_in_input:
            report.rejected.append((origin, f"label: {label!r} appears twice in this import"))
            continue
        labels_in_input.add(label)
        batch.append((origin, validated))
        if len(batch) >= batch_size:
            flush()
    flush()
    return report
