"""Indexes for the case list at 100k+ cases: one institution's cases, and the search box.

The list pages (web and API) count and page one institution's cases, newest first; the filter
"with new matches" joins them to a few thousand match rows. With no index on the institution,
PostgreSQL read the whole case table for each (40-70 ms at 100k cases, and far more for an
institution that holds few of a large node's cases). (institution, status, id) answers the
count and the join from the index alone, and the page in key order.

The search box (web case list, `?q=` of the API case list) asks for `label__icontains`,
`public_id__icontains` and `gene_symbol__iexact`, which Django writes as
`UPPER(col::text) LIKE UPPER('%text%')` and `UPPER(col::text) = UPPER('text')`. No plain
B-tree index serves those, so every search read every case and every gene row: 100-300 ms per
query at 100k cases on 2 cores, twice per page (count, then the page). Trigram (pg_trgm) GIN
indexes on the same expressions answer the substring searches, and an expression B-tree index
the case-insensitive symbol.

These are created with SQL rather than declared in `Meta.indexes`: SQLite (development, tests)
has neither pg_trgm nor GIN, so the search indexes are made on PostgreSQL only; the
institution index is plain SQL that both accept. pg_trgm is a trusted extension (PostgreSQL
13+): the database owner may create it without being a superuser.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

INSTITUTION_INDEX = (
    "case_institution_status_id",
    "CREATE INDEX IF NOT EXISTS case_institution_status_id "
    "ON cases_case (institution_id, status, id)",
)
POSTGRESQL_INDEXES = [
    (
        "case_label_upper_trgm",
        "CREATE INDEX IF NOT EXISTS case_label_upper_trgm "
        "ON cases_case USING gin ((UPPER(label::text)) gin_trgm_ops)",
    ),
    (
        "case_public_id_upper_trgm",
        "CREATE INDEX IF NOT EXISTS case_public_id_upper_trgm "
        "ON cases_case USING gin ((UPPER(public_id::text)) gin_trgm_ops)",
    ),
    (
        "genomicfeature_symbol_upper",
        "CREATE INDEX IF NOT EXISTS genomicfeature_symbol_upper "
        "ON cases_genomicfeature (UPPER(gene_symbol::text))",
    ),
]


def _indexes_for(schema_editor: Any) -> list[tuple[str, str]]:
    if schema_editor.connection.vendor == "postgresql":
        return [INSTITUTION_INDEX, *POSTGRESQL_INDEXES]
    return [INSTITUTION_INDEX]


def create_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for _name, statement in _indexes_for(schema_editor):
        schema_editor.execute(statement)


def drop_indexes(apps: Any, schema_editor: Any) -> None:
    # The extension stays: something else may use it by now, and unused it costs nothing.
    for name, _statement in _indexes_for(schema_editor):
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_initial")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
