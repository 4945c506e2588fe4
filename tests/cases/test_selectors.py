"""Case reads shared by the pages, the REST API and the commands: search and export."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from matchmaker.cases import selectors
from matchmaker.cases.models import Case, Institution
from matchmaker.cases.records import (
    DisorderRecord,
    FeatureRecord,
    GenomicFeatureRecord,
    VariantRecord,
)
from matchmaker.cases.selectors import (
    case_document,
    case_record_of,
    case_records_of,
    cases_with_term,
    search_cases,
)
from matchmaker.reference.ontology import get_hpo
from tests.factories import make_case


def labels(cases: Iterable[Case]) -> set[str]:
    return {case.label for case in cases}


@pytest.fixture
def three_cases(institution: Institution) -> dict[str, Case]:
    return {
        "seizures": make_case(institution=institution, label="fam1-seizures"),
        "focal": make_case(
            institution=institution,
            label="fam2-focal",
            features=(FeatureRecord("HP:0007359"),),
            genomic_features=(GenomicFeatureRecord(gene_id="SCN1A"),),
        ),
        "excluded": make_case(
            institution=institution,
            label="fam3-no-seizures",
            features=(FeatureRecord("HP:0001263"), FeatureRecord("HP:0001250", observed=False)),
            genomic_features=(GenomicFeatureRecord(gene_id="SCN1A"),),
        ),
    }


def test_cases_with_a_term_include_terms_below_it_but_not_excluded_ones(
    three_cases: dict[str, Case],
) -> None:
    ontology = get_hpo()

    assert labels(Case.objects.filter(cases_with_term("HP:0001250", ontology=ontology))) == {
        "fam1-seizures",
        "fam2-focal",
    }
    assert labels(Case.objects.filter(cases_with_term("HP:0007359", ontology=ontology))) == {
        "fam2-focal"
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {"fam1-seizures", "fam2-focal", "fam3-no-seizures"}),
        ("fam2", {"fam2-focal"}),
        ("scn1a", {"fam2-focal", "fam3-no-seizures"}),
        ("seizure", {"fam1-seizures", "fam2-focal", "fam3-no-seizures"}),  # label substring
        ("Focal-onset seizure", {"fam2-focal"}),
        ("hp:0001250", {"fam1-seizures", "fam2-focal"}),
        ("HP:9999999", set()),
        ("Focal-onset seiz", set()),  # not a whole label
    ],
)
def test_one_search_box_finds_labels_genes_and_terms(
    three_cases: dict[str, Case], text: str, expected: set[str]
) -> None:
    assert labels(search_cases(Case.objects.all(), text, ontology=get_hpo())) == expected


def test_search_stays_within_the_cases_given(
    three_cases: dict[str, Case], other_institution: Institution
) -> None:
    theirs = make_case(institution=other_institution, label="fam1-seizures")

    found = search_cases(
        Case.objects.filter(institution=other_institution), "seizure", ontology=get_hpo()
    )

    assert list(found) == [theirs]


def test_a_case_is_written_as_a_phenopacket_and_an_mme_patient_under_its_public_id(
    institution: Institution,
) -> None:
    case = make_case(institution=institution, label="fam12-proband")

    phenopacket = case_document(case, fmt="phenopacket", ontology=get_hpo())
    patient = case_document(case, fmt="mme", ontology=get_hpo())

    assert phenopacket["id"] == "fam12-proband"
    assert phenopacket["subject"]["id"] == case.public_id
    assert phenopacket["metaData"]["createdBy"] == institution.name
    assert phenopacket["phenotypicFeatures"][0]["type"] == {"id": "HP:0001250", "label": "Seizure"}
    assert patient["id"] == case.public_id
    assert patient["contact"]["href"] == "mailto:mme@example.org"


def test_a_case_that_cannot_be_written_so_raises_value_error(db: None) -> None:
    silent = Institution.objects.create(name="No contact details")
    case = make_case(institution=silent)

    with pytest.raises(ValueError, match="contact"):
        case_document(case, fmt="mme", ontology=get_hpo())
    with pytest.raises(ValueError, match="unknown format 'vcf'"):
        case_document(case, fmt="vcf", ontology=get_hpo())


def test_records_of_many_cases_equal_one_by_one_records_in_three_queries(
    institution: Institution, monkeypatch: pytest.MonkeyPatch
) -> None:
    varied = make_case(
        institution=institution,
        label="fam20-varied",
        features=(
            FeatureRecord("HP:0001250", onset_hpo_id="HP:0003593"),
            FeatureRecord("HP:0000252", observed=False),
        ),
        genomic_features=(
            GenomicFeatureRecord(
                gene_id="HGNC:17646",
                gene_symbol="NGLY1",
                variant=VariantRecord(
                    assembly="GRCh38",
                    reference_name="3",
                    start=25750426,
                    end=25750427,
                    reference_bases="C",
                    alternate_bases="T",
                ),
                zygosity=2,
                hgvs_expressions=(("hgvs.c", "NM_018297.4:c.1201A>T"),),
                acmg_classification="PATHOGENIC",
            ),
            GenomicFeatureRecord(gene_id="SCN1A"),
        ),
        disorders=(DisorderRecord("OMIM:615273", "Congenital disorder of deglycosylation"),),
    )
    plain = make_case(institution=institution, label="fam21-plain")
    genes_only = make_case(institution=institution, label="fam22-genes", features=())
    cases = list(Case.objects.filter(pk__in=[varied.pk, plain.pk, genes_only.pk]).order_by("label"))

    with CaptureQueriesContext(connection) as queries:
        records = case_records_of(cases, ontology=get_hpo())

    assert len(queries.captured_queries) == 3
    for case in cases:
        assert records[case.pk] == case_record_of(case, ontology=get_hpo())
    assert records[varied.pk].genomic_features[0].ensembl_gene_id.startswith("ENSG")
    assert records[varied.pk].disorders[0].disorder_id == "OMIM:615273"
    assert records[genes_only.pk].features == ()
    # Many cases are read a few hundred at a time (SQLite's limit on parameters): the same.
    monkeypatch.setattr(selectors, "_IDS_PER_STATEMENT", 2)
    with CaptureQueriesContext(connection) as queries:
        assert case_records_of(cases, ontology=get_hpo()) == records
    assert len(queries.captured_queries) == 6
    # The genes alone, as the matching's variant check reads them: the same as the instances'.
    no_genes = make_case(institution=institution, label="fam23-no-genes", genomic_features=())
    genomic = selectors.genomic_feature_rows_of([varied.pk, no_genes.pk])
    assert [
        (row.gene_id, row.start, row.reference_bases, row.zygosity) for row in genomic[varied.pk]
    ] == [
        (feature.gene_id, feature.start, feature.reference_bases, feature.zygosity)
        for feature in varied.genomic_features.all()
    ]
    assert genomic[no_genes.pk] == []
