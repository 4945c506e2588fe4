"""Admin for institutions, memberships and cases.

Admin forms apply the same checks as the case services (identifying labels refused, HPO ids
resolved to current terms, gene ids normalised to the canonical gene), so the admin cannot store
what the services would refuse. What follows a save goes through the case services, as from the
pages and the API: the saved case is passed to `update_case` (validation, index, matching, peer
search), a change of status to `withdraw_case`/`reactivate_case`, of consent to `record_consent`,
and every delete (one case, or the bulk action) to `delete_case` (GDPR erasure of the audit log).
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django_stubs_ext import WithAnnotations

from matchmaker.cases.models import (
    Case,
    Disorder,
    GenomicFeature,
    Institution,
    Membership,
    PhenotypeFeature,
)
from matchmaker.cases.selectors import case_record_of
from matchmaker.cases.services.validation import (
    DISORDER_ID_PATTERN,
    PHENOTYPIC_ABNORMALITY,
)
from matchmaker.casework import services
from matchmaker.casework.models import Match
from matchmaker.casework.services.rescoring import stale_matches
from matchmaker.casework.services.storage import new_public_id
from matchmaker.lib.errors import DomainError
from matchmaker.lib.pseudonymisation import identifier_problem
from matchmaker.lib.users import signed_in_user
from matchmaker.reference.ontology import get_gene_catalogue, get_hpo
from ontologies.genes import GeneLookupError
from ontologies.hpo import ObsoleteTermError, UnknownTermError


class _CaseTotal(TypedDict):
    case_total: int


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin[Institution]):
    list_display = ["name", "contact_email", "case_count", "created_at"]
    search_fields = ["name"]

    def get_queryset(
        self, request: HttpRequest
    ) -> QuerySet[WithAnnotations[Institution, _CaseTotal]]:
        return super().get_queryset(request).annotate(case_total=Count("cases"))

    @admin.display(description="cases", ordering="case_total")
    def case_count(self, institution: WithAnnotations[Institution, _CaseTotal]) -> int:
        return institution.case_total


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ["user", "institution", "role"]
    list_filter = ["institution", "role"]
    search_fields = ["user__username", "user__email", "institution__name"]
    autocomplete_fields = ["user", "institution"]


class PhenotypeFeatureForm(forms.ModelForm[PhenotypeFeature]):
    class Meta:
        model = PhenotypeFeature
        fields = ["hpo_id", "observed", "onset_hpo_id"]

    def clean_hpo_id(self) -> str:
        submitted: str = self.cleaned_data["hpo_id"].strip()
        ontology = get_hpo()
        try:
            resolution = ontology.resolve(submitted)
        except (UnknownTermError, ObsoleteTermError) as error:
            raise forms.ValidationError(str(error)) from None
        if not ontology.is_a(resolution.hpo_id, PHENOTYPIC_ABNORMALITY):
            raise forms.ValidationError(f"{submitted} is not a phenotypic abnormality (HP:0000118)")
        if resolution.remapped:
            self.instance.submitted_hpo_id = submitted
        return resolution.hpo_id


class PhenotypeFeatureInline(admin.TabularInline[PhenotypeFeature, Case]):
    model = PhenotypeFeature
    form = PhenotypeFeatureForm
    extra = 0
    readonly_fields = ["term_label", "submitted_hpo_id"]
    fields = ["hpo_id", "term_label", "observed", "onset_hpo_id", "submitted_hpo_id"]

    @admin.display(description="term")
    def term_label(self, feature: PhenotypeFeature) -> str:
        if not feature.hpo_id:
            return ""
        try:
            return get_hpo().label(feature.hpo_id)
        except UnknownTermError:
            return "(not in the loaded HPO release)"


class GenomicFeatureForm(forms.ModelForm[GenomicFeature]):
    class Meta:
        model = GenomicFeature
        fields = [
            "submitted_gene_id",
            "assembly",
            "reference_name",
            "start",
            "end",
            "reference_bases",
            "alternate_bases",
            "zygosity",
            "variant_type_id",
            "variant_type_label",
        ]
        labels = {"submitted_gene_id": "Gene (symbol, HGNC, Entrez or Ensembl id)"}

    def clean_submitted_gene_id(self) -> str:
        submitted: str = self.cleaned_data["submitted_gene_id"].strip()
        try:
            gene = get_gene_catalogue().resolve(submitted)
        except GeneLookupError as error:
            raise forms.ValidationError(str(error)) from None
        self.instance.gene_id = gene.gene_id
        self.instance.gene_symbol = gene.symbol
        self.instance.ensembl_gene_id = gene.ensembl_ids[0] if gene.ensembl_ids else ""
        return submitted


class GenomicFeatureInline(admin.StackedInline[GenomicFeature, Case]):
    model = GenomicFeature
    form = GenomicFeatureForm
    extra = 0
    readonly_fields = ["gene_id", "gene_symbol", "ensembl_gene_id"]


class DisorderForm(forms.ModelForm[Disorder]):
    class Meta:
        model = Disorder
        fields = ["disorder_id", "label"]

    def clean_disorder_id(self) -> str:
        value: str = self.cleaned_data["disorder_id"].strip()
        if not DISORDER_ID_PATTERN.match(value):
            raise forms.ValidationError("must be OMIM:######, ORPHA:##### or MONDO:#######")
        return value


class DisorderInline(admin.TabularInline[Disorder, Case]):
    model = Disorder
    form = DisorderForm
    extra = 0


class CaseAdminForm(forms.ModelForm[Case]):
    class Meta:
        model = Case
        # The admin's fieldsets decide what is shown; this lists what the form may write.
        fields = [
            "label",
            "institution",
            "owner",
            "status",
            "sex",
            "age_of_onset",
            "inheritance_mode",
            "external_matching_consent",
            "consent_note",
            "contact_name",
            "contact_institution",
            "contact_href",
            "contact_email",
            "source",
            "is_test",
            "external_references",
            "extra",
        ]

    def clean_label(self) -> str:
        label: str = self.cleaned_data["label"].strip()
        if problem := identifier_problem(label):
            raise forms.ValidationError(f"The label {problem}; use a pseudonymous label.")
        return label


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin[Case]):
    form = CaseAdminForm
    list_display = [
        "public_id",
        "label",
        "institution",
        "status",
        "external_matching_consent",
        "source",
        "created_at",
    ]
    list_filter = ["institution", "external_matching_consent", "status", "source", "is_test"]
    # Searching is done by get_search_results below; search_fields only turns the box on.
    search_fields = ["label"]
    search_help_text = "Public id, label, gene symbol or id (NGLY1, NCBIGene:55768), or HPO id."
    # Who recorded consent, and when, is what `record_consent` writes: not for editing by hand.
    readonly_fields = [
        "public_id",
        "hpo_release",
        "created_at",
        "updated_at",
        "withdrawn_at",
        "consent_recorded_by",
        "consent_recorded_at",
    ]
    autocomplete_fields = ["institution", "owner"]
    inlines = [PhenotypeFeatureInline, GenomicFeatureInline, DisorderInline]
    list_select_related = ["institution"]
    show_full_result_count = False  # COUNT(*) over a million rows on every page is slow
    fieldsets = [
        (
            None,
            {"fields": ["public_id", "label", "institution", "owner", "status", "withdrawn_at"]},
        ),
        ("Clinical", {"fields": ["sex", "age_of_onset", "inheritance_mode", "hpo_release"]}),
        (
            "Consent to external matching",
            {
                "fields": [
                    "external_matching_consent",
                    "consent_recorded_by",
                    "consent_recorded_at",
                    "consent_note",
                ]
            },
        ),
        (
            "Contact",
            {"fields": ["contact_name", "contact_institution", "contact_href", "contact_email"]},
        ),
        (
            "Provenance",
            {
                "classes": ["collapse"],
                "fields": [
                    "source",
                    "is_test",
                    "external_references",
                    "extra",
                    "created_at",
                    "updated_at",
                ],
            },
        ),
    ]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Case], search_term: str
    ) -> tuple[QuerySet[Case], bool]:
        """Search by what the term looks like, each kind through its own index.

        Django's default ORs every search field across joins, which scans millions of feature
        rows (14 s at 1M cases); here an HPO id or a gene is looked up in its indexed column
        through a subquery, so results need no DISTINCT.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        if re.fullmatch(r"HP:\d{7}", term, flags=re.IGNORECASE):
            matching = PhenotypeFeature.objects.filter(hpo_id=term.upper())
            return queryset.filter(id__in=matching.values("case_id")), False
        if (
            re.fullmatch(r"[A-Za-z]+-[0-9A-Za-z]{12}", term)
            and queryset.filter(public_id=term.upper()).exists()
        ):
            return queryset.filter(public_id=term.upper()), False
        genes = GenomicFeature.objects.filter(
            Q(gene_symbol=term.upper()) | Q(gene_id=term) | Q(submitted_gene_id=term)
        )
        return (
            queryset.filter(Q(label__icontains=term) | Q(id__in=genes.values("case_id"))),
            False,
        )

    def save_model(self, request: HttpRequest, obj: Case, form: Any, change: bool) -> None:
        # Status and consent are changed by their services once the rows are saved (see
        # save_related): here the case keeps what is stored (a new case: active, no consent).
        wanted = (obj.status, obj.external_matching_consent, obj.consent_note)
        request._case_admin_wanted = wanted  # type: ignore[attr-defined]
        stored = Case.objects.filter(pk=obj.pk).first() if change else None
        if stored is not None:
            obj.status, obj.withdrawn_at = stored.status, stored.withdrawn_at
            obj.external_matching_consent = stored.external_matching_consent
            obj.consent_note = stored.consent_note
        else:
            obj.status, obj.withdrawn_at = Case.Status.ACTIVE, None
            obj.external_matching_consent, obj.consent_note = False, ""
            obj.public_id = obj.public_id or new_public_id()
        if not obj.hpo_release:
            obj.hpo_release = get_hpo().release
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        case = form.instance
        status, consented, consent_note = request._case_admin_wanted  # type: ignore[attr-defined]
        try:
            services.update_case(case, case_record_of(case))
            if (consented, consent_note) != (case.external_matching_consent, case.consent_note):
                services.record_consent(
                    case, consented=consented, by=signed_in_user(request), note=consent_note
                )
            if status == Case.Status.WITHDRAWN:
                services.withdraw_case(case)
            else:
                services.reactivate_case(case)
        except DomainError as error:
            # The form's checks mirror the services', so this is rare; nothing is kept of it.
            transaction.set_rollback(True)
            request._case_admin_refused = True  # type: ignore[attr-defined]
            self.message_user(request, f"Not saved: {error.message}", level=messages.ERROR)

    def response_add(self, request: HttpRequest, obj: Case, *args: Any) -> HttpResponse:
        if getattr(request, "_case_admin_refused", False):
            return HttpResponseRedirect(request.path)
        return super().response_add(request, obj, *args)

    def response_change(self, request: HttpRequest, obj: Case) -> HttpResponse:
        if getattr(request, "_case_admin_refused", False):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def delete_model(self, request: HttpRequest, obj: Case) -> None:
        services.delete_case(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Case]) -> None:
        # One by one through the service: each case's audit-log traces are erased with it.
        for case in queryset:
            services.delete_case(case)


