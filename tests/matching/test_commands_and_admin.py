from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from matchmaker.cases.models import Institution
from matchmaker.casework.models import Match
from tests.matching.test_services import ngly1_case, skeletal_case

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_match_all_records_matches_once(institution: Institution) -> None:
    first = ngly1_case(institution, "first")
    second = ngly1_case(institution, "second")
    skeletal_case(institution, "unrelated")

    out = run("match", "--all")
    assert "Matched 3 cases" in out
    assert set(Match.objects.values_list("case_id", "matched_case_id")) == {
        (first.pk, second.pk),
        (second.pk, first.pk),
    }
    assert "already recorded" in run("match", "--all", "--if-no-matches")
    run("match", "--all")
    assert Match.objects.count() == 2


def test_match_needs_a_known_case() -> None:
    with pytest.raises(CommandError, match="no case"):
        run("match", "MM-000000000000")
    with pytest.raises(CommandError, match="--all"):
        run("match")


def test_admins_triage_matches_but_cannot_invent_them(
    client: Client, institution: Institution
) -> None:
    first = ngly1_case(institution, "first")
    ngly1_case(institution, "second")
    run("match", "--all")
    match = Match.objects.get(case=first)
    client.force_login(User.objects.create_superuser("root", "r@example.org", "pw-irrelevant-1"))

    assert client.get("/admin/casework/match/").status_code == 200
    assert client.get("/admin/casework/match/add/").status_code == 403
    response = client.post(
        f"/admin/casework/match/{match.pk}/change/",
        {"status": "contacted", "notes": "e-mailed the other team", "score": "0.01"},
    )
    assert response.status_code == 302
    match.refresh_from_db()
    assert match.status == Match.Status.CONTACTED
    assert match.notes == "e-mailed the other team"
    assert match.score > 0.3  # read-only: the posted score is ignored
