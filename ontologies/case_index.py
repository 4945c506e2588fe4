"""Every stored case as a few flat arrays, ranked against one query without a loop per case.

A ``CaseIndex`` holds the phenotype profiles (CSR: per-case offsets into one array of int16 term
indices, observed and excluded), the candidate genes (CSR of int32 codes into a gene vocabulary)
and two flag bits per case (shareable, test). A search bounds every row's score from above with
a phenotype scorer from ``ontologies.similarity`` (numpy) split across the CPU cores, adds the
genotype score (does the case share a gene with the query), then scores exactly only the rows
whose bound can still reach the ``limit``-th best exact score: exact top-k, identical to scoring
every row (``_search_pruned``). A scorer without bounds scores every row. A million cases take
about 60 MB. Note that ``ufunc.reduceat`` holds the GIL (measured with numpy 2.4), so the
threads overlap only the gathers and element-wise work.

Storage is two segments of the same shape: the *main* segment, sorted by key, and a small append-
only *delta* segment that takes upserts. Replacing or removing a case clears its row's ``alive``
bit (a tombstone); ``compact`` folds the delta into a new main segment and drops dead rows.

Thread-safety: all the arrays one search reads sit in one immutable ``_Snapshot``. A mutation
(upsert, remove, compact), serialised by a lock, builds a new snapshot (copying only the small
delta and the one-byte-per-row ``alive`` array it changes) and swaps it in with one attribute
assignment. A search reads the current snapshot once at its start, so it sees the index either
before or after any mutation, never half of one, and a search that starts after ``remove`` returned
never returns the removed key. Searches never block each other or mutations.
"""

from __future__ import annotations

import itertools
import os
import threading
from array import array
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ontologies import csr
from ontologies.npz_files import read_npz, write_npz_atomically
from ontologies.similarity import CaseProfiles, combine_scores
from ontologies.similarity.diseases import DEFAULT_PROFILE_SIZE, DiseaseProfile
from ontologies.similarity.kernels import bitwise_or_over_cases

FORMAT: Final = "matchmaker-case-index"
# Bump whenever the arrays or the metadata change shape; load refuses other versions.
FORMAT_VERSION: Final = 2

# Bits of the ``flags`` array (uint8, one per case).
FLAG_SHAREABLE: Final = 1  # consented for matching with other nodes, and active
FLAG_TEST: Final = 2  # a test or demo case

# Term indices are stored as int16 (the HPO has about 19,000 terms).
_MAX_TERM: Final = np.iinfo(np.int16).max
# Each case's disease profile (its closest known diseases, for the scorer's disease bridge) is
# stored as this many (disease row, weight) pairs: int16 rows, float32 weights, zero-padded
# (60 bytes a case; float16 weights would save 20 but their conversion doubled the search cost).
DISEASE_PROFILE_WIDTH: Final = DEFAULT_PROFILE_SIZE
# Searches split the rows into this many shares, one per core.
_WORKERS = os.cpu_count() or 1
# Below this many rows one thread scores everything: handing work to a pool costs ~0.1 ms.
_PARALLEL_MIN_ROWS = 20_000
# The scorer gets rows in blocks this size: its temporaries (a few per stored term) then stay in
# the CPU cache, which made a numpy scorer 1.5 times faster than one call per million rows.
_SCORE_BLOCK_ROWS = 32_768
# Upper bounds come in blocks this size (the same cache argument; their temporaries are smaller).
_BOUND_BLOCK_ROWS = 32_768
# The first exact-scoring round takes the rows with the best bounds, this many per hit asked for
# (at least _FIRST_EXACT_BATCH): usually enough to set the threshold that prunes the rest.
_FIRST_EXACT_BATCH_PER_LIMIT = 4
_FIRST_EXACT_BATCH = 2048
# Exact scoring of chosen rows is split across cores from this many rows per core.
_PARALLEL_MIN_EXACT_ROWS = 8192
# The delta segment and the tombstones are scanned by every search and copied by every upsert;
# past this many rows, upsert folds them into the main segment (one upsert then takes the time of
# a compaction, about 0.1 s per million cases).
DEFAULT_COMPACT_THRESHOLD: Final = 10_000
_ARRAY_FIELDS: Final = (
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
)

_Query = TypeVar("_Query", contravariant=True)


class PhenotypeScoring(Protocol[_Query]):
    """What a search needs from ``ontologies.similarity.PhenotypeScorer``."""

    def score(
        self, query: _Query, profiles: CaseProfiles, start: int = 0, stop: int | None = None
    ) -> NDArray[np.float32]: ...


@runtime_checkable
class BoundedPhenotypeScoring(Protocol[_Query]):
    """A scorer that also bounds its scores from above, which lets a search prune.

    ``score_upper_bounds`` must never return less than ``score`` for a case (or None: no bound
    for this query), and ``score_rows(query, profiles, rows)`` must equal
    ``score(query, profiles)[rows]`` bit for bit; ``PhenotypeScorer`` guarantees both.
    """

    def score(
        self, query: _Query, profiles: CaseProfiles, start: int = 0, stop: int | None = None
    ) -> NDArray[np.float32]: ...

    def score_upper_bounds(
        self, query: _Query, profiles: CaseProfiles, start: int = 0, stop: int | None = None
    ) -> NDArray[np.float32] | None: ...

    def score_rows(
        self, query: _Query, profiles: CaseProfiles, rows: NDArray[np.int64]
    ) -> NDArray[np.float32]: ...


@dataclass(frozen=True, slots=True)
class SearchStatistics:
    """How much work one search did (see ``CaseIndex.search_with_statistics``)."""

    rows: int  # rows in the index, alive or not
    eligible_rows: int  # rows passing the filters
    exact_rows: int  # rows whose phenotype score was computed exactly
    rounds: int  # exact-scoring rounds after the bounds (0: every row scored, no bounds)
    pruned: bool  # False when the scorer offers no bound and every row was scored


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
class Hit:
    """One ranked case."""

    key: int
    score: float  # patient score 0..1, higher = better match (combine_scores)
    phenotype: float  # 0..1, from the phenotype scorer
    genotype: float  # 0..1: 1 if the case shares a candidate gene with the query
    shared_genes: tuple[str, ...]  # sorted


