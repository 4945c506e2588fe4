"""The Content-Security-Policy in a real browser: the pages break none of it, htmx still works,
the Swagger UI renders under its own policy, and two-factor login works end to end."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django_otp.oath import TOTP, hotp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from matchmaker.casework.models import Match
from matchmaker.casework.services.matches import run_matching
from tests.factories import make_case
from tests.web.browser.conftest import PASSWORD, log_in, screenshot
from tests.web.two_factor_codes import clear_of_step_boundary

pytestmark = pytest.mark.django_db(transaction=True)

# Runs before any page script, in every document: records what the browser refused.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@pytest.fixture
def watched(page: Page) -> list[str]:
    """Every CSP violation of the tab: its securitypolicyviolation events and console reports."""
    problems: list[str] = []
    page.add_init_script(RECORD_VIOLATIONS)
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if "Content Security Policy" in message.text
            or "Content-Security-Policy" in message.text
            else None
        ),
    )
    return problems


def _violations(page: Page, problems: list[str]) -> list[str]:
    return problems + [f"event: {v}" for v in page.evaluate("window.__cspViolations || []")]


def test_the_case_form_matches_and_match_detail_break_no_policy_and_htmx_works(
    page: Page, watched: list[str], alice: User, bob: User, institution
) -> None:
    make_case(institution=institution, owner=bob, consented=True, label="fam31-proband")
    ours = make_case(institution=institution, owner=alice, consented=True, label="fam30-proband")
    run_matching(ours.pk, notify=False)
    match = Match.objects.get(case=ours)
    log_in(page, alice)

    page.goto("/cases/new/")
    picker = page.get_by_role("combobox", name="Add a term")
    picker.fill("seiz")
    expect(
        page.get_by_role("listbox", name="Matching HPO terms").get_by_role("option").first
    ).to_contain_text("Seizure")
    page.get_by_label("Gene").first.fill("ngly1")
    # The gene check is an htmx request: it still runs and swaps its answer in.
    expect(page.locator(".gene-status.ok")).to_contain_text("NGLY1")
    assert _violations(page, watched) == []

    page.goto(f"/cases/{ours.public_id}/matches/")
    bar = page.locator("svg.scorebar rect").first
    expect(bar).to_be_visible()
    # The score bar is drawn from the SVG's width attribute, not an inline style.
    width = bar.evaluate("rect => rect.getBoundingClientRect().width")
    assert 0 < width <= bar.evaluate("r => r.ownerSVGElement.getBoundingClientRect().width")
    assert _violations(page, watched) == []

    page.goto(f"/matches/{match.pk}/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    screenshot(page, "match-detail-under-csp")
    assert _violations(page, watched) == []
    assert page.evaluate("document.querySelectorAll('style').length") == 0


def test_saving_triage_with_htmx_keeps_the_console_clean(
    page: Page, watched: list[str], alice: User, bob: User, institution
) -> None:
    """htmx injects an inline <style> for its request indicators unless told not to (the
    htmx-config meta tag): the policy refuses it, once per page and swap."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    make_case(institution=institution, owner=bob, consented=True, label="fam33-proband")
    ours = make_case(institution=institution, owner=alice, consented=True, label="fam32-proband")
    run_matching(ours.pk, notify=False)
    match = Match.objects.get(case=ours)
    log_in(page, alice)

    page.goto(f"/matches/{match.pk}/")
    for status, notes in (("Contacted", "called them"), ("Dismissed", "different phenotype")):
        page.get_by_label(status).check()
        page.get_by_label("Notes").fill(notes)
        page.get_by_role("button", name="Save triage").click()
        expect(page.locator("#triage .history")).to_contain_text(notes)
        expect(page.locator("#match-status-badge")).to_have_text(status)

    # Saved by htmx, in place: the page was never reloaded.
    assert page.url.endswith(f"/matches/{match.pk}/")
    assert page.evaluate("document.querySelectorAll('style').length") == 0
    assert _violations(page, watched) == []
    assert errors == []


def test_the_swagger_ui_renders_under_its_own_policy_and_the_admin_under_the_strict_one(
    page: Page, watched: list[str], admin_user: User
) -> None:
    log_in_as(page, "admin", "password", landing="**/cases/")

    page.goto("/api/docs/")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("matchmaker API")
    expect(page.locator(".opblock-tag").first).to_be_visible()
    screenshot(page, "api-docs-under-csp")
    assert _violations(page, watched) == []
    # The admin's own pages keep to the strict policy.
    page.goto("/admin/federation/peer/add/")
    expect(page.get_by_role("heading", name="Add peer")).to_be_visible()
    page.goto("/admin/federation/mmerequestlog/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert _violations(page, watched) == []


def test_two_factor_set_up_and_login_in_the_browser(
    page: Page, watched: list[str], alice: User
) -> None:
    log_in(page, alice)
    page.get_by_role("link", name="Two-factor").click()
    page.get_by_role("button", name="Set up two-factor login").click()
    expect(page.locator(".qr-code svg")).to_be_visible()
    device = TOTPDevice.objects.get(user=alice)
    page.get_by_role("textbox", name="Code").fill(_next_code(device))
    screenshot(page, "two-factor-set-up")
    page.get_by_role("button", name="Turn on two-factor login").click()
    expect(page.get_by_text("Two-factor login is on.").first).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    log_in_as(page, "alice", PASSWORD, landing="**/accounts/login/code/**")
    page.get_by_role("textbox", name="Code").fill(_next_code(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/cases/")
    assert _violations(page, watched) == []


def log_in_as(page: Page, username: str, password: str, *, landing: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(landing)


def _next_code(device: TOTPDevice) -> str:
    device.refresh_from_db()
    clear_of_step_boundary(device, margin=10.0)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    step = max(device.last_t + 1, totp.t() - device.tolerance)
    return f"{hotp(device.bin_key, step, digits=device.digits):0{device.digits}d}"
