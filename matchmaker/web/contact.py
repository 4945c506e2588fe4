"""Contacting the other team about a match, from the match page.

The node writes the message itself from what both sides may already see: the two public ids
(ours, and the other patient's here or at the peer), the shared candidate genes and the term
pairs that met. Never a case label: labels are a clinician's own handle on a patient and never
leave their institution. The clinician may add a note of their own below it.

Where it goes: for a local match, the other case's contact e-mail, else its institution's; for a
peer's patient, the e-mail of the contact the peer sent (an e-mail field, or a mailto: href).
A contact that is only a web link (an http(s) href) cannot be e-mailed: the page shows the link.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMessage

from matchmaker.casework.models import Match, MatchEvent
from matchmaker.casework.services import matches as casework
from matchmaker.reference.ontology import get_phenotype_scorer
from matchmaker.web import comparison

MAX_NOTE_LENGTH = 4000


@dataclass(frozen=True, slots=True)
class Recipient:
    """Where a message about a match can go: e-mail addresses, or only a link to follow."""

    addresses: tuple[str, ...]
    name: str
    institution: str
    link: str  # an http(s) contact page, when there is no address to write to

    @property
    def can_send(self) -> bool:
        return bool(self.addresses)

    @property
    def described(self) -> str:
        """Whom, as the history shows it: "Dr Far (Far Genetics) <far@example.org>"."""
        who = " ".join(
            part
            for part in (self.name, f"({self.institution})" if self.institution else "")
            if part
        )
        where = ", ".join(self.addresses) or self.link
        return f"{who} <{where}>" if who else where


def recipient_of(match: Match) -> Recipient:
    contact = comparison.other_contact_of(match)
    addresses = [part.strip() for part in contact.email.split(",") if part.strip()]
    link = ""
    # The e-mail given for the purpose first; a mailto: link only when there is none.
    if contact.href.lower().startswith("mailto:"):
        address = contact.href[len("mailto:") :].split("?", 1)[0].strip()
        if address and not addresses:
            addresses.append(address)
    elif contact.href and not addresses:
        link = contact.href
    return Recipient(
        addresses=tuple(addresses), name=contact.name, institution=contact.institution, link=link
    )


def _other_id(match: Match) -> str:
    if match.matched_case is not None:
        return match.matched_case.public_id
    return match.remote_patient_id


def subject_of(match: Match) -> str:
    return f"Matchmaker: possible match between {match.case.public_id} and {_other_id(match)}"


def compose_message(match: Match) -> str:
    """The node's part of the message: ids, shared genes and terms; never a label."""
    explanation = match.explanation if isinstance(match.explanation, Mapping) else {}
    where = f"at {match.peer.name}" if match.peer is not None else f"on {settings.SITE_NAME}"
    lines = [
        "Dear colleague,",
        "",
        f"Our patient {match.case.public_id} ({settings.SITE_NAME}) matched your patient "
        f"{_other_id(match)} {where}, with a score of {match.score:.2f} of 1 "
        f"(phenotype {match.phenotype_score:.2f}, genotype {match.genotype_score:.2f}).",
    ]
    genes = [
        str(gene.get("gene_symbol") or gene.get("gene_id"))
        for gene in explanation.get("genes") or []
        if isinstance(gene, Mapping) and (gene.get("gene_symbol") or gene.get("gene_id"))
    ]
    lines += ["", "Shared candidate genes: " + (", ".join(genes) if genes else "none")]
    scorer = get_phenotype_scorer()
    pairs = [
        pair
        for pair in comparison.stored_term_pairs(match, scorer.ontology, scorer.information_content)
        if pair.get("query_term") and pair.get("case_term")
    ]
    if pairs:
        lines += ["", "Phenotypes in common (ours ~ yours, through their common ancestor):"]
        for pair in pairs:
            ours = f"{pair.get('query_label') or ''} ({pair['query_term']})".strip()
            if pair["case_term"] == pair["query_term"]:
                lines.append(f"- {ours}: the same term")
                continue
            theirs = f"{pair.get('case_label') or ''} ({pair['case_term']})".strip()
            ancestor = pair.get("common_ancestor_label") or pair.get("common_ancestor") or ""
            lines.append(f"- {ours} ~ {theirs}, through {ancestor}")
    lines += ["", "Could we compare notes on these two patients?"]
    return "\n".join(lines)


def contact_other_team(match: Match, *, by: User, note: str = "") -> MatchEvent:
    """E-mail the other team about `match`, log it on the match and set it to Contacted.

    The sender's own e-mail is the Reply-To, so the answer comes back to them. Raises ValueError
    when the other side has no e-mail address (the page shows their link instead); a failure to
    send (SMTPException, OSError) propagates and nothing is logged.
    """
    recipient = recipient_of(match)
    if not recipient.can_send:
        raise ValueError("the other team gave no e-mail address")
    body = compose_message(match)
    note = note.strip()
    sender = by.get_full_name() or by.username
    if note:
        body += f"\n\n{note}"
    body += f"\n\nWith best wishes,\n{sender}"
    reply_to = [by.email] if by.email else []
    EmailMessage(
        subject=subject_of(match),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(recipient.addresses),
        reply_to=reply_to,
    ).send()
    return casework.record_contact(match, contacted=recipient.described, message=body, by=by)
