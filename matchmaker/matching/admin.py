from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest

from matchmaker.matching.models import Match, ReferenceRelease
from matchmaker.matching.releases import release_age


@admin.register(ReferenceRelease)
class ReferenceReleaseAdmin(admin.ModelAdmin[ReferenceRelease]):
    """Read-only: releases are recorded by `load_hpo` and `load_genes`, never edited by hand."""

    list_display = ["kind", "version", "released", "loaded_at"]
    list_filter = ["kind"]
    readonly_fields = ["kind", "version", "released", "source_paths", "summary", "loaded_at"]

    @admin.display(description="released (age)")
    def released(self, release: ReferenceRelease) -> str:
        """The release date its sources carry and how old it is, flagged past the age limit."""
        age = release_age(release)
        if age.released is None:
            return "unknown"
        text = f"{age.released} ({age.age_days} days)"
        return (
            f"{text}: older than {settings.REFERENCE_RELEASE_MAX_AGE_DAYS} days"
            if age.stale
            else text
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False


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
    list_filter = ["direction", "status", "case__institution"]
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
