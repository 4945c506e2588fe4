"""Bad input to the case services, through the paths clinicians and scripts take (issue 14).

Labels that carry names or record numbers, over-long strings and NUL characters, variants on the
wrong chromosome for their gene, gene ids the catalogue cannot resolve, and forms with several
problems at once.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from matchmaker.cases.models import Case
from matchmaker.lib.pseudonymisation import identifier_problem
from matchmaker.web.services import create_api_token
from tests.conftest import PHENOPACKETS_DEV
from tests.factories import case_form_data

pytestmark = pytest.mark.django_db


class ApiClient:
    """Django's test client speaking JSON with an API token, as a hospital script would."""

    def __init__(self, key: str) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Token {key}"}

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(
            path, json.dumps(body), content_type="application/json", headers=self.headers
        )


@pytest.fixture
def alice_api(alice: User) -> ApiClient:
    return ApiClient(create_api_token(alice, name="validation tests")[1])


def case_json(label: str = "fam12-proband", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "label": label,
        "features": [{"id": "HP:0001250"}, {"id": "HP:0001263"}],
        "genomicFeatures": [{"gene": {"id": "NGLY1"}, "zygosity": 2}],
    }
    body.update(overrides)
    return body


def error_messages(response: Any) -> dict[str, str]:
    return {error["field"]: error["message"] for error in response.json()["errors"]}


# --- 5. Labels with names or record numbers ---------------------------------------------------


@pytest.mark.parametrize(
    ("label", "says"),
    [
        ("John Smith", "'John' is a first name"),
        ("Maria", "'Maria' is a first name"),
        ("Müller Anna", "'Anna' is a first name"),
        ("Smith, Jean-Pierre P1", "'Jean' is a first name"),
        ("giulia rossi", "'giulia' is a first name"),
        ("MRN1234567", "record number"),
        ("NHS9434765919", "record number"),
        ("K1234567", "hospital record number"),
    ],
)
def test_a_label_with_a_name_or_record_number_is_refused_on_the_form(
    alice_client: Client, label: str, says: str
) -> None:
    response = alice_client.post("/cases/new/", case_form_data(label=label))

    assert response.status_code == 400
    (message,) = response.context["form"].errors["label"]
    assert says in message
    assert "pseudonymous label" in message
    assert not Case.objects.exists()


def test_a_label_with_a_name_is_a_400_on_the_api(alice_api: ApiClient) -> None:
    response = alice_api.post("/api/v1/cases/", case_json(label="Maria"))

    assert response.status_code == 400
    assert "'Maria' is a first name" in error_messages(response)["label"]
    assert not Case.objects.exists()


@pytest.mark.parametrize(
    "label",
    ["fam12-proband", "P1 II-3", "Patient 3", "case presentation", "Kim_2015_P1", "UDN949414_P2"],
)
def test_pseudonymous_labels_are_accepted_on_the_form(alice_client: Client, label: str) -> None:
    response = alice_client.post("/cases/new/", case_form_data(label=label))

    assert response.status_code == 302, response.context["form"].errors
    assert Case.objects.get().label == label


def test_every_published_label_is_accepted() -> None:
    if not PHENOPACKETS_DEV.exists():
        pytest.skip(f"{PHENOPACKETS_DEV} is absent")
    with gzip.open(PHENOPACKETS_DEV, "rt") as source:
        labels = [json.loads(line)["id"] for line in source if line.strip()]

    assert len(labels) == 8483
    refused = {label: problem for label in labels if (problem := identifier_problem(label))}
    assert refused == {}
