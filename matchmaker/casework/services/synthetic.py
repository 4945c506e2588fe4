"""Synthetic demo cases sampled from the HPO disease annotations (never from real patients).

Each case imitates how a clinician describes a patient with a known disease: the disease's
annotated terms drawn by their annotated frequency, some recorded at a more general level (an
ancestor), a few unrelated "noise" terms, a few explicitly excluded terms, and usually the
disease's gene as the candidate. They exercise matching and give benchmarks a realistic load.

Cases come in families: a disease is drawn once for each family of 1-4 unrelated patients (as
a disease cohort is: several families reported together), so that most demo cases have another
patient with the same disorder to be matched with, as on a node that works. Families are spread
over the labels, not numbered together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from django.db import transaction
from numpy.typing import NDArray

from matchmaker.cases.records import CaseRecord, DisorderRecord, GenomicFeatureRecord
from matchmaker.cases.services.validation import (
    PHENOTYPIC_ABNORMALITY,
    ValidatedCase,
    ValidFeature,
    ValidGenomicFeature,
)
from matchmaker.casework.services.storage import CaseOwnership, bulk_insert_cases
from ontologies.genes import Gene, GeneCatalogue, GeneLookupError
from ontologies.hpo import Ontology

# Frequency assumed when the annotation does not state one (about "frequent").
_UNSTATED_FREQUENCY = 0.5
_SEXES = ("FEMALE", "MALE")


@dataclass(frozen=True, slots=True)
class SyntheticCaseModel:
    """Knobs of the generator, with defaults that resemble curated published cases."""

    min_terms: int = 5
    max_terms: int = 15
    generalise_probability: float = 0.2  # a chosen term is recorded as one of its ancestors
    max_noise_terms: int = 2  # unrelated terms, as in real descriptions
    max_excluded_terms: int = 3
    gene_probability: float = 0.85  # cases whose disease has a known gene carry it
    # Patients per disease drawn, uniformly between the two (1: every case on its own disease).
    min_family_size: int = 1
    max_family_size: int = 4


class _DiseaseSampler:
    """Precomputed per-disease arrays, so drawing one case costs a few numpy calls."""

    def __init__(self, ontology: Ontology, genes: GeneCatalogue) -> None:
        self.ontology = ontology
        term_count = len(ontology.term_ids)
        root = ontology.index_of(PHENOTYPIC_ABNORMALITY)
        self.is_phenotype = np.zeros(term_count, dtype=bool)
        for term in range(term_count):
            ancestors = ontology.ancestor_indices[
                ontology.ancestor_indptr[term] : ontology.ancestor_indptr[term + 1]
            ]
            self.is_phenotype[term] = root in ancestors and term != root
        self.phenotype_terms = np.flatnonzero(self.is_phenotype)
        self.diseases: list[tuple[int, np.ndarray, np.ndarray, tuple[Gene, ...]]] = []
        for index, disease_id in enumerate(ontology.disease_ids):
            start, end = (
                ontology.disease_term_indptr[index],
                ontology.disease_term_indptr[index + 1],
            )
            terms = ontology.disease_term_indices[start:end]
            frequency = ontology.disease_term_frequency[start:end]
            frequency = np.where(np.isnan(frequency), _UNSTATED_FREQUENCY, frequency)
            # Terms annotated with frequency 0 ("excluded") never describe a patient.
            keep = self.is_phenotype[terms] & (frequency > 0)
            terms, frequency = terms[keep], frequency[keep]
            if len(terms) < 3:
                continue
            disease_genes = []
            for entrez_id, symbol in ontology.disease_genes.get(disease_id, ()):
                try:
                    disease_genes.append(genes.resolve(f"NCBIGene:{entrez_id}"))
                except GeneLookupError:
                    try:
                        disease_genes.append(genes.resolve(symbol))
                    except GeneLookupError:
                        continue
            self.diseases.append((index, terms, frequency, tuple(disease_genes)))

    def ancestors_with_self(self, term: int) -> np.ndarray:
        indptr = self.ontology.ancestor_indptr
        return self.ontology.ancestor_indices[int(indptr[term]) : int(indptr[term + 1])]

    def ancestors(self, term: int) -> np.ndarray:
        """Proper ancestors of `term` that are still phenotypic abnormalities."""
        candidates = self.ancestors_with_self(term)
        kept: NDArray[np.bool_] = (candidates != term) & self.is_phenotype[candidates]
        return candidates[kept]


def generate_synthetic_cases(
    count: int,
    *,
    ontology: Ontology,
    genes: GeneCatalogue,
    ownership: CaseOwnership,
    seed: int = 0,
    label_prefix: str = "SYN",
    batch_size: int = 5000,
    model: SyntheticCaseModel | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Generate and bulk-insert `count` synthetic cases; return the number inserted.

    Deterministic for a given `seed` and ontology. Labels are `<label_prefix>-<seed>-<n>`, so a
    second run with another seed adds cases instead of clashing.
    """
    sampler = _DiseaseSampler(ontology, genes)
    inserted = 0
    batch: list[ValidatedCase] = []
    for validated in _synthetic_cases(
        count,
        sampler=sampler,
        seed=seed,
        label_prefix=label_prefix,
        model=model or SyntheticCaseModel(),
    ):
        batch.append(validated)
        if len(batch) >= batch_size:
            with transaction.atomic():
                inserted += len(bulk_insert_cases(batch, ownership))
            batch.clear()
            if progress is not None:
                progress(inserted)
    if batch:
        with transaction.atomic():
            inserted += len(bulk_insert_cases(batch, ownership))
        if progress is not None:
            progress(inserted)
    return inserted


