"""At phone width (375 px) no page scrolls sideways: wide tables scroll in their own box."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from matchmaker.cases.models import Institution, Membership
from matchmaker.casework.models import Match
from tests.factories import make_case
from tests.web.browser.conftest import log_in, screenshot

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 375, "height": 812}


def _overflow(page: Page) -> list[str]:
    """Elements sticking out past the right edge of the page (to name the culprit on failure)."""
    return page.evaluate(
        """() => {
        const width = document.documentElement.clientWidth;
        const out = [];
        for (const element of document.querySelectorAll("body *")) {
          const box = element.getBoundingClientRect();
          const clipped = element.parentElement.closest(".table-scroll, .comparison-grid");
          if (box.right > width + 0.5 && box.width > 0 && !clipped) {
            out.push(element.tagName.toLowerCase() + (element.className ? "." + element.className : "") + " " + Math.round(box.right));
          }
        }
        return out.slice(0, 10);
      }"""
    )


def _assert_no_sideways_scroll(page: Page, name: str) -> None:
    page.wait_for_load_state("networkidle")
    screenshot(page, f"phone-{name}")
    fits = page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    assert fits, f"{name} scrolls sideways at 375 px: {_overflow(page)}"


def test_the_clinicians_pages_fit_a_phone(
    page: Page, alice: User, institution: Institution
) -> None:
    Membership.objects.filter(user=alice).update(role=Membership.Role.ADMIN)
    case = make_case(institution=institution, owner=alice, label="fam93-proband-with-a-long-label")
    make_case(institution=institution, label="fam94-proband")
    match = Match.objects.filter(case=case).first()
    assert match is not None
    page.set_viewport_size(PHONE)
    log_in(page, alice)

    page.goto("/cases/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    _assert_no_sideways_scroll(page, "case-list")
    page.goto("/institution/members/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    _assert_no_sideways_scroll(page, "members")
    page.goto(f"/cases/{case.public_id}/matches/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(case.public_id)
    _assert_no_sideways_scroll(page, "case-matches")
    page.goto("/matches/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    _assert_no_sideways_scroll(page, "matches-inbox")
    page.goto(f"/matches/{match.pk}/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    _assert_no_sideways_scroll(page, "match-detail")
    page.goto(f"/cases/{case.public_id}/")
    _assert_no_sideways_scroll(page, "case-detail")
    page.goto("/cases/new/")
    _assert_no_sideways_scroll(page, "case-form")
