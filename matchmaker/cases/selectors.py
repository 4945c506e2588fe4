"""Reads of cases, prefetched so callers never run one query per case."""

from __future__ import annotations

import json
import re
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import BooleanField, Field, JSONField, Model, Q, QuerySet

from matchmaker.cases.interchange import mme_patient_from_case_record, phenopacket_from_case_record
from matchmaker.cases.models import (
    Case,
    Disorder,
    GenomicFeature,
    Institution,
    Membership,
    PhenotypeFeature,
)
from matchmaker.cases.records import (
    CaseRecord,
    ContactRecord,
    DisorderRecord,
    FeatureRecord,
    GenomicFeatureRecord,
    VariantRecord,
)
from matchmaker.lib.sql import concrete_field, quoted_column, quoted_table
from ontologies.genes import GeneCatalogue
from ontologies.hpo import ObsoleteTermError, Ontology, UnknownTermError

# What a case can be exported as: a GA4GH Phenopacket v2, or an MME patient.
DOCUMENT_FORMATS = ("phenopacket", "mme")
_HPO_ID = re.compile(r"^HP:\d{7}$", re.IGNORECASE)


class _FeatureRow(Protocol):
    """What a record reads of a phenotype feature: a model instance, or a row of its columns."""

    @property
    def hpo_id(self) -> str: ...
    @property
    def observed(self) -> bool: ...
    @property
    def onset_hpo_id(self) -> str: ...
    @property
    def onset_age(self) -> str: ...


class _GenomicFeatureRow(Protocol):
    @property
    def gene_id(self) -> str: ...
    @property
    def gene_symbol(self) -> str: ...
    @property
    def submitted_gene_id(self) -> str: ...
    @property
    def ensembl_gene_id(self) -> str: ...
    @property
    def assembly(self) -> str: ...
    @property
    def reference_name(self) -> str: ...
    @property
    def start(self) -> int | None: ...
    @property
    def end(self) -> int | None: ...
    @property
    def reference_bases(self) -> str: ...
    @property
    def alternate_bases(self) -> str: ...
    @property
    def zygosity(self) -> int | None: ...
    @property
    def variant_type_id(self) -> str: ...
    @property
    def variant_type_label(self) -> str: ...
    @property
    def hgvs_expressions(self) -> Any: ...
    @property
    def acmg_classification(self) -> str: ...
    @property
    def allelic_state_id(self) -> str: ...
    @property
    def variant_label(self) -> str: ...


class _DisorderRow(Protocol):
    @property
    def disorder_id(self) -> str: ...
    @property
    def label(self) -> str: ...


def membership_of(user: AbstractBaseUser | AnonymousUser) -> Membership | None:
    """The user's place in an institution; None for anonymous users and staff without one."""
    if not user.is_authenticated or not user.is_active:
        return None
    try:
        return Membership.objects.select_related("institution").get(user_id=user.pk)
    except Membership.DoesNotExist:
        return None


def institution_of(user: AbstractBaseUser | AnonymousUser) -> Institution | None:
    membership = membership_of(user)
    return membership.institution if membership else None


def is_institution_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    membership = membership_of(user)
    return membership is not None and membership.role == Membership.Role.ADMIN


def shareable_cases(*, test_data: bool | None = False) -> QuerySet[Case]:
    """The cases a peer or a discovery network can ever see: active, consented for external
    matching, and not test data (with `test_data`, only test data: a peer's test query; with
    None, either: what our own test cases and real ones send to peers).

    The one definition of "shareable": the MME answer and its recheck of the rows, our searches
    at the peers, the MME metrics and the Beacon counts all start here. The case index flags the
    same rows (`IndexedCase.shareable`, `is_test`).
    """
    cases = Case.objects.filter(status=Case.Status.ACTIVE, external_matching_consent=True)
    return cases if test_data is None else cases.filter(is_test=test_data)


def cases_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Case]:
    """The cases a clinician may read and edit: those of their own institution, nothing else.

    Staff without a membership see none here; they work in the admin.
    """
    institution = institution_of(user)
    if institution is None:
        return Case.objects.none()
    return Case.objects.filter(institution=institution)


def visible_case(user: AbstractBaseUser | AnonymousUser, public_id: str) -> Case | None:
    """The case with this public id if `user` may see it (their institution's), else None.

    Pages and API answer None with 404: another institution's case looks like no case at all.
    """
    return (
        cases_visible_to(user)
        .select_related("institution", "owner")
        .filter(public_id=public_id)
        .first()
    )


