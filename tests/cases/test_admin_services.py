"""The Django admin changes cases through the case services, as the pages and the API do.

Through the admin's own forms (the delete confirmation, the bulk delete action, the change form):
a delete erases the case from the MME audit log exactly as `delete_case` does, a withdrawal
removes the case's matches on both sides, consent is recorded with who and when.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.test import Client

from matchmaker.cases.models import Case, Institution
from matchmaker.casework.models import Match
from matchmaker.casework.services import delete_case
from matchmaker.casework.services.matches import run_matching
from matchmaker.federation.models import MmeRequestLog, Peer
from matchmaker.federation.services import add_peer
from tests.factories import make_case
from tests.federation.conftest import PEER_TOKEN, mme_patient, post_match

pytestmark = pytest.mark.django_db


@pytest.fixture
def root() -> User:
    return User.objects.create_superuser("root", "root@example.org", "irrelevant-password-1")


@pytest.fixture
def admin_client(root: User) -> Client:
    client = Client()
    client.force_login(root)
    return client


@pytest.fixture
def peer(db: None) -> Peer:
    return add_peer("Audit Peer", inbound_token=PEER_TOKEN)


@pytest.fixture
def ask(eager_tasks: None, django_capture_on_commit_callbacks: Any) -> Any:
    """A peer's /mme/match query, with what follows its commit run here."""

    def post(patient_id: str) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            response = post_match(Client(), {"patient": mme_patient(id=patient_id)})
        assert response.status_code == 200, response.content

    return post


def audit_traces(doomed: Case, kept: Case, *, after_id: int = 0) -> list[Any]:
    """The audit rows (from `after_id` on) as they stand, the two cases' public ids replaced, to
    compare pairs (the log is append-only on PostgreSQL: rows cannot be cleared in between)."""
    rows = MmeRequestLog.objects.filter(endpoint="match", pk__gt=after_id).order_by("id")
    return [
        json.loads(
            json.dumps([row.returned_case_ids, row.query_payload is not None, row.result_count])
            .replace(doomed.public_id, "DOOMED")
            .replace(kept.public_id, "KEPT")
        )
        for row in rows
    ]


def logged_case_pair(institution: Institution, ask: Any, name: str) -> tuple[Case, Case]:
    """A case a peer's query alone returned, and one returned along with a case that stays."""
    doomed = make_case(institution=institution, consented=True, label=f"{name}-doomed")
    ask(f"{name}-only")
    kept = make_case(institution=institution, consented=True, label=f"{name}-kept")
    ask(f"{name}-both")
    return doomed, kept


def test_deleting_in_the_admin_erases_the_audit_log_exactly_as_the_service_does(
    admin_client: Client, institution: Institution, peer: Peer, ask: Any
) -> None:
    by_service, kept_by_service = logged_case_pair(institution, ask, "service")
    delete_case(by_service)
    after_service = audit_traces(by_service, kept_by_service)
    assert after_service == [[[], False, 1], [["KEPT"], True, 2]]
    delete_case(kept_by_service)  # the next pair's queries must not return it

    first_admin_row = MmeRequestLog.objects.order_by("id").last().pk
    by_admin, kept = logged_case_pair(institution, ask, "admin")
    assert by_admin.public_id in json.dumps(
        list(MmeRequestLog.objects.values_list("returned_case_ids", flat=True))
    )
    page = admin_client.get(f"/admin/cases/case/{by_admin.pk}/delete/")
    assert page.status_code == 200
    response = admin_client.post(f"/admin/cases/case/{by_admin.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302

    assert not Case.objects.filter(pk=by_admin.pk).exists()
    assert audit_traces(by_admin, kept, after_id=first_admin_row) == after_service
    # Concretely: the query only it matched lost its payload, the other one lost the case.
    only, both = MmeRequestLog.objects.filter(endpoint="match", pk__gt=first_admin_row).order_by(
        "id"
    )
    assert (only.returned_case_ids, only.query_payload) == ([], None)
    assert both.returned_case_ids == [kept.public_id]
    assert by_admin.public_id not in json.dumps(
        list(MmeRequestLog.objects.values("query_payload", "returned_case_ids", "error"))
    )
    # The admin's own history of the case keeps the deletion, not the case's id or label.
    history = list(LogEntry.objects.values_list("object_repr", "change_message"))
    assert history == [("(erased case)", "")]


def test_the_admins_bulk_delete_action_erases_every_case_from_the_audit_log(
    admin_client: Client, institution: Institution, peer: Peer, ask: Any
) -> None:
    first = make_case(institution=institution, consented=True, label="bulk-1")
    second = make_case(institution=institution, consented=True, label="bulk-2")
    ask("bulk-query")
    assert set(MmeRequestLog.objects.get(endpoint="match").returned_case_ids) == {
        first.public_id,
        second.public_id,
    }

    response = admin_client.post(
        "/admin/cases/case/",
        {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Case.objects.filter(pk__in=[first.pk, second.pk]).exists()
    row = MmeRequestLog.objects.get(endpoint="match")
    assert (row.returned_case_ids, row.query_payload) == ([], None)


def change_form_data(admin_client: Client, case: Case, **changes: Any) -> dict[str, Any]:
    """What the admin's change form posts for `case` unchanged, with `changes` applied."""
    page = admin_client.get(f"/admin/cases/case/{case.pk}/change/")
    data: dict[str, Any] = {}
    form = page.context["adminform"].form
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None or value is False:
            continue
        data[name] = json.dumps(value) if isinstance(value, list | dict) else value
    for formset in page.context["inline_admin_formsets"]:
        formset = formset.formset
        data[f"{formset.prefix}-TOTAL_FORMS"] = str(len(formset.forms))
        data[f"{formset.prefix}-INITIAL_FORMS"] = str(formset.initial_form_count())
        for inline in formset.forms:
            for name, field in inline.fields.items():
                value = inline.initial.get(name, field.initial)
                if value is not None and value is not False:
                    data[inline.add_prefix(name)] = value
    data.update(changes)
    return data


def test_withdrawing_in_the_admin_removes_the_matches_on_both_sides(
    admin_client: Client,
    eager_tasks: None,
    institution: Institution,
    other_institution: Institution,
) -> None:
    ours = make_case(institution=institution, label="admin-ours")
    theirs = make_case(institution=other_institution, label="admin-theirs")
    run_matching(ours.pk, notify=False)
    assert Match.objects.filter(removed_at__isnull=True).count() == 2

    response = admin_client.post(
        f"/admin/cases/case/{ours.pk}/change/",
        change_form_data(admin_client, ours, status="withdrawn"),
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    ours.refresh_from_db()
    assert ours.status == Case.Status.WITHDRAWN
    assert ours.withdrawn_at is not None
    assert Match.objects.filter(removed_at__isnull=True).count() == 0
    assert Match.objects.filter(case=theirs).get().removed_at is not None


def test_consent_given_in_the_admin_is_recorded_with_who_and_when(
    admin_client: Client, root: User, institution: Institution
) -> None:
    case = make_case(institution=institution, label="admin-consent")
    assert not case.external_matching_consent

    response = admin_client.post(
        f"/admin/cases/case/{case.pk}/change/",
        change_form_data(
            admin_client,
            case,
            external_matching_consent="on",
            consent_note="form signed 2026-12-01",
            consent_recorded_by="",  # read-only now: a forged value is ignored
        ),
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    case.refresh_from_db()
    assert case.external_matching_consent
    assert case.consent_recorded_by == root
    assert case.consent_recorded_at is not None
    assert case.consent_note == "form signed 2026-12-01"
