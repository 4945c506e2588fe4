"""`mme_check` against our own node, served for real on loopback: every check passes."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from matchmaker.federation.conformance import CHECK_NAMES
from tests.factories import make_case
from tests.federation.conftest import PEER_TOKEN


@pytest.mark.django_db(transaction=True)
def test_mme_check_passes_every_check_against_our_running_node(
    live_server, remote_node, institution
) -> None:
    # A case for the checker's NGLY1 test patient to find (test queries see test cases).
    make_case(institution=institution, consented=True, label="check-target", is_test=True)
    out = io.StringIO()

    call_command("mme_check", f"{live_server.url}/mme", "--token", PEER_TOKEN, stdout=out)

    lines = out.getvalue().splitlines()
    passed = [line for line in lines if line.startswith("PASS")]
    assert len(passed) == len(CHECK_NAMES), out.getvalue()
    assert f"{len(CHECK_NAMES)}/{len(CHECK_NAMES)} checks passed" in out.getvalue()
    assert PEER_TOKEN not in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_mme_check_speaks_v1_0_to_our_node_too(live_server, remote_node) -> None:
    out = io.StringIO()

    call_command(
        "mme_check",
        f"{live_server.url}/mme/",
        "--token",
        PEER_TOKEN,
        "--api-version",
        "1.0",
        stdout=out,
    )

    assert "FAIL" not in out.getvalue()
