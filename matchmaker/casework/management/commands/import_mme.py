from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matchmaker.cases.interchange import case_record_from_mme_patient
from matchmaker.cases.models import Case
from matchmaker.cases.records import CaseRecord
from matchmaker.casework.management.commands._importing import ImportCommand


class Command(ImportCommand):
    help = (
        "Import MME patient objects (a JSON list such as the MME benchmark patients, or "
        "JSON-lines). Each patient is imported whole or rejected with its reason; the patient's "
        "id becomes the case label."
    )
    source = Case.Source.MME

    def parse(self, document: Mapping[str, Any]) -> CaseRecord:
        return case_record_from_mme_patient(document)
