"""Compressed sparse row (CSR) lists: the one place their index arithmetic lives.

A CSR pair ``(indptr, values)`` holds many short lists in two flat arrays: row i is
``values[indptr[i]:indptr[i + 1]]``. ``indptr`` has one entry per row plus one and never
decreases; it starts at 0, except for a slice of a larger CSR (``row_range``), whose rows still
index the larger ``values``. The ontology (term -> ancestors, disease -> terms), the similarity
kernels (case -> terms) and the case index (case -> terms, case -> genes) all store their lists
this way, and build, slice, gather, join and check them with the functions here, so none of
them repeats the arithmetic. Every function is plain numpy, without a loop per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

_Index = TypeVar("_Index", bound=np.integer[Any])
_Column = TypeVar("_Column", bound=np.integer[Any])
_Value = TypeVar("_Value", bound=np.generic)


def indptr_from_lengths(lengths: ArrayLike, dtype: type[_Index]) -> NDArray[_Index]:
    """The indptr of rows of these lengths: 0, then their running sum."""
    counts = np.asarray(lengths)
    indptr = np.zeros(len(counts) + 1, dtype=dtype)
    np.cumsum(counts, out=indptr[1:])
    return indptr


def from_lists(
    rows: Sequence[Sequence[int]], indptr_dtype: type[_Index], value_dtype: type[_Value]
) -> tuple[NDArray[_Index], NDArray[_Value]]:
    """Per-row lists of integers as a CSR pair (OverflowError for a value ``value_dtype``
    cannot hold)."""
    indptr = indptr_from_lengths([len(row) for row in rows], indptr_dtype)
    values = np.fromiter(
        (value for row in rows for value in row), dtype=value_dtype, count=int(indptr[-1])
    )
    return indptr, values


def row(indptr: NDArray[np.integer[Any]], values: NDArray[_Value], index: int) -> NDArray[_Value]:
    """Row ``index``'s values (a view)."""
    return values[indptr[index] : indptr[index + 1]]


def row_range(
    indptr: NDArray[_Index], values: NDArray[_Value], start: int, stop: int
) -> tuple[NDArray[_Index], NDArray[_Value]]:
    """Rows ``start..stop-1`` as a CSR slice (views): its indptr starts at ``indptr[start]``."""
    sliced = indptr[start : stop + 1]
    return sliced, values[sliced[0] : sliced[-1]]


def row_ids(indptr: NDArray[np.integer[Any]]) -> NDArray[np.int64]:
    """The row of every value: ``i`` repeated ``len(row i)`` times."""
    return np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))


def rows_of_positions(
    indptr: NDArray[np.integer[Any]], positions: NDArray[np.integer[Any]]
) -> NDArray[np.intp]:
    """The row holding each of ``positions`` (indices into ``values``), by bisection."""
    return np.searchsorted(indptr, positions, side="right") - 1


def nonempty_starts(indptr: NDArray[np.int64]) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """Which rows are not empty, and where those rows start relative to ``indptr[0]``.

    What ``ufunc.reduceat`` needs: given an empty row it would return the value at the row's
    start (or fail at the end), so reductions run over the non-empty rows only.
    """
    nonempty = np.diff(indptr) > 0
    return nonempty, (indptr[:-1] - indptr[0])[nonempty]


def take_rows(
    indptr: NDArray[np.integer[Any]], values: NDArray[_Value], rows: NDArray[np.integer[Any]]
) -> tuple[NDArray[np.int64], NDArray[_Value]]:
    """The CSR of ``rows`` alone (any order, repeats allowed), indptr from 0: one gather."""
    starts = indptr[rows].astype(np.int64, copy=False)
    lengths = indptr[rows + 1] - starts
    new_indptr = indptr_from_lengths(lengths, np.int64)
    # For every output value, the input position: its row's start plus its offset in the row.
    positions = np.repeat(starts - new_indptr[:-1], lengths) + np.arange(
        new_indptr[-1], dtype=np.int64
    )
    return new_indptr, values[positions]


def concatenate(
    first: tuple[NDArray[np.int64], NDArray[_Value]],
    second: tuple[NDArray[np.int64], NDArray[_Value]],
) -> tuple[NDArray[np.int64], NDArray[_Value]]:
    """The rows of ``first`` followed by those of ``second`` (both with indptrs from 0)."""
    indptr = np.concatenate([first[0], second[0][1:] + first[0][-1]])
    return indptr, np.concatenate([first[1], second[1]])


def append_row(
    csr: tuple[NDArray[np.int64], NDArray[_Value]], values: NDArray[_Value]
) -> tuple[NDArray[np.int64], NDArray[_Value]]:
    """``csr`` with one more row, ``values`` (copies both arrays)."""
    return concatenate(csr, (np.array([0, len(values)], dtype=np.int64), values))


def transpose(
    indptr: NDArray[_Index], indices: NDArray[_Column], n_columns: int | None = None
) -> tuple[NDArray[_Index], NDArray[_Column]]:
    """A CSR of rows -> columns turned into columns -> rows (rows ascending within each column).

    E.g. term -> ancestors into ancestor -> terms; ``n_columns`` defaults to the number of rows
    (a square relation). The indptr keeps ``indptr``'s dtype and the indices ``indices``'; the
    result is read-only.
    """
    n_rows = len(indptr) - 1
    n_columns = n_rows if n_columns is None else n_columns
    rows = np.repeat(np.arange(n_rows, dtype=indices.dtype), np.diff(indptr))
    order = np.argsort(indices, kind="stable")  # stable: each column's rows stay ascending
    transposed_indptr = np.zeros(n_columns + 1, dtype=indptr.dtype)
    np.cumsum(np.bincount(indices, minlength=n_columns), out=transposed_indptr[1:])
    transposed_indices = rows[order]
    transposed_indptr.flags.writeable = False
    transposed_indices.flags.writeable = False
    return transposed_indptr, transposed_indices


def checked(
    name: str,
    rows: int,
    indptr: ArrayLike,
    values: ArrayLike,
    dtype: type[_Value],
    high: int,
) -> tuple[NDArray[np.int64], NDArray[_Value]]:
    """A CSR pair given from outside as contiguous int64 indptr and ``dtype`` values, checked:
    ``rows`` rows, indptr from 0 to the number of values and never decreasing, every value an
    integer within 0..high-1. Raises ValueError naming ``name`` otherwise."""
    indptr_array = np.ascontiguousarray(indptr, dtype=np.int64)
    raw = np.asarray(values).reshape(-1)
    if raw.size and not np.issubdtype(raw.dtype, np.integer):
        raise ValueError(f"{name} must hold integers")
    # Checked before the cast, which would wrap an out-of-range value silently.
    if raw.size and (raw.min() < 0 or raw.max() >= high):
        raise ValueError(f"{name} holds a value outside 0..{high - 1}")
    value_array = np.ascontiguousarray(raw, dtype=dtype)
    if indptr_array.shape != (rows + 1,):
        raise ValueError(f"{name} indptr must have one entry per case plus one")
    if indptr_array[0] != 0 or indptr_array[-1] != len(value_array):
        raise ValueError(f"{name} indptr must run from 0 to the number of values")
    if rows and np.any(indptr_array[1:] < indptr_array[:-1]):
        raise ValueError(f"{name} indptr must not decrease")
    return indptr_array, value_array
