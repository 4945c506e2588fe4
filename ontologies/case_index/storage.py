"""The case index's storage: the row arrays of a segment, the snapshot a search reads, and how
cases go in and out of rows.

A segment holds rows of cases as flat arrays: keys, the observed and excluded terms and the
genes as CSR (``ontologies.csr``), one flag byte and one zero-padded disease profile per row.
A snapshot holds the two segments (main, sorted by key; delta, append-only) with their ``alive``
bits, the gene vocabulary and the counters; every array in both is read-only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ontologies import csr
from ontologies.similarity import CaseProfiles
from ontologies.similarity.diseases import DEFAULT_PROFILE_SIZE, DiseaseProfile

FORMAT: Final = "matchmaker-case-index"
# Bump whenever the arrays or the metadata change shape; load refuses other versions.
FORMAT_VERSION: Final = 3

# Bits of the ``flags`` array (uint8, one per case).
FLAG_SHAREABLE: Final = 1  # consented for matching with other nodes, and active
FLAG_TEST: Final = 2  # a test or demo case

# Term indices are stored as int16 (the HPO has about 19,000 terms).
MAX_TERM: Final = np.iinfo(np.int16).max
# Each case's disease profile (its closest known diseases, for the scorer's disease bridge) is
# stored as this many (disease row, weight) pairs: int16 rows, float32 weights, zero-padded
# (60 bytes a case; float16 weights would save 20 but their conversion doubled the search cost),
# and its fit to the closest of them (float32, for the scorer's fit penalty).
DISEASE_PROFILE_WIDTH: Final = DEFAULT_PROFILE_SIZE


# The delta segment and the tombstones are scanned by every search and copied by every upsert;
# past this many rows, upsert folds them into the main segment (one upsert then takes the time of
# a compaction, about 0.1 s per million cases).
DEFAULT_COMPACT_THRESHOLD: Final = 10_000
ARRAY_FIELDS: Final = (
    "keys",
    "observed_indptr",
    "observed_terms",
    "excluded_indptr",
    "excluded_terms",
    "gene_indptr",
    "gene_codes",
    "flags",
    "disease_rows",
    "disease_weights",
    "disease_fits",
)


@dataclass(frozen=True, slots=True)
class IndexedCase:
    """One stored case as the index sees it."""

    key: int  # the database id
    observed: Sequence[int]  # term indices into the ontology's term_ids
    excluded: Sequence[int] = ()
    genes: Sequence[str] = ()  # canonical gene ids, "NCBIGene:55768"
    shareable: bool = False  # consented for external matching, and active
    is_test: bool = False
    # From the phenotype scorer's ``disease_profiler``; None: the disease bridge scores it 0.
    disease_profile: DiseaseProfile | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """Rows of cases: the arrays are never written after construction."""

    keys: NDArray[np.int64]
    observed_indptr: NDArray[np.int64]
    observed_terms: NDArray[np.int16]
    excluded_indptr: NDArray[np.int64]
    excluded_terms: NDArray[np.int16]
    gene_indptr: NDArray[np.int64]
    gene_codes: NDArray[np.int32]
    flags: NDArray[np.uint8]
    disease_rows: NDArray[np.int16]  # (rows, DISEASE_PROFILE_WIDTH)
    disease_weights: NDArray[np.float32]  # (rows, DISEASE_PROFILE_WIDTH)
    disease_fits: NDArray[np.float32]  # (rows,)
    keys_sorted: bool
    profiles: CaseProfiles = field(init=False)

    def __post_init__(self) -> None:
        for name in ARRAY_FIELDS:
            # A view: marking it read-only leaves an array the caller passed in untouched.
            view = getattr(self, name).view()
            view.flags.writeable = False
            object.__setattr__(self, name, view)
        profiles = CaseProfiles(
            observed_indptr=self.observed_indptr,
            observed_terms=self.observed_terms,
            excluded_indptr=self.excluded_indptr,
            excluded_terms=self.excluded_terms,
            disease_rows=self.disease_rows,
            disease_weights=self.disease_weights,
            disease_fits=self.disease_fits,
        )
        object.__setattr__(self, "profiles", profiles)

    def __len__(self) -> int:
        return len(self.keys)

    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name in ARRAY_FIELDS)

    def row_of(self, key: int) -> int | None:
        """The row holding ``key`` (alive or not), for a segment sorted by key."""
        row = int(np.searchsorted(self.keys, key))
        return row if row < len(self.keys) and self.keys[row] == key else None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a search reads; replaced as a whole by each mutation."""

    main: Segment
    main_alive: NDArray[np.bool_]
    delta: Segment
    delta_alive: NDArray[np.bool_]
    delta_rows: Mapping[int, int]  # key -> its alive row in delta
    gene_vocabulary: tuple[str, ...]
    gene_codes: Mapping[str, int]  # gene id -> code (its position in gene_vocabulary)
    size: int  # alive rows
    dead_main_rows: int
    version: int

    def __post_init__(self) -> None:
        self.main_alive.flags.writeable = False
        self.delta_alive.flags.writeable = False


