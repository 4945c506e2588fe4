"""Reading Beacon requests: what each filter and parameter becomes, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from matchmaker.beacon.protocol import BeaconRequestError, parse_request, request_from_get
from matchmaker.reference.ontology import get_gene_catalogue, get_hpo

pytestmark = pytest.mark.django_db


def _parse(query: dict[str, Any]) -> Any:
    return parse_request({"query": query}, ontology=get_hpo(), genes=get_gene_catalogue())


def test_filters_become_terms_diseases_sex_and_genes() -> None:
    request = _parse(
        {
            "filters": [
                {"id": "HP:0001250", "includeDescendantTerms": False, "similarity": "high"},
                "Orphanet:558",
                {"id": "MIM:154700"},
                {"id": "NCIT:C20197"},
                {"id": "sex", "operator": "=", "value": "female"},
                {"id": "NCBIGene:4000"},
            ]
        }
    )
    assert [(t.hpo_id, t.include_descendants, t.similarity) for t in request.term_filters] == [
        ("HP:0001250", False, "high")
    ]
    assert request.disease_ids == ["ORPHA:558", "OMIM:154700"]
    assert request.sexes == ["MALE", "FEMALE"]
    assert request.gene_ids == ["NCBIGene:4000"]
    assert not request.warnings


def test_positions_follow_the_beacon_conventions() -> None:
    request = _parse(
        {
            "requestParameters": {
                "assemblyId": "hg38",
                "referenceName": "chr3",
                "start": [25750425],
                "referenceBases": "a",
                "alternateBases": "G",
            }
        }
    )
    variant = request.variant
    assert (variant.assembly, variant.reference_name, variant.start) == ("GRCh38", "3", (25750425,))
    assert (variant.reference_bases, variant.alternate_bases) == ("A", "G")
    parameters, filters = request_from_get(
        {"filters": ["HP:0001250,HP:0001263"], "start": ["10,20"], "end": ["30,40"]}
    )
    assert filters == [{"id": "HP:0001250"}, {"id": "HP:0001263"}]
    assert parameters == {"start": ["10", "20"], "end": ["30", "40"]}
    _, filters = request_from_get(
        {"filters": ["HP:0001250"], "includeDescendantTerms": ["false"], "similarity": ["low"]}
    )
    assert filters == [{"id": "HP:0001250", "includeDescendantTerms": False, "similarity": "low"}]
    _, filters = request_from_get({"filters": ["HP:0001250"], "includeDescendantTerms": ["maybe"]})
    with pytest.raises(BeaconRequestError, match="includeDescendantTerms"):
        _parse({"filters": filters})


@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        ({"referenceName": "1", "start": [10], "end": [5]}, "end"),
        ({"referenceName": "1", "start": [10, 5], "end": [20, 30]}, "start"),
        ({"referenceName": "1", "start": [10, 20]}, "bracket"),
        ({"referenceName": "1", "start": [-1], "alternateBases": "A"}, "start"),
        ({"referenceName": "1", "start": [1], "alternateBases": "X"}, "alternateBases"),
        ({"referenceName": "1", "start": [1]}, "alternateBases"),
        ({"geneId": 5}, "geneId"),
    ],
)
def test_impossible_positions_are_refused_naming_the_parameter(
    parameters: dict[str, Any], named: str
) -> None:
    with pytest.raises(BeaconRequestError, match=named):
        _parse({"requestParameters": parameters})
