"""Building and updating the case index's segments: from cases, by rows, and by compaction.

Every function returns new arrays and leaves its arguments untouched, so a search still running on
an older snapshot keeps its own view (see the package docstring).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from ontologies import csr
from ontologies.case_index.storage import (
    DISEASE_PROFILE_WIDTH,
    MAX_TERM,
    IndexedCase,
    ProfileRow,
    Segment,
    Snapshot,
    empty_segment,
    flags_of,
    profile_row,
)

_Scalar = TypeVar("_Scalar", bound=np.generic)


@dataclass(frozen=True, slots=True)
class CaseArrays:
    """The arrays of ``CaseIndex.build_from_arrays``, one row per case (see there)."""

    keys: NDArray[np.int64]
    observed_indptr: NDArray[np.int64]
    observed_terms: NDArray[np.int16]
    excluded_indptr: NDArray[np.int64]
    excluded_terms: NDArray[np.int16]
    gene_indptr: NDArray[np.int64]
    gene_codes: NDArray[np.int32]
    gene_vocabulary: tuple[str, ...]
    flags: NDArray[np.uint8]
    disease_rows: NDArray[np.int16]
    disease_weights: NDArray[np.float32]
    disease_fits: NDArray[np.float32]


def arrays_of_cases(cases: Iterable[IndexedCase]) -> CaseArrays:
    """The cases, in their order, as arrays; their genes coded in order of first appearance.

    Raises ValueError for a term index outside 0..32767.
    """
    keys = array("q")
    observed_lengths = array("q")
    observed = array("h")
    excluded_lengths = array("q")
    excluded = array("h")
    gene_lengths = array("q")
    gene_codes = array("i")
    flags = array("B")
    disease_rows: list[NDArray[np.int16]] = []
    disease_weights: list[NDArray[np.float32]] = []
    disease_fits = array("f")
    vocabulary: dict[str, int] = {}
    try:
        for case in cases:
            profile_rows, profile_weights, profile_fit = profile_row(case.disease_profile)
            disease_rows.append(profile_rows)
            disease_weights.append(profile_weights)
            disease_fits.append(float(profile_fit))
            keys.append(case.key)
            observed.extend(case.observed)
            observed_lengths.append(len(case.observed))
            excluded.extend(case.excluded)
            excluded_lengths.append(len(case.excluded))
            for gene in case.genes:
                code = vocabulary.get(gene)
                if code is None:
                    code = vocabulary[gene] = len(vocabulary)
                gene_codes.append(code)
            gene_lengths.append(len(case.genes))
            flags.append(flags_of(case))
    except OverflowError as error:
        raise ValueError(f"a term index is outside 0..{MAX_TERM}: {error}") from error
    return CaseArrays(
        keys=np.frombuffer(keys, dtype=np.int64),
        observed_indptr=_indptr(observed_lengths),
        observed_terms=np.frombuffer(observed, dtype=np.int16),
        excluded_indptr=_indptr(excluded_lengths),
        excluded_terms=np.frombuffer(excluded, dtype=np.int16),
        gene_indptr=_indptr(gene_lengths),
        gene_codes=np.frombuffer(gene_codes, dtype=np.int32),
        gene_vocabulary=tuple(vocabulary),
        flags=np.frombuffer(flags, dtype=np.uint8),
        disease_rows=_stacked(disease_rows, np.int16),
        disease_weights=_stacked(disease_weights, np.float32),
        disease_fits=np.frombuffer(disease_fits, dtype=np.float32),
    )


def _indptr(lengths: array[int]) -> NDArray[np.int64]:
    return csr.indptr_from_lengths(np.frombuffer(lengths, dtype=np.int64), np.int64)


def _stacked(rows: list[NDArray[_Scalar]], dtype: type[_Scalar]) -> NDArray[_Scalar]:
    if not rows:
        return np.zeros((0, DISEASE_PROFILE_WIDTH), dtype=dtype)
    return np.stack(rows)


def take_rows(segment: Segment, rows: NDArray[np.int64], *, keys_sorted: bool) -> Segment:
    observed = csr.take_rows(segment.observed_indptr, segment.observed_terms, rows)
    excluded = csr.take_rows(segment.excluded_indptr, segment.excluded_terms, rows)
    genes = csr.take_rows(segment.gene_indptr, segment.gene_codes, rows)
    return Segment(
        keys=segment.keys[rows],
        observed_indptr=observed[0],
        observed_terms=observed[1],
        excluded_indptr=excluded[0],
        excluded_terms=excluded[1],
        gene_indptr=genes[0],
        gene_codes=genes[1],
        flags=segment.flags[rows],
        disease_rows=segment.disease_rows[rows],
        disease_weights=segment.disease_weights[rows],
        disease_fits=segment.disease_fits[rows],
        keys_sorted=keys_sorted,
    )


def append_row(
    segment: Segment,
    *,
    key: int,
    observed: NDArray[np.int16],
    excluded: NDArray[np.int16],
    gene_codes: NDArray[np.int32],
    flags: int,
    profile: ProfileRow,
) -> Segment:
    observed_csr = csr.append_row((segment.observed_indptr, segment.observed_terms), observed)
    excluded_csr = csr.append_row((segment.excluded_indptr, segment.excluded_terms), excluded)
    gene_csr = csr.append_row((segment.gene_indptr, segment.gene_codes), gene_codes)
    return Segment(
        keys=np.append(segment.keys, np.int64(key)),
        observed_indptr=observed_csr[0],
        observed_terms=observed_csr[1],
        excluded_indptr=excluded_csr[0],
        excluded_terms=excluded_csr[1],
        gene_indptr=gene_csr[0],
        gene_codes=gene_csr[1],
        flags=np.append(segment.flags, np.uint8(flags)),
        disease_rows=np.concatenate([segment.disease_rows, profile[0][None, :]]),
        disease_weights=np.concatenate([segment.disease_weights, profile[1][None, :]]),
        disease_fits=np.append(segment.disease_fits, np.float32(profile[2])),
        keys_sorted=False,
    )


def without(snapshot: Snapshot, key: int) -> Snapshot:
    """``snapshot`` with case ``key`` tombstoned (``size`` unchanged); itself if absent."""
    row = snapshot.delta_rows.get(key)
    if row is not None:
        delta_alive = snapshot.delta_alive.copy()
        delta_alive[row] = False
        delta_rows = dict(snapshot.delta_rows)
        del delta_rows[key]
        return replace(snapshot, delta_alive=delta_alive, delta_rows=delta_rows)
    row = snapshot.main.row_of(key)
    if row is not None and snapshot.main_alive[row]:
        # A copy of one byte per row (1 MB per million cases, ~0.1 ms): searches still running
        # on the old snapshot keep their own view.
        main_alive = snapshot.main_alive.copy()
        main_alive[row] = False
        return replace(snapshot, main_alive=main_alive, dead_main_rows=snapshot.dead_main_rows + 1)
    return snapshot


def compacted(snapshot: Snapshot) -> Snapshot:
    main, delta = snapshot.main, snapshot.delta
    observed = csr.concatenate(
        (main.observed_indptr, main.observed_terms), (delta.observed_indptr, delta.observed_terms)
    )
    excluded = csr.concatenate(
        (main.excluded_indptr, main.excluded_terms), (delta.excluded_indptr, delta.excluded_terms)
    )
    genes = csr.concatenate(
        (main.gene_indptr, main.gene_codes), (delta.gene_indptr, delta.gene_codes)
    )
    both = Segment(
        keys=np.concatenate([main.keys, delta.keys]),
        observed_indptr=observed[0],
        observed_terms=observed[1],
        excluded_indptr=excluded[0],
        excluded_terms=excluded[1],
        gene_indptr=genes[0],
        gene_codes=genes[1],
        flags=np.concatenate([main.flags, delta.flags]),
        disease_rows=np.concatenate([main.disease_rows, delta.disease_rows]),
        disease_weights=np.concatenate([main.disease_weights, delta.disease_weights]),
        disease_fits=np.concatenate([main.disease_fits, delta.disease_fits]),
        keys_sorted=False,
    )
    alive_rows = np.flatnonzero(np.concatenate([snapshot.main_alive, snapshot.delta_alive]))
    # Main rows come sorted and the delta is small: the stable sort (timsort) merges two runs.
    order = alive_rows[np.argsort(both.keys[alive_rows], kind="stable")]
    merged = take_rows(both, order, keys_sorted=True)
    return replace(
        snapshot,
        main=merged,
        main_alive=np.ones(len(merged), dtype=np.bool_),
        delta=empty_segment(),
        delta_alive=np.zeros(0, dtype=np.bool_),
        delta_rows={},
        dead_main_rows=0,
    )


def sorted_snapshot(
    segment: Segment, vocabulary: tuple[str, ...], codes: Mapping[str, int], version: int
) -> Snapshot:
    """A snapshot whose main segment holds ``segment``'s rows sorted by key, all alive.

    Raises ValueError for a key that appears twice.
    """
    if not segment.keys_sorted:
        order = np.argsort(segment.keys, kind="stable")
        segment = take_rows(segment, order, keys_sorted=True)
    if len(segment) > 1 and not np.all(segment.keys[1:] != segment.keys[:-1]):
        duplicate = segment.keys[1:][segment.keys[1:] == segment.keys[:-1]][0]
        raise ValueError(f"case key {duplicate} appears twice")
    return Snapshot(
        main=segment,
        main_alive=np.ones(len(segment), dtype=np.bool_),
        delta=empty_segment(),
        delta_alive=np.zeros(0, dtype=np.bool_),
        delta_rows={},
        gene_vocabulary=vocabulary,
        gene_codes=codes,
        size=len(segment),
        dead_main_rows=0,
        version=version,
    )


def with_case(
    snapshot: Snapshot,
    *,
    key: int,
    observed: NDArray[np.int16],
    excluded: NDArray[np.int16],
    genes: Sequence[str],
    flags: int,
    profile: ProfileRow,
) -> Snapshot:
    """``snapshot`` with case ``key`` appended to the delta and any older row of it tombstoned;
    genes not seen before join the vocabulary. Not compacted."""
    vocabulary = snapshot.gene_vocabulary
    codes = snapshot.gene_codes
    new_genes = [gene for gene in dict.fromkeys(genes) if gene not in codes]
    if new_genes:
        codes = dict(codes)
        for gene in new_genes:
            codes[gene] = len(codes)
        vocabulary = (*vocabulary, *new_genes)
    gene_codes = np.array([codes[gene] for gene in genes], dtype=np.int32)
    replaced = without(snapshot, key)
    added = 0 if replaced is not snapshot else 1
    snapshot = replaced
    delta = append_row(
        snapshot.delta,
        key=key,
        observed=observed,
        excluded=excluded,
        gene_codes=gene_codes,
        flags=flags,
        profile=profile,
    )
    delta_rows = dict(snapshot.delta_rows)
    delta_rows[key] = len(delta) - 1
    snapshot = replace(
        snapshot,
        delta=delta,
        delta_alive=np.append(snapshot.delta_alive, True),
        delta_rows=delta_rows,
        gene_vocabulary=vocabulary,
        gene_codes=codes,
        size=snapshot.size + added,
        version=snapshot.version + 1,
    )
    return snapshot
