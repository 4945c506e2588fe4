"""Beacon tests: the official Beacon v2 schemas as a registry, a registered client, and a sample
of the published dev phenopackets imported through the node's own importer."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from matchmaker.beacon.models import BeaconClient
from matchmaker.beacon.services import add_beacon_client
from tests.conftest import PHENOPACKETS_DEV, REPO_ROOT

BEACON_SCHEMAS = REPO_ROOT.parent / "shared" / "beacon-v2"
# Some files refer to others by their address in the specification's repository.
_UPSTREAM = "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/"
COUNT_TOKEN = "count-client-token-0123456789abcdef0123"
BOOLEAN_TOKEN = "boolean-client-token-0123456789abcdef01"
SAMPLE_SIZE = 300


def _registry() -> Registry:
    resources = []
    for path in sorted(BEACON_SCHEMAS.rglob("*.json")):
        if "examples" in path.parts:
            continue
        resource = Resource.from_contents(
            json.loads(path.read_text()), default_specification=DRAFT202012
        )
        relative = path.relative_to(BEACON_SCHEMAS).as_posix()
        resources.append((path.resolve().as_uri(), resource))
        resources.append((_UPSTREAM + relative, resource))
    return Registry().with_resources(resources)


_REGISTRY = _registry()


def assert_valid(document: Any, schema: str) -> None:
    """`document` validates against the specification's schema at `schema` (a path in the tree)."""
    uri = (BEACON_SCHEMAS / schema).resolve().as_uri()
    validator = Draft202012Validator({"$ref": uri}, registry=_REGISTRY)
    errors = sorted(validator.iter_errors(document), key=lambda error: list(error.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


RESPONSES = "framework/json/responses/"


@pytest.fixture(autouse=True)
def _own_cache(own_cache: None) -> None:
    """Rate-limit counters of this test's own."""


@pytest.fixture
def count_client(db: None) -> BeaconClient:
    return add_beacon_client("Beacon Network", token=COUNT_TOKEN, granularity="count")


@pytest.fixture
def boolean_client(db: None) -> BeaconClient:
    return add_beacon_client("Portal", token=BOOLEAN_TOKEN, granularity="boolean")


@pytest.fixture
def ask(client: Client) -> Callable[..., Any]:
    """POST a Beacon request body to /beacon/<endpoint> with a bearer token (None: anonymous)."""

    def ask(endpoint: str, query: dict[str, Any], token: str | None = COUNT_TOKEN) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.post(
            f"/beacon/{endpoint}",
            data=json.dumps({"meta": {"apiVersion": "v2.0"}, "query": query}),
            content_type="application/json",
            headers=headers,
        )

    return ask


@pytest.fixture
def dev_sample(db: None, tmp_path: Path) -> int:
    """The first SAMPLE_SIZE dev phenopackets, imported with consent; returns how many."""
    if not PHENOPACKETS_DEV.exists():
        pytest.skip(f"{PHENOPACKETS_DEV} is not here")
    sample = tmp_path / "sample.jsonl"
    with gzip.open(PHENOPACKETS_DEV, "rt") as source, sample.open("w") as target:
        for _, line in zip(range(SAMPLE_SIZE), source, strict=False):
            target.write(line)
    call_command("import_phenopackets", str(sample), "--consented", "--drop-unknown-terms")
    from matchmaker.cases.models import Case

    return Case.objects.count()
