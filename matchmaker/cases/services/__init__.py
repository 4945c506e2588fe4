"""Case services: the only code that writes cases. See `lifecycle` for the operations."""

from __future__ import annotations

from matchmaker.cases.services.lifecycle import (
    ImportReport,
    delete_case,
    ensure_institution,
    import_case_records,
    reactivate_case,
    record_consent,
    submit_case,
    update_case,
    validate,
    withdraw_case,
)
from matchmaker.cases.services.members import (
    add_member,
    change_member_role,
    send_invitation,
    set_member_active,
)
from matchmaker.cases.services.storage import CaseOwnership

__all__ = [
    "CaseOwnership",
    "ImportReport",
    "add_member",
    "change_member_role",
    "delete_case",
    "ensure_institution",
    "import_case_records",
    "reactivate_case",
    "record_consent",
    "send_invitation",
    "set_member_active",
    "submit_case",
    "update_case",
    "validate",
    "withdraw_case",
]
