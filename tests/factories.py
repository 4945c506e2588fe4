"""Small builders for test data."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from matchmaker.cases.models import Case, Institution
from matchmaker.cases.records import CaseRecord, FeatureRecord, GenomicFeatureRecord
from matchmaker.casework.services import submit_case


def make_record(**overrides: Any) -> CaseRecord:
    """A valid record: seizures and developmental delay, NGLY1 as candidate gene."""
    fields: dict[str, Any] = {
        "label": "fam12-proband",
        "features": (
            FeatureRecord("HP:0001250"),
            FeatureRecord("HP:0001263"),
            FeatureRecord("HP:0000252", observed=False),
        ),
        "genomic_features": (GenomicFeatureRecord(gene_id="NGLY1", zygosity=2),),
        "sex": "FEMALE",
    }
    fields.update(overrides)
    return CaseRecord(**fields)


def make_case(
    *,
    institution: Institution,
    owner: User | None = None,
    consented: bool = False,
    **overrides: Any,
) -> Case:
    return submit_case(
        make_record(**overrides), institution=institution, owner=owner, consented=consented
    )


def case_form_data(**overrides: Any) -> dict[str, Any]:
    """What the browser posts for a case with two observed terms, one excluded, and NGLY1."""
    data: dict[str, Any] = {
        "label": "fam40-proband",
        "sex": "FEMALE",
        "age_of_onset": "HP:0003593",  # Infantile onset
        "inheritance_mode": "HP:0000007",  # Autosomal recessive inheritance
        "observed_terms": ["HP:0001250", "HP:0001263"],
        "excluded_terms": ["HP:0000252"],
        "disorders": "",
        "contact_name": "",
        "contact_email": "",
        "contact_href": "",
        "consent_note": "",
        "genes-TOTAL_FORMS": "1",
        "genes-INITIAL_FORMS": "0",
        "genes-MIN_NUM_FORMS": "0",
        "genes-MAX_NUM_FORMS": "20",
        "genes-0-gene": "ngly1",
        "genes-0-zygosity": "2",
        "genes-0-assembly": "GRCh38",
        "genes-0-chromosome": "",
        "genes-0-position": "",
        "genes-0-reference_bases": "",
        "genes-0-alternate_bases": "",
    }
    data.update(overrides)
    return data
