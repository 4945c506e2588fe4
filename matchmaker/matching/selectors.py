"""Reads of matches, scoped to what a clinician may see and prefetched for list pages."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import TypedDict

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q, QuerySet, Value
from django_stubs_ext import WithAnnotations

from matchmaker.cases.selectors import institution_of
from matchmaker.matching.models import Match


def matches_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Match]:
    """Matches of the cases of the user's institution (each owner triages their own copy)."""
    institution = institution_of(user)
    if institution is None:
        return Match.objects.none()
    return Match.objects.filter(case__institution=institution)


def matches_of(case_id: int, *, include_removed: bool = False) -> QuerySet[Match]:
    """A case's matches, best first, ready to list.

    Only those the last searches still found, unless `include_removed`.
    """
    matches = Match.objects.filter(case_id=case_id)
    if not include_removed:
        matches = matches.filter(removed_at__isnull=True)
    return matches.select_related("matched_case", "matched_case__institution", "peer").order_by(
        "-score", "id"
    )


def new_match_counts(case_ids: Iterable[int]) -> dict[int, int]:
    """How many current, untriaged matches each case has (cases without any are left out).

    One grouped query over the (case, status) index, for the cases of one list page.
    """
    rows = (
        Match.objects.filter(
            case_id__in=list(case_ids), status=Match.Status.NEW, removed_at__isnull=True
        )
        .values("case_id")
        .annotate(count=Count("id"))
    )
    return {row["case_id"]: row["count"] for row in rows}


def has_new_matches() -> Q:
    """A filter on cases: at least one current, untriaged match."""
    return Q(
        id__in=Match.objects.filter(status=Match.Status.NEW, removed_at__isnull=True).values(
            "case_id"
        )
    )


class InboxAnnotations(TypedDict):
    is_new_since: bool  # first seen after the clinician's previous visit


def inbox_of(
    user: AbstractBaseUser | AnonymousUser,
    *,
    since: datetime.datetime | None,
    include_removed: bool = False,
) -> QuerySet[WithAnnotations[Match, InboxAnnotations]]:
    """The matches of every case the user's institution holds, for the inbox, ready to list.

    Scoped by `matches_visible_to` (as the per-case pages are). Those first seen after `since`
    come first, annotated `is_new_since`; then best score first. Filters are the caller's.
    """
    matches = matches_visible_to(user)
    if not include_removed:
        matches = matches.filter(removed_at__isnull=True)
    arrived = (
        ExpressionWrapper(Q(first_seen__gt=since), output_field=BooleanField())
        if since is not None
        else Value(False, output_field=BooleanField())
    )
    return (
        matches.annotate(is_new_since=arrived)
        .select_related("case", "matched_case", "matched_case__institution", "peer")
        .order_by(F("is_new_since").desc(), "-score", "id")
    )