def flags_of(case: IndexedCase) -> int:
    return (FLAG_SHAREABLE if case.shareable else 0) | (FLAG_TEST if case.is_test else 0)


# One case's disease profile as the index stores it: rows, weights (zero-padded) and fit.
ProfileRow = tuple[NDArray[np.int16], NDArray[np.float32], np.float32]


def profile_row(profile: DiseaseProfile | None) -> ProfileRow:
    """A disease profile as one zero-padded row of the index's profile arrays, and its fit."""
    rows = np.zeros(DISEASE_PROFILE_WIDTH, dtype=np.int16)
    weights = np.zeros(DISEASE_PROFILE_WIDTH, dtype=np.float32)
    if profile is None:
        return rows, weights, np.float32(0.0)
    if not 0.0 <= profile.fit <= 1.0:
        raise ValueError("a disease profile's fit must be within 0..1")
    width = len(profile.rows)
    if width > DISEASE_PROFILE_WIDTH or len(profile.weights) != width:
        raise ValueError(
            f"a disease profile must hold at most {DISEASE_PROFILE_WIDTH} rows and as many weights"
        )
    rows[:width] = profile.rows
    weights[:width] = profile.weights
    return rows, weights, np.float32(profile.fit)


def term_array(terms: Sequence[int]) -> NDArray[np.int16]:
    values = np.asarray(terms, dtype=np.int64).reshape(-1)
    if values.size and (values.min() < 0 or values.max() > MAX_TERM):
        raise ValueError(f"a term index is outside 0..{MAX_TERM}")
    return values.astype(np.int16)


