"""`remap_case_genes`: genes a case keeps as submitted because the loaded catalogue did not know
them (a symbol approved after it) are resolved once `load_genes` brings a catalogue that does."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from matchmaker.cases.models import Case, Institution
from matchmaker.cases.records import GenomicFeatureRecord
from matchmaker.casework.services.remap import remap_case_genes
from matchmaker.matching.models import IndexChange
from matchmaker.reference.ontology import get_gene_catalogue
from ontologies.genes import GeneCatalogue, build_from_hgnc_complete_set, merge_catalogues
from tests.factories import make_case

pytestmark = pytest.mark.django_db

HGNC_SAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "hgnc_complete_set_sample.txt"
# A made-up Entrez id: no real gene has it, so the test cannot depend on a real release.
NEWER_GENE = {"symbol": "CIROZ", "hgnc_id": "HGNC:99991", "entrez_id": "999999991"}


def newer_catalogue(tmp_path: Path) -> GeneCatalogue:
    """The tests' catalogue plus CIROZ, as an HGNC set approved after it would add it."""
    header = HGNC_SAMPLE.read_text(encoding="utf-8").splitlines()[0].split("\t")
    row = dict.fromkeys(header, "")
    row.update(
        NEWER_GENE,
        name="ciliary rootlet coiled-coil protein (test)",
        status="Approved",
        location="1p36.33",
        date_modified="2026-01-01",
    )
    path = tmp_path / "hgnc_complete_set.txt"
    path.write_text(
        "\t".join(header) + "\n" + "\t".join(row[column] for column in header) + "\n",
        encoding="utf-8",
    )
    return merge_catalogues(get_gene_catalogue(), build_from_hgnc_complete_set(path))


def case_with_genes(institution: Institution, label: str, *gene_ids: str) -> Case:
    return make_case(
        institution=institution,
        consented=True,
        label=label,
        genomic_features=tuple(GenomicFeatureRecord(gene_id=gene_id) for gene_id in gene_ids),
    )


def test_a_gene_kept_as_submitted_resolves_with_the_newer_catalogue(
    institution: Institution, tmp_path: Path
) -> None:
    newer = case_with_genes(institution, "newer-gene", "CIROZ", "NGLY1")
    unknown = case_with_genes(institution, "still-unknown", "ZZNEW9")
    kept = {
        row.gene_id: (row.gene_symbol, row.submitted_gene_id)
        for row in newer.genomic_features.all()
    }
    assert kept["CIROZ"] == ("CIROZ", "CIROZ")  # stored as submitted: the catalogue lacks it
    changes_before = IndexChange.objects.count()

    report = remap_case_genes(newer_catalogue(tmp_path), rematch=False)

    ciroz, ngly1 = newer.genomic_features.order_by("id")
    assert (ciroz.gene_id, ciroz.gene_symbol, ciroz.submitted_gene_id) == (
        "NCBIGene:999999991",
        "CIROZ",
        "CIROZ",
    )
    assert ngly1.gene_id == "NCBIGene:55768"  # already canonical: untouched
    assert report.resolved == {"CIROZ": ("NCBIGene:999999991", "CIROZ", 1)}
    assert report.still_unknown == [(unknown.public_id, "ZZNEW9")]
    assert report.changed_case_ids == {newer.pk}
    # Every process's index hears of the change.
    assert IndexChange.objects.count() == changes_before + 1


def test_a_dry_run_changes_nothing(institution: Institution, tmp_path: Path) -> None:
    newer = case_with_genes(institution, "newer-gene", "CIROZ")

    report = remap_case_genes(newer_catalogue(tmp_path), dry_run=True)

    assert report.resolved == {"CIROZ": ("NCBIGene:999999991", "CIROZ", 1)}
    assert newer.genomic_features.get().gene_id == "CIROZ"


def test_the_command_reports_what_the_loaded_catalogue_still_lacks(
    institution: Institution, capsys: pytest.CaptureFixture[str]
) -> None:
    case = case_with_genes(institution, "newer-gene", "CIROZ")

    call_command("remap_case_genes", "--no-rematch")

    out = capsys.readouterr().out
    assert f"  {case.public_id}: CIROZ" in out
    assert "0 cases changed" in out
    assert case.genomic_features.get().gene_id == "CIROZ"