@dataclass(frozen=True, slots=True)
class _Segment:
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
    keys_sorted: bool
    profiles: CaseProfiles = field(init=False)

    def __post_init__(self) -> None:
        for name in _ARRAY_FIELDS:
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
        )
        object.__setattr__(self, "profiles", profiles)

    def __len__(self) -> int:
        return len(self.keys)

    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name in _ARRAY_FIELDS)

    def row_of(self, key: int) -> int | None:
        """The row holding ``key`` (alive or not), for a segment sorted by key."""
        row = int(np.searchsorted(self.keys, key))
        return row if row < len(self.keys) and self.keys[row] == key else None


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """Everything a search reads; replaced as a whole by each mutation."""

    main: _Segment
    main_alive: NDArray[np.bool_]
    delta: _Segment
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


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Rows [start, stop) of one segment, scored by one thread."""

    segment: _Segment
    alive: NDArray[np.bool_]
    start: int
    stop: int
    excluded_rows: NDArray[np.int64]  # rows of the segment (anywhere) that the search drops


@dataclass(frozen=True, slots=True)
class _Candidates:
    """The best rows of one chunk: enough to fill ``limit`` including every tie at the edge."""

    keys: NDArray[np.int64]
    patient: NDArray[np.float32]
    phenotype: NDArray[np.float32]
    genotype: NDArray[np.float32]
    chunk: _Chunk
    rows: NDArray[np.int64]  # within the segment
    eligible_rows: int  # rows of the chunk passing the filters


_executor_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _get_executor() -> ThreadPoolExecutor:
    # One pool per process, created on first use; the thread calling search takes one share of
    # the work itself, so the pool needs one thread fewer than there are cores.
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=max(1, _WORKERS - 1), thread_name_prefix="case-index"
            )
        return _executor


class CaseIndex:
    """All cases of one node, for ranking against a query.

    Build with ``build`` (from ``IndexedCase`` objects) or ``build_from_arrays`` (the fast path),
    or ``load`` a file written by ``save``. Then ``search`` any number of times, from any number of
    threads, while one thread at a time applies ``upsert`` / ``remove`` (see the module docstring
    for the guarantee). Term indices refer to the HPO release named by ``hpo_release``; a scorer
    built on another release would score garbage, so rebuild the index when the release changes.
    """

    def __init__(
        self,
        snapshot: _Snapshot,
        *,
        hpo_release: str,
        metadata: Mapping[str, Any] | None = None,
        compact_threshold: int = DEFAULT_COMPACT_THRESHOLD,
    ) -> None:
        """Use ``build``, ``build_from_arrays`` or ``load``; the snapshot type is private."""
        self.hpo_release = hpo_release
        # Whatever the caller saved alongside (e.g. the last database change applied): JSON data.
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.compact_threshold = compact_threshold
        self._snapshot = snapshot
        self._lock = threading.Lock()

    # Construction ------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        cases: Iterable[IndexedCase],
        *,
        hpo_release: str,
        compact_threshold: int = DEFAULT_COMPACT_THRESHOLD,
    ) -> CaseIndex:
        """An index of ``cases`` (any order; keys must be unique).

        About 2 µs per case plus 0.1 µs per term: 1M cases in a few seconds. Raises ValueError
        for a duplicate key or a term index outside 0..32767.
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
        vocabulary: dict[str, int] = {}
        try:
            for case in cases:
                profile_rows, profile_weights = _profile_row(case.disease_profile)
                disease_rows.append(profile_rows)
                disease_weights.append(profile_weights)
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
                flags.append(_flags_of(case))
        except OverflowError as error:
            raise ValueError(f"a term index is outside 0..{_MAX_TERM}: {error}") from error
        return cls.build_from_arrays(
            keys=np.frombuffer(keys, dtype=np.int64),
            observed_indptr=csr.indptr_from_lengths(
                np.frombuffer(observed_lengths, dtype=np.int64), np.int64
            ),
            observed_terms=np.frombuffer(observed, dtype=np.int16),
            excluded_indptr=csr.indptr_from_lengths(
                np.frombuffer(excluded_lengths, dtype=np.int64), np.int64
            ),
            excluded_terms=np.frombuffer(excluded, dtype=np.int16),
            gene_indptr=csr.indptr_from_lengths(
                np.frombuffer(gene_lengths, dtype=np.int64), np.int64
            ),
            gene_codes=np.frombuffer(gene_codes, dtype=np.int32),
            gene_vocabulary=tuple(vocabulary),
            flags=np.frombuffer(flags, dtype=np.uint8),
            disease_rows=_stacked(disease_rows, np.int16),
            disease_weights=_stacked(disease_weights, np.float32),
            hpo_release=hpo_release,
            compact_threshold=compact_threshold,
        )

    @classmethod
    def build_from_arrays(
        cls,
        *,
        keys: ArrayLike,
        observed_indptr: ArrayLike,
        observed_terms: ArrayLike,
        excluded_indptr: ArrayLike,
        excluded_terms: ArrayLike,
        gene_indptr: ArrayLike,
        gene_codes: ArrayLike,
        gene_vocabulary: Sequence[str],
        flags: ArrayLike,
        hpo_release: str,
        disease_rows: ArrayLike | None = None,
        disease_weights: ArrayLike | None = None,
        metadata: Mapping[str, Any] | None = None,
        version: int = 0,
        compact_threshold: int = DEFAULT_COMPACT_THRESHOLD,
    ) -> CaseIndex:
        """An index from CSR arrays, one row per case, no Python work per case.

        Row i is case ``keys[i]``; its observed terms are
        ``observed_terms[observed_indptr[i]:observed_indptr[i + 1]]`` (likewise excluded terms
        and ``gene_codes``, which index ``gene_vocabulary``); ``flags[i]`` ORs ``FLAG_SHAREABLE``
        and ``FLAG_TEST``. ``disease_rows`` and ``disease_weights``, shape
        (cases, ``DISEASE_PROFILE_WIDTH``), are the cases' zero-padded disease profiles (all
        zero when not given). Rows already sorted by key are used as they are (no copy when the
        dtypes match: int64 keys and indptrs, int16 terms, int32 codes, uint8 flags); otherwise
        they are sorted, which costs about 0.2 s per million cases. Raises ValueError for
        inconsistent arrays, duplicate keys, or out-of-range terms or gene codes.
        """
        vocabulary = tuple(gene_vocabulary)
        codes = {gene: code for code, gene in enumerate(vocabulary)}
        if len(codes) != len(vocabulary):
            raise ValueError("gene_vocabulary lists a gene twice")
        segment = _make_segment(
            keys=keys,
            observed_indptr=observed_indptr,
            observed_terms=observed_terms,
            excluded_indptr=excluded_indptr,
            excluded_terms=excluded_terms,
            gene_indptr=gene_indptr,
            gene_codes=gene_codes,
            flags=flags,
            disease_rows=disease_rows,
            disease_weights=disease_weights,
            vocabulary_size=len(vocabulary),
        )
        if not segment.keys_sorted:
            order = np.argsort(segment.keys, kind="stable")
            segment = _take_rows(segment, order, keys_sorted=True)
        if len(segment) > 1 and not np.all(segment.keys[1:] != segment.keys[:-1]):
            duplicate = segment.keys[1:][segment.keys[1:] == segment.keys[:-1]][0]
            raise ValueError(f"case key {duplicate} appears twice")
        snapshot = _Snapshot(
            main=segment,
            main_alive=np.ones(len(segment), dtype=np.bool_),
            delta=_empty_segment(),
            delta_alive=np.zeros(0, dtype=np.bool_),
            delta_rows={},
            gene_vocabulary=vocabulary,
            gene_codes=codes,
            size=len(segment),
            dead_main_rows=0,
            version=version,
        )
        return cls(
            snapshot,
            hpo_release=hpo_release,
            metadata=metadata,
            compact_threshold=compact_threshold,
        )

    # Reading -----------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """Increments on every upsert and on every remove that removed something.

        ``compact`` does not change it (the content stays the same); ``save`` stores it and
        ``load`` restores it.
        """
        return self._snapshot.version

    @property
    def gene_vocabulary(self) -> tuple[str, ...]:
        """Every gene id seen so far; a case's gene codes index this (append-only)."""
        return self._snapshot.gene_vocabulary

    @property
    def delta_rows(self) -> int:
        """Rows not yet folded into the main segment: the delta plus tombstones in main."""
        snapshot = self._snapshot
        return len(snapshot.delta) + snapshot.dead_main_rows

    def __len__(self) -> int:
        return self._snapshot.size

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, int | np.integer):
            return False
        return _locate(self._snapshot, int(key)) is not None

    def __repr__(self) -> str:
        return (
            f"<CaseIndex HPO {self.hpo_release}: {len(self)} cases, version {self.version}, "
            f"{self.memory_bytes() / 1e6:.1f} MB>"
        )

    def keys(self) -> NDArray[np.int64]:
        """The keys of all cases, ascending."""
        snapshot = self._snapshot
        main_keys = snapshot.main.keys[snapshot.main_alive]
        delta_keys = snapshot.delta.keys[snapshot.delta_alive]
        return np.sort(np.concatenate([main_keys, delta_keys]))

    def get(self, key: int) -> IndexedCase | None:
        """The stored case ``key``, or None."""
        snapshot = self._snapshot
        location = _locate(snapshot, key)
        if location is None:
            return None
        segment, row = location
        return _case_at(segment, row, snapshot.gene_vocabulary)

    def memory_bytes(self) -> int:
        """The bytes held by the arrays (not the gene vocabulary's strings, about 1 MB)."""
        snapshot = self._snapshot
        return (
            snapshot.main.nbytes()
            + snapshot.main_alive.nbytes
            + snapshot.delta.nbytes()
            + snapshot.delta_alive.nbytes
        )

    # Searching ---------------------------------------------------------------------------------

    def search(
        self,
        scorer: PhenotypeScoring[_Query],
        query: _Query,
        *,
        query_genes: Iterable[str] = (),
        limit: int = 50,
        min_score: float = 0.0,
        require_shared_gene: bool = False,
        shareable_only: bool = False,
        include_test: bool = True,
        exclude_keys: Collection[int] = (),
    ) -> list[Hit]:
        """The ``limit`` best cases for ``query`` (from ``scorer.prepare``), best first.

        A case's score is ``combine_scores(phenotype, genotype)``, genotype being 1 when the case
        lists one of ``query_genes`` (canonical ids) and 0 otherwise; with no ``query_genes`` it
        is the phenotype score (there is no genotype part to combine). Equal scores rank by key,
        ascending, so results are deterministic. ``min_score`` is inclusive and applies to that
        combined score. Filters: ``require_shared_gene`` keeps cases with genotype 1,
        ``shareable_only`` keeps cases flagged shareable, ``include_test=False`` drops test
        cases, ``exclude_keys`` drops those keys (e.g. the query case itself).

        With a scorer that bounds its scores (``BoundedPhenotypeScoring``, as
        ``PhenotypeScorer`` does for the BMA methods) the search is exact top-k with pruning:
        bound every row (split across the CPU cores), score exactly only the rows whose bound
        can still reach the ``limit``-th best exact score, and return exactly what scoring
        every row would. Otherwise it scores every row. Either way the bound or score pass is
        linear in the number of stored terms; see bench/speed.py for figures.
        """
        hits, _ = self.search_with_statistics(
            scorer,
            query,
            query_genes=query_genes,
            limit=limit,
            min_score=min_score,
            require_shared_gene=require_shared_gene,
            shareable_only=shareable_only,
            include_test=include_test,
            exclude_keys=exclude_keys,
        )
        return hits

    def search_with_statistics(
        self,
        scorer: PhenotypeScoring[_Query],
        query: _Query,
        *,
        query_genes: Iterable[str] = (),
        limit: int = 50,
        min_score: float = 0.0,
        require_shared_gene: bool = False,
        shareable_only: bool = False,
        include_test: bool = True,
        exclude_keys: Collection[int] = (),
    ) -> tuple[list[Hit], SearchStatistics]:
        """``search``, plus how many rows it had to score exactly (for benchmarks and logs)."""
        if limit < 0:
            raise ValueError(f"limit must not be negative, not {limit}")
        snapshot = self._snapshot
        rows = len(snapshot.main) + len(snapshot.delta)
        if limit == 0 or snapshot.size == 0:
            return [], SearchStatistics(rows, 0, 0, 0, pruned=False)
        # A lookup table (one bool per gene code) rather than np.isin: one gather per code.
        query_genes = tuple(query_genes)
        query_genes_known = [g for g in query_genes if g in snapshot.gene_codes]
        wanted_genes = np.zeros(len(snapshot.gene_vocabulary), dtype=np.bool_)
        wanted_genes[[snapshot.gene_codes[g] for g in query_genes_known]] = True
        if require_shared_gene and not query_genes_known:
            return [], SearchStatistics(rows, 0, 0, 0, pruned=False)
        rules = _Rules(
            wanted_genes=wanted_genes if query_genes_known else None,
            query_has_genes=bool(query_genes),
            required_flags=FLAG_SHAREABLE if shareable_only else 0,
            rejected_flags=0 if include_test else FLAG_TEST,
            require_shared_gene=require_shared_gene,
            # Compared with float32 scores as float32, the way the ranking compares them.
            floor=np.float32(max(min_score, 0.0)),
            limit=limit,
        )
        shares = _split(snapshot, exclude_keys)
        if isinstance(scorer, BoundedPhenotypeScoring):
            pruned = _search_pruned(scorer, query, snapshot, shares, rules)
            if pruned is not None:
                results, statistics = pruned
                return _merge(results, limit, snapshot.gene_vocabulary, wanted_genes), statistics

        def rank_all(chunks: list[_Chunk]) -> list[_Candidates]:
            return [_rank_chunk(scorer, query, chunk, rules) for chunk in chunks]

        results = _run_shares(rank_all, shares)
        statistics = SearchStatistics(
            rows=rows,
            eligible_rows=sum(result.eligible_rows for result in results),
            exact_rows=rows,
            rounds=0,
            pruned=False,
        )
        return _merge(results, limit, snapshot.gene_vocabulary, wanted_genes), statistics

    # Counting ----------------------------------------------------------------------------------

    def select(
        self,
        *,
        term_filters: Sequence[NDArray[np.bool_]] = (),
        excluded_terms: NDArray[np.bool_] | None = None,
        gene_filters: Sequence[Collection[str]] = (),
        required_flags: int = 0,
        rejected_flags: int = 0,
    ) -> NDArray[np.int64]:
        """The keys (ascending) of the cases that pass every filter, for counting, unscored.

        A case passes when, for each of ``term_filters`` (one bool per ontology term), it has an
        observed term the filter marks; none of its excluded terms is marked in
        ``excluded_terms``; for each of ``gene_filters`` it lists one of those gene ids; and its
        flags include ``required_flags`` and none of ``rejected_flags``. No loop per case: one
        gather and one OR-reduction over the CSR arrays per kind of filter, each filter one bit
        (at most 64 of each kind; ValueError beyond). Tens of ms per million cases of ~10 terms
        (bench/beacon.py, docs/benchmarks.md).
        """
        if len(term_filters) > 64 or len(gene_filters) > 64:
            raise ValueError("at most 64 term filters and 64 gene filters")
        snapshot = self._snapshot
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

    # Mutating ----------------------------------------------------------------------------------

    def upsert(self, case: IndexedCase) -> None:
        """Add ``case``, or replace the stored case with the same key.

        Appends to the delta segment and tombstones the old row: O(delta) work, about 0.1 ms;
        when the delta outgrows ``compact_threshold`` this call also compacts. Raises ValueError
        for a term index outside 0..32767.
        """
        key = int(case.key)
        observed = _terms(case.observed)
        excluded = _terms(case.excluded)
        profile = _profile_row(case.disease_profile)
        with self._lock:
            snapshot = self._snapshot
            vocabulary = snapshot.gene_vocabulary
            codes = snapshot.gene_codes
            new_genes = [gene for gene in dict.fromkeys(case.genes) if gene not in codes]
            if new_genes:
                codes = dict(codes)
                for gene in new_genes:
                    codes[gene] = len(codes)
                vocabulary = (*vocabulary, *new_genes)
            gene_codes = np.array([codes[gene] for gene in case.genes], dtype=np.int32)
            replaced = _without(snapshot, key)
            added = 0 if replaced is not snapshot else 1
            snapshot = replaced
            delta = _append_row(
                snapshot.delta,
                key=key,
                observed=observed,
                excluded=excluded,
                gene_codes=gene_codes,
                flags=_flags_of(case),
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
            if len(snapshot.delta) + snapshot.dead_main_rows > self.compact_threshold:
                snapshot = _compacted(snapshot)
            self._snapshot = snapshot

    def remove(self, key: int) -> bool:
        """Remove case ``key``; False if it was not there. Tombstones its row: O(delta + rows/1M ms)."""
        with self._lock:
            snapshot = _without(self._snapshot, int(key))
            if snapshot is self._snapshot:
                return False
            self._snapshot = replace(snapshot, size=snapshot.size - 1, version=snapshot.version + 1)
            return True

    def compact(self) -> None:
        """Fold the delta segment into the main one and drop removed rows.

        Takes about as long as ``build_from_arrays`` on sorted rows (0.1 to 0.2 s per million
        cases); searches keep running on the old arrays meanwhile. Results do not change.
        """
        with self._lock:
            if len(self._snapshot.delta) or self._snapshot.dead_main_rows:
                self._snapshot = _compacted(self._snapshot)

    # Persistence -------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the index to ``path`` (one uncompressed .npz, no pickles), atomically.

        Compacts first. Writes a temporary file beside ``path`` and renames it over ``path``,
        so a process loading meanwhile reads the old file or the new one, never a partial one.
        """
        # Under the lock, so that no upsert lands in a delta between compacting and capturing;
        # the captured snapshot never changes, so writing it needs no lock.
        with self._lock:
            if len(self._snapshot.delta) or self._snapshot.dead_main_rows:
                self._snapshot = _compacted(self._snapshot)
            snapshot = self._snapshot
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "hpo_release": self.hpo_release,
            "index_version": snapshot.version,
            "gene_vocabulary": snapshot.gene_vocabulary,
            "metadata": self.metadata,
        }
        arrays = {name: getattr(snapshot.main, name) for name in _ARRAY_FIELDS}
        write_npz_atomically(Path(path), meta, arrays)

    @classmethod
    def load(cls, path: Path, *, compact_threshold: int = DEFAULT_COMPACT_THRESHOLD) -> CaseIndex:
        """Read an index written by ``save`` (about 0.2 s per million cases).

        Raises ValueError if the file is not a case index of this format version.
        """
        try:
            meta, arrays = read_npz(path, _ARRAY_FIELDS)
        except ValueError as error:
            raise ValueError(f"{path} is not a case index") from error
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path} is not a case index")
        if meta.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"{path} is a case index of format version {meta.get('version')}, "
                f"not {FORMAT_VERSION}: rebuild it"
            )
        return cls.build_from_arrays(
            **arrays,
            gene_vocabulary=meta["gene_vocabulary"],
            hpo_release=meta["hpo_release"],
            metadata=meta["metadata"],
            version=int(meta["index_version"]),
            compact_threshold=compact_threshold,
        )


# Helpers ---------------------------------------------------------------------------------------


def _flags_of(case: IndexedCase) -> int:
    return (FLAG_SHAREABLE if case.shareable else 0) | (FLAG_TEST if case.is_test else 0)


def _profile_row(
    profile: DiseaseProfile | None,
) -> tuple[NDArray[np.int16], NDArray[np.float32]]:
    """A disease profile as one zero-padded row of the index's profile arrays."""
    rows = np.zeros(DISEASE_PROFILE_WIDTH, dtype=np.int16)
    weights = np.zeros(DISEASE_PROFILE_WIDTH, dtype=np.float32)
    if profile is not None:
        width = len(profile.rows)
        if width > DISEASE_PROFILE_WIDTH or len(profile.weights) != width:
            raise ValueError(
                f"a disease profile must hold at most {DISEASE_PROFILE_WIDTH} rows and as many "
                "weights"
            )
        rows[:width] = profile.rows
        weights[:width] = profile.weights
    return rows, weights


def _stacked(rows: list[NDArray[Any]], dtype: type[np.generic]) -> NDArray[Any]:
    if not rows:
        return np.zeros((0, DISEASE_PROFILE_WIDTH), dtype=dtype)
    return np.stack(rows)


def _terms(terms: Sequence[int]) -> NDArray[np.int16]:
    values = np.asarray(terms, dtype=np.int64).reshape(-1)
    if values.size and (values.min() < 0 or values.max() > _MAX_TERM):
        raise ValueError(f"a term index is outside 0..{_MAX_TERM}")
    return values.astype(np.int16)


def _make_segment(
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
    vocabulary_size: int,
) -> _Segment:
    key_array = np.ascontiguousarray(keys, dtype=np.int64).reshape(-1)
    rows = len(key_array)
    flag_array = np.ascontiguousarray(flags, dtype=np.uint8).reshape(-1)
    if flag_array.shape != (rows,):
        raise ValueError("flags must have one entry per case")
    profile_shape = (rows, DISEASE_PROFILE_WIDTH)
    if disease_rows is None and disease_weights is None:
        disease_rows = np.zeros(profile_shape, dtype=np.int16)
        disease_weights = np.zeros(profile_shape, dtype=np.float32)
    raw_rows, raw_weights = np.asarray(disease_rows), np.asarray(disease_weights)
    if raw_rows.shape != profile_shape or raw_weights.shape != profile_shape:
        raise ValueError(f"disease_rows and disease_weights must have shape {profile_shape}")
    if raw_rows.size and (
        not np.issubdtype(raw_rows.dtype, np.integer)
        or raw_rows.min() < 0
        or raw_rows.max() > _MAX_TERM
    ):
        raise ValueError(f"disease_rows must hold integers within 0..{_MAX_TERM}")
    profile_weights = np.ascontiguousarray(raw_weights, dtype=np.float32)
    if not np.all(np.isfinite(profile_weights) & (profile_weights >= 0)):
        raise ValueError("disease_weights must be finite and not negative")
    observed = csr.checked(
        "observed", rows, observed_indptr, observed_terms, np.int16, _MAX_TERM + 1
    )
    excluded = csr.checked(
        "excluded", rows, excluded_indptr, excluded_terms, np.int16, _MAX_TERM + 1
    )
    genes = csr.checked("gene", rows, gene_indptr, gene_codes, np.int32, vocabulary_size)
    return _Segment(
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
        keys_sorted=bool(np.all(key_array[1:] > key_array[:-1])),
    )


def _empty_segment() -> _Segment:
    empty_indptr = np.zeros(1, dtype=np.int64)
    return _Segment(
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
        keys_sorted=True,
    )


def _take_rows(segment: _Segment, rows: NDArray[np.int64], *, keys_sorted: bool) -> _Segment:
    observed = csr.take_rows(segment.observed_indptr, segment.observed_terms, rows)
    excluded = csr.take_rows(segment.excluded_indptr, segment.excluded_terms, rows)
    genes = csr.take_rows(segment.gene_indptr, segment.gene_codes, rows)
    return _Segment(
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
        keys_sorted=keys_sorted,
    )


def _append_row(
    segment: _Segment,
    *,
    key: int,
    observed: NDArray[np.int16],
    excluded: NDArray[np.int16],
    gene_codes: NDArray[np.int32],
    flags: int,
    profile: tuple[NDArray[np.int16], NDArray[np.float32]],
) -> _Segment:
    observed_csr = csr.append_row((segment.observed_indptr, segment.observed_terms), observed)
    excluded_csr = csr.append_row((segment.excluded_indptr, segment.excluded_terms), excluded)
    gene_csr = csr.append_row((segment.gene_indptr, segment.gene_codes), gene_codes)
    return _Segment(
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
        keys_sorted=False,
    )


def _locate(snapshot: _Snapshot, key: int) -> tuple[_Segment, int] | None:
    """The segment and row of the alive case ``key``, or None."""
    row = snapshot.delta_rows.get(key)
    if row is not None:
        return snapshot.delta, row
    row = snapshot.main.row_of(key)
    if row is not None and snapshot.main_alive[row]:
        return snapshot.main, row
    return None


def _without(snapshot: _Snapshot, key: int) -> _Snapshot:
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


def _compacted(snapshot: _Snapshot) -> _Snapshot:
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
    both = _Segment(
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
        keys_sorted=False,
    )
    alive_rows = np.flatnonzero(np.concatenate([snapshot.main_alive, snapshot.delta_alive]))
    # Main rows come sorted and the delta is small: the stable sort (timsort) merges two runs.
    order = alive_rows[np.argsort(both.keys[alive_rows], kind="stable")]
    merged = _take_rows(both, order, keys_sorted=True)
    return replace(
        snapshot,
        main=merged,
        main_alive=np.ones(len(merged), dtype=np.bool_),
        delta=_empty_segment(),
        delta_alive=np.zeros(0, dtype=np.bool_),
        delta_rows={},
        dead_main_rows=0,
    )


def _case_at(segment: _Segment, row: int, vocabulary: tuple[str, ...]) -> IndexedCase:
    def cells(indptr: NDArray[np.int64], values: NDArray[np.integer[Any]]) -> list[int]:
        return [int(value) for value in csr.row(indptr, values, row)]

    flags = int(segment.flags[row])
    weights = segment.disease_weights[row]
    profile = None
    if weights.any():
        width = int(np.count_nonzero(weights))  # profiles are zero-padded at the end
        profile = DiseaseProfile(
            segment.disease_rows[row, :width].copy(), weights[:width].astype(np.float32)
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


def _excluded_rows(
    snapshot: _Snapshot, exclude_keys: Collection[int]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The rows of ``exclude_keys`` in the main segment and in the delta."""
    main_keys = snapshot.main.keys
    if not exclude_keys or not len(main_keys):
        main_rows = np.zeros(0, dtype=np.int64)
    else:
        keys = np.fromiter(exclude_keys, dtype=np.int64, count=len(exclude_keys))
        positions = np.minimum(np.searchsorted(main_keys, keys), len(main_keys) - 1)
        main_rows = positions[main_keys[positions] == keys]
    delta_rows = [snapshot.delta_rows[key] for key in exclude_keys if key in snapshot.delta_rows]
    return main_rows, np.array(delta_rows, dtype=np.int64)


def _split(snapshot: _Snapshot, exclude_keys: Collection[int]) -> list[list[_Chunk]]:
    """One share of the work per core: main-segment chunks of about equal numbers of observed
    terms (the scorer's cost), the small delta segment joining the first share."""
    main = snapshot.main
    main_excluded, delta_excluded = _excluded_rows(snapshot, exclude_keys)
    rows = len(main)
    parts = min(_WORKERS, max(1, rows // _PARALLEL_MIN_ROWS))
    targets = np.linspace(0, main.observed_indptr[-1], parts + 1)[1:-1]
    bounds = [0, *np.searchsorted(main.observed_indptr, targets).tolist(), rows]
    shares = [
        [_Chunk(main, snapshot.main_alive, start, stop, main_excluded)]
        for start, stop in itertools.pairwise(bounds)
        if stop > start
    ] or [[]]
    if len(snapshot.delta):
        delta = _Chunk(snapshot.delta, snapshot.delta_alive, 0, len(snapshot.delta), delta_excluded)
        shares[0].append(delta)
    return shares


def _genotype(
    segment: _Segment, start: int, stop: int, wanted_genes: NDArray[np.bool_] | None
) -> NDArray[np.float32]:
    """1 for the rows in [start, stop) listing a gene marked in ``wanted_genes``, else 0."""
    if wanted_genes is None:
        return np.zeros(stop - start, dtype=np.float32)
    indptr = segment.gene_indptr
    first, last = indptr[start], indptr[stop]
    # Few codes match: find them, then their rows by bisection, rather than a pass per row.
    matches = np.flatnonzero(wanted_genes[segment.gene_codes[first:last]]) + first
    rows = csr.rows_of_positions(indptr, matches)
    genotype = np.zeros(stop - start, dtype=np.float32)
    genotype[rows - start] = 1.0
    return genotype


@dataclass(frozen=True, slots=True)
class _Rules:
    """What one search keeps and how many: the filters, the score floor and the limit."""

    wanted_genes: NDArray[np.bool_] | None  # one flag per gene code; None: no query gene known
    # The query names a gene (known here or not): the patient score combines phenotype and
    # genotype. Otherwise it is the phenotype score alone (combine_scores with None).
    query_has_genes: bool
    required_flags: int
    rejected_flags: int
    require_shared_gene: bool
    floor: np.float32  # min_score, at least 0
    limit: int


_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


def _run_shares(
    work: Callable[[list[_Item]], list[_Result]], shares: list[list[_Item]]
) -> list[_Result]:
    """``work`` on every share, the calling thread taking the first rather than waiting idle."""
    futures: list[Future[list[_Result]]] = []
    if len(shares) > 1:
        executor = _get_executor()
        futures = [executor.submit(work, share) for share in shares[1:]]
    results = work(shares[0])
    for future in futures:
        results.extend(future.result())
    return results


def _eligible(chunk: _Chunk, genotype: NDArray[np.float32], rules: _Rules) -> NDArray[np.bool_]:
    """The rows of ``chunk`` that pass the search's filters (whatever they score)."""
    segment, start, stop = chunk.segment, chunk.start, chunk.stop
    eligible = chunk.alive[start:stop].copy()
    if rules.required_flags or rules.rejected_flags:
        flags = segment.flags[start:stop] & (rules.required_flags | rules.rejected_flags)
        eligible &= flags == rules.required_flags
    if chunk.excluded_rows.size:
        excluded = chunk.excluded_rows
        inside = excluded[(excluded >= start) & (excluded < stop)]
        eligible[inside - start] = False
    if rules.require_shared_gene:
        eligible &= genotype > 0
    return eligible


def _patient_scores(
    phenotype: NDArray[np.float32], genotype: NDArray[np.float32], rules: _Rules
) -> NDArray[np.float32]:
    combined = combine_scores(phenotype, genotype if rules.query_has_genes else None)
    return np.asarray(combined, dtype=np.float32)


def _rank_chunk(
    scorer: PhenotypeScoring[_Query], query: _Query, chunk: _Chunk, rules: _Rules
) -> _Candidates:
    segment, start, stop = chunk.segment, chunk.start, chunk.stop
    phenotype = np.empty(stop - start, dtype=np.float32)
    for block in range(start, stop, _SCORE_BLOCK_ROWS):
        block_stop = min(block + _SCORE_BLOCK_ROWS, stop)
        phenotype[block - start : block_stop - start] = scorer.score(
            query, segment.profiles, block, block_stop
        )
    genotype = _genotype(segment, start, stop, rules.wanted_genes)
    patient = _patient_scores(phenotype, genotype, rules)
    eligible = _eligible(chunk, genotype, rules)
    # Ineligible rows score -1, below any real score (0..1), so one partition ranks the rest.
    ranked = np.where(eligible, patient, np.float32(-1.0))
    best = _best_rows(
        ranked, segment.keys[start:stop], segment.keys_sorted, float(rules.floor), rules.limit
    )
    return _Candidates(
        keys=segment.keys[start:stop][best],
        patient=patient[best],
        phenotype=phenotype[best],
        genotype=genotype[best],
        chunk=chunk,
        rows=best + start,
        eligible_rows=int(eligible.sum()),
    )


@dataclass(frozen=True, slots=True)
class _Bounds:
    """Rows [chunk.start, chunk.stop) of one segment: patient-score bounds and genotypes."""

    chunk: _Chunk
    patient: NDArray[np.float32]  # >= the row's patient score; -1 for rows the filters drop
    genotype: NDArray[np.float32]


def _filter_chunk(
    chunk: _Chunk, rules: _Rules
) -> tuple[_Chunk, NDArray[np.float32], NDArray[np.bool_]]:
    genotype = _genotype(chunk.segment, chunk.start, chunk.stop, rules.wanted_genes)
    return chunk, genotype, _eligible(chunk, genotype, rules)


def _bound_chunk(
    scorer: BoundedPhenotypeScoring[_Query],
    query: _Query,
    filtered: tuple[_Chunk, NDArray[np.float32], NDArray[np.bool_]],
    *,
    rules: _Rules,
    trivial: bool,
) -> _Bounds | None:
    """Bounds of one chunk's rows; with ``trivial``, phenotype 1 (no score exceeds it)."""
    chunk, genotype, eligible = filtered
    segment, start, stop = chunk.segment, chunk.start, chunk.stop
    if trivial:
        # Whether the method has bounds at all (an empty range costs nothing to ask about).
        if scorer.score_upper_bounds(query, segment.profiles, start, start) is None:
            return None
        phenotype = np.ones(stop - start, dtype=np.float32)
        patient = _patient_scores(phenotype, genotype, rules)
        return _Bounds(chunk, np.where(eligible, patient, np.float32(-1.0)), genotype)
    phenotype = np.zeros(stop - start, dtype=np.float32)
    for block in range(start, stop, _BOUND_BLOCK_ROWS):
        block_stop = min(block + _BOUND_BLOCK_ROWS, stop)
        if not eligible[block - start : block_stop - start].any():
            continue
        upper = scorer.score_upper_bounds(query, segment.profiles, block, block_stop)
        if upper is None:
            return None
        phenotype[block - start : block_stop - start] = upper
    # combine_scores is monotone in the phenotype score, so this bounds the patient score.
    patient = _patient_scores(phenotype, genotype, rules)
    return _Bounds(chunk, np.where(eligible, patient, np.float32(-1.0)), genotype)


def _search_pruned(
    scorer: BoundedPhenotypeScoring[_Query],
    query: _Query,
    snapshot: _Snapshot,
    shares: list[list[_Chunk]],
    rules: _Rules,
) -> tuple[list[_Candidates], SearchStatistics] | None:
    """Exact top-k: bound every row, then score exactly, best bound first, every row whose
    bound reaches theta, the ``limit``-th best exact patient score found so far (or the floor).

    Why the result equals scoring every row: theta only rises, and a row left unscored has a
    bound, hence a score, below the floor or strictly below the final theta, which ``limit``
    scored rows reach; it ranks below all of them whatever its key. Rows whose bound equals
    theta are scored, so ties are broken by key exactly as in the full ranking. None when the
    scorer has no bound for this query.
    """

    filtered = [[_filter_chunk(chunk, rules) for chunk in share] for share in shares]
    batch = max(_FIRST_EXACT_BATCH_PER_LIMIT * rules.limit, _FIRST_EXACT_BATCH)
    # Few eligible rows (a shared gene required, say): the first exact batch takes them all, so
    # bounding them would only add work. Trivial bounds keep the one code path below.
    eligible_total = sum(int(part[2].sum()) for share in filtered for part in share)
    trivial = eligible_total <= batch

    def bound_all(
        parts: list[tuple[_Chunk, NDArray[np.float32], NDArray[np.bool_]]],
    ) -> list[_Bounds | None]:
        return [_bound_chunk(scorer, query, part, rules=rules, trivial=trivial) for part in parts]

    bounds = [bound for bound in _run_shares(bound_all, filtered) if bound is not None]
    if len(bounds) < sum(len(share) for share in shares):
        return None
    segments = (snapshot.main, snapshot.delta)
    offset = len(snapshot.main)
    # One row space over both segments: main rows first, then the delta's.
    patient_bound = np.full(offset + len(snapshot.delta), -1.0, dtype=np.float32)
    genotype = np.zeros(len(patient_bound), dtype=np.float32)
    for bound in bounds:
        shift = offset if bound.chunk.segment is snapshot.delta else 0
        patient_bound[bound.chunk.start + shift : bound.chunk.stop + shift] = bound.patient
        genotype[bound.chunk.start + shift : bound.chunk.stop + shift] = bound.genotype
    eligible_rows = int(np.count_nonzero(patient_bound >= 0))

    floor, limit = rules.floor, rules.limit
    theta = floor
    remaining = np.flatnonzero(patient_bound >= floor)
    scored_rows: list[NDArray[np.int64]] = []
    scored_phenotype: list[NDArray[np.float32]] = []
    best_scores = np.zeros(0, dtype=np.float32)  # the best exact patient scores so far, >= floor
    rounds = 0
    while remaining.size:
        rounds += 1
        values = patient_bound[remaining]
        if remaining.size > batch:
            take = values >= _lower_bound(values, batch)
            chosen, remaining = remaining[take], remaining[~take]
        else:
            chosen, remaining = remaining, remaining[:0]
        chosen.sort()  # rows in storage order: the exact scorer then reads memory forwards
        phenotype = _score_rows_exactly(scorer, query, segments, offset, chosen)
        patient = _patient_scores(phenotype, genotype[chosen], rules)
        scored_rows.append(chosen)
        scored_phenotype.append(phenotype)
        best_scores = np.concatenate([best_scores, patient[patient >= floor]])
        if len(best_scores) >= limit:
            best_scores = np.partition(best_scores, len(best_scores) - limit)[-limit:]
            theta = max(theta, best_scores.min())
        remaining = remaining[patient_bound[remaining] >= theta]
        batch *= 2

    rows = np.concatenate(scored_rows) if scored_rows else np.zeros(0, dtype=np.int64)
    phenotype = (
        np.concatenate(scored_phenotype) if scored_phenotype else np.zeros(0, dtype=np.float32)
    )
    patient = _patient_scores(phenotype, genotype[rows], rules)
    kept = patient >= floor
    rows, phenotype, patient = rows[kept], phenotype[kept], patient[kept]
    results = []
    for segment, alive, in_segment, shift in (
        (snapshot.main, snapshot.main_alive, rows < offset, 0),
        (snapshot.delta, snapshot.delta_alive, rows >= offset, offset),
    ):
        segment_rows = rows[in_segment] - shift
        results.append(
            _Candidates(
                keys=segment.keys[segment_rows],
                patient=patient[in_segment],
                phenotype=phenotype[in_segment],
                genotype=genotype[rows[in_segment]],
                chunk=_Chunk(segment, alive, 0, len(segment), np.zeros(0, dtype=np.int64)),
                rows=segment_rows,
                eligible_rows=0,
            )
        )
    exact_rows = int(sum(len(part) for part in scored_rows))
    statistics = SearchStatistics(
        rows=len(patient_bound),
        eligible_rows=eligible_rows,
        exact_rows=exact_rows,
        rounds=rounds,
        pruned=True,
    )
    return results, statistics


def _score_rows_exactly(
    scorer: BoundedPhenotypeScoring[_Query],
    query: _Query,
    segments: tuple[_Segment, _Segment],
    offset: int,
    rows: NDArray[np.int64],
) -> NDArray[np.float32]:
    """Exact phenotype scores of ``rows`` (sorted; main rows, then delta rows from ``offset``)."""
    main, delta = segments
    split = int(np.searchsorted(rows, offset))
    main_rows = rows[:split]
    phenotype = np.empty(len(rows), dtype=np.float32)
    # Large batches go to the cores in equal parts; small ones are not worth the handover.
    parts = min(_WORKERS, max(1, len(main_rows) // _PARALLEL_MIN_EXACT_ROWS))
    pieces = np.array_split(main_rows, parts)

    def score_all(share: list[NDArray[np.int64]]) -> list[NDArray[np.float32]]:
        return [scorer.score_rows(query, main.profiles, piece) for piece in share]

    scored = _run_shares(score_all, [[piece] for piece in pieces])
    phenotype[:split] = np.concatenate(scored) if scored else np.zeros(0, dtype=np.float32)
    if split < len(rows):
        phenotype[split:] = scorer.score_rows(query, delta.profiles, rows[split:] - offset)
    return phenotype


def _best_rows(
    scores: NDArray[np.float32],
    keys: NDArray[np.int64],
    keys_sorted: bool,
    min_score: float,
    limit: int,
) -> NDArray[np.int64]:
    """Positions of the ``limit`` best scores >= ``min_score``, ties going to the smaller key.

    Unordered. Linear time, without ``np.partition``: on a million scores with many equal values
    (the usual case: scores come from a few thousand distinct term combinations) it takes
    100 ms, where the bound below takes under 1 ms.
    """
    floor = max(min_score, 0.0)
    candidates = np.flatnonzero(scores >= max(_lower_bound(scores, limit), floor))
    if len(candidates) <= limit:
        return candidates
    values = scores[candidates]
    threshold = np.sort(values)[len(values) - limit]
    above = candidates[values > threshold]
    tied = candidates[values == threshold]
    room = limit - len(above)
    if len(tied) > room:
        if not keys_sorted:
            tied = tied[np.argsort(keys[tied], kind="stable")]
        tied = tied[:room]
    return np.concatenate([above, tied])


def _lower_bound(scores: NDArray[np.float32], limit: int) -> float:
    """A score that at least ``limit`` of ``scores`` reach, close to the limit-th best.

    Cut the scores into blocks and take each block's maximum: the limit-th best of those maxima
    is reached by ``limit`` different scores, and with many more blocks than ``limit`` few other
    scores reach it, so comparing against it leaves a short list of candidates.
    """
    block = max(1, min(1024, len(scores) // (8 * limit)))
    whole = len(scores) // block * block
    maxima = scores[:whole].reshape(-1, block).max(axis=1)
    if whole < len(scores):
        maxima = np.append(maxima, scores[whole:].max())
    if len(maxima) < limit:
        return -np.inf
    return float(np.sort(maxima)[len(maxima) - limit])


def _merge(
    results: list[_Candidates],
    limit: int,
    vocabulary: tuple[str, ...],
    wanted_genes: NDArray[np.bool_],
) -> list[Hit]:
    keys = np.concatenate([result.keys for result in results])
    patient = np.concatenate([result.patient for result in results])
    # Best score first, then ascending key.
    order = np.lexsort((keys, -patient))[:limit]
    phenotype = np.concatenate([result.phenotype for result in results])
    genotype = np.concatenate([result.genotype for result in results])
    owners = np.concatenate(
        [np.full(len(result.keys), index, dtype=np.int64) for index, result in enumerate(results)]
    )
    rows = np.concatenate([result.rows for result in results])
    hits = []
    for position in order.tolist():
        shared: tuple[str, ...] = ()
        if genotype[position] > 0:
            segment = results[owners[position]].chunk.segment
            row = int(rows[position])
            codes = csr.row(segment.gene_indptr, segment.gene_codes, row)
            shared = tuple(
                sorted({vocabulary[code] for code in codes.tolist() if wanted_genes[code]})
            )
        hits.append(
            Hit(
                key=int(keys[position]),
                score=float(patient[position]),
                phenotype=float(phenotype[position]),
                genotype=float(genotype[position]),
                shared_genes=shared,
            )
        )
    return hits


def _filter_bits(masks: Sequence[NDArray[np.bool_]]) -> NDArray[np.unsignedinteger[Any]] | None:
    """One unsigned integer per term (or gene code): bit i set when ``masks[i]`` marks it."""
    if not masks:
        return None
    dtype = next(
        d for d in (np.uint8, np.uint16, np.uint32, np.uint64) if np.iinfo(d).bits >= len(masks)
    )
    bits = np.zeros(len(masks[0]), dtype=dtype)
    for position, mask in enumerate(masks):
        bits[np.asarray(mask, dtype=np.bool_)] |= dtype(1 << position)
    return bits


def _all_bits(count: int, dtype: np.dtype[Any]) -> Any:
    return dtype.type((1 << count) - 1)


def _select_rows(
    segment: _Segment,
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
