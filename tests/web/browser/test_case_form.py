"""The case form in a real browser: the term picker by keyboard, gene feedback, errors in place."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_the_term_picker_forgives_typing_and_goes_broader_or_narrower(
    page: Page, alice: User
) -> None:
    log_in(page, alice)
    page.goto("/cases/new/")
    page.get_by_label("Label").fill("fam79-proband")
    picker = page.get_by_role("combobox", name="Add a term")
    offers = page.get_by_role("listbox", name="Matching HPO terms")
    options = offers.get_by_role("option")

    picker.fill("hypotonie")  # a typo, as typed in a hurry
    expect(options.first).to_contain_text("Hypotonia")
    picker.press("Enter")
    picker.fill("seizures")  # a plural: the term itself first, not "Nocturnal seizures"
    expect(options.first).to_contain_text("Seizure HP:0001250")

    # Seizure's neighbourhood: its parent above, itself, its children (common first) below.
    seizure = offers.get_by_role("option").filter(has_text="Seizure HP:0001250")
    seizure.get_by_role("button", name="broader / narrower").click()
    expect(options.first).to_contain_text("broader: Abnormal nervous system physiology")
    expect(offers.get_by_role("option", name="this term: Seizure")).to_be_visible()
    expect(offers.get_by_role("option", name="narrower: Focal-onset seizure")).to_be_visible()
    screenshot(page, "term-picker-neighbourhood")
    # One more step down, from the keyboard: highlight Focal-onset seizure and press →.
    focal = offers.get_by_role("option", name="narrower: Focal-onset seizure")
    focal_index = int(focal.get_attribute("id").rsplit("-", 1)[1])  # type: ignore[union-attr]
    for _ in range(focal_index - 1):  # Seizure ("this term") is highlighted to begin with
        picker.press("ArrowDown")
    expect(focal).to_have_attribute("aria-selected", "true")
    picker.press("ArrowRight")
    expect(offers.get_by_role("option", name="this term: Focal-onset seizure")).to_be_visible()
    expect(offers.get_by_role("option", name="broader: Seizure")).to_be_visible()
    offers.get_by_role("option", name="narrower: Focal impaired awareness seizure").click()

    chosen = page.get_by_role("list", name="Chosen terms")
    expect(chosen.get_by_role("listitem")).to_have_count(2)
    page.get_by_role("button", name="Save case").click()
    page.wait_for_url("**/cases/MM-*/")
    case = Case.objects.get(label="fam79-proband")
    assert {f.hpo_id for f in case.features.all()} == {"HP:0001252", "HP:0002384"}


def test_gene_rows_can_be_removed_before_and_after_saving(page: Page, alice: User) -> None:
    log_in(page, alice)
    page.goto("/cases/new/")
    page.get_by_label("Label").fill("fam80-proband")
    genes = page.get_by_label("Gene", exact=True)
    genes.nth(0).fill("NGLY1")
    page.get_by_role("button", name="Add another gene").click()
    genes.nth(1).fill("NOTAGENE1")  # a slip: this row goes, and its error with it
    expect(page.locator(".gene-status.bad")).to_contain_text("NOTAGENE1")
    page.get_by_role("button", name="Remove this gene").nth(1).click()
    expect(genes.nth(1)).to_be_hidden()
    expect(page.get_by_role("button", name="Add another gene")).to_be_focused()
    page.get_by_role("button", name="Save case").click()
    page.wait_for_url("**/cases/MM-*/")
    case = Case.objects.get(label="fam80-proband")
    assert [g.gene_symbol for g in case.genomic_features.all()] == ["NGLY1"]

    # Editing: add SCN1A, then take the stored NGLY1 out.
    page.goto(f"/cases/{case.public_id}/edit/")
    page.get_by_role("button", name="Add another gene").click()
    page.get_by_label("Gene", exact=True).last.fill("scn1a")
    expect(page.locator(".gene-status.ok").last).to_contain_text("SCN1A")
    page.get_by_role("button", name="Remove this gene (NGLY1)").click()
    screenshot(page, "gene-row-removed")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"**/cases/{case.public_id}/")
    assert [g.gene_symbol for g in case.genomic_features.all()] == ["SCN1A"]
    expect(page.get_by_text("NGLY1")).to_have_count(0)


def test_hgvs_and_acmg_entered_in_the_gene_row_come_back_in_the_phenopacket_download(
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
    page.get_by_label("Gene").first.fill("ngly1")
    expect(page.locator(".gene-status.ok")).to_contain_text("NGLY1")
    page.get_by_text("Variant (optional)").first.click()
    page.get_by_label("HGVS").first.fill("NM_018297.4:c.1891del\nNP_060767.2:p.(Gln631SerfsTer6)")
    page.get_by_label("ACMG class").first.select_option(label="Likely pathogenic")
    screenshot(page, "case-form-hgvs")
    page.get_by_role("button", name="Save case").click()
    page.wait_for_url("**/cases/MM-*/")

    with page.expect_download() as download:
        page.get_by_role("link", name="Phenopacket (JSON)").click()
    document = json.loads(Path(download.value.path()).read_text())

    [interpretation] = document["interpretations"]
    assert interpretation["progressStatus"] == "UNSOLVED"
    assert "disease" not in interpretation["diagnosis"]
    variant = interpretation["diagnosis"]["genomicInterpretations"][0]["variantInterpretation"]
    assert variant["acmgPathogenicityClassification"] == "LIKELY_PATHOGENIC"
    assert variant["variationDescriptor"]["expressions"] == [
        {"syntax": "hgvs.c", "value": "NM_018297.4:c.1891del"},
        {"syntax": "hgvs.p", "value": "NP_060767.2:p.(Gln631SerfsTer6)"},
    ]
