"""Federation services: answering peers (inbound), asking them (outbound), peers, audit log."""

from __future__ import annotations

from matchmaker.federation.services.audit import log_request, purge_expired_query_payloads
from matchmaker.federation.services.inbound import (
    MatchAnswer,
    answer_match_request,
    mme_patient_of_case,
)
from matchmaker.federation.services.peers import (
    MIN_TOKEN_LENGTH,
    add_peer,
    check_inbound_token_free,
    check_peer_base_url,
)

__all__ = [
    "MIN_TOKEN_LENGTH",
    "MatchAnswer",
    "add_peer",
    "answer_match_request",
    "check_inbound_token_free",
    "check_peer_base_url",
    "log_request",
    "mme_patient_of_case",
    "purge_expired_query_payloads",
]
