from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest

from matchmaker.reference.models import ReferenceRelease
from matchmaker.reference.releases import release_age


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
