"""Matches pages: a case's ranked matches and its searches at the peers, one match in detail, triage.

Cases are read through `cases_visible_to` and matches through `matches_visible_to`, so another
institution's case or match is a 404 on every page and action here. The htmx interactions
(the peer-status block that polls while a search runs, the triage form that swaps in place) are
enhancements: every form also works as a plain post that redirects back.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from matchmaker.cases.models import Case
from matchmaker.casework.models import Match
from matchmaker.casework.selectors import matches_of, matches_visible_to
from matchmaker.casework.services import matches as casework
from matchmaker.casework.services import outbound
from matchmaker.casework.services.rescoring import is_stale
from matchmaker.federation.models import CaseSearchSchedule, PeerSearch
from matchmaker.lib.errors import FieldValidationError
from matchmaker.lib.users import signed_in_user
from matchmaker.matching import services as matching
from matchmaker.reference.ontology import get_gene_catalogue, get_hpo, get_phenotype_scorer
from matchmaker.web import comparison
from matchmaker.web.views.cases import visible_case_or_404
from ontologies.genes import GeneLookupError

MATCHES_PER_PAGE = 50
# The event (an HX-Trigger header) on which the matches page re-reads its ranked list.
PEER_RESULTS_EVENT = "peer-results"
# A requested search whose task has not started after this long is not polled for: its task was
# lost, and the periodic re-search (outbound.cases_due_for_research) will pick the case up.
_PENDING_SEARCH_PATIENCE = datetime.timedelta(minutes=10)

DIRECTION_CHOICES = [
    ("", "Any"),
    (Match.Direction.LOCAL, "This node"),
    (Match.Direction.OUTGOING, "Our search at a peer"),
    (Match.Direction.INCOMING, "A peer's search"),
]


class MatchFilterForm(forms.Form):
    direction = forms.ChoiceField(choices=DIRECTION_CHOICES, required=False, label="Found by")
    status = forms.ChoiceField(
        choices=[("", "Any"), *Match.Status.choices], required=False, label="Triage status"
    )
    removed = forms.BooleanField(required=False, label="Show removed matches")


class TriageForm(forms.Form):
    status = forms.ChoiceField(choices=Match.Status.choices, widget=forms.RadioSelect)
    notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        max_length=casework.MAX_NOTES_LENGTH,
        help_text="Visible to everyone at your institution, with the history below.",
    )


@dataclass(frozen=True, slots=True)
class MatchRow:
    """One line of the matches list, read from the match and its prefetched relations only."""

    match: Match
    origin: str  # "This node" or the peer's name
    other_id: str  # the other patient's public id here, or its id at the peer
    contact: comparison.Contact
    genes: tuple[str, ...]  # symbols of the shared genes
    conflict_count: int

    @property
    def score_percent(self) -> int:
        return round(self.match.score * 100)

    @property
    def score_out_of_date(self) -> bool:
        """A case was edited after this score; a re-match or the next search replaces it."""
        return bool(_explanation_shown(self.match).get(matching.SCORE_OUT_OF_DATE))

    @property
    def scored_by_earlier_release(self) -> bool:
        """Our score, from an earlier scoring method or HPO release; the node is redoing it."""
        return is_stale(self.match)


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _visible_match(request: HttpRequest, pk: int) -> Match:
    return get_object_or_404(
        matches_visible_to(request.user).select_related(
            "case", "case__institution", "matched_case", "matched_case__institution", "peer"
        ),
        pk=pk,
    )


def _explanation_shown(match: Match) -> dict[str, Any]:
    """The stored explanation, or nothing when the other case is withdrawn (it is built from
    that case's terms and genes)."""
    if match.other_case_withheld or not isinstance(match.explanation, dict):
        return {}
    return match.explanation


def _row_of(match: Match) -> MatchRow:
    explanation = _explanation_shown(match)
    genes = explanation.get("genes")
    conflicts = explanation.get("conflicts")
    return MatchRow(
        match=match,
        origin=match.peer.name if match.peer is not None else "This node",
        other_id=(
            match.matched_case.public_id
            if match.matched_case is not None
            else match.remote_patient_id
        ),
        contact=comparison.other_contact_of(match),
        genes=tuple(
            str(gene.get("gene_symbol") or gene.get("gene_id") or "")
            for gene in (genes if isinstance(genes, list) else [])
            if isinstance(gene, dict)
        ),
        conflict_count=len(conflicts) if isinstance(conflicts, list) else 0,
    )


@login_required
@require_GET
def case_matches(request: HttpRequest, public_id: str) -> HttpResponse:
    case = visible_case_or_404(request, public_id)
    filters = MatchFilterForm(request.GET)
    wanted = filters.cleaned_data if filters.is_valid() else {}
    matches = matches_of(case.pk, include_removed=bool(wanted.get("removed")))
    if wanted.get("direction"):
        matches = matches.filter(direction=wanted["direction"])
    if wanted.get("status"):
        matches = matches.filter(status=wanted["status"])
    page = Paginator(matches, MATCHES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "web/matches/case_matches.html",
        {
            "nav": "cases",
            "case": case,
            "filters": filters,
            "page": page,
            "rows": [_row_of(match) for match in page.object_list],
            "query": query.urlencode(),
            **_peer_status_context(case),
        },
    )


def _peer_status_context(case: Case, *, notice: str = "", problem: str = "") -> dict[str, Any]:
    """The last search of `case` at each peer, and whether the block should keep polling."""
    searches = list(PeerSearch.objects.filter(case=case).select_related("peer"))
    schedule = CaseSearchSchedule.objects.filter(case=case).first()
    now = timezone.now()
    pending = (
        schedule is not None
        and schedule.due_at is not None
        and schedule.due_at > now - _PENDING_SEARCH_PATIENCE
    )
    waiting = any(search.status == PeerSearch.Status.WAITING for search in searches)
    # What the page last saw of the searches: the poll sends it back, and the ranked list is
    # refreshed only when it changed (see PEER_RESULTS_EVENT).
    seen = "|".join(
        f"{search.pk}:{search.status}:{search.result_count}:{search.finished_at}"
        for search in sorted(searches, key=lambda search: search.pk)
    )
    return {
        "fingerprint": hashlib.sha256(seen.encode()).hexdigest()[:16],
        "case": case,
        "searches": searches,
        "search_due_at": schedule.due_at if pending and schedule is not None else None,
        "last_searched_at": schedule.last_searched_at if schedule is not None else None,
        "polling": waiting or pending,
        "shared": outbound.is_shared(case),
        "notice": notice,
        "problem": problem,
    }


@login_required
@require_GET
def case_peer_status(request: HttpRequest, public_id: str) -> HttpResponse:
    """The peer-status block alone, for htmx to poll while a search runs.

    When a search's state changed since the page's last look (`seen`), the answer also tells
    the page to refresh its ranked list, so a peer's results appear without a reload.
    """
    case = visible_case_or_404(request, public_id)
    context = _peer_status_context(case)
    response = render(request, "web/matches/peer_status.html", context)
    if request.GET.get("seen") != context["fingerprint"]:
        response["HX-Trigger"] = PEER_RESULTS_EVENT
    return response


def _why_not_searchable(case: Case) -> str:
    if case.status != Case.Status.ACTIVE:
        return (
            f"Case {case.public_id} is withdrawn, so it is not sent to other nodes. "
            "Reactivate it first."
        )
    if not case.external_matching_consent:
        return (
            f"Case {case.public_id} has no consent to external matching, so it is not sent to "
            "other nodes. Record the patient's consent on the case first."
        )
    if not outbound.searchable_peers():
        return "No peer nodes are enabled on this node, so there is nobody to ask."
    return ""


@login_required
@require_POST
def case_peer_search(request: HttpRequest, public_id: str) -> HttpResponse:
    """Search every peer for this case now (the periodic re-search would do it in days)."""
    case = visible_case_or_404(request, public_id)
    problem = _why_not_searchable(case)
    notice = ""
    if not problem:
        outbound.request_peer_search(case.pk, delay_seconds=0)
        notice = "Search requested at every enabled peer; their answers appear below."
    if _is_htmx(request):
        response = render(
            request,
            "web/matches/peer_status.html",
            _peer_status_context(case, notice=notice, problem=problem),
        )
        # The search may have run already (eager tasks) or answer within the first poll.
        response["HX-Trigger"] = PEER_RESULTS_EVENT
        return response
    if problem:
        messages.error(request, problem)
    else:
        messages.success(request, notice)
    return redirect("case-matches", public_id=case.public_id)


@login_required
@require_POST
def case_rematch(request: HttpRequest, public_id: str) -> HttpResponse:
    """Match the case against this node's cases again (after a change elsewhere, say)."""
    case = visible_case_or_404(request, public_id)
    if case.status != Case.Status.ACTIVE:
        messages.error(request, f"Case {case.public_id} is withdrawn, so it is not matched.")
    else:
        casework.queue_matching([case.pk])
        messages.success(request, "Matching against this node's cases again; refresh in a moment.")
    return redirect("case-matches", public_id=case.public_id)


def _canonical_gene_id(identifier: str) -> str | None:
    try:
        return get_gene_catalogue().resolve(identifier).gene_id
    except (GeneLookupError, ValueError):
        return None


def _best_matches(match: Match, grid: comparison.ProfileComparison) -> list[dict[str, Any]]:
    """Which of our terms met which of theirs: the stored explanation, or the grid's reading."""
    explanation = _explanation_shown(match)
    # A local match flagged out of date holds the pairs of the case as it was: until the
    # re-match rewrites them, the grid's reading of the cases as they are is shown instead.
    stale = match.direction == Match.Direction.LOCAL and explanation.get(matching.SCORE_OUT_OF_DATE)
    stored = (
        []
        if stale or not explanation
        else comparison.stored_term_pairs(
            match, get_hpo(), get_phenotype_scorer().information_content
        )
    )
    if stored:
        return stored
    return [
        {
            "query_term": row.term.hpo_id,
            "query_label": row.term.label,
            "case_term": row.best.column.hpo_id,
            "case_label": row.best.column.label,
            "common_ancestor": row.best.common_ancestor.hpo_id,
            "common_ancestor_label": row.best.common_ancestor.label,
            "information_content": row.best.common_ancestor_ic,
        }
        for row in grid.rows
        if row.best is not None
    ]


def _detail_context(
    match: Match, *, form: TriageForm | None = None, notice: str = ""
) -> dict[str, Any]:
    case = match.case
    prefetch_related_objects(
        [c for c in (case, match.matched_case) if c is not None], "features", "genomic_features"
    )
    grid = comparison.compare_profiles(
        get_hpo(),
        get_phenotype_scorer().information_content,
        comparison.profile_of_case(case),
        comparison.other_profile_of(match),
    )
    explanation = _explanation_shown(match)
    return {
        "nav": "cases",
        "match": match,
        "case": case,
        "row": _row_of(match),
        "disclaimer": match.remote_disclaimer or (match.peer.disclaimer if match.peer else ""),
        "comparison": grid,
        "max_grid_terms": comparison.MAX_GRID_TERMS,
        "best_matches": _best_matches(match, grid),
        "shared_genes": comparison.shared_genes_of(match, resolve_gene=_canonical_gene_id),
        "other_patient": (
            other := comparison.other_patient_of(match, resolve_gene=_canonical_gene_id)
        ),
        "other_facts": _other_facts(other),
        "explanation_note": explanation.get("note", "")
        or (
            "a case was edited after this score was computed: it is being re-scored, and the "
            "term pairs below are of the cases as they are now"
            if explanation.get(matching.SCORE_OUT_OF_DATE)
            else ""
        )
        or (
            "this score was computed before this node's matching was upgraded (a new way of "
            "scoring, or a new release of the HPO): it is being computed again, and may change"
            if is_stale(match)
            else ""
        ),
        "shared_diseases": [
            disease
            for disease in explanation.get("shared_diseases", [])
            if isinstance(disease, dict) and disease.get("disease_id")
        ],
        "disease_bridge_share": matching.bridge_share_percent(explanation),
        "closer_disease": _closer_disease(explanation),
        # Whose search computed the score the explanation describes (older ones: the owner's).
        "scored_from": explanation.get("scored_from", "owner"),
        **_triage_context(match, form=form, notice=notice),
    }


def _term_label(hpo_id: str) -> str:
    """ "Infantile onset (HP:0003593)", or the id alone when our release lacks it."""
    if not hpo_id:
        return ""
    try:
        return f"{get_hpo().label(hpo_id)} ({hpo_id})"
    except (KeyError, LookupError, ValueError):
        return hpo_id


def _other_facts(patient: comparison.OtherPatient) -> list[tuple[str, str]]:
    if not patient.shared:
        return []
    sex = dict(Case.Sex.choices).get(patient.sex, "")
    return [
        ("Sex", sex),
        ("Onset", _term_label(patient.age_of_onset)),
        ("Inheritance", _term_label(patient.inheritance_mode)),
    ]


def _closer_disease(explanation: dict[str, Any]) -> dict[str, Any] | None:
    """The stored fit penalty's reason, when it is whole (explanations are JSON from the
    database, and older ones have none)."""
    closer = explanation.get("closer_disease")
    if not isinstance(closer, dict) or not closer.get("disease_id"):
        return None
    if closer.get("patient") not in ("this", "other"):
        return None
    numbers = ("patient_fit", "query_fit", "lowered_by")
    if not all(isinstance(closer.get(key), int | float) for key in numbers):
        return None
    return closer


def _triage_context(
    match: Match, *, form: TriageForm | None = None, notice: str = ""
) -> dict[str, Any]:
    return {
        "match": match,
        "form": form or TriageForm(initial={"status": match.status, "notes": match.notes}),
        "events": list(match.events.select_related("by").order_by("-at", "-id")),
        "notice": notice,
    }


@login_required
@require_GET
def match_detail(request: HttpRequest, pk: int) -> HttpResponse:
    match = _visible_match(request, pk)
    return render(request, "web/matches/match_detail.html", _detail_context(match))


@login_required
@require_POST
def match_triage(request: HttpRequest, pk: int) -> HttpResponse:
    """Set a match's triage status and notes; errors go next to the field, nothing is saved."""
    match = _visible_match(request, pk)
    form = TriageForm(request.POST)
    changed: bool | None = None
    if form.is_valid():
        try:
            event = casework.triage_match(
                match,
                status=form.cleaned_data["status"],
                notes=form.cleaned_data["notes"],
                by=signed_in_user(request),
            )
        except FieldValidationError as error:
            for field, message in error.errors:
                form.add_error(field if field in form.fields else None, message)
        else:
            changed = event is not None
    if changed is None:
        # htmx only swaps 2xx answers: the form with its errors must come back as 200 there.
        if _is_htmx(request):
            return render(request, "web/matches/triage.html", _triage_context(match, form=form))
        return render(
            request, "web/matches/match_detail.html", _detail_context(match, form=form), status=400
        )
    notice = f"Saved: {match.get_status_display().lower()}." if changed else "Nothing changed."
    if _is_htmx(request):
        context = _triage_context(match, notice=notice)
        context["swap_status_badge"] = changed
        return render(request, "web/matches/triage.html", context)
    messages.success(request, notice)
    return redirect("match-detail", pk=match.pk)
