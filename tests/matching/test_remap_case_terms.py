"""`remap_case_terms`: stored cases follow a new HPO release (tests/fixtures/mini_hpo.obo).

In the fixture release: HP:0001275 is an alt_id of HP:0001250 (Seizure); HP:0002133 is obsolete,
replaced by HP:0001275; HP:0000057 is obsolete, replaced by HP:0007359; HP:0000003 is obsolete
with only `consider` ids; HP:9999999 is no term at all. The cases below were stored under an
older release, where all of these were current terms.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from matchmaker.cases.models import Case, Institution, PhenotypeFeature
from matchmaker.casework.tasks import run_matching as run_matching_task
from matchmaker.matching.index import indexed_cases
from matchmaker.matching.models import IndexChange
from matchmaker.reference.ontology import get_hpo
from tests.matching.conftest import load_mini_release, run

pytestmark = pytest.mark.django_db
OLD_RELEASE = "1999-01-01"


@pytest.fixture(autouse=True)
def mini_release(tmp_path: Path, forget_loaded_reference_data: None) -> Iterator[None]:
    """The node switched to the fixture release with `load_hpo`, as an upgrade does."""
    with override_settings(HPO_CACHE_DIR=tmp_path):
        load_mini_release()
        yield


def stored_case(
    institution: Institution, label: str, features: list[tuple[str, bool]], **fields: str
) -> Case:
    case = Case.objects.create(
        public_id=f"MM-{label.upper()}",
        label=label,
        institution=institution,
        external_matching_consent=True,
        hpo_release=OLD_RELEASE,
        **fields,
    )
    for hpo_id, observed in features:
        PhenotypeFeature.objects.create(case=case, hpo_id=hpo_id, observed=observed)
    return case


def terms_of(case: Case) -> dict[str, tuple[bool, str]]:
    return {
        feature.hpo_id: (feature.observed, feature.submitted_hpo_id)
        for feature in PhenotypeFeature.objects.filter(case=case)
    }


@pytest.fixture
def cases(institution: Institution) -> dict[str, Case]:
    return {
        # Two outdated ids of Seizure (merged into one feature) and an obsolete term.
        "remappable": stored_case(
            institution,
            "remappable",
            [
                ("HP:0002133", True),
                ("HP:0001275", True),
                ("HP:0000057", True),
                ("HP:0000252", False),
            ],
        ),
        # An obsolete term without a replacement and an unknown id stay; the rest is remapped.
        "partly": stored_case(
            institution,
            "partly",
            [("HP:0000003", True), ("HP:9999999", True), ("HP:0000008", False)],
        ),
        # Seizure excluded, and an outdated id of it observed: a contradiction for a curator.
        "conflicting": stored_case(
            institution, "conflicting", [("HP:0001250", False), ("HP:0001275", True)]
        ),
        "current": stored_case(institution, "current", [("HP:0001263", True)]),
    }


def test_outdated_ids_become_their_current_terms_keeping_the_submitted_id(
    cases: dict[str, Case],
) -> None:
    run("remap_case_terms", "--no-rematch")

    assert terms_of(cases["remappable"]) == {
        "HP:0001250": (True, "HP:0002133"),
        "HP:0007359": (True, "HP:0000057"),
        "HP:0000252": (False, ""),
    }
    assert terms_of(cases["partly"]) == {
        "HP:0000003": (True, ""),
        "HP:9999999": (True, ""),
        "HP:0000707": (False, "HP:0000008"),
    }
    assert terms_of(cases["conflicting"]) == {
        "HP:0001250": (False, ""),
        "HP:0001275": (True, ""),
    }


def test_the_report_names_every_change_and_every_term_left_for_a_curator(
    cases: dict[str, Case],
) -> None:
    out = run("remap_case_terms", "--no-rematch")

    assert "HP:0002133 -> HP:0001250 (Seizure): 1 rewritten" in out
    assert "HP:0000057 -> HP:0007359" in out
    assert "MM-REMAPPABLE: HP:0001275 -> HP:0001250" in out  # merged
    assert "MM-PARTLY: HP:0000003: HP:0000003 is obsolete" in out
    assert "consider HP:0000252, HP:0000486" in out
    assert "MM-PARTLY: HP:9999999: HP:9999999 is not a term of HPO release 2000-01-01" in out
    assert (
        "MM-CONFLICTING: HP:0001275: its replacement HP:0001250 is already excluded in this case while this term is observed"
        in out
    )
    assert "2 cases changed" in out


def test_changed_cases_reach_every_index_and_are_matched_again(
    cases: dict[str, Case],
    django_capture_on_commit_callbacks: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queued: list[int] = []
    monkeypatch.setattr(run_matching_task, "delay", queued.append)
    remappable = cases["remappable"]
    seizure = get_hpo().index_of("HP:0001250")
    assert seizure not in indexed_cases(remappable.pk, remappable.pk)[0].observed
    before = IndexChange.objects.count()

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        run("remap_case_terms")

    assert seizure in indexed_cases(remappable.pk, remappable.pk)[0].observed
    logged = {
        case_id
        for first, last in IndexChange.objects.order_by("id")[before:].values_list(
            "first_case_id", "last_case_id"
        )
        for case_id in range(first, last + 1)
    }
    assert logged == {remappable.pk, cases["partly"].pk}
    assert sorted(queued) == sorted(logged)  # one matching task per changed case


def test_cases_without_stale_terms_are_recorded_against_the_new_release(
    cases: dict[str, Case],
) -> None:
    run("remap_case_terms", "--no-rematch")

    releases = dict(Case.objects.values_list("label", "hpo_release"))
    assert releases == {
        "remappable": "2000-01-01",
        "current": "2000-01-01",
        "partly": OLD_RELEASE,
        "conflicting": OLD_RELEASE,
    }


def test_a_dry_run_reports_and_changes_nothing(cases: dict[str, Case]) -> None:
    before = {label: terms_of(case) for label, case in cases.items()}
    changes = IndexChange.objects.count()

    out = run("remap_case_terms", "--dry-run")

    assert "HP:0002133 -> HP:0001250 (Seizure): 1 would be rewritten" in out
    assert "Dry run: nothing was changed." in out
    assert {label: terms_of(case) for label, case in cases.items()} == before
    assert IndexChange.objects.count() == changes
    assert set(Case.objects.values_list("hpo_release", flat=True)) == {OLD_RELEASE}


def test_running_it_again_changes_nothing_more(cases: dict[str, Case]) -> None:
    run("remap_case_terms", "--no-rematch")
    changes = IndexChange.objects.count()

    out = run("remap_case_terms", "--no-rematch")

    assert "0 cases changed" in out
    assert IndexChange.objects.count() == changes
    assert "MM-PARTLY: HP:0000003" in out  # still reported until a curator acts


def test_onsets_and_inheritance_are_remapped_too(institution: Institution) -> None:
    case = stored_case(institution, "onsets", [], inheritance_mode="HP:0000008")
    PhenotypeFeature.objects.create(
        case=case, hpo_id="HP:0001250", observed=True, onset_hpo_id="HP:0000057"
    )

    run("remap_case_terms", "--no-rematch")

    case.refresh_from_db()
    assert case.inheritance_mode == "HP:0000707"
    assert PhenotypeFeature.objects.get(case=case).onset_hpo_id == "HP:0007359"


def test_a_database_with_only_current_terms_has_nothing_to_remap(institution: Institution) -> None:
    stored_case(institution, "current", [("HP:0001263", True)])

    out = run("remap_case_terms")

    assert "nothing to remap" in out
    assert "0 cases changed" in out
