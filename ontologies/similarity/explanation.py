"""Why a case scored as it did, and the term-by-term pairing behind it: the one implementation of
the rules an explanation follows, shared by ``PhenotypeScorer.explain`` and the comparison grid
(``ontologies.similarity.grid``), so a page and a stored explanation cannot disagree.

The rules: a query term is paired with the counterpart of highest term similarity (the method's,
exact bonus included), the first among equals; two terms meet at their most informative common
ancestor (MICA), ties in IC going to the deepest ancestor, then to the first in term order; a
pair that meets only at a general ancestor (``is_close_ancestor``) is no pair, unless both terms
are the same; and a conflict is a term one side observes while the other excludes it or one of
its ancestors.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from ontologies import csr
from ontologies.hpo import Ontology


@dataclass(frozen=True, slots=True)
class TermMatchExplanation:
    query_hpo_id: str
    # The best-matching case term; None when the case has none, or when it meets the query term
    # only at a general ancestor (see ``is_close_ancestor``).
    case_hpo_id: str | None
    common_ancestor_hpo_id: str | None  # their most informative common ancestor
    common_ancestor_ic: float  # nats
    similarity: float  # the method's term similarity (Resnik in nats incl. bonus, Lin 0..1)


# When a query term's best counterpart in a case meets it only at a very general ancestor,
# the pair explains nothing a geneticist would accept ("Hypotonia met Brachycephaly via
# Abnormality of the musculoskeletal system"): the explanation lists the term as having no close
# counterpart. Close means the most informative common ancestor lies below the organ-system level
# (depth >= 3: the root is 0, Phenotypic abnormality 1, its organ-system children 2) and carries
# at least 9.5% of the largest information content (the IC of a term annotating one disease):
# 0.90 nats on the real HPO, where the largest is 9.45. Both read off the real HPO (see
# docs/matching.md, "Explanation"): organ-system terms reach 1.69 nats (blood), so IC alone does
# not rule them out; below them, the general groupings ("Abnormal nervous system physiology"
# 0.53, "Abnormality of the head" 0.68, "Abnormality of the musculature" 0.87) fall under the
# line, while "Neurodevelopmental abnormality" (0.94, where global developmental delay meets
# intellectual disability) stays above it. A share rather than nats, because the IC scale grows
# with the number of annotated diseases. Only the explanation changes; the score does not.
MIN_CLOSE_ANCESTOR_IC_SHARE: Final = 0.095  # of the largest IC in the vector
MIN_CLOSE_ANCESTOR_DEPTH: Final = 3  # is_a steps from the root


def is_close_ancestor(
    ontology: Ontology, information_content: NDArray[np.float64], index: int
) -> bool:
    """Is a common ancestor (term index) specific enough to explain a pair of terms?

    True when it is at least ``MIN_CLOSE_ANCESTOR_DEPTH`` below the root and its IC is at least
    ``MIN_CLOSE_ANCESTOR_IC_SHARE`` of the largest IC. O(number of terms) for the maximum.
    """
    floor = MIN_CLOSE_ANCESTOR_IC_SHARE * float(information_content.max(initial=0.0))
    return bool(
        ontology.depth[index] >= MIN_CLOSE_ANCESTOR_DEPTH and information_content[index] >= floor
    )


@dataclass(frozen=True, slots=True)
class PhenotypeConflict:
    observed_hpo_id: str
    excluded_hpo_id: str  # the observed term itself or one of its ancestors
    observed_in: str  # "query" (the case excludes it) or "case" (the query excludes it)


@dataclass(frozen=True, slots=True)
class SharedDiseaseExplanation:
    """A known disease both phenotypes resemble: its part of the disease bridge."""

    disease_id: str  # "OMIM:619340"
    disease_name: str
    contribution: float  # its two weights multiplied; they sum to the bridge (before its cap)


@dataclass(frozen=True, slots=True)
class CloserDiseaseExplanation:
    """A known disease that resembles the case more than it resembles the query: the case may
    well be a patient of that disease, so its score was lowered (the fit penalty)."""

    disease_id: str
    disease_name: str
    case_fit: float  # the case's similarity to the disease, 0..1
    query_fit: float  # the query's, lower
    lowered_by: float  # what the score lost: the method's weight x (case_fit - query_fit)


@dataclass(frozen=True, slots=True)
class PhenotypeExplanation:
    score: float  # 0..1, what ``score`` returns for this pair
    matches: tuple[TermMatchExplanation, ...]  # one per query term, in query order
    conflicts: tuple[PhenotypeConflict, ...]
    # Methods with a disease bridge: the diseases of the case's profile with their part of the
    # bridge (the query's weight times the case's), largest first; empty when the bridge has no
    # share in this score.
    shared_diseases: tuple[SharedDiseaseExplanation, ...] = ()
    # The bridge's share of ``score`` (0..1): the method's, less under the default's gate for a
    # query that resembles many known diseases about equally; 0 without a bridge.
    bridge_share: float = 0.0
    # Methods with a fit penalty: the known disease closest to the case, when it resembles the
    # case more than the query (None otherwise, and without a penalty).
    closer_disease: CloserDiseaseExplanation | None = None


def ancestors_of(ontology: Ontology, term: int) -> NDArray[np.int32]:
    """The is_a ancestors of a term (index), itself included, ascending."""
    return csr.row(ontology.ancestor_indptr, ontology.ancestor_indices, term)


def ancestor_set(ontology: Ontology, term: int) -> NDArray[np.bool_]:
    """One bool per term: is it ``term`` or one of its ancestors."""
    mask = np.zeros(len(ontology.term_ids), dtype=np.bool_)
    mask[ancestors_of(ontology, term)] = True
    return mask


def common_ancestor(
    ontology: Ontology,
    information_content: NDArray[np.float64],
    first_ancestors: NDArray[np.bool_],
    second: int,
) -> int:
    """The most informative common ancestor of two terms (indices).

    ``first_ancestors``: ``ancestor_set`` of the first term. Ties in IC (terms annotating the
    same diseases) go to the deepest, most specific ancestor, then to the first in term order.
    Every term descends from the root, so there is always one.
    """
    candidates = ancestors_of(ontology, second)
    common = candidates[first_ancestors[candidates]]
    ic = information_content[common]
    tied = common[ic == ic.max()]
    return int(tied[np.argmax(ontology.depth[tied])])


@dataclass(frozen=True, slots=True)
class TermPair:
    """A query term's counterpart: its position among the candidates, and their MICA."""

    position: int
    common_ancestor: int  # term index


