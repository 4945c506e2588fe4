"""Plain, slow reference implementations of every measure, over Python sets of hpo ids.

They follow the definitions literally and exist so tests can check the vectorised kernels
against them; nothing in production calls them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from ontologies.hpo import Ontology

TermSimilarity = Callable[[str, str], float]


def information_content_of(ontology: Ontology, ic: object) -> Mapping[str, float]:
    """hpo id -> IC, from an array indexed like ``ontology.term_ids``."""
    values = list(ic)  # type: ignore[call-overload]
    return {hpo_id: float(values[i]) for i, hpo_id in enumerate(ontology.term_ids)}


def reference_resnik(ontology: Ontology, ic: Mapping[str, float], a: str, b: str) -> float:
    """IC of the most informative common ancestor of ``a`` and ``b``."""
    common = ontology.ancestors(a) & ontology.ancestors(b)
    return max((ic[term] for term in common), default=0.0)


def reference_lin(ontology: Ontology, ic: Mapping[str, float], a: str, b: str) -> float:
    """2 IC(MICA) / (IC(a) + IC(b)); 1 for a term with itself, 0 when both ICs are 0."""
    if a == b:
        return 1.0
    denominator = ic[a] + ic[b]
    if denominator <= 0:
        return 0.0
    return min(1.0, 2.0 * reference_resnik(ontology, ic, a, b) / denominator)


def reference_best_match_average(
    similarity: TermSimilarity, from_terms: Collection[str], to_terms: Collection[str]
) -> float:
    """Mean over ``from_terms`` of the best similarity to any of ``to_terms`` (0 if either is empty)."""
    if not from_terms or not to_terms:
        return 0.0
    return sum(max(similarity(a, b) for b in to_terms) for a in from_terms) / len(from_terms)


def reference_sim_gic(
    ontology: Ontology, ic: Mapping[str, float], query: Collection[str], case: Collection[str]
) -> float:
    """Sum of IC over the intersection of the two ancestor closures / sum over their union."""
    query_closure = set().union(*(ontology.ancestors(term) for term in query))
    case_closure = set().union(*(ontology.ancestors(term) for term in case))
    union = sum(ic[term] for term in query_closure | case_closure)
    if union <= 0:
        return 0.0
    return sum(ic[term] for term in query_closure & case_closure) / union


def reference_jaccard(query: Collection[str], case: Collection[str]) -> float:
    """size of (query and case) / size of (query or case) on the exact terms (0 when both are empty)."""
    union = set(query) | set(case)
    return len(set(query) & set(case)) / len(union) if union else 0.0


def reference_disease_similarity(
    ontology: Ontology,
    ic: Mapping[str, float],
    query: Collection[str],
    disease_terms: Collection[str],
    exact_bonus: float,
) -> float:
    """Mean over the query's terms of the best Resnik similarity (+ ``exact_bonus`` for the
    same term) to a disease's annotated terms, over the query's own mean (IC + bonus); 0..1."""
    if not query or not disease_terms:
        return 0.0
    self_similarity = sum(ic[term] + exact_bonus for term in query)
    if self_similarity <= 0:
        return 0.0
    total = sum(
        max(
            reference_resnik(ontology, ic, term, other) + (exact_bonus if term == other else 0.0)
            for other in disease_terms
        )
        for term in query
    )
    return total / self_similarity
