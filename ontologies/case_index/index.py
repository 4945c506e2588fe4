"""``CaseIndex``: the public face of the case index, which holds the current snapshot and
applies each mutation under a lock (see the package docstring for the guarantee)."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ontologies.case_index.building import (
    arrays_of_cases,
    compacted,
    sorted_snapshot,
    with_case,
    without,
)
from ontologies.case_index.ranking import Hit, PhenotypeScoring, Query, SearchStatistics
from ontologies.case_index.search import search
from ontologies.case_index.select import select
from ontologies.case_index.storage import (
    ARRAY_FIELDS,
    DEFAULT_COMPACT_THRESHOLD,
    FORMAT,
    FORMAT_VERSION,
    IndexedCase,
    Snapshot,
    case_at,
    flags_of,
    locate,
    make_segment,
    profile_row,
    term_array,
)
from ontologies.npz_files import read_npz, write_npz_atomically


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
        snapshot: Snapshot,
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
        arrays = arrays_of_cases(cases)
        return cls.build_from_arrays(
            keys=arrays.keys,
            observed_indptr=arrays.observed_indptr,
            observed_terms=arrays.observed_terms,
            excluded_indptr=arrays.excluded_indptr,
            excluded_terms=arrays.excluded_terms,
            gene_indptr=arrays.gene_indptr,
            gene_codes=arrays.gene_codes,
            gene_vocabulary=arrays.gene_vocabulary,
            flags=arrays.flags,
            disease_rows=arrays.disease_rows,
            disease_weights=arrays.disease_weights,
            disease_fits=arrays.disease_fits,
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
        disease_fits: ArrayLike | None = None,
        metadata: Mapping[str, Any] | None = None,
        version: int = 0,
        compact_threshold: int = DEFAULT_COMPACT_THRESHOLD,
    ) -> CaseIndex:
        """An index from CSR arrays, one row per case, no Python work per case.

        Row i is case ``keys[i]``; its observed terms are
        ``observed_terms[observed_indptr[i]:observed_indptr[i + 1]]`` (likewise excluded terms
        and ``gene_codes``, which index ``gene_vocabulary``); ``flags[i]`` ORs ``FLAG_SHAREABLE``
        and ``FLAG_TEST``. ``disease_rows`` and ``disease_weights``, shape
        (cases, ``DISEASE_PROFILE_WIDTH``), are the cases' zero-padded disease profiles and
        ``disease_fits`` (cases,) their fits (all three zero when none is given). Rows already sorted by key are used as they are (no copy when the
        dtypes match: int64 keys and indptrs, int16 terms, int32 codes, uint8 flags); otherwise
        they are sorted, which costs about 0.2 s per million cases. Raises ValueError for
        inconsistent arrays, duplicate keys, or out-of-range terms or gene codes.
        """
        vocabulary = tuple(gene_vocabulary)
        codes = {gene: code for code, gene in enumerate(vocabulary)}
        if len(codes) != len(vocabulary):
            raise ValueError("gene_vocabulary lists a gene twice")
        segment = make_segment(
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
            disease_fits=disease_fits,
            vocabulary_size=len(vocabulary),
        )
        snapshot = sorted_snapshot(segment, vocabulary, codes, version)
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
        return locate(self._snapshot, int(key)) is not None

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
        location = locate(snapshot, key)
        if location is None:
            return None
        segment, row = location
        return case_at(segment, row, snapshot.gene_vocabulary)

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
        scorer: PhenotypeScoring[Query],
        query: Query,
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
        scorer: PhenotypeScoring[Query],
        query: Query,
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
        return search(
            self._snapshot,
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
        return select(
            self._snapshot,
            term_filters=term_filters,
            excluded_terms=excluded_terms,
            gene_filters=gene_filters,
            required_flags=required_flags,
            rejected_flags=rejected_flags,
        )

    # Mutating ----------------------------------------------------------------------------------

    def upsert(self, case: IndexedCase) -> None:
        """Add ``case``, or replace the stored case with the same key.

        Appends to the delta segment and tombstones the old row: O(delta) work, about 0.1 ms;
        when the delta outgrows ``compact_threshold`` this call also compacts. Raises ValueError
        for a term index outside 0..32767.
        """
        key = int(case.key)
        observed = term_array(case.observed)
        excluded = term_array(case.excluded)
        profile = profile_row(case.disease_profile)
        with self._lock:
            snapshot = self._snapshot
            snapshot = with_case(
                snapshot,
                key=key,
                observed=observed,
                excluded=excluded,
                genes=case.genes,
                flags=flags_of(case),
                profile=profile,
            )
            if len(snapshot.delta) + snapshot.dead_main_rows > self.compact_threshold:
                snapshot = compacted(snapshot)
            self._snapshot = snapshot

    def remove(self, key: int) -> bool:
        """Remove case ``key``; False if it was not there. Tombstones its row: O(delta + rows/1M ms)."""
        with self._lock:
            snapshot = without(self._snapshot, int(key))
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
                self._snapshot = compacted(self._snapshot)

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
                self._snapshot = compacted(self._snapshot)
            snapshot = self._snapshot
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "hpo_release": self.hpo_release,
            "index_version": snapshot.version,
            "gene_vocabulary": snapshot.gene_vocabulary,
            "metadata": self.metadata,
        }
        arrays = {name: getattr(snapshot.main, name) for name in ARRAY_FIELDS}
        write_npz_atomically(Path(path), meta, arrays)

    @classmethod
    def load(cls, path: Path, *, compact_threshold: int = DEFAULT_COMPACT_THRESHOLD) -> CaseIndex:
        """Read an index written by ``save`` (about 0.2 s per million cases).

        Raises ValueError if the file is not a case index of this format version.
        """
        try:
            meta, arrays = read_npz(path, ARRAY_FIELDS)
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
