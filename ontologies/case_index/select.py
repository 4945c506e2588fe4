"""Selecting cases for counting (Beacon): every filter one bit, one OR-reduction per kind of
filter over the CSR arrays, no scores."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ontologies.case_index.storage import Segment, Snapshot
from ontologies.similarity.kernels import bitwise_or_over_cases


def _filter_bits(masks: Sequence[NDArray[np.bool_]]) -> NDArray[np.unsignedinteger[Any]] | None:
    """One unsigned integer per term (or gene code): bit i set when ``masks[i]`` marks it."""
    if not masks:
        return None
    dtype: type[np.unsignedinteger[Any]] = next(
        d for d in (np.uint8, np.uint16, np.uint32, np.uint64) if np.iinfo(d).bits >= len(masks)
    )
    bits: NDArray[np.unsignedinteger[Any]] = np.zeros(len(masks[0]), dtype=dtype)
    for position, mask in enumerate(masks):
        bits[np.asarray(mask, dtype=np.bool_)] |= dtype(1 << position)
    return bits


def _all_bits(count: int, dtype: np.dtype[np.unsignedinteger[Any]]) -> np.unsignedinteger[Any]:
    """The value with the low ``count`` bits set, in ``dtype``."""
    return dtype.type((1 << count) - 1)


def _select_rows(
    segment: Segment,
    alive: NDArray[np.bool_],
    *,
    term_bits: NDArray[np.unsignedinteger[Any]] | None,
    terms_wanted: int,
    excluded: NDArray[np.uint8] | None,
    gene_bits: NDArray[np.unsignedinteger[Any]] | None,
    genes_wanted: int,
    required_flags: int,
    rejected_flags: int,
) -> NDArray[np.int64]:
    """The keys of the alive rows of ``segment`` passing ``CaseIndex.select``'s filters."""
    keep = alive.copy()
    if required_flags or rejected_flags:
        keep &= (segment.flags & (required_flags | rejected_flags)) == required_flags
    if term_bits is not None:
        found = bitwise_or_over_cases(term_bits, segment.observed_indptr, segment.observed_terms)
        keep &= found == _all_bits(terms_wanted, term_bits.dtype)
    if excluded is not None:
        keep &= (
            bitwise_or_over_cases(excluded, segment.excluded_indptr, segment.excluded_terms) == 0
        )
    if gene_bits is not None:
        found = bitwise_or_over_cases(gene_bits, segment.gene_indptr, segment.gene_codes)
        keep &= found == _all_bits(genes_wanted, gene_bits.dtype)
    return segment.keys[keep]


def select(
    snapshot: Snapshot,
    *,
    term_filters: Sequence[NDArray[np.bool_]],
    excluded_terms: NDArray[np.bool_] | None,
    gene_filters: Sequence[Collection[str]],
    required_flags: int,
    rejected_flags: int,
) -> NDArray[np.int64]:
    """``CaseIndex.select`` on one snapshot (see there)."""
    if len(term_filters) > 64 or len(gene_filters) > 64:
        raise ValueError("at most 64 term filters and 64 gene filters")
    term_bits = _filter_bits(term_filters)
    excluded = None if excluded_terms is None else excluded_terms.astype(np.uint8)
    gene_bits: NDArray[np.unsignedinteger[Any]] | None = None
    if gene_filters:
        masks = []
        for genes in gene_filters:
            mask = np.zeros(len(snapshot.gene_vocabulary), dtype=np.bool_)
            mask[[snapshot.gene_codes[g] for g in genes if g in snapshot.gene_codes]] = True
            masks.append(mask)
        gene_bits = _filter_bits(masks)
    parts = [
        _select_rows(
            segment,
            alive,
            term_bits=term_bits,
            terms_wanted=len(term_filters),
            excluded=excluded,
            gene_bits=gene_bits,
            genes_wanted=len(gene_filters),
            required_flags=required_flags,
            rejected_flags=rejected_flags,
        )
        for segment, alive in (
            (snapshot.main, snapshot.main_alive),
            (snapshot.delta, snapshot.delta_alive),
        )
    ]
    # Main keys are sorted; only delta rows (recent upserts) need merging in.
    return np.sort(np.concatenate(parts)) if len(parts[1]) else parts[0]
