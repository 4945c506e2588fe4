"""Telling case owners about new matches by e-mail: once per match, batched per case.

The MME service requirements say a notification must hold everything the matching service
returned, or a direct link to it: the e-mail carries the scores, the other side's contact and
phenotype summary and the disclaimer, and links to the match.

Cases are named by their public ids only, never by their labels: a label is the owning team's
own handle and never leaves the institution (and e-mail leaves the node in clear text).
"""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from matchmaker.casework.models import Match

logger = logging.getLogger(__name__)


def recipients_of(match: Match) -> list[str]:
    """Who hears about a match of a case: its owner, else its contact, else its institution."""
    case = match.case
    for address in (
        case.owner.email if case.owner is not None else "",
        case.contact_email,
        case.institution.contact_email,
    ):
        addresses = [part.strip() for part in address.split(",") if part.strip()]
        if addresses:
            return addresses
    return []


def notify_new_matches(match_ids: Iterable[int]) -> int:
    """E-mail each case's owner about its new matches: one e-mail per case, all its new matches.

    Idempotent: the matches of a case are claimed (notified_at set) in the transaction that
    sends their e-mail, so a task that runs twice sends nothing twice, and a failed send rolls
    the claim back for the retry. Returns how many e-mails were sent.
    """
    by_case: dict[int, list[int]] = defaultdict(list)
    # A match removed before its e-mail went (its case withdrawn meanwhile, say) is not told:
    # the e-mail would show what its owner took out of matching.
    for case_id, match_id in Match.objects.filter(
        pk__in=list(match_ids), notified_at__isnull=True, removed_at__isnull=True
    ).values_list("case_id", "pk"):
        by_case[case_id].append(match_id)
    sent = 0
    for ids in by_case.values():
        with transaction.atomic():
            claimed = list(
                Match.objects.select_for_update()
                .filter(pk__in=ids, notified_at__isnull=True, removed_at__isnull=True)
                .values_list("pk", flat=True)
            )
            if not claimed:
                continue
            Match.objects.filter(pk__in=claimed).update(notified_at=timezone.now())
            matches = list(
                Match.objects.select_related(
                    "case__institution", "case__owner", "matched_case", "peer"
                )
                .filter(pk__in=claimed)
                .order_by("-score", "pk")
            )
            case = matches[0].case
            recipients = recipients_of(matches[0])
            if not recipients:
                logger.warning("case %s has new matches but no contact address", case.public_id)
                continue
            count = len(matches)
            send_mail(
                subject=(
                    f"[{settings.SITE_NAME}] {count} new match{'es' if count > 1 else ''} "
                    f"for case {case.public_id}"
                ),
                message=matches_email_body(matches),
                from_email=None,
                recipient_list=recipients,
            )
            sent += 1
    return sent


def notify_pending_matches(
    *, older_than: datetime.timedelta = datetime.timedelta(minutes=5)
) -> int:
    """Send what was never sent (e.g. the broker was down when the match was found)."""
    pending = Match.objects.filter(
        notified_at__isnull=True,
        removed_at__isnull=True,
        first_seen__lte=timezone.now() - older_than,
    ).values_list("pk", flat=True)
    return notify_new_matches(list(pending[:1000]))


def matches_email_body(matches: list[Match]) -> str:
    case = matches[0].case
    count = len(matches)
    lines = [
        f"Your case {case.public_id} has {count} new match{'es' if count > 1 else ''}, best first.",
    ]
    for number, match in enumerate(matches, start=1):
        lines += ["", f"--- Match {number} of {count} ---", *_match_lines(match)]
    lines += ["", settings.MME_DISCLAIMER]
    return "\n".join(lines)


def _match_lines(match: Match) -> list[str]:
    lines = [
        f"Score: {match.score:.2f} (phenotype {match.phenotype_score:.2f}, "
        f"genotype {match.genotype_score:.2f}; 0 = poor, 1 = perfect)",
    ]
    if match.direction == Match.Direction.LOCAL and match.matched_case is not None:
        other = match.matched_case
        lines += [
            f"Matched case: {other.public_id} at this node",
            f"Contact: {_contact_line(other.contact_name, other.contact_institution, other.contact_email or other.contact_href)}",
        ]
    else:
        patient = match.remote_patient
        contact = patient.get("contact") or {}
        email = contact.get("email")
        if isinstance(email, list):
            email = ", ".join(str(address) for address in email)
        how = "asked us about" if match.direction == Match.Direction.INCOMING else "returned"
        lines += [
            f"{match.peer.name if match.peer else 'A peer node'} {how} patient "
            f"{match.remote_patient_id}",
            "Contact: "
            + _contact_line(
                str(contact.get("name", "")),
                str(contact.get("institution", "")),
                str(email or contact.get("href", "")),
            ),
        ]
    explanation = match.explanation or {}
    shared_genes = [
        gene.get("gene_symbol") or gene.get("gene_id") for gene in explanation.get("genes", [])
    ]
    if shared_genes:
        lines.append(f"Shared genes: {', '.join(str(gene) for gene in shared_genes)}")
    term_matches = explanation.get("term_matches", [])
    if term_matches:
        lines.append("Phenotype (your term -> their term, via common ancestor):")
        lines += [
            f"  {pair.get('query_label') or pair.get('query_term')} -> "
            f"{pair.get('case_label') or pair.get('case_term') or '(no counterpart)'}"
            + (
                f" via {pair.get('common_ancestor_label') or pair.get('common_ancestor')}"
                if pair.get("common_ancestor")
                else ""
            )
            for pair in term_matches
        ]
    for conflict in explanation.get("conflicts", []):
        lines.append(f"Conflict: {conflict.get('description')}")
    if match.remote_disclaimer:
        lines.append(f"Disclaimer from {match.peer}: {match.remote_disclaimer}")
    lines.append(f"See and triage the match: {match_page_url(match)}")
    return lines


def match_page_url(match: Match) -> str:
    """The absolute address of the match's page for its owner (the clinicians' page, not the
    admin, which answers 403 to them); SITE_ROOT says where the node is reached from outside."""
    return settings.SITE_ROOT.rstrip("/") + reverse("match-detail", args=[match.pk])


def _contact_line(name: str, institution: str, address: str) -> str:
    return ", ".join(part for part in (name, institution, address) if part) or "(none given)"
