"""Every control of every page has a label, and the pages work by keyboard, in a real browser."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page

from matchmaker.cases.models import Institution
from matchmaker.casework.models import Match
from tests.factories import make_case
from tests.web.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

# Controls a person can operate whose accessible name is missing: no <label>, no aria-label(ledby).
UNLABELLED_CONTROLS = """
() => [...document.querySelectorAll("input, select, textarea")]
  .filter((el) => el.type !== "hidden" && !el.closest("template") && el.offsetParent !== null)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                  && !el.getAttribute("aria-labelledby"))
  .map((el) => el.outerHTML)
"""


def test_every_control_on_the_clinicians_pages_has_a_label(
    page: Page, alice: User, institution: Institution, other_institution: Institution
) -> None:
    case = make_case(institution=institution, owner=alice, label="fam50-proband")
    make_case(institution=other_institution, label="elsewhere-50")
    match = Match.objects.filter(case=case).first()
    assert match is not None
    log_in(page, alice)
    for path in (
        "/cases/",
        "/cases/new/",
        f"/cases/{case.public_id}/",
        f"/cases/{case.public_id}/edit/",
        f"/cases/{case.public_id}/matches/",
        f"/matches/{match.pk}/",
        "/matches/",
        f"/matches/{match.pk}/contact/",
        "/cases/import/",
        "/accounts/password/change/",
    ):
        page.goto(path)
        assert page.evaluate(UNLABELLED_CONTROLS) == [], path


def test_the_login_form_is_usable_by_keyboard_alone(page: Page, alice: User) -> None:
    page.goto("/accounts/login/")
    # The username field has the focus from the start.
    assert page.evaluate("document.activeElement.name") == "username"
    page.keyboard.type(alice.username)
    page.keyboard.press("Tab")
    page.keyboard.type("correct horse battery staple")
    page.keyboard.press("Enter")
    page.wait_for_url("**/cases/")
