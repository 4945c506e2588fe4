"""Matching on the real HPO: ranking, explanations, recorded matches, and keeping the index current."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from matchmaker.cases.models import Case, Institution
from matchmaker.cases.records import FeatureRecord, GenomicFeatureRecord, VariantRecord
from matchmaker.casework.models import Match
from matchmaker.casework.services import delete_case, record_consent, update_case, withdraw_case
from matchmaker.casework.services.matches import run_matching
from matchmaker.matching import index as case_index
from matchmaker.matching.services import MatchQuery, find_matches
from tests.conftest import MME_BENCHMARK, wait_until
from tests.factories import make_case, make_record

# NGLY1 deficiency (OMIM:615273): developmental delay, hypotonia, movement disorder, alacrima,
# elevated liver transaminases.
NGLY1_TERMS = ("HP:0001263", "HP:0001252", "HP:0100022", "HP:0000522", "HP:0002910")
# Achondroplasia-like: short limbs, macrocephaly, frontal bossing.
SKELETAL_TERMS = ("HP:0008873", "HP:0000256", "HP:0002007", "HP:0003027")
NGLY1_VARIANT = VariantRecord("GRCh37", "3", 25775421, 25775422, "C", "T")


def features(*hpo_ids: str) -> tuple[FeatureRecord, ...]:
    return tuple(FeatureRecord(hpo_id) for hpo_id in hpo_ids)


def ngly1_case(institution: Institution, label: str, **overrides: object) -> Case:
    fields: dict[str, object] = {
        "label": label,
        "features": features(*NGLY1_TERMS),
        "genomic_features": (GenomicFeatureRecord("NGLY1", variant=NGLY1_VARIANT, zygosity=2),),
    }
    fields.update(overrides)
    return make_case(institution=institution, **fields)


def skeletal_case(institution: Institution, label: str) -> Case:
    return make_case(
        institution=institution,
        label=label,
        features=features(*SKELETAL_TERMS),
        genomic_features=(GenomicFeatureRecord("FGFR3"),),
    )


@pytest.mark.django_db
def test_the_case_with_the_same_disorder_ranks_first(
    institution: Institution, other_institution: Institution
) -> None:
    query = ngly1_case(institution, "query")
    twin = ngly1_case(
        other_institution,
        "twin",
        features=features("HP:0001263", "HP:0001252", "HP:0000522"),
        genomic_features=(GenomicFeatureRecord("ENSG00000151092"),),
    )
    skeletal_case(other_institution, "unrelated")

    results = find_matches(query, min_score=0.0)

    assert [result.case for result in results][:1] == [twin]
    assert all(result.case != query for result in results), "a case never matches itself"
    best = results[0]
    assert 0.0 <= best.phenotype_score <= 1.0
    assert 0.0 <= best.score <= 1.0
    assert best.genotype_score == pytest.approx(0.8)  # shared gene; the twin gives no variant
    assert results[-1].score < best.score


@pytest.mark.django_db
def test_a_match_explains_itself(institution: Institution) -> None:
    query = ngly1_case(institution, "query")
    ngly1_case(institution, "twin", features=features("HP:0001263", "HP:0000522", "HP:0001250"))

    [result] = find_matches(query, min_score=0.0, limit=1)

    explanation = result.explanation
    assert [gene["gene_symbol"] for gene in explanation["genes"]] == ["NGLY1"]
    assert explanation["genes"][0]["same_variant"] is True
    pairs = {pair["query_term"]: pair for pair in explanation["term_matches"]}
    assert pairs["HP:0000522"]["case_term"] == "HP:0000522"  # alacrima met alacrima
    assert pairs["HP:0000522"]["information_content"] > 0


@pytest.mark.django_db
def test_excluded_terms_in_the_other_case_are_reported_as_conflicts(
    institution: Institution,
) -> None:
    query = ngly1_case(institution, "query")
    ngly1_case(
        institution,
        "partial",
        features=(
            *features("HP:0001263", "HP:0001252"),
            FeatureRecord("HP:0000522", observed=False),
        ),
    )
    [result] = find_matches(query, min_score=0.0, limit=1)
    conflicts = result.explanation["conflicts"]
    assert any("HP:0000522" in str(conflict) for conflict in conflicts)


@pytest.mark.django_db
def test_matching_policy_knobs(institution: Institution) -> None:
    query = ngly1_case(institution, "query")
    ngly1_case(institution, "phenotype-only", genomic_features=())
    skeletal_case(institution, "unrelated")

    with_gene = find_matches(query, min_score=0.0, require_shared_gene=True)
    assert [r.case.label for r in with_gene] == []  # nobody else carries NGLY1

    everyone = find_matches(query, min_score=0.0, limit=10)
    assert {r.case.label for r in everyone} == {"phenotype-only", "unrelated"}
    assert len(find_matches(query, min_score=0.0, limit=1)) == 1
    assert find_matches(query, min_score=0.999) == []


@pytest.mark.django_db
def test_withdrawn_and_deleted_cases_are_never_matched(institution: Institution) -> None:
    query = ngly1_case(institution, "query")
    withdrawn = ngly1_case(institution, "withdrawn")
    deleted = ngly1_case(institution, "deleted")
    assert {r.case for r in find_matches(query, min_score=0.0)} == {withdrawn, deleted}

    withdraw_case(withdrawn)
    delete_case(deleted)

    assert find_matches(query, min_score=0.0) == []


@pytest.mark.django_db
def test_a_query_without_genes_gets_the_full_rankings_first_results(
    institution: Institution,
) -> None:
    # No gene: nothing re-orders the index's ranking, so only `limit` candidates are fetched;
    # the answer must still be the head of the full ranking, genes of the kept cases included.
    query = MatchQuery(observed=NGLY1_TERMS[:4])
    cases = [ngly1_case(institution, f"ngly1-{n}") for n in range(3)]
    cases += [skeletal_case(institution, f"skeletal-{n}") for n in range(3)]
    everyone = find_matches(query, min_score=0.0, limit=10)
    assert {r.case for r in everyone} == set(cases)
    for limit in (1, 2, 4):
        head = find_matches(query, min_score=0.0, limit=limit)
        assert [(r.case, r.score) for r in head] == [(r.case, r.score) for r in everyone[:limit]]
    assert [[feature.gene_symbol for feature in r.case.genomic_features.all()] for r in head] == [
        ["NGLY1"]
    ] * 3 + [["FGFR3"]]
    assert all(r.genotype_score == 0.0 and r.explanation["genes"] == [] for r in head)


@pytest.mark.django_db
def test_a_case_withdrawn_before_the_index_caught_up_leaves_no_hole_in_the_answer(
    institution: Institution,
) -> None:
    query = MatchQuery(observed=NGLY1_TERMS)
    first, second = ngly1_case(institution, "first"), ngly1_case(institution, "second")
    skeletal_case(institution, "third")
    assert [r.case for r in find_matches(query, min_score=0.0, limit=2)] == [first, second]
    # Withdrawn in the database only: the index has not heard of it yet.
    Case.objects.filter(pk=first.pk).update(
        status=Case.Status.WITHDRAWN, withdrawn_at=timezone.now()
    )
    answer = find_matches(query, min_score=0.0, limit=2)
    assert [r.case.label for r in answer] == ["second", "third"]


@pytest.mark.django_db
def test_shareable_only_returns_consented_active_cases(institution: Institution) -> None:
    query = ngly1_case(institution, "query")
    private = ngly1_case(institution, "private")
    shared = ngly1_case(institution, "shared", consented=True)
    assert {r.case for r in find_matches(query, min_score=0.0, shareable_only=True)} == {shared}
    record_consent(private, consented=True, by=None)
    assert {r.case for r in find_matches(query, min_score=0.0, shareable_only=True)} == {
        shared,
        private,
    }


@pytest.mark.django_db
def test_an_edit_is_seen_by_the_next_search(institution: Institution) -> None:
    query = ngly1_case(institution, "query")
    other = skeletal_case(institution, "other")
    before = find_matches(query, min_score=0.0)[0]
    update_case(other, make_record(label="other", features=features(*NGLY1_TERMS)))
    after = find_matches(query, min_score=0.0)[0]
    assert after.case == other
    assert after.phenotype_score > before.phenotype_score


@pytest.mark.django_db
def test_another_process_catches_up_from_a_saved_index(
    institution: Institution, tmp_path: Path, settings: object
) -> None:
    settings.CASE_INDEX_PATH = tmp_path / "case-index.npz"  # type: ignore[attr-defined]
    query = ngly1_case(institution, "query")
    first = ngly1_case(institution, "first")
    call_command("build_index", stdout=io.StringIO())
    # Later changes, logged while "another process" runs: it loads the saved file and applies them.
    second = ngly1_case(institution, "second")
    withdraw_case(first)
    case_index.forget_case_index()

    assert {r.case for r in find_matches(query, min_score=0.0)} == {second}


@pytest.mark.django_db
def test_a_saved_index_with_stale_disease_profiles_is_rebuilt(
    institution: Institution,
    tmp_path: Path,
    settings: object,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.CASE_INDEX_PATH = tmp_path / "case-index.npz"  # type: ignore[attr-defined]
    query = ngly1_case(institution, "query")
    twin = ngly1_case(institution, "twin")
    call_command("build_index", stdout=io.StringIO())
    # The profiles in the file came from another profiler (e.g. other constants or IC).
    monkeypatch.setattr(case_index, "_profiler_fingerprint", lambda: "another profiler")
    case_index.forget_case_index()

    results = find_matches(query, min_score=0.0)

    assert [r.case for r in results] == [twin]
    assert results[0].explanation["shared_diseases"]
    assert "rebuilding it" in caplog.text


@pytest.mark.django_db
def test_an_index_file_of_an_older_format_is_rebuilt(
    institution: Institution, tmp_path: Path, settings: object, caplog: pytest.LogCaptureFixture
) -> None:
    settings.CASE_INDEX_PATH = tmp_path / "case-index.npz"  # type: ignore[attr-defined]
    query = ngly1_case(institution, "query")
    twin = ngly1_case(institution, "twin")
    call_command("build_index", stdout=io.StringIO())
    Path(settings.CASE_INDEX_PATH).write_bytes(b"not an index of this version")  # type: ignore[attr-defined]
    case_index.forget_case_index()

    assert [r.case for r in find_matches(query, min_score=0.0)] == [twin]
    assert "Cannot use the case index" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_saving_a_case_records_matches_for_both_owners(
    celery_worker_process: str | None, institution: Institution, other_institution: Institution
) -> None:
    mine = ngly1_case(institution, "mine")
    theirs = ngly1_case(other_institution, "theirs")

    assert wait_until(lambda: Match.objects.count() == 2)
    forward = Match.objects.get(case=theirs)
    backward = Match.objects.get(case=mine)
    assert forward.matched_case == mine
    assert backward.matched_case == theirs
    assert forward.direction == Match.Direction.LOCAL
    assert forward.status == Match.Status.NEW
    assert forward.score == pytest.approx(backward.score)
    assert forward.explanation["term_matches"]


@pytest.mark.django_db
def test_run_matching_is_idempotent_and_marks_lost_matches(institution: Institution) -> None:
    query = ngly1_case(institution, "query")
    twin = ngly1_case(institution, "twin")
    run_matching(query.pk)
    run_matching(query.pk)
    assert Match.objects.filter(case=query, matched_case=twin).count() == 1
    assert Match.objects.filter(case=twin, matched_case=query).count() == 1

    update_case(
        twin, make_record(label="twin", features=features(*SKELETAL_TERMS), genomic_features=())
    )
    run_matching(query.pk)
    lost = Match.objects.get(case=query, matched_case=twin)
    assert lost.removed_at is not None or lost.score < 0.3


def three_neighbours(institution: Institution, other_institution: Institution) -> dict[str, Case]:
    """With one result per search: B's best is A, while A's best is C (A's terms and one more)."""
    ngly1 = NGLY1_TERMS
    return {
        "a": make_case(
            institution=institution, label="a", features=features(*ngly1[:4]), genomic_features=()
        ),
        "c": make_case(
            institution=institution, label="c", features=features(*ngly1), genomic_features=()
        ),
        "b": make_case(
            institution=other_institution,
            label="b",
            features=features(*ngly1[:3]),
            genomic_features=(),
        ),
    }


def current_pair(first: Case, second: Case) -> list[bool]:
    return [
        Match.objects.get(case=owner, matched_case=other).removed_at is None
        for owner, other in ((first, second), (second, first))
    ]


@pytest.mark.django_db
def test_re_matching_one_case_keeps_a_match_the_other_cases_search_still_holds(
    institution: Institution, other_institution: Institution, settings: Any
) -> None:
    """A search returns its best results only, so B's may hold A while A's holds only C:
    matching A again must not take the match away from B's owner (nor from A's)."""
    settings.MATCHING_MAX_RESULTS = 1
    cases = three_neighbours(institution, other_institution)
    run_matching(cases["b"].pk)
    assert [m.matched_case for m in Match.objects.filter(case=cases["b"])] == [cases["a"]]

    run_matching(cases["a"].pk)

    assert current_pair(cases["a"], cases["c"]) == [True, True]
    assert current_pair(cases["a"], cases["b"]) == [True, True]  # B's search still holds A
    # Once B's own search no longer holds A either, the pair goes, on both sides.
    update_case(cases["b"], make_record(label="b", features=features(*SKELETAL_TERMS)))
    run_matching(cases["b"].pk)
    assert current_pair(cases["a"], cases["b"]) == [False, False]


@pytest.mark.django_db
def test_an_edit_matches_again_the_cases_whose_search_had_found_the_edited_one(
    institution: Institution,
    other_institution: Institution,
    settings: Any,
    eager_tasks: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.MATCHING_MAX_RESULTS = 1
    cases = three_neighbours(institution, other_institution)
    run_matching(cases["b"].pk)
    run_matching(cases["a"].pk)
    long_ago = timezone.now() - timezone.timedelta(days=30)
    Match.objects.filter(case=cases["b"]).update(last_seen=long_ago)

    # A, edited: only B's search can say whether B still finds it; so B's search runs too.
    with django_capture_on_commit_callbacks(execute=True):
        update_case(
            cases["a"],
            make_record(label="a", features=features(*NGLY1_TERMS[:4], "HP:0000252")),
        )

    b_to_a = Match.objects.get(case=cases["b"], matched_case=cases["a"])
    assert b_to_a.last_seen > long_ago
    assert b_to_a.removed_at is None
    assert "score_out_of_date" not in b_to_a.explanation


@pytest.mark.django_db
def test_run_matching_takes_over_a_pair_recorded_meanwhile_by_the_other_cases_run(
    institution: Institution, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers matching A and B at once both insert the pair (A, B): the second must update
    the first one's row, not fail on the unique constraint and lose its run."""
    from matchmaker.casework.services import matches as services

    query = ngly1_case(institution, "query")
    twin = ngly1_case(institution, "twin")
    explain_other_side = services._explanation_from_other_side

    def twin_run_inserts_first(owner: Case, other: Case) -> dict[str, object]:
        # What the twin's concurrent run committed after this run read the existing matches.
        for case, matched in ((query, twin), (twin, query)):
            Match.objects.get_or_create(
                case=case, matched_case=matched, direction=Match.Direction.LOCAL,
                defaults={
                    "score": 0.01, "phenotype_score": 0.01, "genotype_score": 0.0,
                    "last_seen": timezone.now(),
                },
            )  # fmt: skip
        return explain_other_side(owner, other)

    monkeypatch.setattr(services, "_explanation_from_other_side", twin_run_inserts_first)
    assert run_matching(query.pk) == 0  # the pair is not new: the twin's run found it
    forward = Match.objects.get(case=query, matched_case=twin)
    backward = Match.objects.get(case=twin, matched_case=query)
    assert forward.score > 0.3
    assert backward.explanation["term_matches"]


@pytest.mark.django_db
def test_the_ngly1_benchmark_patients_find_each_other() -> None:
    call_command("import_mme", str(MME_BENCHMARK), stdout=io.StringIO(), stderr=io.StringIO())
    ngly1 = list(Case.objects.filter(genomic_features__gene_symbol="NGLY1").distinct())
    assert len(ngly1) == 8
    for case in ngly1:
        found = {r.case for r in find_matches(case, limit=7, min_score=0.0)}
        assert found == set(ngly1) - {case}, case.label


@pytest.mark.django_db
def test_the_gpx4_fuzzy_query_ranks_both_gpx4_patients_on_top() -> None:
    from matchmaker.matching.genotype import VariantCall
    from matchmaker.matching.services import MatchQuery

    call_command("import_mme", str(MME_BENCHMARK), stdout=io.StringIO(), stderr=io.StringIO())
    query = MatchQuery(
        observed=("HP:0001250", "HP:0006852", "HP:0011675", "HP:0003312"),
        variants=(VariantCall(gene_id="NCBIGene:2879", gene_symbol="GPX4"),),
    )
    top = [r.case.label for r in find_matches(query, limit=2, min_score=0.0)]
    assert set(top) == {"P0001058", "P0001059"}


@pytest.mark.django_db
def test_the_match_command_prints_ranked_matches(institution: Institution) -> None:
    query = ngly1_case(institution, "query")
    twin = ngly1_case(institution, "twin")
    out = io.StringIO()
    call_command("match", query.public_id, stdout=out)
    text = out.getvalue()
    assert "1 matches" in text
    assert twin.public_id in text
    assert "twin" not in text  # labels stay with their institution
    assert "gene NGLY1: same variant and zygosity" in text
    # NGLY1-like features resemble few known diseases: the bridge has its share, and says why.
    assert re.search(r"disease bridge: [1-6]\d% of the phenotype score", text)
    assert "both resemble OMIM:" in text


@pytest.mark.django_db(transaction=True)
def test_saving_a_case_in_the_admin_produces_its_matches(
    celery_worker_process: str | None, client: Client, institution: Institution
) -> None:
    from django.contrib.auth.models import User

    twin = ngly1_case(institution, "twin")
    admin = User.objects.create_superuser("root", "root@example.org", "irrelevant-password-1")
    client.force_login(admin)
    data = {
        "label": "entered-in-admin",
        "institution": institution.pk,
        "status": "active",
        "source": "entered",
        "external_references": "[]",
        "extra": "{}",
        "features-TOTAL_FORMS": str(len(NGLY1_TERMS)),
        "features-INITIAL_FORMS": "0",
        **{f"features-{i}-hpo_id": term for i, term in enumerate(NGLY1_TERMS)},
        **{f"features-{i}-observed": "on" for i in range(len(NGLY1_TERMS))},
        "genomic_features-TOTAL_FORMS": "1",
        "genomic_features-INITIAL_FORMS": "0",
        "genomic_features-0-submitted_gene_id": "NGLY1",
        "disorders-TOTAL_FORMS": "0",
        "disorders-INITIAL_FORMS": "0",
    }
    response = client.post("/admin/cases/case/add/", data)
    assert response.status_code == 302
    entered = Case.objects.get(label="entered-in-admin")
    assert wait_until(lambda: Match.objects.filter(case=entered, matched_case=twin).exists())
    assert Match.objects.filter(case=twin, matched_case=entered).exists()


@pytest.mark.django_db
def test_bulk_loaded_cases_reach_a_running_process_index(institution: Institution) -> None:
    query = ngly1_case(institution, "query")
    assert find_matches(query, min_score=0.0) == []  # this process has built its index
    call_command("generate_cases", "1200", "--seed", "5", stdout=io.StringIO())
    call_command("import_mme", str(MME_BENCHMARK), stdout=io.StringIO(), stderr=io.StringIO())

    found = find_matches(query, min_score=0.0, limit=50)
    ngly1_patients = {
        r.case.label for r in found if "NGLY1" in {g["gene_symbol"] for g in r.explanation["genes"]}
    }
    assert len(ngly1_patients) == 8  # the benchmark's NGLY1 patients, imported in bulk
    index = case_index.get_case_index()
    assert len(index) == Case.objects.count()

    generated = Case.objects.filter(source=Case.Source.SYNTHETIC).first()
    assert generated is not None
    generated_id = generated.pk
    assert generated_id in index
    delete_case(generated)  # Django clears .pk on delete, hence generated_id
    assert generated_id not in case_index.get_case_index()


@pytest.mark.django_db
def test_the_fit_penalty_is_explained_from_the_side_whose_search_took_it() -> None:
    """A stored score's query is the owner's case (our search), the other patient (a peer's
    search, or the other case's at this node), or a peer (their score): the explanation's
    closer_disease names the penalty that score took, from the owner's side."""
    from matchmaker.matching.services import explain_profiles, score_profiles
    from tests.web.test_match_pages import MARFAN_LIKE, PARTLY_MARFAN

    partly, marfan = MatchQuery(observed=PARTLY_MARFAN), MatchQuery(observed=MARFAN_LIKE)
    ours = explain_profiles(partly, marfan)["closer_disease"]
    assert (ours["patient"], ours["disease_id"]) == ("other", "OMIM:154700")
    # The other patient's search: the known disease closest to *our* patient is what counts.
    theirs = explain_profiles(partly, marfan, scored_from="other")["closer_disease"]
    assert theirs["patient"] == "this"
    assert theirs == {
        **explain_profiles(marfan, partly)["closer_disease"],
        "patient": "this",
    }
    # The lowered score is the one a search from that side gives.
    _, from_marfan, _ = score_profiles(marfan, partly)
    _, from_partly, _ = score_profiles(partly, marfan)
    assert from_marfan != from_partly
    # The bridge's share is the query's too: the other patient's, for their search.
    forward, backward = explain_profiles(partly, marfan), explain_profiles(marfan, partly)
    assert forward["disease_bridge_share"] != backward["disease_bridge_share"]
    reverse = explain_profiles(partly, marfan, scored_from="other")
    assert reverse["disease_bridge_share"] == backward["disease_bridge_share"]
    assert reverse["shared_diseases"] == backward["shared_diseases"]
    assert (forward["scored_from"], reverse["scored_from"]) == ("owner", "other")
    peer = explain_profiles(partly, marfan, scored_from=None)
    assert (peer["scored_from"], peer["closer_disease"]) == ("peer", None)
    with pytest.raises(ValueError, match="scored_from"):
        explain_profiles(partly, marfan, scored_from="peer")
