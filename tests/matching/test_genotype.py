from __future__ import annotations

import pytest

from matchmaker.matching.genotype import (
    SAME_VARIANT,
    SAME_ZYGOSITY,
    SHARED_GENE,
    VariantCall,
    compare_genotypes,
    same_variant,
)

NGLY1 = "NCBIGene:55768"


def call(**overrides: object) -> VariantCall:
    fields: dict[str, object] = {
        "gene_id": NGLY1,
        "gene_symbol": "NGLY1",
        "assembly": "GRCh37",
        "reference_name": "3",
        "start": 25775421,
        "reference_bases": "C",
        "alternate_bases": "T",
        "zygosity": 2,
    }
    fields.update(overrides)
    return VariantCall(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("other", "expected"),
    [
        (call(), True),
        (call(start=25775422), True),  # a peer that sent VCF's 1-based position
        (call(start=25775423), False),
        (call(alternate_bases="G"), False),
        (call(reference_name="4"), False),
        (call(assembly="GRCh37.p13"), True),  # a patch release keeps the coordinates
        (call(assembly="GRCh38"), None),  # different builds: cannot compare without liftover
        (call(start=None), None),
    ],
)
def test_same_variant(other: VariantCall, expected: bool | None) -> None:
    assert same_variant(call(), other) is expected


def test_same_position_without_alleles_counts_only_when_exact() -> None:
    bare = call(reference_bases="", alternate_bases="")
    assert same_variant(bare, call()) is True
    assert same_variant(bare, call(start=25775422)) is False


def test_genotype_score_grows_with_the_evidence() -> None:
    gene_only, _ = compare_genotypes([call(start=None)], [call()])
    different, _ = compare_genotypes([call(start=1)], [call()])
    same, _ = compare_genotypes([call(zygosity=1)], [call()])
    same_and_zygosity, comparisons = compare_genotypes([call()], [call()])
    assert gene_only == different == pytest.approx(SHARED_GENE)
    assert same == pytest.approx(SHARED_GENE + SAME_VARIANT)
    assert same_and_zygosity == pytest.approx(SHARED_GENE + SAME_VARIANT + SAME_ZYGOSITY)
    assert same_and_zygosity <= 1.0
    assert comparisons[0].note == "same variant and zygosity"


def test_no_shared_gene_scores_zero() -> None:
    score, comparisons = compare_genotypes([call()], [call(gene_id="NCBIGene:1", gene_symbol="X")])
    assert score == 0.0
    assert comparisons == []
