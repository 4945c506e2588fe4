"""Reads of cases, prefetched so callers never run one query per case."""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from matchmaker.cases.models import Case, Institution, Membership
from matchmaker.cases.records import (
    CaseRecord,
    ContactRecord,
    DisorderRecord,
    FeatureRecord,
    GenomicFeatureRecord,
    VariantRecord,
)
from ontologies.hpo import Ontology, UnknownTermError


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


def cases_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Case]:
    """The cases a clinician may read and edit: those of their own institution, nothing else.

    Staff without a membership see none here; they work in the admin.
    """
    institution = institution_of(user)
    if institution is None:
        return Case.objects.none()
    return Case.objects.filter(institution=institution)


def iterate_cases_with_details(cases: QuerySet[Case], *, chunk_size: int = 2000) -> Iterator[Case]:
    """Stream a large selection with its children, `chunk_size` cases (and 4 queries) at a time."""
    return cases.prefetch_related("features", "genomic_features", "disorders").iterator(
        chunk_size=chunk_size
    )


def case_record_of(case: Case, *, ontology: Ontology | None = None) -> CaseRecord:
    """The case as a `CaseRecord`, with current HPO ids and canonical gene symbols.

    With `ontology`, feature labels are filled in (exports are easier to read with them).
    """

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
            )
            for feature in case.features.all()
        ),
        genomic_features=tuple(
            GenomicFeatureRecord(
                gene_id=feature.gene_symbol,
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
            )
            for feature in case.genomic_features.all()
        ),
        disorders=tuple(
            DisorderRecord(disorder_id=disorder.disorder_id, label=disorder.label)
            for disorder in case.disorders.all()
        ),
        contact=ContactRecord(
            name=case.contact_name,
            institution=case.contact_institution,
            href=case.contact_href,
            email=case.contact_email,
        ),
        sex=case.sex,
        age_of_onset=case.age_of_onset,
        inheritance_mode=case.inheritance_mode,
        external_references=tuple(case.external_references),
        extra=dict(case.extra),
        is_test=case.is_test,
    )
