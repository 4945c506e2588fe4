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
