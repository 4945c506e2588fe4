"""Federation services: peers, the audit log, and patients as MME JSON.

Answering and asking peers sequence several apps (matching, notifications, the audit log):
they are casework's (`matchmaker.casework.services.inbound` / `outbound`).
"""

from __future__ import annotations

from matchmaker.federation.services.audit import log_request, purge_expired_query_payloads
from matchmaker.federation.services.patients import (
    mme_patient_of_case,
    mme_patients_of_cases,
    validated_mme_patient,
)
from matchmaker.federation.services.peers import (
    MIN_TOKEN_LENGTH,
    add_peer,
    check_inbound_token_free,
    check_peer_base_url,
)

__all__ = [
    "MIN_TOKEN_LENGTH",
    "add_peer",
    "check_inbound_token_free",
    "check_peer_base_url",
    "log_request",
    "mme_patient_of_case",
    "mme_patients_of_cases",
    "purge_expired_query_payloads",
    "validated_mme_patient",
]