def cases_with_term(hpo_id: str, *, ontology: Ontology) -> Q:
    """A filter on cases: `hpo_id`, or any term below it, observed in the patient.

    A search for "Seizure" should find a case coded with "Focal seizure". `hpo_id` must be a
    current term of `ontology` (resolve alternative ids first).
    """
    return Q(
        id__in=PhenotypeFeature.objects.filter(
            hpo_id__in=ontology.descendants(hpo_id), observed=True
        ).values("case_id")
    )


def search_cases(cases: QuerySet[Case], text: str, *, ontology: Ontology) -> QuerySet[Case]:
    """One search box: label or public id (substring), gene symbol, or HPO term (with children).

    The term is named by its id or its exact label; text naming no term searches the rest.
    """
    text = text.strip()
    if not text:
        return cases
    # One set of ids, each kind found through its own index (cases/migrations/0002): an OR
    # across the case's columns and subqueries made PostgreSQL read every case, twice.
    found = (
        Case.objects.filter(Q(label__icontains=text) | Q(public_id__icontains=text))
        .order_by()
        .values("id")
    )
    also: list[QuerySet[Model, Mapping[str, object]]] = [
        GenomicFeature.objects.filter(gene_symbol__iexact=text).order_by().values("case_id")
    ]
    hpo_id = _term_named(text, ontology=ontology)
    if hpo_id:
        also.append(
            PhenotypeFeature.objects.filter(hpo_id__in=ontology.descendants(hpo_id), observed=True)
            .order_by()
            .values("case_id")
        )
    return cases.filter(id__in=found.union(*also))


def _term_named(text: str, *, ontology: Ontology) -> str:
    """The current id of the HPO term `text` names (an id or an exact label); "" for none."""
    if _HPO_ID.match(text):
        try:
            return ontology.resolve(text.upper()).hpo_id
        except (UnknownTermError, ObsoleteTermError):
            return ""
    best = ontology.search(text, limit=1)
    if best and best[0].matched_text.casefold() == text.casefold():
        return best[0].hpo_id
    return ""


def iterate_cases_with_details(cases: QuerySet[Case], *, chunk_size: int = 2000) -> Iterator[Case]:
    """Stream a large selection with its children, `chunk_size` cases (and 4 queries) at a time."""
    return cases.prefetch_related("features", "genomic_features", "disorders").iterator(
        chunk_size=chunk_size
    )


def case_record_of(case: Case, *, ontology: Ontology | None = None) -> CaseRecord:
    """The case as a `CaseRecord`, with current HPO ids and canonical gene symbols.

    With `ontology`, feature labels are filled in (exports are easier to read with them).
    """
    return _case_record(
        case,
        features=case.features.all(),
        genomic_features=case.genomic_features.all(),
        disorders=case.disorders.all(),
        ontology=ontology,
    )


# The case's own fields a record reads (`_case_record`), with its institution's contact, which
# stands in for a case without one in an MME patient: a reader of many cases' records may load
# only these (`Case.objects.select_related("institution").only(*RECORD_FIELDS)`).
RECORD_FIELDS = (
    "public_id",
    "label",
    "contact_name",
    "contact_institution",
    "contact_href",
    "contact_email",
    "sex",
    "age_of_onset",
    "onset_age",
    "inheritance_mode",
    "external_references",
    "extra",
    "is_test",
    "institution__name",
    "institution__contact_name",
    "institution__contact_url",
    "institution__contact_email",
)
# The children's columns a record reads; `case_records_of` fetches exactly these.
_FEATURE_COLUMNS = ("case_id", "hpo_id", "observed", "onset_hpo_id", "onset_age")
_GENOMIC_FEATURE_COLUMNS = (
    "case_id",
    "gene_id",
    "gene_symbol",
    "submitted_gene_id",
    "ensembl_gene_id",
    "assembly",
    "reference_name",
    "start",
    "end",
    "reference_bases",
    "alternate_bases",
    "zygosity",
    "variant_type_id",
    "variant_type_label",
    "hgvs_expressions",
    "acmg_classification",
    "allelic_state_id",
    "variant_label",
)
_DISORDER_COLUMNS = ("case_id", "disorder_id", "label")


