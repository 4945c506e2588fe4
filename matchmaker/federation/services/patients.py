"""Patients as MME JSON: our case written for a peer, a peer's patient read and validated."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from matchmaker.cases.interchange import case_record_from_mme_patient, mme_patient_from_case_record
from matchmaker.cases.models import Case
from matchmaker.cases.records import CaseRecord, ContactRecord, RecordFormatError
from matchmaker.cases.selectors import case_records_of
from matchmaker.cases.services.validation import ValidatedCase, validate_case_record
from matchmaker.lib.errors import FieldValidationError
from matchmaker.reference.ontology import get_gene_catalogue, get_hpo

logger = logging.getLogger(__name__)


def validated_mme_patient(
    patient: Mapping[str, Any], *, drop_unknown_terms: bool = False
) -> ValidatedCase:
    """A peer's patient validated; `FieldValidationError` names fields from the request root."""
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
    return validated


def _patient_field(name: str) -> str:
    return f"patient.{name}" if name else "patient"


def mme_patient_of_case(case: Case) -> dict[str, Any] | None:
    """Our case as an MME patient for a peer (see `mme_patients_of_cases`); None if it cannot go."""
    return mme_patients_of_cases([case])[case.pk]


def mme_patients_of_cases(cases: Sequence[Case]) -> dict[int, dict[str, Any] | None]:
    """Our cases as MME patients for a peer, by case id: public id, contact and the shared data.

    Never the label: it is the owning team's own handle, and peers see only the public id.
    Genes go out as Ensembl ids where known (MME recommends them), with the symbol in
    `_geneName`. Free-form extras stay home. A case without a usable contact falls back to its
    institution's (select it with the cases); None (and a log line) if there is still no way to
    reach anyone. The cases' children are read in three statements per 500 cases.
    """
    records = case_records_of(cases, ontology=get_hpo())
    return {case.pk: _mme_patient(case, records[case.pk]) for case in cases}


def _mme_patient(case: Case, record: CaseRecord) -> dict[str, Any] | None:
    record = dataclasses.replace(record, label="", extra={})
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
    for written, feature in zip(patient["genomicFeatures"], record.genomic_features, strict=True):
        if feature.ensembl_gene_id:
            written["gene"] = {"id": feature.ensembl_gene_id, "_geneName": feature.gene_symbol}
    return patient