def make_segment(
    *,
    keys: ArrayLike,
    observed_indptr: ArrayLike,
    observed_terms: ArrayLike,
    excluded_indptr: ArrayLike,
    excluded_terms: ArrayLike,
    gene_indptr: ArrayLike,
    gene_codes: ArrayLike,
    flags: ArrayLike,
    disease_rows: ArrayLike | None,
    disease_weights: ArrayLike | None,
    disease_fits: ArrayLike | None,
    vocabulary_size: int,
) -> Segment:
    key_array = np.ascontiguousarray(keys, dtype=np.int64).reshape(-1)
    rows = len(key_array)
    flag_array = np.ascontiguousarray(flags, dtype=np.uint8).reshape(-1)
    if flag_array.shape != (rows,):
        raise ValueError("flags must have one entry per case")
    profile_shape = (rows, DISEASE_PROFILE_WIDTH)
    if disease_rows is None and disease_weights is None and disease_fits is None:
        disease_rows = np.zeros(profile_shape, dtype=np.int16)
        disease_weights = np.zeros(profile_shape, dtype=np.float32)
        disease_fits = np.zeros(rows, dtype=np.float32)
    raw_rows, raw_weights = np.asarray(disease_rows), np.asarray(disease_weights)
    if raw_rows.shape != profile_shape or raw_weights.shape != profile_shape:
        raise ValueError(f"disease_rows and disease_weights must have shape {profile_shape}")
    if raw_rows.size and (
        not np.issubdtype(raw_rows.dtype, np.integer)
        or raw_rows.min() < 0
        or raw_rows.max() > MAX_TERM
    ):
        raise ValueError(f"disease_rows must hold integers within 0..{MAX_TERM}")
    profile_weights = np.ascontiguousarray(raw_weights, dtype=np.float32)
    if not np.all(np.isfinite(profile_weights) & (profile_weights >= 0)):
        raise ValueError("disease_weights must be finite and not negative")
    if disease_fits is None:
        raise ValueError("disease_fits go with disease_rows and disease_weights")
    profile_fits = np.ascontiguousarray(disease_fits, dtype=np.float32)
    if profile_fits.shape != (rows,):
        raise ValueError(f"disease_fits must have shape ({rows},)")
    if not np.all(np.isfinite(profile_fits) & (profile_fits >= 0) & (profile_fits <= 1)):
        raise ValueError("disease_fits must be within 0..1")
    observed = csr.checked(
        "observed", rows, observed_indptr, observed_terms, np.int16, MAX_TERM + 1
    )
    excluded = csr.checked(
        "excluded", rows, excluded_indptr, excluded_terms, np.int16, MAX_TERM + 1
    )
    genes = csr.checked("gene", rows, gene_indptr, gene_codes, np.int32, vocabulary_size)
    return Segment(
        keys=key_array,
        observed_indptr=observed[0],
        observed_terms=observed[1],
        excluded_indptr=excluded[0],
        excluded_terms=excluded[1],
        gene_indptr=genes[0],
        gene_codes=genes[1],
        flags=flag_array,
        disease_rows=np.ascontiguousarray(raw_rows, dtype=np.int16),
        disease_weights=profile_weights,
        disease_fits=profile_fits,
        keys_sorted=bool(np.all(key_array[1:] > key_array[:-1])),
    )


def empty_segment() -> Segment:
    empty_indptr = np.zeros(1, dtype=np.int64)
    return Segment(
        keys=np.zeros(0, dtype=np.int64),
        observed_indptr=empty_indptr,
        observed_terms=np.zeros(0, dtype=np.int16),
        excluded_indptr=empty_indptr.copy(),
        excluded_terms=np.zeros(0, dtype=np.int16),
        gene_indptr=empty_indptr.copy(),
        gene_codes=np.zeros(0, dtype=np.int32),
        flags=np.zeros(0, dtype=np.uint8),
        disease_rows=np.zeros((0, DISEASE_PROFILE_WIDTH), dtype=np.int16),
        disease_weights=np.zeros((0, DISEASE_PROFILE_WIDTH), dtype=np.float32),
        disease_fits=np.zeros(0, dtype=np.float32),
        keys_sorted=True,
    )


def locate(snapshot: Snapshot, key: int) -> tuple[Segment, int] | None:
    """The segment and row of the alive case ``key``, or None."""
    row = snapshot.delta_rows.get(key)
    if row is not None:
        return snapshot.delta, row
    row = snapshot.main.row_of(key)
    if row is not None and snapshot.main_alive[row]:
        return snapshot.main, row
    return None


def case_at(segment: Segment, row: int, vocabulary: tuple[str, ...]) -> IndexedCase:
    def cells(indptr: NDArray[np.int64], values: NDArray[np.integer[Any]]) -> list[int]:
        return [int(value) for value in csr.row(indptr, values, row)]

    flags = int(segment.flags[row])
    weights = segment.disease_weights[row]
    profile = None
    if weights.any():
        width = int(np.count_nonzero(weights))  # profiles are zero-padded at the end
        profile = DiseaseProfile(
            segment.disease_rows[row, :width].copy(),
            weights[:width].astype(np.float32),
            float(segment.disease_fits[row]),
        )
    return IndexedCase(
        key=int(segment.keys[row]),
        observed=tuple(cells(segment.observed_indptr, segment.observed_terms)),
        excluded=tuple(cells(segment.excluded_indptr, segment.excluded_terms)),
        genes=tuple(vocabulary[code] for code in cells(segment.gene_indptr, segment.gene_codes)),
        shareable=bool(flags & FLAG_SHAREABLE),
        is_test=bool(flags & FLAG_TEST),
        disease_profile=profile,
    )
