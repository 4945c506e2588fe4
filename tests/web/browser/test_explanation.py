"""Explanations in headless Chromium: a term met only at a general ancestor reads as having no
close counterpart, in the list and in the grid (no outlined cell in its row)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from matchmaker.cases.models import Institution
from matchmaker.casework.models import Match
from tests.factories import make_case
from tests.web.browser.conftest import log_in, screenshot
from tests.web.test_match_pages import features

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_clinician_sees_hypotonia_has_no_close_counterpart(
    page: Page, alice: User, institution: Institution, other_institution: Institution
) -> None:
    make_case(
        institution=other_institution,
        label="brachy",
        features=features(("HP:0000248", "HP:0007359")),  # brachycephaly, focal seizure
    )
    ours = make_case(
        institution=institution,
        owner=alice,
        label="fam70-proband",
        features=features(("HP:0001252", "HP:0001250")),  # hypotonia, seizure
    )
    match = Match.objects.get(case=ours)

    log_in(page, alice)
    page.goto(f"/matches/{match.pk}/")
    pairs = page.locator("ul.term-pairs li")
    hypotonia = pairs.filter(has_text="Hypotonia")
    expect(hypotonia).to_contain_text("has no close counterpart")
    expect(hypotonia).not_to_contain_text("Brachycephaly")
    expect(pairs.filter(has_text="Seizure").first).to_contain_text("Focal-onset seizure")
    grid_row = page.locator("table tr", has=page.locator("th", has_text="Hypotonia"))
    expect(grid_row.locator("td.best")).to_have_count(0)
    expect(page.get_by_text("Abnormality of the musculoskeletal system")).to_have_count(0)
    screenshot(page, "explanation-no-close-counterpart")
