"""The matches inbox: every match of every case the clinician's institution holds, on one page.

Matches are read through `matches_visible_to`, the scope the per-case pages use, so another
institution's match never shows here. What arrived since the clinician's last visit comes first;
the marker of that visit is read once per login session and kept there, so it stays put while
they filter and page, and the stored visit moves on to now.
"""

from __future__ import annotations

import datetime

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET
from django_stubs_ext import WithAnnotations

from matchmaker.casework.models import Match
from matchmaker.casework.selectors import InboxAnnotations, inbox_of, matches_visible_to
from matchmaker.lib.users import signed_in_user
from matchmaker.reference.ontology import get_gene_catalogue
from matchmaker.web.models import InboxVisit
from matchmaker.web.views.matches import MATCHES_PER_PAGE, _row_of
from ontologies.genes import GeneLookupError

_SESSION_SINCE = "inbox_since"

ORIGIN_CHOICES = [("", "Any"), ("local", "This node"), ("peer", "A peer node")]


class InboxFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "Any"), *Match.Status.choices], required=False, label="Triage status"
    )
    min_score = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        label="Score at least",
        help_text="0 to 1",
        widget=forms.NumberInput(attrs={"step": "0.05"}),
    )
    origin = forms.ChoiceField(choices=ORIGIN_CHOICES, required=False, label="Found at")
    gene = forms.CharField(
        required=False, max_length=64, label="Shared gene", help_text="Symbol or gene id"
    )
    case = forms.CharField(
        required=False, max_length=32, label="Case", help_text="Public id, e.g. MM-…"
    )
    removed = forms.BooleanField(required=False, label="Show removed matches")

    def clean_gene(self) -> str:
        """The canonical id of the gene, so every spelling of it finds the same matches."""
        text = self.cleaned_data["gene"].strip()
        if not text:
            return ""
        try:
            return get_gene_catalogue().resolve(text).gene_id
        except (GeneLookupError, ValueError) as error:
            raise forms.ValidationError(
                f"“{text}” is not a gene this node knows: {error}"
            ) from error

    def clean_case(self) -> str:
        case: str = self.cleaned_data["case"]
        return case.strip().upper()


def _since(request: HttpRequest) -> datetime.datetime | None:
    """The clinician's previous visit, fixed for this session; records this visit."""
    held = request.session.get(_SESSION_SINCE)
    if held is not None:
        return parse_datetime(held) if held else None
    user = signed_in_user(request)
    visit = InboxVisit.objects.filter(user=user).first()
    since = visit.visited_at if visit is not None else None
    InboxVisit.objects.update_or_create(user=user, defaults={"visited_at": timezone.now()})
    request.session[_SESSION_SINCE] = since.isoformat() if since is not None else ""
    return since


def _filtered(
    matches: QuerySet[WithAnnotations[Match, InboxAnnotations]], wanted: dict[str, object]
) -> QuerySet[WithAnnotations[Match, InboxAnnotations]]:
    if wanted.get("status"):
        matches = matches.filter(status=wanted["status"])
    if wanted.get("min_score") is not None:
        matches = matches.filter(score__gte=wanted["min_score"])
    if wanted.get("origin") == "local":
        matches = matches.filter(direction=Match.Direction.LOCAL)
    elif wanted.get("origin") == "peer":
        matches = matches.exclude(direction=Match.Direction.LOCAL)
    if wanted.get("gene"):
        # The stored explanation lists the shared genes by canonical id (see explain_match);
        # the quotes keep NCBIGene:1 from finding NCBIGene:10.
        matches = matches.filter(explanation__genes__icontains=f'"{wanted["gene"]}"')
    if wanted.get("case"):
        matches = matches.filter(
            Q(case__public_id=wanted["case"]) | Q(matched_case__public_id=wanted["case"])
        )
    return matches


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    since = _since(request)
    filters = InboxFilterForm(request.GET)
    wanted = filters.cleaned_data if filters.is_valid() else {}
    matches = _filtered(
        inbox_of(request.user, since=since, include_removed=bool(wanted.get("removed"))), wanted
    )
    page = Paginator(matches, MATCHES_PER_PAGE).get_page(request.GET.get("page"))
    # Typed again: through Paginator, django-stubs loses the name of the annotations.
    shown: list[WithAnnotations[Match, InboxAnnotations]] = list(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    by_status = dict(
        matches_visible_to(request.user)
        .filter(removed_at__isnull=True)
        .values_list("status")
        .annotate(count=Count("id"))
        .values_list("status", "count")
    )
    return render(
        request,
        "web/matches/inbox.html",
        {
            "nav": "matches",
            "since": since,
            "filters": filters,
            "page": page,
            "rows": [(_row_of(match), match.is_new_since) for match in shown],
            "status_counts": [
                (value, label, by_status.get(value, 0)) for value, label in Match.Status.choices
            ],
            "query": query.urlencode(),
        },
    )
