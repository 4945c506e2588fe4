"""Keeping a case's matches with peers' patients in step with the case after its owner edits it.

A remote match holds the peer's patient as the peer sent it; our side is read live. After an
edit, the stored explanation (and our score of an incoming match) describe the case as it was,
while the page compares the case as it is: "Hypotonia met Hypotonia" next to "excludes
Hypotonia". So an edit re-explains every current remote match from what is stored: an incoming
match (a peer's query, scored by us) is also re-scored; an outgoing one (our query, scored by
the peer) keeps the peer's score, marked out of date until the next search replaces it.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from matchmaker.cases.models import Case
from matchmaker.casework.models import Match
from matchmaker.casework.services.inbound import query_of_mme_patient
from matchmaker.lib.errors import FieldValidationError
from matchmaker.matching import services as matching

OUT_OF_DATE_NOTE = (
    "your case was edited after {peer} scored this match: the score is from before the edit "
    "until the next search at {peer}; the explanation is of the case as it is now"
)


@transaction.atomic
def refresh_remote_matches(case: Case) -> int:
    """Re-explain (and, where the score is ours, re-score) the case's current remote matches.

    Reads the case's features and genes as stored now; costs one explanation (~15 ms) per
    current remote match. Returns how many matches were refreshed.
    """
    return _refresh(case, [Match.Direction.INCOMING, Match.Direction.OUTGOING])


@transaction.atomic
def rescore_incoming_matches(case: Case) -> int:
    """Re-score and re-explain the case's current incoming matches with this process's scoring.

    For matches scored by an earlier scoring method or HPO release (`rescore_stale_matches`):
    the peer's patient is read again from the stored snapshot. Outgoing matches keep the
    peer's score; the peer re-scores them on the next search. Returns how many were re-scored.
    """
    return _refresh(case, [Match.Direction.INCOMING])


def _refresh(case: Case, directions: list[Match.Direction]) -> int:
    matches = list(
        Match.objects.filter(
            case=case, direction__in=directions, removed_at__isnull=True
        ).select_related("peer")
    )
    if not matches:
        return 0
    own = matching.query_of_case(
        Case.objects.prefetch_related("features", "genomic_features").get(pk=case.pk)
    )
    basis = matching.scoring_basis()
    for match in matches:
        try:
            remote = query_of_mme_patient(match.remote_patient, drop_unknown_terms=True)
        except FieldValidationError as error:
            note = f"the peer's patient could not be read here: {error.message}"
            Match.objects.filter(pk=match.pk).update(explanation={"note": note})
            continue
        incoming = match.direction == Match.Direction.INCOMING
        # Incoming: the peer's patient is the query of our score; outgoing: the score is theirs.
        explanation: dict[str, Any] = matching.explain_profiles(
            own, remote, scored_from="other" if incoming else None
        )
        values: dict[str, Any] = {}
        if incoming:
            # The peer's patient was the query and our case the candidate, as when answering.
            score, phenotype, genotype = matching.score_profiles(remote, own)
            values = {
                "score": score,
                "phenotype_score": phenotype,
                "genotype_score": genotype,
                "scored_with": basis,
            }
        else:
            explanation[matching.SCORE_OUT_OF_DATE] = True
            peer = match.peer.name if match.peer is not None else "the peer"
            explanation["note"] = OUT_OF_DATE_NOTE.format(peer=peer)
        Match.objects.filter(pk=match.pk).update(explanation=explanation, **values)
    return len(matches)
