from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from matchmaker.matching.models import ReferenceRelease


@admin.register(ReferenceRelease)
class ReferenceReleaseAdmin(admin.ModelAdmin):
    """Read-only: releases are recorded by `load_hpo` and `load_genes`, never edited by hand."""

    list_display = ["kind", "version", "loaded_at"]
    list_filter = ["kind"]
    readonly_fields = ["kind", "version", "source_paths", "summary", "loaded_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False
