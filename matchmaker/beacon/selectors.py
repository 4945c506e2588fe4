"""Beacon answers: how many shareable cases (or their variants) a query finds.

Phenotype and gene filters are counted on this process's case index (`CaseIndex.select`: a
gather and an OR-reduction over its CSR arrays, no SQL), which is brought up to date with every
committed change before each query, so a withdrawn consent is out of the very next count. Sex,
diseases, variants and datasets are read from the database, over `shareable_cases()`, and the
two sets intersected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db.models import Q, QuerySet
from numpy.typing import NDArray

from matchmaker.beacon.models import BeaconDataset
from matchmaker.beacon.protocol import BeaconRequest, TermFilter, VariantQuery
from matchmaker.cases.models import Case, Disorder, GenomicFeature, PhenotypeFeature
from matchmaker.cases.selectors import shareable_cases
from matchmaker.lib.api import warn_degraded
from matchmaker.lib.rate_limits import CACHE_ERRORS
from matchmaker.matching.index import get_case_index
from matchmaker.reference.ontology import get_hpo, get_phenotype_scorer
from ontologies.case_index import FLAG_SHAREABLE, FLAG_TEST
from ontologies.hpo import Ontology
from ontologies.similarity import lin_to_all

logger = logging.getLogger(__name__)

# Beacon's `similarity` on the node's own term similarity: Lin's measure (0..1) over the
# information content the phenotype scorer uses. A term matches when its similarity to the
# filter's term reaches the threshold; `exact` is the term itself (docs/operations.md).
SIMILARITY_THRESHOLDS = {"high": 0.8, "medium": 0.6, "low": 0.4}
_FILTERING_TERMS_CACHE_KEY = "beacon-filtering-terms"
# Above this many ids, a database filter and the index are intersected in numpy, not in SQL.
_SQL_ID_BATCH = 5000


@dataclass(frozen=True, slots=True)
class Dataset:
    identifier: str
    name: str
    description: str
    data_use: list[dict[str, str]]
    institution_id: int | None  # None: the whole node


def term_mask(term: TermFilter, *, ontology: Ontology) -> NDArray[np.bool_]:
    """The terms a case may have observed to match `term` (one bool per ontology term)."""
    index = ontology.index_of(term.hpo_id)
    mask = np.zeros(len(ontology.term_ids), dtype=np.bool_)
    mask[index] = True
    if term.similarity != "exact":
        information_content = get_phenotype_scorer().information_content
        similarity = lin_to_all(ontology, index, information_content)
        mask |= similarity >= SIMILARITY_THRESHOLDS[term.similarity]
    if term.include_descendants:
        indptr, indices = ontology.descendant_closure()
        mask[indices[indptr[index] : indptr[index + 1]]] = True
    return mask


def excluded_mask(terms: list[TermFilter], *, ontology: Ontology) -> NDArray[np.bool_]:
    """Terms whose explicit exclusion rules a case out: each filter term and its ancestors
    (a patient without "Seizure" has no "Focal seizure" either)."""
    mask = np.zeros(len(ontology.term_ids), dtype=np.bool_)
    indptr, indices = ontology.ancestor_indptr, ontology.ancestor_indices
    for term in terms:
        index = ontology.index_of(term.hpo_id)
        mask[indices[indptr[index] : indptr[index + 1]]] = True
    return mask


def beacon_datasets() -> list[Dataset]:
    """The datasets offered: one per opted-in institution, or the node as one dataset."""
    rows = list(BeaconDataset.objects.all())
    if rows:
        return [
            Dataset(
                row.identifier, row.name, row.description, list(row.data_use), row.institution_id
            )
            for row in rows
        ]
    return [
        Dataset(
            settings.BEACON_NODE_DATASET_ID,
            settings.BEACON_NODE_DATASET_NAME,
            "Every active case consented for external matching.",
            [{"id": settings.BEACON_NODE_DATA_USE, "label": ""}],
            None,
        )
    ]


def _institutions(request: BeaconRequest) -> list[int] | None:
    """The institutions whose cases a request counts; None: every institution."""
    datasets = beacon_datasets()
    if request.datasets:
        datasets = [d for d in datasets if d.identifier in request.datasets]
    if any(d.institution_id is None for d in datasets):
        return None
    return [d.institution_id for d in datasets if d.institution_id is not None]


def unknown_datasets(request: BeaconRequest) -> list[str]:
    known = {d.identifier for d in beacon_datasets()}
    return [identifier for identifier in request.datasets if identifier not in known]


def _database_filter(request: BeaconRequest, cases: QuerySet[Case]) -> QuerySet[Case] | None:
    """`cases` narrowed by the filters the index does not hold; None when there are none."""
    narrowed = False
    for sex in request.sexes:
        cases, narrowed = cases.filter(sex=sex), True
    for disease_id in request.disease_ids:
        cases = cases.filter(
            id__in=Disorder.objects.filter(disorder_id=disease_id).values("case_id")
        )
        narrowed = True
    if not request.variant.is_empty:
        cases = cases.filter(
            id__in=_matching_variants(request.variant, GenomicFeature.objects.all()).values(
                "case_id"
            )
        )
        narrowed = True
    institutions = _institutions(request)
    if institutions is not None:
        cases, narrowed = cases.filter(institution_id__in=institutions), True
    return cases if narrowed else None


def count_individuals(request: BeaconRequest) -> int:
    """How many shareable cases (test cases only, in test mode) pass every filter of `request`."""
    if request.matches_nothing:
        return 0
    cases = shareable_cases(test_data=request.test_mode)
    database = _database_filter(request, cases)
    if not request.term_filters and not request.gene_ids:
        return (database if database is not None else cases).count()
    ontology = get_hpo()
    keys = get_case_index().select(
        term_filters=[term_mask(term, ontology=ontology) for term in request.term_filters],
        excluded_terms=(
            excluded_mask(request.term_filters, ontology=ontology) if request.term_filters else None
        ),
        gene_filters=[[gene_id] for gene_id in request.gene_ids],
        required_flags=FLAG_SHAREABLE | (FLAG_TEST if request.test_mode else 0),
        rejected_flags=0 if request.test_mode else FLAG_TEST,
    )
    if database is None:
        return len(keys)
    if len(keys) <= _SQL_ID_BATCH:
        return database.filter(id__in=keys.tolist()).count()
    ids = np.fromiter(database.values_list("id", flat=True).iterator(), dtype=np.int64)
    return int(np.isin(keys, ids, assume_unique=True).sum())


def _matching_variants(
    variant: VariantQuery, features: QuerySet[GenomicFeature]
) -> QuerySet[GenomicFeature]:
    """Variants by a sequence (one start), range (start and end) or bracket (two each) query."""
    features = features.filter(start__isnull=False, reference_name=variant.reference_name)
    if variant.assembly:
        features = features.filter(assembly__iexact=variant.assembly)
    if len(variant.start) == 2:
        features = features.filter(
            start__range=variant.start, end__isnull=False, end__gte=variant.end[0]
        ).filter(end__lte=variant.end[1])
    elif variant.end:
        # Overlapping [start, end): a variant without an end spans its reference bases.
        features = features.filter(start__lt=variant.end[0]).filter(
            Q(end__gt=variant.start[0]) | Q(end__isnull=True, start__gte=variant.start[0])
        )
    else:
        features = features.filter(start=variant.start[0])
    if variant.reference_bases:
        features = features.filter(reference_bases__iexact=variant.reference_bases)
    if variant.alternate_bases:
        features = features.filter(alternate_bases__iexact=variant.alternate_bases)
    return features


def count_variants(request: BeaconRequest) -> int:
    """How many distinct variants (assembly, chromosome, start, bases) the shareable cases list
    as candidates that match the query's gene and position."""
    if request.matches_nothing:
        return 0
    cases = shareable_cases(test_data=request.test_mode)
    institutions = _institutions(request)
    if institutions is not None:
        cases = cases.filter(institution_id__in=institutions)
    features = GenomicFeature.objects.filter(case__in=cases, start__isnull=False)
    for gene_id in request.gene_ids:
        features = features.filter(gene_id=gene_id)
    if not request.variant.is_empty:
        features = _matching_variants(request.variant, features)
    return (
        features.values("assembly", "reference_name", "start", "reference_bases", "alternate_bases")
        .distinct()
        .count()
    )


