from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matchmaker.cases.interchange import case_record_from_phenopacket
from matchmaker.cases.models import Case
from matchmaker.cases.records import CaseRecord
from matchmaker.casework.management.commands._importing import ImportCommand


class Command(ImportCommand):
    help = (
        "Import GA4GH Phenopacket v2 documents: one JSON file, a folder of them, or JSON-lines, "
        "optionally gzipped. Each document is imported whole or rejected with its reason; the "
        "phenopacket id becomes the case label."
    )
    source = Case.Source.PHENOPACKET

    def parse(self, document: Mapping[str, Any]) -> CaseRecord:
        return case_record_from_phenopacket(document)
