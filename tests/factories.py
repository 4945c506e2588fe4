"""Small builders for test data."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from matchmaker.cases.models import Case, Institution
from matchmaker.cases.records import CaseRecord, FeatureRecord, GenomicFeatureRecord
from matchmaker.cases.services import submit_case


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