def pair_term(
    ontology: Ontology,
    information_content: NDArray[np.float64],
    term: int,
    counterparts: NDArray[np.int64],
    similarity: NDArray[np.float64],
) -> TermPair | None:
    """The counterpart ``term`` (index) is paired with, or None when there is no close one.

    ``similarity[i]`` is the method's similarity of ``term`` to ``counterparts[i]`` (exact bonus
    included); the highest wins, the first among equals. None when ``counterparts`` is empty or
    the winner meets ``term`` only at a general ancestor (``is_close_ancestor``); the same term
    on both sides is always a pair, however general.
    """
    if not len(counterparts):
        return None
    position = int(np.argmax(similarity))
    best = int(counterparts[position])
    ancestor = common_ancestor(ontology, information_content, ancestor_set(ontology, term), best)
    if best != term and not is_close_ancestor(ontology, information_content, ancestor):
        return None
    return TermPair(position, ancestor)


def stored_pair_is_close(
    ontology: Ontology, information_content: NDArray[np.float64], common_ancestor_hpo_id: object
) -> bool:
    """Does a stored pair's common ancestor (an HPO id, as stored) pass today's closeness rule?

    True for an id this release does not hold (a newer release's: keep what was stored);
    False for anything that is not an id.
    """
    if not isinstance(common_ancestor_hpo_id, str):
        return False
    try:
        index = ontology.index_of(common_ancestor_hpo_id)
    except LookupError:
        return True
    return is_close_ancestor(ontology, information_content, index)


def conflicting_pairs(
    ontology: Ontology, observed: Sequence[int], excluded: Collection[int]
) -> list[tuple[int, int]]:
    """(observed term, excluded term) for every observed term that is excluded or has an
    excluded ancestor, in the order of ``observed`` and then of its ancestors (ascending)."""
    excluded_set = {int(term) for term in excluded}
    return [
        (term, ancestor)
        for term in observed
        for ancestor in ancestors_of(ontology, term).tolist()
        if ancestor in excluded_set
    ]
