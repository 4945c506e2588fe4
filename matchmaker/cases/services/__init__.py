"""Institution and membership services. Cases themselves are written by `matchmaker.casework`."""

from __future__ import annotations

from matchmaker.cases.services.members import (
    add_member,
    change_member_role,
    ensure_institution,
    send_invitation,
    set_member_active,
)

__all__ = [
    "add_member",
    "change_member_role",
    "ensure_institution",
    "send_invitation",
    "set_member_active",
]
