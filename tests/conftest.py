"""Shared fixtures: the real HPO release and gene catalogue, and a fixed cast of users.

alice and bob are clinicians at the same institution; carol works elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User

from matchmaker.cases.models import Institution, Membership
from matchmaker.matching.ontology import configured_hpo_sources, reset_reference_data
from ontologies.genes import build_from_hpo_annotations, build_from_org_hs_eg_db, merge_catalogues

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
PHENOPACKETS_DEV = SHARED_DATA / "phenopackets-dev.jsonl.gz"
MME_BENCHMARK = SHARED_DATA / "mme-benchmark-patients.json"


def org_hs_eg_db_path() -> Path | None:
    path = Path(
        os.environ.get("ORG_HS_EG_DB_SQLITE", settings.DATA_DIR / "reference" / "org.Hs.eg.sqlite")
    )
    return path if path.exists() else None


@pytest.fixture(scope="session", autouse=True)
def gene_catalogue_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Build the gene catalogue the way `load_genes` does, once per test session.

    Tests never read the developer's own catalogue under var/, so results do not depend on what
    was loaded by hand.
    """
    genes_path = configured_hpo_sources().genes_path
    assert genes_path is not None
    catalogues = [build_from_hpo_annotations(genes_path)]
    org_db = org_hs_eg_db_path()
    if org_db is not None:
        catalogues.insert(0, build_from_org_hs_eg_db(org_db))
    path = tmp_path_factory.mktemp("genes") / "genes.json.gz"
    merge_catalogues(*catalogues).save(path)
    previous = settings.GENE_CATALOGUE_PATH
    settings.GENE_CATALOGUE_PATH = path
    reset_reference_data()
    yield path
    settings.GENE_CATALOGUE_PATH = previous
    reset_reference_data()


def require_org_hs_eg_db() -> Path:
    """The org.Hs.eg.db sqlite; skips the test where it was not fetched (fails in CI)."""
    path = org_hs_eg_db_path()
    if path is None:
        message = "org.Hs.eg.sqlite not fetched: run scripts/fetch-reference-data"
        # CI fetches it: there, its absence is a failure, not a reason to skip.
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def requires_full_gene_catalogue() -> None:
    require_org_hs_eg_db()


@pytest.fixture
def institution(db: None) -> Institution:
    return Institution.objects.create(
        name="Example Genetics", contact_name="Genetics team", contact_email="mme@example.org"
    )


@pytest.fixture
def other_institution(db: None) -> Institution:
    return Institution.objects.create(name="Elsewhere Hospital", contact_email="mme@elsewhere.org")


def _member(username: str, institution: Institution) -> User:
    user = User.objects.create_user(username=username, password="correct horse battery staple")
    Membership.objects.create(user=user, institution=institution)
    return user


@pytest.fixture
def alice(institution: Institution) -> User:
    return _member("alice", institution)


@pytest.fixture
def bob(institution: Institution) -> User:
    return _member("bob", institution)


@pytest.fixture
def carol(other_institution: Institution) -> User:
    return _member("carol", other_institution)