def case_records_of(
    cases: Sequence[Case], *, ontology: Ontology | None = None
) -> dict[int, CaseRecord]:
    """`case_record_of` for many cases at once, by case id: three statements per 500 cases.

    The children are read as plain rows (`_child_rows`), not model instances: for the 20-50
    cases of an MME answer, instances and their related managers cost about three times the
    statements themselves (docs/benchmarks.md, issue 16). The records are equal to
    `case_record_of`'s.
    """
    ids = [case.pk for case in cases]
    features: dict[int, list[Any]] = {pk: [] for pk in ids}
    genomic_features: dict[int, list[Any]] = {pk: [] for pk in ids}
    disorders: dict[int, list[Any]] = {pk: [] for pk in ids}
    for model, columns, rows_of in (
        (PhenotypeFeature, _FEATURE_COLUMNS, features),
        (GenomicFeature, _GENOMIC_FEATURE_COLUMNS, genomic_features),
        (Disorder, _DISORDER_COLUMNS, disorders),
    ):
        for row in _child_rows(model, columns, ids):
            rows_of[row.case_id].append(row)
    return {
        case.pk: _case_record(
            case,
            features=features[case.pk],
            genomic_features=genomic_features[case.pk],
            disorders=disorders[case.pk],
            ontology=ontology,
        )
        for case in cases
    }


def genomic_feature_rows_of(case_ids: Sequence[int]) -> dict[int, list[Any]]:
    """The genomic features of these cases as rows (named tuples of `GenomicFeature`'s columns
    a record reads: gene, variant, zygosity...), by case id, each case's in its own order;
    a case without any gets an empty list. One statement per 500 cases."""
    rows_of: dict[int, list[Any]] = {pk: [] for pk in case_ids}
    for row in _child_rows(GenomicFeature, _GENOMIC_FEATURE_COLUMNS, list(case_ids)):
        rows_of[row.case_id].append(row)
    return rows_of


_IDS_PER_STATEMENT = 500


@dataclass(frozen=True, slots=True)
class _ChildQuery:
    """How `_child_rows` reads some columns of a child table: built once per process."""

    row_type: Any  # a namedtuple of the columns
    sql: str  # "{}" stands for the ids' placeholders
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column position, conversion)


_CHILD_QUERIES: dict[tuple[str, type[Model], tuple[str, ...]], _ChildQuery] = {}


def _child_rows(model: type[Model], columns: tuple[str, ...], case_ids: list[int]) -> list[Any]:
    """`columns` of the rows of `model` (a child table of Case) that belong to `case_ids`, as
    named tuples, in the model's own order (by id, as `case.features.all()` gives them).

    What `values_list(*columns, named=True)` returns, through the cursor: for the 20-50 cases
    of an MME answer, building the ORM's query cost ~2 ms a request, more than the three
    statements themselves (docs/benchmarks.md, issue 16).
    """
    if not case_ids:
        return []
    key = (connection.vendor, model, columns)
    query = _CHILD_QUERIES.get(key) or _CHILD_QUERIES.setdefault(key, _child_query(model, columns))
    rows: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        # SQLite takes a limited number of parameters per statement. A case's rows all come in
        # the same chunk, so each case keeps its rows' order.
        for start in range(0, len(case_ids), _IDS_PER_STATEMENT):
            chunk = case_ids[start : start + _IDS_PER_STATEMENT]
            cursor.execute(query.sql.format(", ".join(["%s"] * len(chunk))), chunk)
            rows.extend(cursor.fetchall())
    if not query.converters:
        return [query.row_type._make(row) for row in rows]
    converted = []
    for row in rows:
        values = list(row)
        for position, convert in query.converters:
            if values[position] is not None:
                values[position] = convert(values[position])
        converted.append(query.row_type._make(values))
    return converted


def _child_query(model: type[Model], columns: tuple[str, ...]) -> _ChildQuery:
    """The statement and conversions for `_child_rows`. The table and column names come from
    the model; the values get the conversions the ORM would apply (booleans from SQLite's
    integers, JSON from its text)."""
    fields = [concrete_field(model, column) for column in columns]
    # Identifiers from the model's metadata, quoted; the ids are parameters ({} is filled with
    # their placeholders).
    sql = (
        f"SELECT {', '.join(quoted_column(model, column) for column in columns)} "  # noqa: S608
        f"FROM {quoted_table(model)} "
        f"WHERE {quoted_column(model, 'case')} IN ({{}}) "
        f"ORDER BY {quoted_column(model, 'id')}"
    )
    converters = tuple(
        (position, convert)
        for position, field in enumerate(fields)
        if (convert := _db_converter(field)) is not None
    )
    return _ChildQuery(namedtuple("Row", columns), sql, converters)