@dataclass(frozen=True, slots=True)
class FilteringTerm:
    identifier: str
    label: str
    kind: str  # "ontologyTerm" or "alphanumeric"
    scopes: tuple[str, ...]


def filtering_terms() -> list[FilteringTerm]:
    """The HPO terms, diseases and genes the shareable cases of the datasets use, with labels,
    and sex; cached for BEACON_FILTERING_TERMS_CACHE_SECONDS (the lists scan every case)."""
    try:
        terms: list[FilteringTerm] | None = cache.get(_FILTERING_TERMS_CACHE_KEY)
    except CACHE_ERRORS as error:
        warn_degraded(logger, "Beacon filtering terms not cached: the cache failed: %r", error)
        return _filtering_terms()
    if terms is None:
        terms = _filtering_terms()
        try:
            cache.set(
                _FILTERING_TERMS_CACHE_KEY, terms, settings.BEACON_FILTERING_TERMS_CACHE_SECONDS
            )
        except CACHE_ERRORS as error:
            warn_degraded(logger, "Beacon filtering terms not cached: the cache failed: %r", error)
    return terms


def _filtering_terms() -> list[FilteringTerm]:
    cases = shareable_cases()
    institutions = _institutions(BeaconRequest())
    if institutions is not None:
        cases = cases.filter(institution_id__in=institutions)
    ontology = get_hpo()
    terms: list[FilteringTerm] = []
    hpo_ids = (
        PhenotypeFeature.objects.filter(case__in=cases, observed=True)
        .values_list("hpo_id", flat=True)
        .distinct()
        .order_by("hpo_id")
    )
    for hpo_id in hpo_ids:
        try:
            label = ontology.label(hpo_id)
        except LookupError:
            continue  # kept as submitted, newer than the loaded release: not queryable here
        terms.append(FilteringTerm(hpo_id, label, "ontologyTerm", ("individuals",)))
    disorders: dict[str, str] = {}
    for disorder_id, label in (
        Disorder.objects.filter(case__in=cases)
        .values_list("disorder_id", "label")
        .distinct()
        .order_by("disorder_id", "label")
    ):
        if label or disorder_id not in disorders:
            disorders[disorder_id] = label
    terms.extend(
        FilteringTerm(disorder_id, label, "ontologyTerm", ("individuals",))
        for disorder_id, label in disorders.items()
    )
    genes: dict[str, str] = {}
    for gene_id, symbol in (
        GenomicFeature.objects.filter(case__in=cases)
        .values_list("gene_id", "gene_symbol")
        .distinct()
        .order_by("gene_symbol", "gene_id")
    ):
        genes.setdefault(gene_id, symbol)
    terms.extend(
        FilteringTerm(gene_id, symbol, "ontologyTerm", ("individuals", "genomicVariations"))
        for gene_id, symbol in genes.items()
    )
    for term_id, label in (("NCIT:C16576", "female"), ("NCIT:C20197", "male")):
        terms.append(FilteringTerm(term_id, label, "ontologyTerm", ("individuals",)))
    return terms
