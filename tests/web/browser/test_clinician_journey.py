"""The clinician's whole journey in headless Chromium, as issue 6 lists it:

log in -> create a case with the term picker -> see its local matches -> open a match and see the
comparison -> set the triage status -> import a phenopacket file -> export it.
Screenshots of the case form, the matches page and the comparison go to test-artifacts/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from matchmaker.cases.interchange import phenopacket_from_case_record
from matchmaker.cases.models import Case, Institution
from matchmaker.casework.models import Match, MatchEvent
from tests.factories import make_case, make_record
from tests.web.browser.conftest import log_in, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def _phenopacket_file(folder: Path) -> Path:
    """A phenopacket as another system would send it: seizures, delay and NGLY1."""
    record = make_record(label="import-fam3")
    document = phenopacket_from_case_record(
        record, subject_id="import-fam3", created_by="Another hospital"
    )
    path = folder / "import-fam3.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _enter_case(page: Page) -> None:
    page.goto("/cases/new/")
    page.get_by_label("Label").fill("fam90-proband")
    picker = page.get_by_role("combobox", name="Add a term")
    offers = page.get_by_role("listbox", name="Matching HPO terms").get_by_role("option")
    for typed, expected in (
        ("seiz", "Seizure"),
        ("global developmental", "Global developmental delay"),
        ("hypotonia", "Hypotonia"),
    ):
        picker.fill(typed)
        expect(offers.first).to_contain_text(expected)
        picker.press("Enter")
    picker.fill("microcephaly")
    expect(offers.first).to_contain_text("Microcephaly")
    picker.press("Shift+Enter")
    page.get_by_label("Gene").first.fill("NGLY1")
    expect(page.locator(".gene-status.ok")).to_contain_text("NGLY1")
    screenshot(page, "case-form")
    page.get_by_role("button", name="Save case").click()
    page.wait_for_url("**/cases/MM-*/")


def test_a_clinician_enters_triages_imports_and_exports(
    page: Page, alice: User, other_institution: Institution, tmp_path: Path
) -> None:
    # A similar case recorded by another hospital on this node: the local match to find.
    elsewhere = make_case(institution=other_institution, label="elsewhere-7")

    log_in(page, alice)
    _enter_case(page)
    case = Case.objects.get(label="fam90-proband")

    # Its local matches: recorded by the matching task right after saving.
    page.get_by_role("link", name="Matches (").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Matches of")
    match_link = page.get_by_role("link", name=elsewhere.public_id)
    expect(match_link).to_be_visible()
    expect(page.get_by_text("elsewhere-7")).to_have_count(0)  # another team's label stays theirs
    screenshot(page, "matches-page")

    # The comparison: which term met which, through which common ancestor.
    match_link.click()
    expect(page.get_by_role("heading", name="Phenotypes side by side")).to_be_visible()
    grid = page.get_by_role("table").filter(has_text="Observed terms of")
    expect(grid).to_contain_text("Seizure")
    expect(grid).to_contain_text("Global developmental delay")
    screenshot(page, "match-comparison")

    # Triage, with history.
    page.get_by_label("Contacted").check()
    page.get_by_label("Notes").fill("Wrote to the other team on 21 Nov.")
    page.get_by_role("button", name="Save triage").click()
    expect(page.locator("#triage").get_by_role("list").last).to_contain_text("Contacted")
    match = Match.objects.get(case=case, matched_case=elsewhere)
    assert match.status == Match.Status.CONTACTED
    assert MatchEvent.objects.get(match=match).notes == "Wrote to the other team on 21 Nov."

    # Import a phenopacket file, then export the case it made.
    page.get_by_role("link", name="Import").click()
    page.get_by_label("Phenopacket files").set_input_files(str(_phenopacket_file(tmp_path)))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("status").filter(has_text="Imported")).to_contain_text("Imported 1")
    imported = Case.objects.get(label="import-fam3")
    screenshot(page, "import-report")
    page.get_by_role("link", name=imported.public_id).click()

    with page.expect_download() as download:
        page.get_by_role("link", name="Phenopacket (JSON)").click()
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert download.value.suggested_filename == f"{imported.public_id}.phenopacket.json"
    assert exported["subject"]["id"] == imported.public_id
    assert {feature["type"]["id"] for feature in exported["phenotypicFeatures"]} == {
        "HP:0001250",
        "HP:0001263",
        "HP:0000252",
    }


def test_the_matches_page_fits_a_tablet(page: Page, alice: User, institution: Institution) -> None:
    case = make_case(institution=institution, owner=alice, label="fam91-proband")
    make_case(institution=institution, label="fam92-proband")
    assert Match.objects.filter(case=case).exists()
    page.set_viewport_size({"width": 768, "height": 1024})
    log_in(page, alice)
    page.goto(f"/cases/{case.public_id}/matches/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(case.public_id)
    # Wide tables scroll inside their own box; the page itself never scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "matches-page-tablet")
