"""The Django admin: finding cases, and refusing what the case services would refuse."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from matchmaker.cases.models import Case, Institution
from matchmaker.cases.records import GenomicFeatureRecord
from matchmaker.reference.models import ReferenceRelease
from tests.factories import make_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged_in(client: Client) -> Client:
    admin = User.objects.create_superuser("root", "root@example.org", "irrelevant-password-1")
    client.force_login(admin)
    return client


def new_case_form(institution: Institution, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "label": "admin-entered-1",
        "institution": institution.pk,
        "status": "active",
        "source": "entered",
        "external_references": "[]",
        "extra": "{}",
        "features-TOTAL_FORMS": "1",
        "features-INITIAL_FORMS": "0",
        "features-0-hpo_id": "HP:0001250",
        "features-0-observed": "on",
        "genomic_features-TOTAL_FORMS": "1",
        "genomic_features-INITIAL_FORMS": "0",
        "genomic_features-0-submitted_gene_id": "NGLY1",
        "genomic_features-0-zygosity": "2",
        "disorders-TOTAL_FORMS": "0",
        "disorders-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_the_changelist_finds_cases_by_gene_term_label_and_public_id(
    admin_client_logged_in: Client, institution: Institution
) -> None:
    ngly1 = make_case(institution=institution, label="ngly1-case")
    other = make_case(
        institution=institution,
        label="eftud2-case",
        genomic_features=(GenomicFeatureRecord(gene_id="EFTUD2"),),
    )
    for query, expected, absent in [
        ("NGLY1", ngly1, other),
        ("ngly1", ngly1, other),
        ("NCBIGene:55768", ngly1, other),
        ("EFTUD2", other, ngly1),
        (ngly1.public_id, ngly1, other),
        ("eftud2-case", other, ngly1),
    ]:
        page = admin_client_logged_in.get("/admin/cases/case/", {"q": query}).content.decode()
        assert expected.public_id in page, query
        assert absent.public_id not in page, query
    page = admin_client_logged_in.get("/admin/cases/case/", {"q": "HP:0001250"}).content.decode()
    assert ngly1.public_id in page
    assert other.public_id in page


def test_the_changelist_filters_by_institution_consent_and_status(
    admin_client_logged_in: Client, institution: Institution, other_institution: Institution
) -> None:
    mine = make_case(institution=institution, consented=True)
    theirs = make_case(institution=other_institution)
    page = admin_client_logged_in.get(
        "/admin/cases/case/", {"external_matching_consent__exact": "1"}
    ).content.decode()
    assert mine.public_id in page
    assert theirs.public_id not in page
    page = admin_client_logged_in.get(
        "/admin/cases/case/", {"institution__id__exact": other_institution.pk}
    ).content.decode()
    assert theirs.public_id in page
    assert mine.public_id not in page


def test_adding_a_case_resolves_terms_and_genes(
    admin_client_logged_in: Client, institution: Institution
) -> None:
    data = new_case_form(institution)
    response = admin_client_logged_in.post("/admin/cases/case/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    case = Case.objects.get(label="admin-entered-1")
    assert case.public_id.startswith("MM-")
    assert case.hpo_release == "2025-01-16"
    gene = case.genomic_features.get()
    assert (gene.gene_id, gene.gene_symbol, gene.submitted_gene_id) == (
        "NCBIGene:55768",
        "NGLY1",
        "NGLY1",
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"features-0-hpo_id": "HP:9999999"}, "HP:9999999"),
        ({"features-0-hpo_id": "HP:0000007"}, "not a phenotypic"),
        (
            {"genomic_features-0-submitted_gene_id": "NOTAGENE1"},
            "NOTAGENE1",
        ),
        ({"label": "John Smith 1990"}, "pseudonymous"),
    ],
)
def test_adding_a_case_refuses_what_the_services_refuse(
    admin_client_logged_in: Client,
    institution: Institution,
    overrides: dict[str, str],
    message: str,
) -> None:
    response = admin_client_logged_in.post(
        "/admin/cases/case/add/", new_case_form(institution, **overrides)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Case.objects.exists()


def test_an_alternative_id_of_a_term_already_listed_is_refused_not_crashed(
    admin_client_logged_in: Client, institution: Institution
) -> None:
    data = new_case_form(
        institution,
        **{"features-TOTAL_FORMS": "2", "features-1-hpo_id": "HP:0001275"},  # alt id of Seizure
    )
    response = admin_client_logged_in.post("/admin/cases/case/add/", data)
    assert response.status_code == 200
    assert "duplicate" in response.content.decode().lower()
    assert not Case.objects.exists()


def test_withdrawing_in_the_admin_records_when(
    admin_client_logged_in: Client, institution: Institution
) -> None:
    case = make_case(institution=institution)
    page = admin_client_logged_in.get(f"/admin/cases/case/{case.pk}/change/")
    assert page.status_code == 200
    assert "Seizure" in page.content.decode()  # term labels are shown next to ids
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name in form.fields
    }
    data.update(
        {
            "institution": institution.pk,
            "status": "withdrawn",
            "external_references": "[]",
            "extra": "{}",
            "features-TOTAL_FORMS": "0",
            "features-INITIAL_FORMS": "0",
            "genomic_features-TOTAL_FORMS": "0",
            "genomic_features-INITIAL_FORMS": "0",
            "disorders-TOTAL_FORMS": "0",
            "disorders-INITIAL_FORMS": "0",
        }
    )
    data.pop("consent_recorded_at", None)
    response = admin_client_logged_in.post(f"/admin/cases/case/{case.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    case.refresh_from_db()
    assert case.status == Case.Status.WITHDRAWN
    assert case.withdrawn_at is not None


def test_reference_releases_are_read_only(admin_client_logged_in: Client) -> None:
    release = ReferenceRelease.objects.create(kind="hpo", version="2025-01-16")
    assert admin_client_logged_in.get("/admin/reference/referencerelease/").status_code == 200
    assert admin_client_logged_in.get("/admin/reference/referencerelease/add/").status_code == 403
    response = admin_client_logged_in.post(
        f"/admin/reference/referencerelease/{release.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 403
    assert ReferenceRelease.objects.filter(pk=release.pk).exists()
