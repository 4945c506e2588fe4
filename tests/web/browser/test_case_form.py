"""The case form in a real browser: the term picker by keyboard, gene feedback, errors in place."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from matchmaker.cases.models import Case
from tests.web.browser.conftest import log_in, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_case_is_entered_with_the_keyboard_alone(page: Page, alice: User) -> None:
    log_in(page, alice)
    page.goto("/cases/new/")
    page.get_by_label("Label").fill("fam77-proband")

    picker = page.get_by_role("combobox", name="Add a term")
    picker.fill("seiz")
    offers = page.get_by_role("listbox", name="Matching HPO terms")
    options = offers.get_by_role("option")
    expect(options.first).to_contain_text("Seizure")
    expect(offers.get_by_role("option", name="Focal-onset seizure")).to_be_visible()
    picker.press("Enter")  # the first offer, observed
    picker.fill("global developmental")
    expect(options.first).to_contain_text("Global developmental delay")
    picker.press("Enter")
    picker.fill("microcephaly")
    expect(options.first).to_contain_text("Microcephaly")
    picker.press("Shift+Enter")  # excluded: explicitly absent

    chosen = page.get_by_role("list", name="Chosen terms")
    expect(chosen.get_by_role("listitem")).to_have_count(3)
    expect(chosen.get_by_label("Observed or excluded: Microcephaly")).to_have_value("excluded")

    page.get_by_label("Gene").first.fill("ngly1")
    expect(page.locator(".gene-status.ok")).to_contain_text("NGLY1")
    page.get_by_label("Zygosity").select_option(label="Homozygous")
    screenshot(page, "case-form")

    page.get_by_role("button", name="Save case").click()
    page.wait_for_url("**/cases/MM-*/")
    case = Case.objects.get(label="fam77-proband")
    assert {(f.hpo_id, f.observed) for f in case.features.all()} == {
        ("HP:0001250", True),
        ("HP:0001263", True),
        ("HP:0000252", False),
    }
    assert case.genomic_features.get().gene_symbol == "NGLY1"
    expect(page.get_by_role("heading", level=1)).to_contain_text(case.public_id)


def test_an_unknown_gene_is_explained_while_typing_and_refused_next_to_the_field(
    page: Page, alice: User
) -> None:
    log_in(page, alice)
    page.goto("/cases/new/")
    page.get_by_label("Label").fill("fam78-proband")
    page.get_by_label("Gene").first.fill("NOTAGENE1")
    expect(page.locator(".gene-status.bad")).to_contain_text("NOTAGENE1")
    page.get_by_role("button", name="Save case").click()
    expect(page.locator(".gene-row .error")).to_contain_text("NOTAGENE1")
    assert not Case.objects.exists()


def test_a_variant_off_its_gene_is_a_warning_the_clinician_confirms(
    page: Page, alice: User
) -> None:
    log_in(page, alice)
    page.goto("/cases/new/")
    page.get_by_label("Label").fill("fam79-proband")
    picker = page.get_by_role("combobox", name="Add a term")
    picker.fill("seiz")
    offers = page.get_by_role("listbox", name="Matching HPO terms")
    expect(offers.get_by_role("option").first).to_contain_text("Seizure")
    picker.press("Enter")
    page.get_by_label("Gene").first.fill("SCN1A")
    page.get_by_text("Variant (optional)").click()
    page.get_by_label("Chromosome").fill("7")
    page.get_by_label("Position").fill("166000000")
    page.get_by_role("button", name="Save case").click()

    warning = page.get_by_role("alert").filter(has_text="Please check before saving")
    expect(warning).to_contain_text("SCN1A is on chromosome 2, but the variant is on chromosome 7")
    expect(page.locator(".gene-row .error")).to_contain_text("SCN1A is on chromosome 2")
    assert not Case.objects.exists()

    page.get_by_label("I checked; save the case as it is").check()
    page.get_by_role("button", name="Save case").click()
    page.wait_for_url("**/cases/MM-*/")
    gene = Case.objects.get(label="fam79-proband").genomic_features.get()
    assert (gene.gene_symbol, gene.reference_name, gene.start) == ("SCN1A", "7", 165999999)
