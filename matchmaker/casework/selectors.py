"""Reads of matches, scoped to what a clinician may see and prefetched for list pages; and the
node's MME metrics (mme-api.md §1.10), which count cases, matches and requests."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from typing import Any, TypedDict

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q, QuerySet, Sum, Value
from django.utils import timezone
from django_stubs_ext import WithAnnotations

from matchmaker.cases.models import GenomicFeature, PhenotypeFeature
from matchmaker.cases.selectors import institution_of, shareable_cases
from matchmaker.casework.models import Match
from matchmaker.federation.models import MmeRequestLog
from matchmaker.lib.api import warn_degraded


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


logger = logging.getLogger(__name__)

_METRICS_CACHE_KEY = "mme-metrics"


def mme_metrics() -> dict[str, Any]:
    """Every metric the MME metrics API defines except numberOfFeatureSets, cached.

    Counts cover only what peers can match against (shareable cases), so the figures say what
    the network gains from this node. Cached for MME_METRICS_CACHE_SECONDS: the counts scan
    every case.
    """
    try:
        metrics: dict[str, Any] | None = cache.get(_METRICS_CACHE_KEY)
    except Exception as error:
        # Redis down: count afresh (slower), never fail the peer's request.
        warn_degraded(logger, "MME metrics not cached: the cache failed: %r", error)
        return _count_metrics()
    if metrics is None:
        metrics = _count_metrics()
        try:
            cache.set(_METRICS_CACHE_KEY, metrics, settings.MME_METRICS_CACHE_SECONDS)
        except Exception as error:
            warn_degraded(logger, "MME metrics not cached: the cache failed: %r", error)
    return metrics


def _count_metrics() -> dict[str, Any]:
    cases = shareable_cases()
    genes = GenomicFeature.objects.filter(case__in=cases)
    variants = genes.filter(start__isnull=False)
    features = PhenotypeFeature.objects.filter(case__in=cases)
    requests = MmeRequestLog.objects.filter(
        direction=MmeRequestLog.Direction.INBOUND, endpoint="match", status_code=200, is_test=False
    ).aggregate(received=Count("id"), matches_sent=Sum("result_count"))
    matched_cases = Match.objects.filter(direction=Match.Direction.INCOMING).values("case_id")
    return {
        "numberOfCases": cases.count(),
        # The data owners are institutions: a case is owned by its institution, whoever typed it.
        "numberOfSubmitters": cases.values("institution_id").distinct().count(),
        "numberOfGenes": genes.count(),
        "numberOfUniqueGenes": genes.values("gene_id").distinct().count(),
        "numberOfVariants": variants.count(),
        "numberOfUniqueVariants": variants.values(
            "assembly", "reference_name", "start", "reference_bases", "alternate_bases"
        )
        .distinct()
        .count(),
        "numberOfFeatures": features.count(),
        "numberOfUniqueFeatures": features.values("hpo_id").distinct().count(),
        "numberOfUniqueGenesMatched": GenomicFeature.objects.filter(case_id__in=matched_cases)
        .values("gene_id")
        .distinct()
        .count(),
        "numberOfCasesWithDiagnosis": cases.filter(Q(disorders__isnull=False)).distinct().count(),
        "numberOfRequestsReceived": requests["received"],
        "numberOfPotentialMatchesSent": requests["matches_sent"] or 0,
        "dateGenerated": timezone.now().isoformat(),
    }
