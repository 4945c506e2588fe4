"""Loading reference data: `load_hpo`, `load_genes`, and what each process then uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError
from django.test import override_settings

from matchmaker.reference.models import ReferenceRelease
from matchmaker.reference.ontology import get_gene_catalogue
from tests.matching.conftest import FIXTURES, load_mini_release, run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("forget_loaded_reference_data")]


def test_load_hpo_records_the_bundled_release_once(tmp_path: Path) -> None:
    with override_settings(HPO_CACHE_DIR=tmp_path):
        out = run("load_hpo")
        run("load_hpo")
    assert "HPO 2025-01-16: 19,034 terms" in out
    release = ReferenceRelease.objects.get(kind="hpo")
    assert release.version == "2025-01-16"
    assert release.summary["terms"] == 19034
    assert Path(release.source_paths["obo"]).name == "hp.obo"
    assert list(tmp_path.glob("*.npz")), "the compiled release is cached on disk"


def test_load_hpo_with_other_files_switches_every_later_load(tmp_path: Path) -> None:
    with override_settings(HPO_CACHE_DIR=tmp_path):
        load_mini_release()
        assert ReferenceRelease.objects.first().version == "2000-01-01"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--obo", "x.obo"], "must be given together"),
        (
            ["--obo", "/nonexistent/hp.obo", "--annotations", "/nonexistent/p.hpoa"],
            "does not exist",
        ),
    ],
)
def test_load_hpo_explains_bad_arguments(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("load_hpo", *args)
    assert not ReferenceRelease.objects.exists()


def test_load_genes_merges_sources_and_says_what_it_cannot_resolve(tmp_path: Path) -> None:
    output = tmp_path / "genes.json.gz"
    with override_settings(GENE_CATALOGUE_PATH=output):
        out = run("load_genes", str(FIXTURES / "hgnc_complete_set_sample.txt"))
        catalogue = get_gene_catalogue()
    assert output.exists()
    # The HGNC complete set resolves every kind of identifier...
    assert "cannot resolve" not in out
    assert catalogue.resolve("HGNC:1100").symbol == "BRCA1"
    assert catalogue.resolve("ENSG00000012048").symbol == "BRCA1"
    # ...and the HPO gene list is merged in, so every annotated gene is known.
    assert catalogue.resolve("NGLY1").gene_id == "NCBIGene:55768"
    release = ReferenceRelease.objects.get(kind="genes")
    assert release.summary["unsupported_kinds"] == []


def test_without_a_catalogue_file_the_hpo_gene_list_is_used_and_limits_are_said(
    tmp_path: Path,
) -> None:
    output = tmp_path / "genes.json.gz"
    with override_settings(GENE_CATALOGUE_PATH=output, DATA_DIR=tmp_path):
        out = run("load_genes")
    assert "cannot resolve: previous_symbol, alias, hgnc, ensembl" in out
    with override_settings(GENE_CATALOGUE_PATH=tmp_path / "missing.json.gz"):
        catalogue = get_gene_catalogue()
    assert catalogue.supported_kinds == {"symbol", "entrez"}
    assert catalogue.resolve("NGLY1").gene_id == "NCBIGene:55768"


def test_load_genes_if_missing_keeps_an_existing_catalogue(tmp_path: Path) -> None:
    output = tmp_path / "genes.json.gz"
    output.write_bytes(Path(settings.GENE_CATALOGUE_PATH).read_bytes())
    with override_settings(GENE_CATALOGUE_PATH=output):
        out = run("load_genes", "--if-missing")
    assert "not rebuilt" in out
    assert not ReferenceRelease.objects.exists()
