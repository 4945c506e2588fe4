"""Upgrading to the release that records scoring bases: every match recorded before is to be
scored again, and every case that had been matched is to be matched again, since neither
recorded what it was scored with."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from matchmaker.cases.models import Case
from matchmaker.casework.services.rescoring import cases_to_rematch, stale_matches

BEFORE = [("cases", "0003_submitted_variant_details"), ("casework", "0001_initial")]


@pytest.mark.django_db(transaction=True)
def test_cases_matched_before_the_upgrade_are_matched_again_and_never_matched_ones_are_not() -> (
    None
):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
    institution = old.get_model("cases", "Institution").objects.create(name="Old node")
    case_model = old.get_model("cases", "Case")
    matched, other, never = (
        case_model.objects.create(institution=institution, public_id=f"MM-OLD{n}", label=f"c{n}")
        for n in (1, 2, 3)
    )
    match_model = old.get_model("casework", "Match")
    for owner, found in ((matched, other), (other, matched)):
        match_model.objects.create(
            case=owner,
            matched_case=found,
            direction="local",
            score=0.5,
            phenotype_score=0.5,
            genotype_score=0.0,
            last_seen=timezone.now(),
        )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    by_id = {case.public_id: case.matched_with for case in Case.objects.all()}
    assert by_id == {"MM-OLD1": "unrecorded", "MM-OLD2": "unrecorded", "MM-OLD3": ""}
    assert stale_matches().count() == 2
    assert sorted(case.public_id for case in cases_to_rematch()) == ["MM-OLD1", "MM-OLD2"]
    assert never.pk not in {case.pk for case in cases_to_rematch()}