def _family_diseases(
    random: np.random.Generator, disease_count: int, count: int, model: SyntheticCaseModel
) -> np.ndarray:
    """The disease of each of `count` cases: families of patients sharing one, shuffled."""
    sizes = random.integers(model.min_family_size, model.max_family_size + 1, size=count)
    family_diseases = random.integers(0, disease_count, size=count)
    choices = np.repeat(family_diseases, sizes)[:count]
    return random.permutation(choices)


def _synthetic_cases(
    count: int,
    *,
    sampler: _DiseaseSampler,
    seed: int,
    label_prefix: str,
    model: SyntheticCaseModel,
) -> Iterator[ValidatedCase]:
    random = np.random.default_rng(seed)
    ontology = sampler.ontology
    term_ids = ontology.term_ids
    diseases = sampler.diseases
    disease_choices = _family_diseases(random, len(diseases), count, model)
    for number, choice in enumerate(disease_choices, start=1):
        disease_index, terms, frequency, disease_genes = diseases[choice]
        target = int(random.integers(model.min_terms, model.max_terms + 1))
        present = terms[random.random(len(terms)) < frequency]
        if len(present) > target:
            present = random.choice(present, size=target, replace=False)
        elif len(present) < min(3, len(terms)):
            weights = frequency / frequency.sum()
            present = random.choice(terms, size=min(3, len(terms)), replace=False, p=weights)
        observed: list[int] = []
        for term in present:
            if random.random() < model.generalise_probability:
                ancestors = sampler.ancestors(int(term))
                if len(ancestors):
                    general = int(random.choice(ancestors))
                    # Two terms generalised to one ancestor would shrink the profile.
                    if general not in observed and general not in present:
                        term = general
            observed.append(int(term))
        noise = random.choice(
            sampler.phenotype_terms, size=random.integers(0, model.max_noise_terms + 1)
        )
        observed.extend(int(term) for term in noise)
        # Excluding a term that an observed term implies (an ancestor) would be a contradiction.
        implied = set(
            np.concatenate([sampler.ancestors_with_self(term) for term in observed]).tolist()
        )
        excluded: list[int] = []
        rare = terms[frequency < 0.3]
        for term in random.permutation(rare)[: random.integers(0, model.max_excluded_terms + 1)]:
            if int(term) not in implied:
                excluded.append(int(term))
        features = [
            ValidFeature(hpo_id=term_ids[term], observed=True) for term in dict.fromkeys(observed)
        ]
        features.extend(ValidFeature(hpo_id=term_ids[term], observed=False) for term in excluded)
        genomic: tuple[ValidGenomicFeature, ...] = ()
        if disease_genes and random.random() < model.gene_probability:
            gene = disease_genes[int(random.integers(0, len(disease_genes)))]
            genomic = (
                ValidGenomicFeature(gene=gene, submitted=GenomicFeatureRecord(gene_id=gene.symbol)),
            )
        disease_id = ontology.disease_ids[disease_index]
        record = CaseRecord(
            label=f"{label_prefix}-{seed}-{number}",
            disorders=(DisorderRecord(disease_id, ontology.disease_names[disease_index]),)
            if disease_id.startswith(("OMIM:", "ORPHA:"))
            else (),
        )
        yield ValidatedCase(
            record=record,
            sex=_SEXES[number % 2],
            features=tuple(features),
            genomic_features=genomic,
            hpo_release=ontology.release,
            notes=(),
        )
