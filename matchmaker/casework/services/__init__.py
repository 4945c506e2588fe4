"""Casework services: the only code that writes cases and matches. See `lifecycle` for cases,
`matches` for local matches and triage, `inbound`/`outbound` for peers' queries and ours,
`rescoring` for matches scored by an earlier scoring method or HPO release."""

from __future__ import annotations

from matchmaker.casework.services.lifecycle import (
    ImportReport,
    delete_case,
    import_case_records,
    reactivate_case,
    record_consent,
    submit_case,
    update_case,
    validate,
    withdraw_case,
)
from matchmaker.casework.services.storage import CaseOwnership

__all__ = [
    "CaseOwnership",
    "ImportReport",
    "delete_case",
    "import_case_records",
    "reactivate_case",
    "record_consent",
    "submit_case",
    "update_case",
    "validate",
    "withdraw_case",
]
