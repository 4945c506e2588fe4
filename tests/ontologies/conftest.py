from __future__ import annotations

from pathlib import Path

import pytest

from ontologies.hpo import HpoSources, Ontology, compile_ontology, load_ontology

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="session")
def mini_sources() -> HpoSources:
    return HpoSources(
        obo_path=FIXTURES / "mini_hpo.obo",
        annotations_path=FIXTURES / "mini_phenotype.hpoa",
        genes_path=FIXTURES / "mini_genes_to_phenotype.txt",
    )


@pytest.fixture(scope="session")
def mini_hpo(mini_sources: HpoSources) -> Ontology:
    return compile_ontology(mini_sources)


@pytest.fixture(scope="session")
def real_hpo_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hpo-cache")


@pytest.fixture(scope="session")
def real_hpo(real_hpo_cache_dir: Path) -> Ontology:
    """The bundled release, compiled once per test session (a few seconds) and cached."""
    return load_ontology(HpoSources.bundled(), cache_dir=real_hpo_cache_dir)
