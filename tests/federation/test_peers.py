"""Registering peers (command and admin), their tokens at rest, and the OpenAPI schema."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from matchmaker.federation.models import MmeRequestLog, Peer
from matchmaker.lib.secrets import hash_token
from tests.federation.conftest import PEER_TOKEN

pytestmark = pytest.mark.django_db

INBOUND = "inbound-token-of-peer-b-0123456789abcdef"
OUTBOUND = "outbound-token-for-peer-b-fedcba9876543210"


def _add_peer(*arguments: str) -> str:
    out = io.StringIO()
    call_command("add_peer", *arguments, stdout=out)
    return out.getvalue()


def test_add_peer_stores_the_inbound_token_hashed_and_the_outbound_one_encrypted() -> None:
    output = _add_peer(
        "Peer B",
        "--base-url",
        "https://mme.peer-b.example/mme/",
        "--inbound-token",
        INBOUND,
        "--outbound-token",
        OUTBOUND,
    )

    peer = Peer.objects.get(name="Peer B")
    assert "Added peer Peer B" in output
    assert peer.inbound_token_hash == hash_token(INBOUND)
    assert peer.outbound_token == OUTBOUND
    assert peer.match_url == "https://mme.peer-b.example/mme/match"
    # Neither token appears anywhere in the stored row.
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM federation_peer")
        stored = " ".join(str(value) for row in cursor.fetchall() for value in row)
    assert INBOUND not in stored
    assert OUTBOUND not in stored
    assert INBOUND not in output
    assert OUTBOUND not in output


def test_add_peer_reads_tokens_from_files(tmp_path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(INBOUND + "\n")

    _add_peer("Peer C", "--inbound-token-file", str(token_file))

    assert Peer.objects.get(name="Peer C").inbound_token_hash == hash_token(INBOUND)


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["Peer D"], "give --inbound-token, --outbound-token or both"),
        (["Peer D", "--inbound-token", "short"], "--inbound-token: is shorter than 16"),
        (["Peer D", "--inbound-token", "x" * 256], "--inbound-token: is longer than 255"),
        (["Peer D", "--outbound-token", OUTBOUND], "--base-url: is required"),
        (["Remote Node", "--inbound-token", INBOUND], "--name: a peer named 'Remote Node'"),
        (["Peer D", "--inbound-token", PEER_TOKEN], "--inbound-token: is already the token"),
        (
            ["Peer D", "--inbound-token", INBOUND, "--api-version", "2.0"],
            "--api-version: must be one of 1.0, 1.1",
        ),
        (
            ["Peer D", "--base-url", "not a url", "--outbound-token", OUTBOUND],
            "--base-url",
        ),
    ],
)
def test_add_peer_refuses_bad_options_naming_them(remote_node, arguments, complaint) -> None:
    with pytest.raises(CommandError, match=complaint.replace("(", r"\(")):
        _add_peer(*arguments)
    assert Peer.objects.count() == 1


def test_add_peer_requires_https_when_plain_http_is_not_allowed(settings) -> None:
    settings.FEDERATION_ALLOW_HTTP = False

    with pytest.raises(CommandError, match="--base-url: must be an https:// URL"):
        _add_peer("Peer E", "--base-url", "http://mme.example/mme", "--outbound-token", OUTBOUND)


def test_an_admin_adds_a_peer_and_sets_its_tokens_in_the_admin(admin_client, client) -> None:
    response = admin_client.post(
        "/admin/federation/peer/add/",
        {
            "name": "Peer F",
            "description": "",
            "base_url": "https://mme.peer-f.example/mme",
            "api_version": "1.0",
            "enabled": "on",
            "connect_timeout_seconds": "5",
            "timeout_seconds": "30",
            "require_shared_gene": "unknown",
            "new_inbound_token": INBOUND,
            "new_outbound_token": OUTBOUND,
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    peer = Peer.objects.get(name="Peer F")
    assert peer.inbound_token_hash == hash_token(INBOUND)
    assert peer.inbound_token_hint == INBOUND[-4:]
    assert peer.outbound_token == OUTBOUND
    heartbeat = client.get("/mme/heartbeat", headers={"X-Auth-Token": INBOUND})
    assert heartbeat.status_code == 200
    # The change form never shows a token back.
    page = admin_client.get(f"/admin/federation/peer/{peer.pk}/change/").content.decode()
    assert INBOUND not in page
    assert OUTBOUND not in page


def test_the_admin_refuses_a_token_another_peer_uses(admin_client, remote_node) -> None:
    response = admin_client.post(
        "/admin/federation/peer/add/",
        {
            "name": "Copycat",
            "api_version": "1.0",
            "connect_timeout_seconds": "5",
            "timeout_seconds": "30",
            "require_shared_gene": "unknown",
            "new_inbound_token": PEER_TOKEN,
        },
    )

    assert response.status_code == 200
    assert "is already the token of another peer" in response.content.decode()
    assert not Peer.objects.filter(name="Copycat").exists()


def test_the_audit_log_is_read_only_in_the_admin(admin_client, client, remote_node) -> None:
    client.get("/mme/heartbeat", headers={"X-Auth-Token": PEER_TOKEN})
    entry = MmeRequestLog.objects.get()

    assert admin_client.get("/admin/federation/mmerequestlog/").status_code == 200
    assert (
        admin_client.get(f"/admin/federation/mmerequestlog/{entry.pk}/change/").status_code == 200
    )
    assert admin_client.get("/admin/federation/mmerequestlog/add/").status_code == 403
    assert (
        admin_client.post(f"/admin/federation/mmerequestlog/{entry.pk}/delete/").status_code == 403
    )
    assert (
        admin_client.post(
            f"/admin/federation/mmerequestlog/{entry.pk}/change/", {"status_code": 500}
        ).status_code
        == 403
    )
    entry.refresh_from_db()
    assert entry.status_code == 200


def test_the_openapi_schema_describes_the_mme_api_for_staff(admin_client) -> None:
    response = admin_client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    assert {"/mme/match", "/mme/heartbeat", "/mme/metrics"} <= schema["paths"].keys()
    match = schema["paths"]["/mme/match"]["post"]
    assert "application/vnd.ga4gh.matchmaker.v1.0+json" in match["requestBody"]["content"]
    assert {"200", "401", "406", "415", "422"} <= match["responses"].keys()
    assert admin_client.get("/api/docs/").status_code == 200


def test_the_openapi_schema_is_not_public(client) -> None:
    assert client.get("/api/schema/").status_code == 302


def test_rotating_the_encryption_key_keeps_outbound_tokens_readable(settings, remote_node) -> None:
    settings.SECRET_ENCRYPTION_KEYS = ["old-key-material-0001"]
    remote_node.set_outbound_token(OUTBOUND)
    remote_node.save()
    before = remote_node.outbound_token_encrypted

    settings.SECRET_ENCRYPTION_KEYS = ["new-key-material-0002", "old-key-material-0001"]
    call_command("rotate_secrets", stdout=io.StringIO())
    settings.SECRET_ENCRYPTION_KEYS = ["new-key-material-0002"]

    remote_node.refresh_from_db()
    assert remote_node.outbound_token_encrypted != before
    assert remote_node.outbound_token == OUTBOUND


def test_rotation_refuses_when_a_token_cannot_be_decrypted(settings, remote_node) -> None:
    settings.SECRET_ENCRYPTION_KEYS = ["a-key-nobody-used-0003"]

    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("rotate_secrets", stdout=io.StringIO())
