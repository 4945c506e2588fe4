"""Beacon clients in the admin: tokens stored only as hashes, the audit log read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from matchmaker.beacon.models import BeaconClient, BeaconQuery
from matchmaker.lib.secrets import hash_token

pytestmark = pytest.mark.django_db

TOKEN = "admin-entered-token-0123456789abcdef0123"


@pytest.fixture
def admin_client_logged_in(client: Client) -> Client:
    admin = User.objects.create_superuser("root", "root@example.org", "irrelevant-password-1")
    client.force_login(admin)
    return client


def _add(client: Client, name: str, token: str) -> object:
    return client.post(
        "/admin/beacon/beaconclient/add/",
        {"name": name, "token": token, "granularity": "count", "enabled": "on"},
    )


def test_an_operator_registers_a_client_whose_token_then_works(
    admin_client_logged_in: Client, own_cache: None
) -> None:
    response = _add(admin_client_logged_in, "Beacon Network", TOKEN)
    assert response.status_code == 302
    stored = BeaconClient.objects.get(name="Beacon Network")
    assert stored.token_hash == hash_token(TOKEN)
    assert stored.token_hint == TOKEN[-4:]

    # The same token for another client, or a short one, is refused with the field named.
    for name, token in (("Other", TOKEN), ("Short", "short")):
        response = _add(admin_client_logged_in, name, token)
        assert response.status_code == 200
        assert "token" in response.context["adminform"].form.errors
    assert BeaconClient.objects.count() == 1

    answer = Client().get(
        "/beacon/individuals?requestedGranularity=count",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 200
    assert answer.json()["meta"]["returnedGranularity"] == "count"
    query = BeaconQuery.objects.get(endpoint="individuals")
    page = admin_client_logged_in.get(f"/admin/beacon/beaconquery/{query.pk}/change/")
    assert page.status_code == 200
    assert b"Save" not in page.content  # read-only
