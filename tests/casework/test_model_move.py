"""Match, MatchEvent and ReferenceRelease moved app (to casework and reference) without touching
their tables: a node upgraded with matches, triage history and releases keeps all of them, and
the admin's content types (permissions, history) follow the models."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from matchmaker.casework.models import Match, MatchEvent
from matchmaker.reference.models import ReferenceRelease

BEFORE_THE_MOVE = [
    ("matching", "0007_match_event_contact"),
    ("casework", None),
    ("reference", None),
]


def _migrate(targets: list[tuple[str, str | None]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)  # a fresh loader: the graph as now applied


@pytest.mark.django_db(transaction=True)
def test_an_upgraded_node_keeps_its_matches_history_and_releases() -> None:
    executor = _migrate(BEFORE_THE_MOVE)
    old = executor.loader.project_state(
        [BEFORE_THE_MOVE[0], ("cases", "0003_submitted_variant_details")]
    ).apps
    institution = old.get_model("cases", "Institution").objects.create(name="Old node")
    case_model = old.get_model("cases", "Case")
    first, second = (
        case_model.objects.create(institution=institution, public_id=f"MM-OLD{n}", label=f"c{n}")
        for n in (1, 2)
    )
    match = old.get_model("matching", "Match").objects.create(
        case=first,
        matched_case=second,
        direction="local",
        score=0.5,
        phenotype_score=0.5,
        genotype_score=0.0,
        last_seen=timezone.now(),
    )
    old.get_model("matching", "MatchEvent").objects.create(
        match=match, from_status="new", to_status="reviewed", notes="seen"
    )
    old.get_model("matching", "ReferenceRelease").objects.create(kind="hpo", version="2025-01-16")
    # What the node's database held: the content types under the old app.
    ContentType.objects.filter(app_label__in=["casework", "reference"]).delete()
    match_type = ContentType.objects.create(app_label="matching", model="match")
    release_type = ContentType.objects.create(app_label="matching", model="referencerelease")

    leaves = executor.loader.graph.leaf_nodes()
    _migrate(leaves)

    moved = Match.objects.get(pk=match.pk)
    assert (moved.case_id, moved.matched_case_id, moved.score) == (first.pk, second.pk, 0.5)
    assert list(MatchEvent.objects.filter(match=moved).values_list("notes", flat=True)) == ["seen"]
    assert ReferenceRelease.objects.get().version == "2025-01-16"
    assert ContentType.objects.get(pk=match_type.pk).app_label == "casework"
    assert ContentType.objects.get(pk=release_type.pk).app_label == "reference"
    ContentType.objects.clear_cache()  # the process cached the content type it saw earlier
    assert ContentType.objects.get_for_model(Match).pk == match_type.pk
