"""Admin for institutions, memberships and cases.

Admin forms apply the same checks as the case services (identifying labels refused, HPO ids
resolved to current terms, gene ids normalised to the canonical gene), so the admin cannot store
what the services would refuse.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from matchmaker.cases.models import (
    Case,
    Disorder,
    GenomicFeature,
    Institution,
    Membership,
    PhenotypeFeature,
)
from matchmaker.cases.services.storage import new_public_id
from matchmaker.cases.services.validation import (
    DISORDER_ID_PATTERN,
    PHENOTYPIC_ABNORMALITY,
)
from matchmaker.lib.pseudonymisation import identifier_problem
from matchmaker.matching import services as matching
from matchmaker.matching.ontology import get_gene_catalogue, get_hpo
from ontologies.genes import GeneLookupError
from ontologies.hpo import ObsoleteTermError, UnknownTermError


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
    list_display = ["name", "contact_email", "case_count", "created_at"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Institution]:
        return super().get_queryset(request).annotate(case_total=Count("cases"))

    @admin.display(description="cases", ordering="case_total")
    def case_count(self, institution: Institution) -> int:
        return institution.case_total  # type: ignore[attr-defined]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "institution", "role"]
    list_filter = ["institution", "role"]
    search_fields = ["user__username", "user__email", "institution__name"]
    autocomplete_fields = ["user", "institution"]


class PhenotypeFeatureForm(forms.ModelForm):
    class Meta:
        model = PhenotypeFeature
        fields = ["hpo_id", "observed", "onset_hpo_id"]

    def clean_hpo_id(self) -> str:
        submitted = self.cleaned_data["hpo_id"].strip()
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


class PhenotypeFeatureInline(admin.TabularInline):
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


class GenomicFeatureForm(forms.ModelForm):
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
        submitted = self.cleaned_data["submitted_gene_id"].strip()
        try:
            gene = get_gene_catalogue().resolve(submitted)
        except GeneLookupError as error:
            raise forms.ValidationError(str(error)) from None
        self.instance.gene_id = gene.gene_id
        self.instance.gene_symbol = gene.symbol
        self.instance.ensembl_gene_id = gene.ensembl_ids[0] if gene.ensembl_ids else ""
        return submitted


class GenomicFeatureInline(admin.StackedInline):
    model = GenomicFeature
    form = GenomicFeatureForm
    extra = 0
    readonly_fields = ["gene_id", "gene_symbol", "ensembl_gene_id"]


class DisorderForm(forms.ModelForm):
    class Meta:
        model = Disorder
        fields = ["disorder_id", "label"]

    def clean_disorder_id(self) -> str:
        value = self.cleaned_data["disorder_id"].strip()
        if not DISORDER_ID_PATTERN.match(value):
            raise forms.ValidationError("must be OMIM:######, ORPHA:##### or MONDO:#######")
        return value


class DisorderInline(admin.TabularInline):
    model = Disorder
    form = DisorderForm
    extra = 0


class CaseAdminForm(forms.ModelForm):
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
            "consent_recorded_by",
            "consent_recorded_at",
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
        label = self.cleaned_data["label"].strip()
        if problem := identifier_problem(label):
            raise forms.ValidationError(f"The label {problem}; use a pseudonymous label.")
        return label


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
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
    readonly_fields = ["public_id", "hpo_release", "created_at", "updated_at", "withdrawn_at"]
    autocomplete_fields = ["institution", "owner", "consent_recorded_by"]
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

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # The admin writes rows itself, so it tells matching as the case services do.
        matching.note_case_changed(form.instance.pk, rematch=True)

    def delete_model(self, request: HttpRequest, obj: Case) -> None:
        matching.note_case_changed(obj.pk, rematch=False)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Case]) -> None:
        for case_id in queryset.values_list("id", flat=True):
            matching.note_case_changed(case_id, rematch=False)
        super().delete_queryset(request, queryset)

    def save_model(self, request: HttpRequest, obj: Case, form: Any, change: bool) -> None:
        if not obj.public_id:
            obj.public_id = new_public_id()
        if not obj.hpo_release:
            obj.hpo_release = get_hpo().release
        # Keep withdrawn_at consistent with the status the admin chose (a DB constraint checks it).
        if obj.status == Case.Status.WITHDRAWN and obj.withdrawn_at is None:
            obj.withdrawn_at = timezone.now()
        elif obj.status == Case.Status.ACTIVE:
            obj.withdrawn_at = None
        super().save_model(request, obj, form, change)
