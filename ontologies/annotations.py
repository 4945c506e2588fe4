"""Read the HPO disease annotation files (phenotype.hpoa, genes_to_phenotype.txt).

This module only parses; mapping HPO ids to term indices is the caller's job, passed in as a
function, so the parser does not depend on how the ontology is stored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ontologies import csr

# The HPO "Frequency" subtree (HP:0040279). Each term stands for a range; these are the
# representative values we score with (the midpoint of the range, 1.0 and 0.0 at the ends).
FREQUENCY_TERM_VALUES: dict[str, float] = {
    "HP:0040280": 1.0,  # Obligate (always present)
    "HP:0040281": 0.9,  # Very frequent (80-99%)
    "HP:0040282": 0.55,  # Frequent (30-79%)
    "HP:0040283": 0.17,  # Occasional (5-29%)
    "HP:0040284": 0.025,  # Very rare (1-4%)
    "HP:0040285": 0.0,  # Excluded (0%)
}

_RATIO_PATTERN = re.compile(r"(\d+)\s*/\s*(\d+)")
_PERCENT_PATTERN = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_NOT_QUALIFIER = "NOT"


@dataclass(frozen=True, slots=True)
class DiseaseAnnotations:
    """Disease -> term annotations as CSR arrays over diseases sorted by id."""

    disease_ids: tuple[str, ...]
    disease_names: tuple[str, ...]
    term_indptr: NDArray[np.int32]
    term_indices: NDArray[np.int32]
    term_frequency: NDArray[np.float64]  # 0..1, NaN = frequency not stated
    excluded_indptr: NDArray[np.int32]
    excluded_indices: NDArray[np.int32]
    skipped_count: int  # rows whose HPO id is unknown, malformed or obsolete without replacement


def parse_frequency(text: str) -> float:
    """Turn a phenotype.hpoa frequency cell into a probability (0..1).

    Accepts an HPO frequency term (``HP:0040281``), a ratio of patients (``3/7``) or a
    percentage (``17%``). An empty cell means "not stated" and gives NaN. Anything else, or a
    ratio over zero patients, raises ValueError.
    """
    text = text.strip()
    if not text:
        return math.nan
    if text in FREQUENCY_TERM_VALUES:
        return FREQUENCY_TERM_VALUES[text]
    if match := _RATIO_PATTERN.fullmatch(text):
        numerator, denominator = int(match[1]), int(match[2])
        if denominator == 0 or numerator > denominator:
            raise ValueError(f"impossible frequency ratio {text!r}")
        return numerator / denominator
    if match := _PERCENT_PATTERN.fullmatch(text):
        percent = float(match[1])
        if percent > 100:
            raise ValueError(f"impossible frequency percentage {text!r}")
        return percent / 100
    raise ValueError(f"unrecognised frequency {text!r}")


def _max_frequency(current: float, new: float) -> float:
    # A stated frequency beats an unstated one; between two stated ones keep the larger.
    if math.isnan(current):
        return new
    if math.isnan(new):
        return current
    return max(current, new)


def _column_positions(header: str, names: tuple[str, ...], path: Path) -> list[int]:
    columns = header.rstrip("\n").split("\t")
    missing = [name for name in names if name not in columns]
    if missing:
        raise ValueError(f"{path}: header lacks column(s) {', '.join(missing)}")
    return [columns.index(name) for name in names]


def read_disease_annotations(
    path: Path, resolve_index: Callable[[str], int | None]
) -> DiseaseAnnotations:
    """Parse phenotype.hpoa into per-disease term lists.

    ``resolve_index`` maps an HPO id to a term index (following alt ids and replacements) or
    returns None; rows it rejects are skipped and counted. Rows qualified ``NOT`` go to the
    excluded lists. A term listed twice for one disease is kept once, with the larger frequency.
    An unrecognised frequency cell is treated as not stated (NaN).
    """
    positive: dict[str, dict[int, float]] = {}
    excluded: dict[str, set[int]] = {}
    names: dict[str, str] = {}
    index_cache: dict[str, int | None] = {}
    skipped = 0
    positions: list[int] | None = None
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("#") or not line.strip():
                continue
            if positions is None:
                positions = _column_positions(
                    line,
                    ("database_id", "disease_name", "qualifier", "hpo_id", "frequency"),
                    path,
                )
                continue
            cells = line.rstrip("\n").split("\t")
            disease_id, name, qualifier, hpo_id, frequency_text = (cells[i] for i in positions)
            names.setdefault(disease_id, name)
            if hpo_id not in index_cache:
                index_cache[hpo_id] = resolve_index(hpo_id)
            term_index = index_cache[hpo_id]
            if term_index is None:
                skipped += 1
                continue
            if qualifier == _NOT_QUALIFIER:
                excluded.setdefault(disease_id, set()).add(term_index)
                continue
            try:
                frequency = parse_frequency(frequency_text)
            except ValueError:
                frequency = math.nan
            terms = positive.setdefault(disease_id, {})
            terms[term_index] = _max_frequency(terms.get(term_index, math.nan), frequency)
    if positions is None:
        raise ValueError(f"{path}: no header line found")

    disease_ids = tuple(sorted(names))
    term_lengths = [len(positive.get(disease_id, ())) for disease_id in disease_ids]
    excluded_lengths = [len(excluded.get(disease_id, ())) for disease_id in disease_ids]
    term_indices: list[int] = []
    term_frequency: list[float] = []
    excluded_indices: list[int] = []
    for disease_id in disease_ids:
        terms = positive.get(disease_id, {})
        for term_index in sorted(terms):
            term_indices.append(term_index)
            term_frequency.append(terms[term_index])
        excluded_indices.extend(sorted(excluded.get(disease_id, ())))
    return DiseaseAnnotations(
        disease_ids=disease_ids,
        disease_names=tuple(names[disease_id] for disease_id in disease_ids),
        term_indptr=csr.indptr_from_lengths(term_lengths, np.int32),
        term_indices=np.array(term_indices, dtype=np.int32),
        term_frequency=np.array(term_frequency, dtype=np.float64),
        excluded_indptr=csr.indptr_from_lengths(excluded_lengths, np.int32),
        excluded_indices=np.array(excluded_indices, dtype=np.int32),
        skipped_count=skipped,
    )


def read_disease_genes(path: Path) -> dict[str, tuple[tuple[str, str], ...]]:
    """Parse genes_to_phenotype.txt into disease id -> ((entrez_id, symbol), ...).

    The file has one row per (gene, term, disease); genes are deduplicated per disease and
    ordered by symbol. Entrez ids are kept as the file writes them (digits, no prefix).
    """
    genes: dict[str, set[tuple[str, str]]] = {}
    with path.open(encoding="utf-8") as lines:
        positions = _column_positions(
            next(lines, ""), ("ncbi_gene_id", "gene_symbol", "disease_id"), path
        )
        for line in lines:
            if not line.strip():
                continue
            cells = line.rstrip("\n").split("\t")
            entrez_id, symbol, disease_id = (cells[i] for i in positions)
            genes.setdefault(disease_id, set()).add((entrez_id, symbol))
    return {
        disease_id: tuple(sorted(pairs, key=lambda pair: (pair[1], pair[0])))
        for disease_id, pairs in sorted(genes.items())
    }
