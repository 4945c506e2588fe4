"""The known diseases a phenotype resembles, as a short weighted profile: the disease bridge.

Two patients with the same ultra-rare disorder, described in different papers, often share few
exact features; each shares many more with the disorder's HPO annotation, which pools the
features reported across patients. So each stored phenotype gets a *disease profile*: its
``size`` most similar annotated diseases, weighted by how much closer each is than the rest
(unit length). A query gets the same weights over *every* disease (``query_vector``), scaled so
that its own profile's part has unit length. The bridge from a query to a case is the dot
product of the two, capped at 1: high when the case's closest diseases are among the query's.
A phenotype as close to a thousand diseases as to any one (a few common terms) has a profile
cut arbitrarily among equals; reading the query over all diseases makes the bridge graded and
deterministic there, and an identical phenotype still scores 1. It uses the phenotypes only,
never a recorded diagnosis, so it works for undiagnosed patients just as for diagnosed ones.

Similarity of a phenotype Q to a disease D is ``resnik_bma_exact`` in the query->disease
direction: the mean over Q's terms q of max over D's annotated terms t of Resnik(q, t), plus
``exact_bonus`` nats when D is annotated with q itself, divided by Q's score against itself
(mean of IC(q) + bonus), so 0..1. Max over t of Resnik(q, t) is the largest IC of an ancestor
of q that is also an ancestor of some term of D, so one term's similarity to every disease is
filled from per-ancestor lists of diseases, like ``kernels.resnik_to_all``.

Profile weights: exp((s - s_max) / temperature) over the ``size`` best diseases (ties broken by
disease row), normalised to unit length; the query vector is the same expression over all
diseases, divided by the length of its ``size`` best entries. The constants were chosen on half of the published dev
cases' diseases and checked on the other half (docs/benchmarks.md).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from ontologies import csr
from ontologies.hpo import Ontology
from ontologies.similarity.kernels import case_closures

DEFAULT_DISEASE_PREFIX: Final = "OMIM:"
DEFAULT_PROFILE_SIZE: Final = 10
DEFAULT_TEMPERATURE: Final = 0.1
DEFAULT_EXACT_BONUS: Final = 1.0


@dataclass(frozen=True, slots=True, eq=False)
class DiseaseProfile:
    """A phenotype's closest diseases: ``rows`` index ``DiseaseProfiler.disease_ids``.

    ``weights`` are > 0 with unit length (empty for an empty phenotype), best first. ``fit`` is
    the phenotype's similarity (0..1) to its closest disease, ``rows[0]``: how well that known
    disease explains it (0 for an empty phenotype).
    """

    rows: NDArray[np.int16]
    weights: NDArray[np.float32]
    fit: float = 0.0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DiseaseProfile):
            return NotImplemented
        return (
            np.array_equal(self.rows, other.rows)
            and np.array_equal(self.weights, other.weights)
            and self.fit == other.fit
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking arrays: not hashable


class DiseaseProfiler:
    """Disease profiles of phenotypes (lists of term indices); thread-safe after construction.

    ``information_content`` defaults to the ontology's. Only diseases whose id starts with
    ``disease_prefix`` and that have at least one annotated term take part (OMIM by default:
    Orphanet groups repeat OMIM entries, which would split a profile's weight between
    duplicates). ``excluded_diseases`` leaves those ids out as if nobody had annotated them:
    bench/quality.py measures the bridge this way for diseases it does not know.
    """

    def __init__(
        self,
        ontology: Ontology,
        information_content: NDArray[np.float64] | None = None,
        *,
        disease_prefix: str = DEFAULT_DISEASE_PREFIX,
        size: int = DEFAULT_PROFILE_SIZE,
        temperature: float = DEFAULT_TEMPERATURE,
        exact_bonus: float = DEFAULT_EXACT_BONUS,
        excluded_diseases: Collection[str] = (),
    ) -> None:
        if size < 1 or temperature <= 0 or exact_bonus < 0:
            raise ValueError("size must be >= 1, temperature > 0 and exact_bonus >= 0")
        ic = ontology.information_content if information_content is None else information_content
        self.ontology = ontology
        self.information_content = np.array(ic, dtype=np.float64)
        self.information_content.flags.writeable = False
        self.temperature = float(temperature)
        self.disease_prefix = disease_prefix
        self.exact_bonus = float(exact_bonus)
        indptr, indices = ontology.disease_term_indptr, ontology.disease_term_indices
        excluded = frozenset(excluded_diseases)
        annotated = (np.diff(indptr) > 0).tolist()
        rows = [
            row
            for row, disease_id in enumerate(ontology.disease_ids)
            if disease_id.startswith(disease_prefix)
            and annotated[row]
            and disease_id not in excluded
        ]
        if not rows:
            raise ValueError(f"no annotated disease id starts with {disease_prefix!r}")
        if len(rows) > np.iinfo(np.int16).max:
            raise ValueError(f"{len(rows)} diseases do not fit int16 profile rows")
        # The fingerprint names a left-out set (an unchanged one for the default, none).
        self._excluded_mark = (
            " excluded="
            + hashlib.blake2b("\n".join(sorted(excluded)).encode(), digest_size=8).hexdigest()
            if excluded
            else ""
        )
        self.ontology_rows = np.array(rows, dtype=np.int64)  # into ontology.disease_*
        self.disease_ids = tuple(ontology.disease_ids[row] for row in rows)
        self.size = min(int(size), len(rows))
        n_terms = len(ontology.term_ids)
        # The chosen diseases' annotated terms as CSR, and their ancestor closures; both turned
        # into term -> diseases lists (diseases ascending).
        disease_indptr, disease_terms = csr.take_rows(indptr, indices, self.ontology_rows)
        disease_terms = disease_terms.astype(np.int64)
        self._annotated = csr.transpose(disease_indptr, disease_terms, n_terms)
        closure_indptr, closure_terms = case_closures(ontology, disease_indptr, disease_terms)
        self._closure = csr.transpose(closure_indptr, closure_terms, n_terms)
        self._row_cache: dict[int, NDArray[np.float32]] = {}
        self._cache_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.disease_ids)

    @property
    def fingerprint(self) -> str:
        """Names everything a profile depends on: stored profiles from another are stale."""
        digest = hashlib.blake2b(self.information_content.tobytes(), digest_size=8).hexdigest()
        return (
            f"{self.disease_prefix}{len(self)}{self._excluded_mark} size={self.size} temperature={self.temperature} "
            f"bonus={self.exact_bonus} ic={digest}"
        )

    def term_row(
        self, term: int, cache: dict[int, NDArray[np.float32]] | None = None
    ) -> NDArray[np.float32]:
        """max over each disease's terms t of Resnik(term, t), + bonus if annotated with term.

        Rows are cached per process (the first ``_ROW_CACHE_SIZE`` terms asked for) or in
        ``cache`` when given (a batch's own, dropped with it).
        """
        shared = cache is None
        cache = self._row_cache if cache is None else cache
        row = cache.get(term)
        if row is not None:
            return row
        ic = self.information_content
        values = np.zeros(len(self.disease_ids), dtype=np.float64)
        closure_indptr, closure = self._closure
        ancestors = csr.row(self.ontology.ancestor_indptr, self.ontology.ancestor_indices, term)
        ancestors = ancestors[ic[ancestors] > 0]
        # Ascending IC: the last write to a disease is its most informative common ancestor.
        for ancestor in ancestors[np.argsort(ic[ancestors], kind="stable")].tolist():
            values[csr.row(closure_indptr, closure, ancestor)] = ic[ancestor]
        annotated_indptr, annotated = self._annotated
        values[csr.row(annotated_indptr, annotated, term)] = ic[term] + self.exact_bonus
        row = values.astype(np.float32)
        row.flags.writeable = False
        if shared:
            with self._cache_lock:
                if len(cache) < _ROW_CACHE_SIZE:
                    cache[term] = row
        elif len(cache) < _BATCH_CACHE_SIZE:
            cache[term] = row
        return row

    def similarities(
        self, observed: Sequence[int], cache: dict[int, NDArray[np.float32]] | None = None
    ) -> NDArray[np.float32]:
        """Similarity 0..1 of the phenotype to every disease (see the module docstring).

        Summed in float32, term by term in the phenotype's order (repeats dropped), so the
        same phenotype always gets the same values, whichever cache served its rows.
        """
        terms = list(dict.fromkeys(int(term) for term in observed))
        total = np.zeros(len(self.disease_ids), dtype=np.float32)
        self_similarity = sum(float(self.information_content[t]) + self.exact_bonus for t in terms)
        if not terms or self_similarity <= 0:
            return total
        for term in terms:
            total += self.term_row(term, cache)
        total *= np.float32(1.0 / self_similarity)
        return total

    def profile(
        self, observed: Sequence[int], cache: dict[int, NDArray[np.float32]] | None = None
    ) -> DiseaseProfile:
        """The ``size`` diseases most like the phenotype, with unit-length weights."""
        similarity = self.similarities(observed, cache)
        if not similarity.any():
            return DiseaseProfile(np.zeros(0, dtype=np.int16), np.zeros(0, dtype=np.float32))
        rows = self._best_rows(similarity)
        best = similarity[rows].astype(np.float64)
        weights = np.exp((best - best[0]) / self.temperature)
        weights /= np.sqrt(np.dot(weights, weights))
        # Capped: the float32 sums can pass 1 by an ulp for a phenotype a disease holds whole.
        fit = float(np.float32(min(best[0], 1.0)))
        return DiseaseProfile(rows.astype(np.int16), weights.astype(np.float32), fit)

    def query_vector(self, observed: Sequence[int]) -> NDArray[np.float32]:
        """The query side of the bridge: one weight per disease (all 0 for an empty phenotype).

        exp((s - s_max) / temperature) for every disease, divided by the length of the
        ``size`` best entries, so its dot product with the phenotype's own profile is 1.
        """
        return self.query_vector_and_spread(observed)[0]

    def query_vector_and_spread(self, observed: Sequence[int]) -> tuple[NDArray[np.float32], float]:
        """``query_vector`` and the phenotype's *spread*: the sum over every disease of
        exp((s - s_max) / temperature), i.e. about how many diseases it resembles as much as its
        closest (1 when one stands out; 0 for an empty phenotype)."""
        vector, spread, _ = self.query_side(observed)
        return vector, spread

    def query_side(
        self, observed: Sequence[int]
    ) -> tuple[NDArray[np.float32], float, NDArray[np.float32]]:
        """``query_vector_and_spread`` and the ``similarities`` they were computed from."""
        similarity = self.similarities(observed)
        if not similarity.any():
            return np.zeros(len(self), dtype=np.float32), 0.0, similarity
        values = similarity.astype(np.float64)
        weights = np.exp((values - values.max()) / self.temperature)
        spread = float(weights.sum())
        weights /= np.linalg.norm(weights[self._best_rows(similarity)])
        return weights.astype(np.float32), spread, similarity

    def _best_rows(self, similarity: NDArray[np.float32]) -> NDArray[np.int64]:
        """The best ``size`` rows, best first, ties by ascending row: deterministic."""
        candidates = np.argpartition(-similarity, self.size - 1)[: self.size]
        threshold = similarity[candidates].min()
        tied = np.flatnonzero(similarity >= threshold)
        order = np.lexsort((tied, -similarity[tied]))[: self.size]
        return tied[order]

    def profiles(
        self, phenotypes: Sequence[Sequence[int]]
    ) -> tuple[NDArray[np.int16], NDArray[np.float32], NDArray[np.float32]]:
        """Profiles of many phenotypes as two (len, size) arrays, rows and weights, zero-padded
        (an empty phenotype gets an empty profile: all zero), and their fits (len,)."""
        rows = np.zeros((len(phenotypes), self.size), dtype=np.int16)
        weights = np.zeros((len(phenotypes), self.size), dtype=np.float32)
        fits = np.zeros(len(phenotypes), dtype=np.float32)
        cache: dict[int, NDArray[np.float32]] = {}
        for position, observed in enumerate(phenotypes):
            profile = self.profile(observed, cache)
            rows[position, : len(profile.rows)] = profile.rows
            weights[position, : len(profile.weights)] = profile.weights
            fits[position] = profile.fit
        return rows, weights, fits


# Each cached row is one float32 per disease (~33 kB for OMIM): at most ~34 MB per process.
_ROW_CACHE_SIZE: Final = 1024
# ``profiles`` keeps its own rows for the batch: at most ~135 MB, freed when it returns.
_BATCH_CACHE_SIZE: Final = 4096


_shared_lock = threading.Lock()
_shared: dict[tuple[int, bytes], DiseaseProfiler] = {}
# A process normally uses one ontology and one IC; tests build a few. Oldest dropped first.
_SHARED_PROFILERS: Final = 4


def shared_disease_profiler(
    ontology: Ontology, information_content: NDArray[np.float64] | None = None
) -> DiseaseProfiler:
    """One profiler per ontology and IC per process, with the default constants.

    Building one takes about half a second (the diseases' ancestor closures); every scorer of the
    process shares it, and with it the cached term rows.
    """
    ic = ontology.information_content if information_content is None else information_content
    key = (id(ontology), hashlib.blake2b(np.ascontiguousarray(ic).tobytes()).digest())
    with _shared_lock:
        profiler = _shared.get(key)
        if profiler is None or profiler.ontology is not ontology:
            profiler = DiseaseProfiler(ontology, ic)
            _shared[key] = profiler
            while len(_shared) > _SHARED_PROFILERS:
                del _shared[next(iter(_shared))]
        return profiler
