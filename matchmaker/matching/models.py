"""What the matching engine keeps in the database: the log that keeps every process's index current."""

from __future__ import annotations

from django.db import models


class IndexChange(models.Model):
    """A log of which cases changed, so every process can bring its in-memory index up to date.

    Each process remembers the last change it applied and, before searching, applies the newer
    ones by reloading those cases (one indexed query when nothing changed). A bulk import writes
    one row per batch: its cases have consecutive ids, so a range covers them.
    """

    first_case_id = models.BigIntegerField()
    last_case_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"cases {self.first_case_id}..{self.last_case_id}"
