"""Reference data releases the node has loaded (HPO, gene catalogue)."""

from __future__ import annotations

from django.db import models


class ReferenceRelease(models.Model):
    """One load of a reference data set, kept as a history so operators can see what changed."""

    class Kind(models.TextChoices):
        HPO = "hpo", "Human Phenotype Ontology"
        GENES = "genes", "Gene catalogue"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    version = models.CharField(max_length=64)
    # Where the files were read from; processes load the newest release of each kind from here.
    source_paths = models.JSONField(default=dict)
    # Counts worth showing an operator: terms, obsolete ids mapped, diseases, genes, id kinds, ...
    summary = models.JSONField(default=dict)
    loaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-loaded_at", "-id"]
        get_latest_by = "loaded_at"
        db_table = "matching_referencerelease"  # created by the matching app, where it began

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.version}"
