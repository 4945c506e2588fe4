"""An index in the order match lists are shown: best score first, then id.

The institution's match list (`GET /api/v1/matches/`) pages `Match` ordered by
`-score, id` across all the institution's cases. With no index in that order PostgreSQL joined
every current match to its case and sorted them all, whole rows with their explanation JSON,
to keep 50: 170 ms at 5,800 matches (100k cases, 2 cores; the sort spilled to disk), growing
with the matches. Walking this index, it reads the first 50 and stops (under 1 ms).

Plain SQL that SQLite accepts too. To declare it in `Match.Meta.indexes` later, use the same
name (`models.Index(F("score").desc(), "id", name="match_score_order")`) and a state-only
migration (`SeparateDatabaseAndState`), since the index already exists.
"""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("matching", "0005_match_events")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS match_score_order ON matching_match (score DESC, id)",
            reverse_sql="DROP INDEX IF EXISTS match_score_order",
        )
    ]
