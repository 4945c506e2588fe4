"""Write validated cases: one at a time through the ORM, or in bulk through COPY/executemany.

The bulk path exists because imports (8,483 published cases) and demo data (a million synthetic
cases) must load in minutes; it writes exactly the same rows as the ORM path (tested).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from matchmaker.cases.models import Case, Disorder, GenomicFeature, Institution, PhenotypeFeature
from matchmaker.cases.services.validation import ValidatedCase
from matchmaker.cases.signals import report_identifiers_not_in_release
from matchmaker.matching.index import record_index_change

# Crockford's base32 without I, L, O, U: unambiguous when read aloud or typed from an e-mail.
_PUBLIC_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PUBLIC_ID_LENGTH = 12  # 60 random bits: no realistic chance of a collision at 10^9 cases


def new_public_id() -> str:
    """An opaque, random public id such as "MM-7Q3K9D2XHT4W"; it reveals nothing about the case."""
    bits = secrets.randbits(5 * _PUBLIC_ID_LENGTH)
    body = "".join(_PUBLIC_ID_ALPHABET[(bits >> (5 * i)) & 31] for i in range(_PUBLIC_ID_LENGTH))
    return f"{settings.CASE_PUBLIC_ID_PREFIX}-{body}"


@dataclass(frozen=True, slots=True)
class CaseOwnership:
    """Who a batch of new cases belongs to, and what consent was recorded for them."""

    institution: Institution
    owner: User | None
    source: str
    consented: bool = False
    consent_note: str = ""


def case_field_values(validated: ValidatedCase, ownership: CaseOwnership) -> dict[str, Any]:
    """The Case columns that come from a validated record (shared by the ORM and bulk paths)."""
    record = validated.record
    institution = ownership.institution
    contact = record.contact
    return {
        "label": record.label.strip(),
        "contact_name": contact.name or institution.contact_name or institution.name,
        "contact_institution": contact.institution or institution.name,
        "contact_href": contact.href
        or (f"mailto:{institution.contact_email}" if institution.contact_email else "")
        or institution.contact_url,
        "contact_email": contact.email or institution.contact_email,
        "sex": validated.sex,
        "age_of_onset": record.age_of_onset,
        "onset_age": record.onset_age,
        "inheritance_mode": record.inheritance_mode,
        "is_test": record.is_test,
        "hpo_release": validated.hpo_release,
        "external_references": list(record.external_references),
        "extra": dict(record.extra),
    }


def feature_rows(validated: ValidatedCase) -> list[dict[str, Any]]:
    return [
        {
            "hpo_id": feature.hpo_id,
            "observed": feature.observed,
            "onset_hpo_id": feature.onset_hpo_id,
            "submitted_hpo_id": feature.submitted_hpo_id,
            "onset_age": feature.onset_age,
        }
        for feature in validated.features
    ]


def genomic_feature_rows(validated: ValidatedCase) -> list[dict[str, Any]]:
    rows = []
    for feature in validated.genomic_features:
        submitted, variant = feature.submitted, feature.submitted.variant
        rows.append(
            {
                "gene_id": feature.gene.gene_id,
                "gene_symbol": feature.gene.symbol,
                "submitted_gene_id": submitted.gene_id.strip(),
                "ensembl_gene_id": feature.gene.ensembl_ids[0] if feature.gene.ensembl_ids else "",
                "assembly": variant.assembly if variant else "",
                "reference_name": variant.reference_name if variant else "",
                "start": variant.start if variant else None,
                "end": variant.end if variant else None,
                "reference_bases": variant.reference_bases if variant else "",
                "alternate_bases": variant.alternate_bases if variant else "",
                "zygosity": submitted.zygosity,
                "variant_type_id": submitted.variant_type_id,
                "variant_type_label": submitted.variant_type_label,
                "hgvs_expressions": [
                    {"syntax": syntax, "value": value}
                    for syntax, value in submitted.hgvs_expressions
                ],
                "acmg_classification": submitted.acmg_classification,
                "allelic_state_id": submitted.allelic_state_id,
                "variant_label": submitted.variant_label,
            }
        )
    return rows


def disorder_rows(validated: ValidatedCase) -> list[dict[str, Any]]:
    return [
        {"disorder_id": disorder.disorder_id, "label": disorder.label}
        for disorder in validated.record.disorders
    ]


def write_case_children(case: Case, validated: ValidatedCase) -> None:
    """Replace the features, genomic features and disorders of `case` (ORM path)."""
    report_identifiers_not_in_release(validated.unknown_terms, validated.unknown_genes)
    case.features.all().delete()
    case.genomic_features.all().delete()
    case.disorders.all().delete()
    PhenotypeFeature.objects.bulk_create(
        PhenotypeFeature(case=case, **row) for row in feature_rows(validated)
    )
    GenomicFeature.objects.bulk_create(
        GenomicFeature(case=case, **row) for row in genomic_feature_rows(validated)
    )
    Disorder.objects.bulk_create(Disorder(case=case, **row) for row in disorder_rows(validated))


def bulk_insert_cases(
    validated_cases: Sequence[ValidatedCase], ownership: CaseOwnership
) -> list[int]:
    """Insert many new cases with raw COPY (PostgreSQL) or executemany (SQLite); return their ids.

    The caller holds the transaction. Labels must already be known to be free in the institution.
    Case ids are reserved up front so the child rows can be written without reading anything back.
    """
    if not validated_cases:
        return []
    now = timezone.now()
    case_ids = _reserve_case_ids(len(validated_cases))
    owner_id = ownership.owner.pk if ownership.owner is not None else None
    consent_at = now if ownership.consented else None
    case_rows: list[dict[str, Any]] = []
    feature_table: list[dict[str, Any]] = []
    genomic_table: list[dict[str, Any]] = []
    disorder_table: list[dict[str, Any]] = []
    for case_id, validated in zip(case_ids, validated_cases, strict=True):
        values = case_field_values(validated, ownership)
        case_rows.append(
            {
                "id": case_id,
                "public_id": new_public_id(),
                "institution_id": ownership.institution.pk,
                "owner_id": owner_id,
                "external_matching_consent": ownership.consented,
                "consent_recorded_by_id": owner_id if ownership.consented else None,
                "consent_recorded_at": consent_at,
                "consent_note": ownership.consent_note if ownership.consented else "",
                "status": Case.Status.ACTIVE,
                "withdrawn_at": None,
                "source": ownership.source,
                "created_at": now,
                "updated_at": now,
                "matched_with": "",  # not matched yet
                **values,
            }
        )
        feature_table.extend({"case_id": case_id, **row} for row in feature_rows(validated))
        genomic_table.extend({"case_id": case_id, **row} for row in genomic_feature_rows(validated))
        disorder_table.extend({"case_id": case_id, **row} for row in disorder_rows(validated))
        report_identifiers_not_in_release(validated.unknown_terms, validated.unknown_genes)
    insert_rows(Case, case_rows)
    insert_rows(PhenotypeFeature, feature_table)
    insert_rows(GenomicFeature, genomic_table)
    insert_rows(Disorder, disorder_table)
    # Bulk loads (imports, demo data) are indexed but not matched one by one: thousands of
    # matching runs would swamp the workers; `manage.py match --all` matches them when wanted.
    record_index_change(case_ids[0], case_ids[-1])
    return case_ids


def _reserve_case_ids(count: int) -> list[int]:
    table = Case._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, count],
            )
            return [row[0] for row in cursor.fetchall()]
        # SQLite: the transaction holds the write lock (transaction_mode IMMEDIATE), so nobody else
        # can take these ids between this read and the insert.
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608 (table name from model meta)
        (highest,) = cursor.fetchone()
        return list(range(highest + 1, highest + 1 + count))


def insert_rows(model: type[Any], rows: Iterable[dict[str, Any]]) -> None:
    """Insert dict rows into `model`'s table, bypassing the ORM's per-object overhead."""
    rows = list(rows)
    if not rows:
        return
    columns = list(rows[0])
    fields = {field.attname: field for field in model._meta.concrete_fields}
    table = model._meta.db_table
    quoted = ", ".join(connection.ops.quote_name(name) for name in columns)

    # Per-column converters, decided once: JSON columns are serialised, and SQLite wants datetimes
    # in Django's text format (psycopg adapts them itself).
    converters: list[Callable[[Any], Any] | None] = []
    for name in columns:
        kind = fields[name].get_internal_type()
        if kind == "JSONField":
            converters.append(json.dumps)
        elif kind == "DateTimeField" and connection.vendor != "postgresql":
            converters.append(
                lambda value: (
                    None if value is None else connection.ops.adapt_datetimefield_value(value)
                )
            )
        else:
            converters.append(None)

    def adapt(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            row[name] if convert is None else convert(row[name])
            for name, convert in zip(columns, converters, strict=True)
        )

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor
            with raw.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(adapt(row))
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f"INSERT INTO {table} ({quoted}) VALUES ({placeholders})",  # noqa: S608
                [adapt(row) for row in rows],
            )