def _db_converter(field: Field[Any, Any]) -> Callable[[Any], Any] | None:
    """How a value of `field` read by a cursor becomes what the ORM would give; None: as is."""
    if isinstance(field, BooleanField):
        return bool
    if isinstance(field, JSONField):
        return lambda value: value if not isinstance(value, str) else json.loads(value)
    return None


def _case_record(
    case: Case,
    *,
    features: Iterable[_FeatureRow],
    genomic_features: Iterable[_GenomicFeatureRow],
    disorders: Iterable[_DisorderRow],
    ontology: Ontology | None,
) -> CaseRecord:
    """The record of `case` with these children (model instances or rows of the same columns)."""

    def term_label(hpo_id: str) -> str:
        if ontology is None:
            return ""
        try:
            return ontology.label(hpo_id)
        except UnknownTermError:
            return ""

    return CaseRecord(
        label=case.label,
        features=tuple(
            FeatureRecord(
                hpo_id=feature.hpo_id,
                observed=feature.observed,
                onset_hpo_id=feature.onset_hpo_id,
                label=term_label(feature.hpo_id),
                onset_age=feature.onset_age,
            )
            for feature in features
        ),
        genomic_features=tuple(
            GenomicFeatureRecord(
                gene_id=_exported_gene_id(feature),
                variant=VariantRecord(
                    assembly=feature.assembly,
                    reference_name=feature.reference_name,
                    start=feature.start,
                    end=feature.end,
                    reference_bases=feature.reference_bases,
                    alternate_bases=feature.alternate_bases,
                )
                if feature.start is not None
                else None,
                zygosity=feature.zygosity,
                variant_type_id=feature.variant_type_id,
                variant_type_label=feature.variant_type_label,
                gene_symbol=feature.gene_symbol,
                hgvs_expressions=tuple(
                    (expression["syntax"], expression["value"])
                    for expression in feature.hgvs_expressions
                ),
                acmg_classification=feature.acmg_classification,
                allelic_state_id=feature.allelic_state_id,
                variant_label=feature.variant_label,
                canonical_gene_id=feature.gene_id,
                ensembl_gene_id=feature.ensembl_gene_id,
            )
            for feature in genomic_features
        ),
        disorders=tuple(
            DisorderRecord(disorder_id=disorder.disorder_id, label=disorder.label)
            for disorder in disorders
        ),
        contact=ContactRecord(
            name=case.contact_name,
            institution=case.contact_institution,
            href=case.contact_href,
            email=case.contact_email,
        ),
        sex=case.sex,
        age_of_onset=case.age_of_onset,
        onset_age=case.onset_age,
        inheritance_mode=case.inheritance_mode,
        external_references=tuple(case.external_references),
        extra=dict(case.extra),
        is_test=case.is_test,
    )


def _exported_gene_id(feature: _GenomicFeatureRow) -> str:
    """The gene id as submitted when it was a structured id (HGNC, NCBIGene, Ensembl); else the
    approved symbol (a submitted alias or previous symbol is not worth giving back)."""
    submitted = feature.submitted_gene_id.strip()
    if submitted and GeneCatalogue.identifier_kind(submitted) != "symbol":
        return submitted
    return feature.gene_symbol


def case_document(case: Case, *, fmt: str, ontology: Ontology) -> dict[str, Any]:
    """The case as a GA4GH phenopacket or an MME patient (`fmt`, one of DOCUMENT_FORMATS).

    The subject (the MME patient) is identified by the case's public id. Raises ValueError when
    the case cannot be written so (MME requires a contact, which a case of an institution
    without contact details lacks) or `fmt` is no such format. To export many cases, prefetch
    their features, genomic features, disorders and institution.
    """
    if fmt not in DOCUMENT_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(DOCUMENT_FORMATS)}")
    record = case_record_of(case, ontology=ontology)
    if fmt == "mme":
        return mme_patient_from_case_record(record, patient_id=case.public_id)
    return phenopacket_from_case_record(
        record,
        subject_id=case.public_id,
        created_by=case.institution.name,
        hpo_release=case.hpo_release,
        term_label=lambda hpo_id: _label_or_blank(ontology, hpo_id),
    )


def _label_or_blank(ontology: Ontology, hpo_id: str) -> str:
    try:
        return ontology.label(hpo_id)
    except (UnknownTermError, KeyError, LookupError):
        return ""
