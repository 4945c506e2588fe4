"""Explanations in headless Chromium: a term met only at a general ancestor reads as having no
close counterpart, in the list and in the grid (no outlined cell in its row); the known diseases
both patients resemble come with their share of the score, or a word on why they were not used;
a known disease that explains the other patient better than ours is named with what it cost."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from matchmaker.cases.models import Institution
from matchmaker.casework.models import Match
from tests.factories import make_case
from tests.web.browser.conftest import log_in, screenshot
from tests.web.test_match_pages import MARFAN_LIKE, PARTLY_MARFAN, features

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
    # Hypotonia and seizure resemble hundreds of known diseases about equally: no bridge.
    diseases = page.locator("section", has=page.locator("#diseases-heading"))
    expect(diseases).to_contain_text("Not used for this score")
    expect(diseases.locator("ul.shared-diseases li")).to_have_count(0)
    screenshot(page, "explanation-no-close-counterpart")


def test_a_clinician_sees_the_known_diseases_both_resemble_and_their_share(
    page: Page, alice: User, institution: Institution, other_institution: Institution
) -> None:
    # NGLY1-like: developmental delay, hypotonia, elevated transaminases, alacrima, ...
    ngly1_like = features(("HP:0001263", "HP:0001252", "HP:0100022", "HP:0000522", "HP:0002910"))
    make_case(institution=other_institution, label="theirs", features=ngly1_like)
    ours = make_case(institution=institution, owner=alice, label="ours", features=ngly1_like)
    match = Match.objects.get(case=ours)
    share = round(100 * match.explanation["disease_bridge_share"])
    assert 0 < share <= 60

    log_in(page, alice)
    page.goto(f"/matches/{match.pk}/")
    diseases = page.locator("section", has=page.locator("#diseases-heading"))
    expect(diseases).to_contain_text(f"{share}% of the phenotype score")
    listed = diseases.locator("ul.shared-diseases li")
    expect(listed.first).to_be_visible()
    expect(listed.first).to_contain_text(match.explanation["shared_diseases"][0]["disease_id"])


def test_a_clinician_reads_which_known_disease_lowered_the_score(
    page: Page,
    settings: Any,
    alice: User,
    institution: Institution,
    other_institution: Institution,
) -> None:
    settings.MATCHING_MIN_SCORE = 0.0
    make_case(institution=other_institution, label="theirs", features=features(MARFAN_LIKE))
    ours = make_case(
        institution=institution, owner=alice, label="ours", features=features(PARTLY_MARFAN)
    )
    match = Match.objects.get(case=ours)
    closer = match.explanation["closer_disease"]
    assert closer["disease_id"] == "OMIM:154700"

    log_in(page, alice)
    page.goto(f"/matches/{match.pk}/")
    reason = page.locator("#closer-disease")
    expect(reason).to_be_visible()
    expect(reason).to_contain_text(closer["disease_id"])
    expect(reason).to_contain_text("more closely than this patient does")
    expect(reason).to_contain_text(f"lowered by {closer['lowered_by']:.2f}")
    expect(reason).not_to_contain_text("penalty")
    screenshot(page, "explanation-closer-disease")
