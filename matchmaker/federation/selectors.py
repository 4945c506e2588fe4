"""Reads for the MME API: the node's metrics (mme-api.md §1.10)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q, Sum
from django.utils import timezone

from matchmaker.cases.models import GenomicFeature, PhenotypeFeature
from matchmaker.cases.selectors import shareable_cases
from matchmaker.federation.models import MmeRequestLog
from matchmaker.lib.api import warn_degraded
from matchmaker.matching.models import Match

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
