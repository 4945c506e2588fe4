"""Genotype comparison of two cases: shared genes, then the same variant and zygosity.

The index scores a shared canonical gene as genotype 1.0; for the few results shown, this module
looks at the variants too, because "same gene, same variant, same zygosity" is far stronger
evidence than "same gene". Peers and published cases disagree on 0- vs 1-based positions (MME
`start` is 0-based; some nodes send VCF's 1-based `pos`), so positions within one base count as
the same variant when the alleles agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Genotype score of a shared gene, refined by the variant evidence (0..1, higher = stronger).
SHARED_GENE = 0.8
SAME_VARIANT = 0.15
SAME_ZYGOSITY = 0.05
# Builds that differ only by patch release share the coordinates of the primary chromosomes.
_ASSEMBLY_FAMILY = {"NCBI36": "NCBI36", "GRCh37": "GRCh37", "GRCh38": "GRCh38"}


@dataclass(frozen=True, slots=True)
class VariantCall:
    gene_id: str  # canonical
    gene_symbol: str
    assembly: str = ""
    reference_name: str = ""
    start: int | None = None  # 0-based
    reference_bases: str = ""
    alternate_bases: str = ""
    zygosity: int | None = None

    @property
    def has_position(self) -> bool:
        return bool(self.assembly and self.reference_name and self.start is not None)


@dataclass(frozen=True, slots=True)
class GeneComparison:
    gene_id: str
    gene_symbol: str
    same_variant: bool
    same_zygosity: bool
    note: str  # what was compared, for the clinician

    def as_json(self) -> dict[str, object]:
        return {
            "gene_id": self.gene_id,
            "gene_symbol": self.gene_symbol,
            "same_variant": self.same_variant,
            "same_zygosity": self.same_zygosity,
            "note": self.note,
        }


def same_variant(first: VariantCall, second: VariantCall) -> bool | None:
    """True or False when the two can be compared; None when a position or build is missing."""
    if (
        not (first.has_position and second.has_position)
        or first.start is None
        or second.start is None
    ):
        return None
    if _ASSEMBLY_FAMILY.get(first.assembly.split(".")[0]) != _ASSEMBLY_FAMILY.get(
        second.assembly.split(".")[0]
    ):
        return None
    if first.reference_name != second.reference_name:
        return False
    if abs(first.start - second.start) > 1:
        return False
    alleles_known = all(
        (
            first.reference_bases,
            first.alternate_bases,
            second.reference_bases,
            second.alternate_bases,
        )
    )
    if alleles_known:
        return (first.reference_bases, first.alternate_bases) == (
            second.reference_bases,
            second.alternate_bases,
        )
    # Without alleles on both sides, the same position is all the evidence there is.
    return first.start == second.start


def compare_genotypes(
    query: Sequence[VariantCall], candidate: Sequence[VariantCall]
) -> tuple[float, list[GeneComparison]]:
    """Genotype score (0..1) and one comparison per gene the two cases share."""
    by_gene: dict[str, list[VariantCall]] = {}
    for call in candidate:
        by_gene.setdefault(call.gene_id, []).append(call)
    comparisons: list[GeneComparison] = []
    best = 0.0
    for gene_id, query_calls in _group(query).items():
        candidate_calls = by_gene.get(gene_id)
        if not candidate_calls:
            continue
        variant_match = False
        zygosity_match = False
        compared: bool | None = None
        for mine in query_calls:
            for theirs in candidate_calls:
                outcome = same_variant(mine, theirs)
                if outcome is not None:
                    compared = True
                if outcome:
                    variant_match = True
                    zygosity_match = zygosity_match or (
                        mine.zygosity is not None and mine.zygosity == theirs.zygosity
                    )
        if variant_match:
            note = "same variant" + (" and zygosity" if zygosity_match else "")
        elif compared:
            note = "different variants in the same gene"
        else:
            note = "same gene; variants not comparable (position or genome build missing)"
        score = SHARED_GENE + SAME_VARIANT * variant_match + SAME_ZYGOSITY * zygosity_match
        best = max(best, score)
        comparisons.append(
            GeneComparison(
                gene_id=gene_id,
                gene_symbol=query_calls[0].gene_symbol,
                same_variant=variant_match,
                same_zygosity=zygosity_match,
                note=note,
            )
        )
    return min(best, 1.0), comparisons


def _group(calls: Iterable[VariantCall]) -> dict[str, list[VariantCall]]:
    grouped: dict[str, list[VariantCall]] = {}
    for call in calls:
        grouped.setdefault(call.gene_id, []).append(call)
    return grouped
