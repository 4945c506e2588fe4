"""The cast for federation tests: a peer that may query us, and helpers to talk MME to our node."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from matchmaker.federation.models import Peer
from matchmaker.federation.services import add_peer
from tests.federation.fake_peers import serve  # noqa: F401 (a fixture for every federation test)

PEER_TOKEN = "b3f1c0ffee5a1e4d9a7c2e8f0d6b4a1c3e5f7a9b"
MME_V1_1 = "application/vnd.ga4gh.matchmaker.v1.1+json"
MME_V1_0 = "application/vnd.ga4gh.matchmaker.v1.0+json"


@pytest.fixture(autouse=True)
def _own_cache(own_cache: None) -> None:
    """Each federation test gets an empty cache of its own (tests/conftest.py: own_cache)."""


@pytest.fixture
def remote_node(db: None) -> Peer:
    """A peer node that may query us (and that we could query back)."""
    return add_peer(
        "Remote Node",
        base_url="https://mme.remote.example/mme",
        inbound_token=PEER_TOKEN,
        outbound_token="token-we-send-to-remote-node-0001",
        description="A peer in another country",
    )


def mme_patient(**overrides: Any) -> dict[str, Any]:
    """A peer's patient: seizures, developmental delay, microcephaly and NGLY1 (as Ensembl)."""
    patient: dict[str, Any] = {
        "id": "remote-P0001",
        "label": "remote family 1",
        "contact": {
            "name": "Dr Remote",
            "institution": "Remote Genetics",
            "href": "mailto:remote@example.org",
        },
        "features": [
            {"id": "HP:0001250"},
            {"id": "HP:0001263", "observed": "yes"},
            {"id": "HP:0000252"},
        ],
        "genomicFeatures": [{"gene": {"id": "ENSG00000151092"}}],
    }
    patient.update(overrides)
    return patient


def post_match(
    client: Client,
    document: Any,
    *,
    token: str | None = PEER_TOKEN,
    content_type: str = MME_V1_1,
    accept: str | None = None,
    path: str = "/mme/match",
) -> Any:
    headers = {}
    if token is not None:
        headers["X-Auth-Token"] = token
    if accept is not None:
        headers["Accept"] = accept
    body = document if isinstance(document, str | bytes) else json.dumps(document)
    return client.post(path, data=body, content_type=content_type, headers=headers)


@pytest.fixture
def post_and_record(client: Client, eager_tasks: None, django_capture_on_commit_callbacks: Any):
    """`post_match`, then the work that follows the answer's commit (recording the incoming
    matches, explaining them, e-mailing owners), run in this process."""

    def post(document: Any, **options: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return post_match(client, document, **options)

    return post
