"""Matches: a case of ours and a case it resembles, with the triage history of each."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Match(models.Model):
    """A case of ours and a case it resembles, as its owner sees and triages it.

    A local match is stored once for each of the two owners (each triages on their own). A match
    with a peer's patient is keyed by (our case, peer, remote patient id, direction): incoming when
    the peer's query found our case, outgoing when our query found the peer's patient.
    """

    class Direction(models.TextChoices):
        LOCAL = "local", "Local"
        INCOMING = "incoming", "Incoming (a peer's query matched our case)"
        OUTGOING = "outgoing", "Outgoing (our query matched a peer's case)"

    class Status(models.TextChoices):
        NEW = "new", "New"
        REVIEWED = "reviewed", "Reviewed"
        CONTACTED = "contacted", "Contacted"
        DISMISSED = "dismissed", "Dismissed"

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="matches")
    direction = models.CharField(max_length=16, choices=Direction.choices)
    matched_case = models.ForeignKey(
        "cases.Case",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="matched_by",
    )
    # A peer's patient: the peer, the patient's id there and the patient as the peer sent it.
    peer = models.ForeignKey(
        "federation.Peer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="matches",
    )
    remote_patient_id = models.CharField(max_length=255, blank=True)
    remote_patient = models.JSONField(default=dict, blank=True)
    # The disclaimer the peer sent with the patient (MME service requirement: show it with it).
    remote_disclaimer = models.TextField(blank=True)

    score = models.FloatField()  # patient score, 0..1, higher = more likely the same disorder
    phenotype_score = models.FloatField()  # 0..1
    genotype_score = models.FloatField()  # 0..1
    # The scoring method and HPO release our scores came from (`matching.services.scoring_basis`);
    # "" when unknown (stored before it was recorded) or when the peer scored (outgoing). A
    # current local or incoming match with another basis is re-scored (`rescore_stale_matches`).
    # A database default too: processes of the previous release, still running on other hosts
    # during an upgrade, insert matches without the column.
    scored_with = models.CharField(max_length=200, blank=True, default="", db_default="")
    # Why the two cases matched: term pairs with their common ancestor, shared genes and
    # variants, conflicts with excluded terms (see matching.services.explain_match).
    explanation = models.JSONField(default=dict, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    notes = models.TextField(blank=True)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField()
    # Set when a later search no longer returns the match (kept, never deleted, for the record).
    removed_at = models.DateTimeField(null=True, blank=True)
    # Local matches: whether the owner's case's own last search found the other case, and
    # whether the other case's last search found the owner's (the two copies of a pair mirror
    # each other). A pair stays current while either search finds it: re-matching one case never
    # takes away a match the other case's search still holds (casework.services.matches).
    # Both False for pairs recorded before this was: the next search of either case decides.
    found_by_owner = models.BooleanField(default=False, db_default=False)
    found_by_other = models.BooleanField(default=False, db_default=False)
    # Set when the owner was told about the match; claiming it is what makes notifying idempotent.
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-score", "id"]
        db_table = "matching_match"  # created by the matching app, where it began
        constraints = [
            models.UniqueConstraint(
                fields=["case", "matched_case"],
                condition=models.Q(matched_case__isnull=False),
                name="match_unique_local_pair",
            ),
            models.UniqueConstraint(
                fields=["case", "peer", "remote_patient_id", "direction"],
                condition=models.Q(peer__isnull=False),
                name="match_unique_remote_patient",
            ),
            models.CheckConstraint(
                condition=models.Q(score__gte=0, score__lte=1)
                & models.Q(phenotype_score__gte=0, phenotype_score__lte=1)
                & models.Q(genotype_score__gte=0, genotype_score__lte=1),
                name="match_scores_within_0_1",
            ),
            models.CheckConstraint(
                condition=models.Q(direction="local", matched_case__isnull=False)
                | ~models.Q(direction="local"),
                name="match_local_has_matched_case",
            ),
            models.CheckConstraint(
                condition=models.Q(direction="local")
                | models.Q(peer__isnull=False) & ~models.Q(remote_patient_id=""),
                name="match_remote_has_peer_and_patient",
            ),
        ]
        indexes = [
            models.Index(fields=["case", "status"]),
            # A peer's repeated query finds its earlier matches by (peer, their patient).
            models.Index(fields=["peer", "remote_patient_id"], name="match_peer_remote_patient"),
        ]

    def __str__(self) -> str:
        other = self.matched_case_id or self.remote_patient_id
        return f"{self.case_id} ~ {other} ({self.score:.2f})"

    @property
    def other_case_withheld(self) -> bool:
        """A local match whose other case is withdrawn: nothing of that case is shown any more.

        Its owner took it out of matching, so what it holds now (contact, terms, genes, the
        explanation built from them) is theirs alone; pages and the API show the public id,
        the scores and the triage only. Reads `matched_case` (join it for lists).
        """
        return self.matched_case is not None and self.matched_case.status != "active"


class MatchEvent(models.Model):
    """One triage step on a match: who changed its status or notes, when, and to what.

    The history a clinician reads under a match; never edited, only appended by
    `matching.services.triage_match` and `record_contact` (who contacted whom, with what).
    """

    match = models.ForeignKey(Match, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    from_status = models.CharField(max_length=16, choices=Match.Status.choices)
    to_status = models.CharField(max_length=16, choices=Match.Status.choices)
    # The notes as they stood after this step (the full text, so the history reads on its own).
    notes = models.TextField(blank=True)
    # A step that contacted the other team from the app: whom (the address it was sent to) and
    # the message as sent. Empty for plain triage steps.
    contacted = models.CharField(max_length=512, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]
        db_table = "matching_matchevent"  # created by the matching app, where it began
        indexes = [models.Index(fields=["match", "at"])]

    def __str__(self) -> str:
        return f"{self.match_id}: {self.from_status} -> {self.to_status}"
