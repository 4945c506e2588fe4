"""A database that cannot be reached is a 503 with Retry-After on the clinicians' pages too.

tests/test_faults.py takes a real PostgreSQL away from a running node; here every query of the
request fails as it would then, on either database, through the whole middleware stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError, connection
from django.test import Client

pytestmark = pytest.mark.django_db


def _refuse(*args: Any) -> None:
    raise OperationalError("connection to server at 127.0.0.1, port 5432 failed")


def _signed_in(alice: User) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    return client


def test_a_page_says_the_node_is_unavailable_while_its_database_is(alice: User) -> None:
    client = _signed_in(alice)
    with connection.execute_wrapper(_refuse):
        response = client.get("/cases/")  # the session itself cannot be read

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "Temporarily unavailable" in page
    assert "OperationalError" not in page
    assert client.get("/cases/").status_code == 200  # and back once the database is


def test_json_clients_get_json_and_other_failures_stay_500(
    alice: User, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _signed_in(alice)
    # Two-factor required: a middleware reads the user, before any view (and DRF) runs.
    settings.REQUIRE_TWO_FACTOR = True
    with connection.execute_wrapper(_refuse):
        api = client.get("/api/v1/cases/")
    assert api.status_code == 503
    assert api["Content-Type"] == "application/json"
    assert "database is unavailable" in api.json()["message"]
    settings.REQUIRE_TWO_FACTOR = False

    from matchmaker.web.views import cases

    broken: Callable[..., Any] = lambda *args, **kwargs: 1 / 0  # noqa: E731
    monkeypatch.setattr(cases, "search_cases", broken)
    assert client.get("/cases/").status_code == 500
