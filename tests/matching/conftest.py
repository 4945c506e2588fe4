"""Switching the node's HPO release in tests: the fixture release, and back afterwards."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command

from matchmaker.reference.ontology import get_hpo, get_phenotype_scorer, reset_reference_data

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def run(*args: str) -> str:
    """A management command's output."""
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def forget_loaded_reference_data() -> Iterator[None]:
    """For tests that switch releases: later tests must see the session's defaults again."""
    reset_reference_data()
    get_phenotype_scorer.cache_clear()
    yield
    reset_reference_data()
    get_phenotype_scorer.cache_clear()


def load_mini_release() -> None:
    """`load_hpo` of the fixture release (2000-01-01, tests/fixtures/mini_hpo.obo), as an upgrade
    does; call it with HPO_CACHE_DIR pointing at a temporary folder."""
    run(
        "load_hpo",
        "--obo",
        str(FIXTURES / "mini_hpo.obo"),
        "--annotations",
        str(FIXTURES / "mini_phenotype.hpoa"),
    )
    assert get_hpo().release == "2000-01-01"