class ScoredWithFilter(admin.SimpleListFilter):
    """Matches whose score came from an earlier scoring method or HPO release (to be redone)."""

    title = "scoring basis"
    parameter_name = "scored_with"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        return [
            ("earlier", "Earlier method or HPO release: to be scored again"),
            ("current", "This node's method and HPO release"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Match]) -> QuerySet[Match]:
        if self.value() == "earlier":
            return queryset.filter(pk__in=stale_matches().values("pk"))
        if self.value() == "current":
            return queryset.exclude(pk__in=stale_matches().values("pk"))
        return queryset


@admin.register(Match)
class MatchAdmin(admin.ModelAdmin[Match]):
    """Matches are found by the matching service; admins may only triage them."""

    list_display = [
        "case",
        "direction",
        "other_side",
        "scores",
        "status",
        "last_seen",
        "removed_at",
    ]
    list_filter = ["direction", "status", ScoredWithFilter, "case__institution"]
    search_fields = ["=case__public_id", "=matched_case__public_id", "=remote_patient_id"]
    list_select_related = ["case", "matched_case"]
    readonly_fields = [
        "case",
        "direction",
        "matched_case",
        "remote_patient_id",
        "remote_patient",
        "score",
        "phenotype_score",
        "genotype_score",
        "scored_with",
        "explanation",
        "first_seen",
        "last_seen",
        "removed_at",
    ]
    fields = [*readonly_fields, "status", "notes"]
    show_full_result_count = False

    @admin.display(description="score (phenotype, genotype)", ordering="-score")
    def scores(self, match: Match) -> str:
        return f"{match.score:.2f} ({match.phenotype_score:.2f}, {match.genotype_score:.2f})"

    @admin.display(description="matched with")
    def other_side(self, match: Match) -> str:
        return str(match.matched_case) if match.matched_case_id else match.remote_patient_id

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
