"""Phenopacket v2 and MME patient JSON to and from CaseRecord; no database needed.

The real documents are read from the shared data folder (never copied into the repository);
the edge cases are small inline dicts.
"""

from __future__ import annotations

import copy
import dataclasses
import gzip
import io
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from matchmaker.cases.interchange import (
    HETEROZYGOUS,
    HOMOZYGOUS,
    SourceDocument,
    TooManyDocumentsError,
    UnpackedTooLargeError,
    case_record_from_mme_patient,
    case_record_from_phenopacket,
    documents,
    mme_patient_from_case_record,
    parse_documents,
    phenopacket_from_case_record,
    read_documents,
    read_uploads,
    unpacked_size,
)
from matchmaker.cases.records import (
    CaseRecord,
    ContactRecord,
    DisorderRecord,
    FeatureRecord,
    GenomicFeatureRecord,
    RecordFormatError,
    VariantRecord,
)

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
PHENOPACKETS_DEV = SHARED_DATA / "phenopackets-dev.jsonl.gz"
MME_BENCHMARK = SHARED_DATA / "mme-benchmark-patients.json"
CREATED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def without_notes(record: CaseRecord) -> CaseRecord:
    # Notes say what a reader could not carry over; writers do not write them, by design.
    return dataclasses.replace(record, notes=())


def write_phenopacket(record: CaseRecord) -> dict[str, Any]:
    return phenopacket_from_case_record(
        record, subject_id="subject-1", created_by="matchmaker", hpo_release="2025-05-06"
    )


@pytest.fixture(scope="module")
def dev_records() -> list[CaseRecord]:
    return [
        case_record_from_phenopacket(source.document)
        for source in read_documents(PHENOPACKETS_DEV)
        if source.document is not None
    ]


@pytest.fixture(scope="module")
def benchmark_patients() -> list[dict[str, Any]]:
    patients: list[dict[str, Any]] = json.loads(MME_BENCHMARK.read_text())
    return patients


def phenopacket(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": "case-1",
        "subject": {"id": "proband", "sex": "MALE"},
        "phenotypicFeatures": [{"type": {"id": "HP:0001250", "label": "Seizure"}}],
        "interpretations": [
            {
                "id": "i1",
                "progressStatus": "SOLVED",
                "diagnosis": {
                    "disease": {"id": "OMIM:610536", "label": "MFDGA"},
                    "genomicInterpretations": [
                        {
                            "subjectOrBiosampleId": "proband",
                            "interpretationStatus": "CAUSATIVE",
                            "variantInterpretation": {
                                "variationDescriptor": {
                                    "id": "v1",
                                    "geneContext": {"valueId": "HGNC:30858", "symbol": "EFTUD2"},
                                    "vcfRecord": {
                                        "genomeAssembly": "hg19",
                                        "chrom": "chr17",
                                        "pos": 42929131,
                                        "ref": "G",
                                        "alt": "A",
                                    },
                                    "allelicState": {"id": "GENO:0000135", "label": "heterozygous"},
                                }
                            },
                        }
                    ],
                },
            }
        ],
        "diseases": [{"term": {"id": "OMIM:610536", "label": "MFDGA"}}],
        "metaData": {"phenopacketSchemaVersion": "2.0"},
    }
    document.update(overrides)
    return document


def mme_patient(**overrides: Any) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "id": "N1-000042",
        "contact": {"name": "Dr A. Example", "href": "mailto:mme@example.org"},
        "features": [{"id": "HP:0001250", "label": "Seizure"}],
        "genomicFeatures": [
            {
                "gene": {"id": "NGLY1"},
                "variant": {
                    "assembly": "GRCh37",
                    "referenceName": "3",
                    "start": 25775421,
                    "referenceBases": "C",
                    "alternateBases": "T",
                },
                "zygosity": 2,
            }
        ],
    }
    patient.update(overrides)
    return patient


def variation_descriptor(document: dict[str, Any]) -> dict[str, Any]:
    diagnosis = document["interpretations"][0]["diagnosis"]
    descriptor: dict[str, Any] = diagnosis["genomicInterpretations"][0]["variantInterpretation"][
        "variationDescriptor"
    ]
    return descriptor


# --- Phenopackets: the real development set ----------------------------------------------------


def test_every_dev_phenopacket_survives_a_round_trip(dev_records: list[CaseRecord]) -> None:
    assert len(dev_records) == 8483
    for record in dev_records:
        again = case_record_from_phenopacket(write_phenopacket(record))
        assert again == without_notes(record), record.label


def test_dev_phenopackets_map_as_the_survey_found(dev_records: list[CaseRecord]) -> None:
    genomic_features = [feature for record in dev_records for feature in record.genomic_features]
    variants = [feature.variant for feature in genomic_features if feature.variant is not None]
    without_gene = [record for record in dev_records if not record.genomic_features]

    assert len(genomic_features) == 9216
    assert len(variants) == 8707
    assert {variant.assembly for variant in variants} == {"GRCh38"}
    assert all(feature.gene_id.startswith("HGNC:") for feature in genomic_features)
    assert all(feature.gene_symbol for feature in genomic_features)
    assert Counter(feature.zygosity for feature in genomic_features) == {1: 7211, 2: 2005}
    assert {
        disorder.disorder_id.partition(":")[0]
        for record in dev_records
        for disorder in record.disorders
    } == {"OMIM"}
    # Large deletions with no gene: left out, and the importer can say why.
    assert len(without_gene) == 69
    assert all(note.startswith("no gene: ") for record in without_gene for note in record.notes)
    assert sum(not any(f.observed for f in record.features) for record in dev_records) == 3


def test_it_reads_the_first_dev_phenopacket(dev_records: list[CaseRecord]) -> None:
    record = dev_records[0]

    assert record.label == "PMID_15266616_100"
    assert record.sex == "FEMALE"
    assert record.features[0] == FeatureRecord("HP:0000348", label="High forehead")
    assert FeatureRecord("HP:0000243", observed=False, label="Trigonocephaly") in record.features
    assert record.genomic_features == ()
    assert record.notes == ("no gene: telomeric 11q deletion",)
    assert record.disorders == (DisorderRecord("OMIM:147791", label="Jacobsen syndrome"),)
    assert record.age_of_onset == "HP:0003577"
    assert record.external_references == ("PMID:15266616",)


# --- Phenopackets: hand-written cases ----------------------------------------------------------


def test_it_reads_a_vcf_record_in_mme_coordinates() -> None:
    record = case_record_from_phenopacket(phenopacket())

    assert record.genomic_features == (
        GenomicFeatureRecord(
            gene_id="HGNC:30858",
            gene_symbol="EFTUD2",
            zygosity=1,
            allelic_state_id="GENO:0000135",
            variant=VariantRecord(
                assembly="GRCh37",
                reference_name="17",
                start=42929130,
                end=42929131,
                reference_bases="G",
                alternate_bases="A",
            ),
        ),
    )
    assert record.disorders == (DisorderRecord("OMIM:610536", label="MFDGA"),)


def test_it_keeps_onset_ages_hgvs_acmg_and_the_variant_label_as_submitted() -> None:
    document = phenopacket()
    document["phenotypicFeatures"][0]["onset"] = {"age": {"iso8601duration": "P3Y6M"}}
    document["phenotypicFeatures"].append(
        {
            "type": {"id": "HP:0001263"},
            "onset": {"gestationalAge": {"weeks": 32, "days": 4}},
        }
    )
    document["diseases"] = [
        {"term": {"id": "OMIM:610536"}, "onset": {"age": {"iso8601duration": "P18Y"}}}
    ]
    interpretation = document["interpretations"][0]["diagnosis"]["genomicInterpretations"][0]
    interpretation["variantInterpretation"]["acmgPathogenicityClassification"] = "PATHOGENIC"
    descriptor = variation_descriptor(document)
    descriptor["label"] = "deletion of exons 2-4"
    descriptor["expressions"] = [
        {"syntax": "hgvs.c", "value": "NM_024642.5:c.271C>T"},
        {"syntax": "hgvs.p", "value": "NP_078918.3:p.(Arg91Ter)"},
    ]

    record = case_record_from_phenopacket(document)

    assert record.onset_age == "P18Y"
    assert record.age_of_onset == ""
    assert record.features[0].onset_age == "P3Y6M"
    assert record.features[1].onset_age == ""
    assert record.notes == (
        "onset of HP:0001263: given as gestationalAge, which a case cannot hold; left out",
    )
    [gene] = record.genomic_features
    assert gene.acmg_classification == "PATHOGENIC"
    assert gene.variant_label == "deletion of exons 2-4"
    assert gene.hgvs_expressions == (
        ("hgvs.c", "NM_024642.5:c.271C>T"),
        ("hgvs.p", "NP_078918.3:p.(Arg91Ter)"),
    )
    again = case_record_from_phenopacket(write_phenopacket(record))
    assert again == dataclasses.replace(record, notes=())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            lambda d: d["phenotypicFeatures"][0].update(onset={"age": {"iso8601duration": "3y"}}),
            "phenotypicFeatures[0].onset.age.iso8601duration",
        ),
        (
            lambda d: d["interpretations"][0]["diagnosis"]["genomicInterpretations"][0][
                "variantInterpretation"
            ].update(acmgPathogenicityClassification="VUS"),
            "interpretations[0].diagnosis.genomicInterpretations[0].variantInterpretation"
            ".acmgPathogenicityClassification",
        ),
    ],
)
def test_a_malformed_onset_age_or_acmg_class_is_an_error_naming_its_path(
    change: Callable[[dict[str, Any]], None], field: str
) -> None:
    document = phenopacket()
    change(document)
    with pytest.raises(RecordFormatError) as excinfo:
        case_record_from_phenopacket(document)
    assert excinfo.value.field == field


def test_it_reads_protobuf_style_positions_and_other_spellings() -> None:
    document = phenopacket()
    descriptor = variation_descriptor(document)
    descriptor["vcfRecord"].update(genomeAssembly="GRCH38", chrom="MT", pos="100", ref="AT")
    descriptor["allelicState"] = {"id": "GENO:0000134", "label": "hemizygous"}
    descriptor["structuralType"] = {"id": "SO:1000029", "label": "chromosomal_deletion"}

    feature = case_record_from_phenopacket(document).genomic_features[0]

    assert feature.variant == VariantRecord("GRCh38", "MT", 99, 101, "AT", "A")
    assert feature.zygosity == 1
    assert (feature.variant_type_id, feature.variant_type_label) == (
        "SO:1000029",
        "chromosomal_deletion",
    )


def test_it_reads_a_gene_descriptor_and_skips_rejected_genes() -> None:
    document = phenopacket()
    document["interpretations"][0]["diagnosis"]["genomicInterpretations"] = [
        {"interpretationStatus": "CANDIDATE", "gene": {"valueId": "HGNC:2867", "symbol": "DHODH"}},
        {"interpretationStatus": "REJECTED", "gene": {"valueId": "HGNC:1", "symbol": "A1BG"}},
    ]

    record = case_record_from_phenopacket(document)

    assert record.genomic_features == (GenomicFeatureRecord("HGNC:2867", gene_symbol="DHODH"),)
    assert record.notes == ("rejected by the curator: A1BG",)


def test_it_reads_onsets_only_from_hpo_terms() -> None:
    document = phenopacket(
        phenotypicFeatures=[
            {"type": {"id": "HP:0001250"}, "onset": {"age": {"iso8601duration": "P2Y"}}},
            {"type": {"id": "HP:0001263"}, "onset": {"ontologyClass": {"id": "HP:0003593"}}},
        ],
        diseases=[
            {"term": {"id": "OMIM:610536"}, "onset": {"gestationalAge": {"weeks": 20}}},
            {"term": {"id": "MIM:100100"}, "onset": {"ontologyClass": {"id": "HP:0003577"}}},
        ],
    )

    record = case_record_from_phenopacket(document)

    assert [feature.onset_hpo_id for feature in record.features] == ["", "HP:0003593"]
    assert record.age_of_onset == "HP:0003577"
    assert [disorder.disorder_id for disorder in record.disorders] == ["OMIM:610536", "OMIM:100100"]


def test_excluded_diseases_are_not_disorders() -> None:
    document = phenopacket(
        diseases=[
            {"term": {"id": "OMIM:610536"}},
            {"term": {"id": "Orphanet:2710", "label": "Ruled out"}, "excluded": True},
        ]
    )

    record = case_record_from_phenopacket(document)

    assert [disorder.disorder_id for disorder in record.disorders] == ["OMIM:610536"]
    assert record.notes == ("excluded disease: ORPHA:2710",)


def test_repeated_terms_are_kept_once() -> None:
    document = phenopacket(
        phenotypicFeatures=[
            {"type": {"id": "HP:0001250", "label": "Seizure"}},
            {"type": {"id": "HP:0001250"}, "onset": {"ontologyClass": {"id": "HP:0003593"}}},
        ]
    )

    assert case_record_from_phenopacket(document).features == (
        FeatureRecord("HP:0001250", label="Seizure"),
    )


def test_a_document_without_genes_or_observed_terms_is_still_a_record() -> None:
    document = {
        "id": "bare",
        "phenotypicFeatures": [{"type": {"id": "HP:0001250"}, "excluded": True}],
    }

    record = case_record_from_phenopacket(document)

    assert record == CaseRecord(
        "bare",
        features=(FeatureRecord("HP:0001250", observed=False),),
        case_terms_as_features=True,
    )


def _set_variant_field(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        variation_descriptor(document)["vcfRecord"][key] = value

    return change


def _contradict(document: dict[str, Any]) -> None:
    document["phenotypicFeatures"].append({"type": {"id": "HP:0001250"}, "excluded": True})


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d.pop("id"), "id", "is required"),
        (lambda d: d.update(id=""), "id", "must not be empty"),
        (lambda d: d.update(id=42), "id", "must be a string, not number"),
        (
            lambda d: d.update(phenotypicFeatures={"type": {"id": "HP:0001250"}}),
            "phenotypicFeatures",
            "must be a list, not object",
        ),
        (
            lambda d: d["phenotypicFeatures"].append({"type": {"id": "HP:123"}}),
            "phenotypicFeatures[1].type.id",
            "'HP:123' is not an HPO id",
        ),
        (
            lambda d: d["phenotypicFeatures"].append(
                {"type": {"id": "HP:0001263"}, "excluded": "yes"}
            ),
            "phenotypicFeatures[1].excluded",
            "must be true or false",
        ),
        (
            _contradict,
            "phenotypicFeatures[1]",
            "HP:0001250 is listed both as observed and as excluded",
        ),
        (
            lambda d: d["subject"].update(sex="F"),
            "subject.sex",
            "'F' is not one of FEMALE",
        ),
        (
            lambda d: d.update(diseases=[{"term": {"id": "DOID:1234"}}]),
            "diseases[0].term.id",
            "is not an OMIM, MIM, ORPHA, Orphanet or MONDO id",
        ),
        (
            _set_variant_field("pos", "12x"),
            "interpretations[0].diagnosis.genomicInterpretations[0].variantInterpretation"
            ".variationDescriptor.vcfRecord.pos",
            "must be an integer, not string",
        ),
        (_set_variant_field("pos", 0), "vcfRecord.pos", "must be 1 or more"),
        (_set_variant_field("genomeAssembly", "mm10"), "vcfRecord.genomeAssembly", "not a known"),
        (_set_variant_field("chrom", "chr23"), "vcfRecord.chrom", "'chr23' is not a chromosome"),
        (
            lambda d: variation_descriptor(d).update(structuralType={"id": "SO:12", "label": "x"}),
            "variationDescriptor.structuralType.id",
            "'SO:12' is not an SO id",
        ),
        (
            lambda d: d["interpretations"][0]["diagnosis"].update(
                genomicInterpretations=[{"interpretationStatus": "CAUSATIVE"}]
            ),
            "genomicInterpretations[0]",
            "needs a gene or a variantInterpretation",
        ),
        (
            lambda d: d["metaData"].update(phenopacketSchemaVersion="1.0.0"),
            "metaData.phenopacketSchemaVersion",
            "only Phenopacket v2",
        ),
    ],
)
def test_it_rejects_malformed_phenopackets(
    change: Callable[[dict[str, Any]], object], field: str, words: str
) -> None:
    document = phenopacket()
    change(document)

    with pytest.raises(RecordFormatError) as caught:
        case_record_from_phenopacket(document)

    assert caught.value.field.endswith(field)
    assert words in caught.value.message


def test_it_rejects_a_phenopacket_that_is_not_an_object() -> None:
    with pytest.raises(RecordFormatError, match="a phenopacket must be an object, not array"):
        case_record_from_phenopacket([phenopacket()])  # type: ignore[arg-type]


def test_a_diagnosis_contradicting_an_excluded_disease_is_rejected() -> None:
    document = phenopacket(diseases=[{"term": {"id": "OMIM:610536"}, "excluded": True}])

    with pytest.raises(RecordFormatError, match="lists it as excluded"):
        case_record_from_phenopacket(document)


# --- Phenopackets: writing ---------------------------------------------------------------------


def test_it_writes_a_phenopacket_with_metadata() -> None:
    record = case_record_from_phenopacket(phenopacket())

    document = phenopacket_from_case_record(
        record,
        subject_id="N1-42",
        created_by="matchmaker node N1",
        hpo_release="2025-05-06",
        created=CREATED,
    )

    assert document["id"] == "case-1"
    assert document["subject"] == {"id": "N1-42", "sex": "MALE"}
    interpretation = document["interpretations"][0]
    assert interpretation["progressStatus"] == "SOLVED"
    assert interpretation["diagnosis"]["disease"] == {"id": "OMIM:610536", "label": "MFDGA"}
    descriptor = variation_descriptor(document)
    assert descriptor["geneContext"] == {"valueId": "HGNC:30858", "symbol": "EFTUD2"}
    assert descriptor["vcfRecord"] == {
        "genomeAssembly": "GRCh37",
        "chrom": "chr17",
        "pos": 42929131,
        "ref": "G",
        "alt": "A",
    }
    meta_data = document["metaData"]
    assert meta_data["created"] == "2025-01-02T03:04:05Z"
    assert meta_data["createdBy"] == "matchmaker node N1"
    assert meta_data["phenopacketSchemaVersion"] == "2.0"
    resources = {resource["id"]: resource for resource in meta_data["resources"]}
    assert set(resources) == {"hp", "omim", "geno", "hgnc"}
    assert resources["hp"]["version"] == "2025-05-06"
    assert resources["hp"]["namespacePrefix"] == "HP"


def test_genes_without_a_disorder_are_written_as_candidates_without_a_placeholder_disease() -> None:
    record = CaseRecord(
        "undiagnosed",
        features=(FeatureRecord("HP:0001250", onset_hpo_id="HP:0003593"),),
        genomic_features=(
            GenomicFeatureRecord("NGLY1"),
            GenomicFeatureRecord("ENSG00000151092", zygosity=2, variant_type_id="SO:0001587"),
        ),
        sex="OTHER",
        age_of_onset="HP:0003577",
    )

    document = write_phenopacket(record)

    interpretation = document["interpretations"][0]
    assert interpretation["progressStatus"] == "UNSOLVED"
    # No invented disease: other tools would read a placeholder as a diagnosis.
    assert "disease" not in interpretation["diagnosis"]
    assert "diseases" not in document
    assert "MONDO" not in {r["namespacePrefix"] for r in document["metaData"]["resources"]}
    assert {
        gi["interpretationStatus"] for gi in interpretation["diagnosis"]["genomicInterpretations"]
    } == {"CANDIDATE"}
    # No disease to hang the onset on: it travels as a phenotypic feature, which validation
    # takes back as the case's onset (tests/cases/test_export_fidelity.py).
    assert case_record_from_phenopacket(document) == dataclasses.replace(
        record,
        features=(*record.features, FeatureRecord("HP:0003577", label="Congenital onset")),
        genomic_features=(
            record.genomic_features[0],
            dataclasses.replace(record.genomic_features[1], allelic_state_id=HOMOZYGOUS),
        ),
        age_of_onset="",
        case_terms_as_features=True,
    )


def test_writing_a_phenopacket_needs_a_label_and_an_aware_time() -> None:
    with pytest.raises(ValueError, match="no label"):
        write_phenopacket(CaseRecord(""))
    with pytest.raises(ValueError, match="timezone-aware"):
        phenopacket_from_case_record(
            CaseRecord("x"),
            subject_id="s",
            created_by="me",
            created=datetime(2025, 1, 1),  # noqa: DTZ001 -- the naive time under test
        )


# --- MME patients ------------------------------------------------------------------------------


def test_every_benchmark_patient_survives_a_round_trip(
    benchmark_patients: list[dict[str, Any]],
) -> None:
    assert len(benchmark_patients) == 50
    for patient in benchmark_patients:
        record = case_record_from_mme_patient(patient)
        written = mme_patient_from_case_record(record, patient_id=record.label)
        assert case_record_from_mme_patient(written) == without_notes(record), patient["id"]


def test_it_reads_benchmark_patient_p0000079(benchmark_patients: list[dict[str, Any]]) -> None:
    patient = next(p for p in benchmark_patients if p["id"] == "P0000079")

    record = case_record_from_mme_patient(patient)

    assert record.label == "P0000079"
    assert len(record.features) == 15
    assert [f.hpo_id for f in record.features if not f.observed] == ["HP:0001622"]
    (gene,) = record.genomic_features
    assert gene.gene_id == "EFTUD2"
    assert gene.zygosity == 1
    assert gene.variant is not None
    assert gene.variant.start == 42929130
    assert record.disorders[0].disorder_id == "OMIM:610536"
    assert record.contact == ContactRecord(
        name="Lijia Huang",
        institution="Children's Hospital of Eastern Ontario",
        href="http://www.ncbi.nlm.nih.gov/pubmed/22305528",
    )
    assert record.is_test is True


def test_a_benchmark_variant_without_start_keeps_its_gene(
    benchmark_patients: list[dict[str, Any]],
) -> None:
    patient = next(p for p in benchmark_patients if p["id"] == "P0001017")

    record = case_record_from_mme_patient(patient)

    lama1 = [feature for feature in record.genomic_features if feature.gene_id == "LAMA1"]
    assert any(feature.variant is None for feature in lama1)
    assert record.notes == ("variant of LAMA1 on chromosome 18 has no start",)


def test_it_reads_the_optional_mme_fields() -> None:
    patient = mme_patient(
        sex="FEMALE",
        ageOfOnset="HP:0003577",
        inheritanceMode="HP:0000007",
        disorders=[{"id": "Orphanet:2710"}, {"id": "MIM:610536", "label": "MFDGA"}],
        features=[
            {"id": "HP:0001250", "observed": "no"},
            {"id": "HP:0001263", "ageOfOnset": "HP:0003593"},
        ],
        test=True,
        _geneName_source="seqr",
        _disclaimer="research only",
        species="NCBITaxon:9606",
        unknownField={"ignored": True},
    )
    patient["contact"]["email"] = ["a@example.org", "b@example.org"]
    patient["genomicFeatures"][0]["gene"]["_geneName"] = "NGLY1-symbol"
    patient["genomicFeatures"][0]["variant"]["referenceName"] = "chrX"

    record = case_record_from_mme_patient(patient)

    assert record.sex == "FEMALE"
    assert record.age_of_onset == "HP:0003577"
    assert record.inheritance_mode == "HP:0000007"
    assert [d.disorder_id for d in record.disorders] == ["ORPHA:2710", "OMIM:610536"]
    assert record.features == (
        FeatureRecord("HP:0001250", observed=False),
        FeatureRecord("HP:0001263", onset_hpo_id="HP:0003593"),
    )
    assert record.contact.email == "a@example.org, b@example.org"
    assert record.genomic_features[0].gene_symbol == "NGLY1-symbol"
    assert record.genomic_features[0].variant is not None
    assert record.genomic_features[0].variant.reference_name == "X"
    assert record.extra == {"_geneName_source": "seqr", "_disclaimer": "research only"}
    assert record.is_test is True

    written = mme_patient_from_case_record(record, patient_id="N1-000042")
    assert written["_disclaimer"] == "research only"
    assert "unknownField" not in written
    assert written["disorders"] == [{"id": "Orphanet:2710"}, {"id": "MIM:610536", "label": "MFDGA"}]
    assert case_record_from_mme_patient(written) == record


def test_zygosity_zero_means_unknown() -> None:
    patient = mme_patient()
    patient["genomicFeatures"][0]["zygosity"] = 0

    assert case_record_from_mme_patient(patient).genomic_features[0].zygosity is None


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda p: p.pop("id"), "id", "is required"),
        (lambda p: p.pop("contact"), "contact", "is required"),
        (lambda p: p["contact"].pop("href"), "contact.href", "is required"),
        (lambda p: p.update(features="HP:0001250"), "features", "must be a list, not string"),
        (lambda p: p.update(features=["HP:0001250"]), "features[0]", "must be an object"),
        (
            lambda p: p.update(features=[{"id": "HP:1250"}]),
            "features[0].id",
            "'HP:1250' is not an HPO id",
        ),
        (
            lambda p: p.update(
                features=[{"id": "HP:0001250"}, {"id": "HP:0001250", "observed": "no"}]
            ),
            "features[1]",
            "HP:0001250 is listed both as observed and as excluded",
        ),
        (
            lambda p: p.update(features=[{"id": "HP:0001250", "observed": True}]),
            "features[0].observed",
            "must be a string",
        ),
        (
            lambda p: p["genomicFeatures"][0]["variant"].update(start="25775421"),
            "genomicFeatures[0].variant.start",
            "must be an integer, not string",
        ),
        (
            lambda p: p["genomicFeatures"][0]["variant"].update(start=-1),
            "genomicFeatures[0].variant.start",
            "must be 0 or more",
        ),
        (
            lambda p: p["genomicFeatures"][0]["variant"].update(end=5),
            "genomicFeatures[0].variant.end",
            "is before start",
        ),
        (
            lambda p: p["genomicFeatures"][0]["variant"].update(assembly="GRCh36"),
            "genomicFeatures[0].variant.assembly",
            "not a known assembly",
        ),
        (
            lambda p: p["genomicFeatures"][0]["variant"].update(referenceName="25"),
            "genomicFeatures[0].variant.referenceName",
            "not a chromosome",
        ),
        (
            lambda p: p["genomicFeatures"][0].update(zygosity=3),
            "genomicFeatures[0].zygosity",
            "must be 1",
        ),
        (
            lambda p: p["genomicFeatures"][0].update(zygosity=True),
            "genomicFeatures[0].zygosity",
            "must be 1",
        ),
        (
            lambda p: p["genomicFeatures"][0].update(type={"id": "SO:158"}),
            "genomicFeatures[0].type.id",
            "is not an SO id",
        ),
        (lambda p: p["genomicFeatures"][0].pop("gene"), "genomicFeatures[0].gene", "is required"),
        (
            lambda p: p.update(disorders=[{"id": "OMIM:ABC"}]),
            "disorders[0].id",
            "is not an OMIM",
        ),
        (lambda p: p.update(sex="F"), "sex", "'F' is not one of FEMALE"),
        (lambda p: p.update(test="true"), "test", "must be true or false"),
    ],
)
def test_it_rejects_malformed_mme_patients(
    change: Callable[[dict[str, Any]], object], field: str, words: str
) -> None:
    patient = copy.deepcopy(mme_patient())
    change(patient)

    with pytest.raises(RecordFormatError) as caught:
        case_record_from_mme_patient(patient)

    assert caught.value.field == field
    assert words in caught.value.message


def test_it_writes_an_mme_patient_that_peers_accept() -> None:
    record = CaseRecord(
        "fam12-proband",
        features=(FeatureRecord("HP:0001250"),),
        genomic_features=(
            GenomicFeatureRecord(
                "HGNC:17646",
                gene_symbol="NGLY1",
                variant=VariantRecord("GRCh38", "MT", 10),
                zygosity=1,
            ),
        ),
        disorders=(DisorderRecord("MONDO:0014292"), DisorderRecord("ORPHA:404454")),
        contact=ContactRecord(name="Dr A. Example", email="mme@example.org"),
        sex="UNKNOWN_SEX",
        external_references=("PMID:1",),
        extra={"not_underscored": 1},
    )

    patient = mme_patient_from_case_record(record, patient_id="N1-000042")

    assert patient == {
        "id": "N1-000042",
        "label": "fam12-proband",
        "contact": {
            "name": "Dr A. Example",
            "href": "mailto:mme@example.org",
            "email": "mme@example.org",
        },
        "disorders": [{"id": "Orphanet:404454"}],
        "features": [{"id": "HP:0001250", "observed": "yes"}],
        "genomicFeatures": [
            {
                "gene": {"id": "NGLY1"},
                "variant": {"assembly": "GRCh38", "referenceName": "M", "start": 10},
                "zygosity": 1,
            }
        ],
    }


def test_writing_an_mme_patient_needs_a_contact_and_something_to_match() -> None:
    feature = (FeatureRecord("HP:0001250"),)
    with pytest.raises(ValueError, match="contact"):
        mme_patient_from_case_record(CaseRecord("x", features=feature), patient_id="p1")
    contact = ContactRecord(name="Dr A", href="https://example.org/contact")
    with pytest.raises(ValueError, match="at least one feature"):
        mme_patient_from_case_record(CaseRecord("x", contact=contact), patient_id="p1")


def test_an_mme_patient_crosses_into_a_phenopacket(
    benchmark_patients: list[dict[str, Any]],
) -> None:
    record = case_record_from_mme_patient(benchmark_patients[0])

    again = case_record_from_phenopacket(write_phenopacket(record))

    # What Phenopacket v2 has no place for: the contact and the test flag. Zygosity comes back
    # as the allelic state it was written as.
    assert again == dataclasses.replace(
        record,
        contact=ContactRecord(),
        is_test=False,
        genomic_features=tuple(
            dataclasses.replace(feature, allelic_state_id=HETEROZYGOUS)
            for feature in record.genomic_features
        ),
        case_terms_as_features=True,
    )


# --- Reading files -----------------------------------------------------------------------------


def test_it_streams_gzipped_json_lines_past_a_broken_line(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as file:
        file.write(json.dumps({"id": "a"}) + "\n")
        file.write('{"id": "b", \n')
        file.write("\n")
        file.write("[1, 2]\n")
        file.write(json.dumps({"id": "c"}) + "\n")

    items = list(read_documents(path))

    assert [item.origin for item in items] == [
        "cases.jsonl.gz:1",
        "cases.jsonl.gz:2",
        "cases.jsonl.gz:4",
        "cases.jsonl.gz:5",
    ]
    assert [item.document for item in items] == [{"id": "a"}, None, None, {"id": "c"}]
    assert items[1].error is not None
    assert str(items[1].error).startswith("not valid JSON: ")
    assert "at column 13" in str(items[1].error)
    assert items[2].error is not None
    assert "is a JSON array, not an object" in str(items[2].error)


def test_it_detects_gzip_by_its_magic_bytes(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_bytes(gzip.compress(b'{"id": "a"}\n{"id": "b"}\n'))

    assert [item.document for item in read_documents(path)] == [{"id": "a"}, {"id": "b"}]


def test_a_truncated_gzip_file_is_reported_and_the_folder_read_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "upload"
    folder.mkdir()
    whole = gzip.compress(b"".join(b'{"id": "%d"}\n' % number for number in range(2000)))
    (folder / "a.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (folder / "b.json").write_text('{"id": "last"}')

    items = list(read_documents(folder))

    assert items[-1].document == {"id": "last"}
    assert items[-2].error is not None
    assert "cannot read the rest of the file" in str(items[-2].error)
    assert all(item.document is not None for item in items[:-2])


def test_it_reads_a_folder_in_name_order(tmp_path: Path) -> None:
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "b.json").write_text(json.dumps([{"id": "b0"}, {"id": "b1"}]))
    (folder / "a.jsonl").write_text('{"id": "a1"}\n{"id": "a2"}\n')
    (folder / "c.json.gz").write_bytes(gzip.compress(b'{"id": "c"}'))
    (folder / "d.json").write_text("{not json")
    (folder / "notes.txt").write_text("ignored")

    items = list(read_documents(folder))

    assert [item.origin for item in items] == [
        "upload/a.jsonl:1",
        "upload/a.jsonl:2",
        "upload/b.json[0]",
        "upload/b.json[1]",
        "upload/c.json.gz",
        "upload/d.json",
    ]
    assert items[-1].error is not None
    assert str(items[-1].error) == (
        "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"
    )


def test_it_reads_a_single_json_list(tmp_path: Path) -> None:
    path = tmp_path / "patients.json"
    path.write_text(json.dumps([mme_patient(), "not a patient"]))

    items = list(read_documents(path))

    assert items[0].document == mme_patient()
    assert items[0].error is None
    assert items[1].origin == "patients.json[1]"
    assert items[1].error is not None
    assert "is a JSON string, not an object" in items[1].error.message


# --- Reading uploads ---------------------------------------------------------------------------


def test_a_plain_stream_counts_its_size_and_is_left_at_its_start() -> None:
    stream = io.BytesIO(b'{"id": "a"}')
    stream.read(3)

    assert unpacked_size(stream, limit=5) == 11
    assert stream.tell() == 0


def test_a_gzip_stream_counts_its_unpacked_size() -> None:
    stream = io.BytesIO(gzip.compress(b"x" * 5000))

    assert unpacked_size(stream, limit=10_000) == 5000
    assert stream.tell() == 0


def test_a_gzip_bomb_is_counted_only_just_past_the_limit() -> None:
    stream = io.BytesIO(gzip.compress(b" " * (8 * 1024 * 1024), compresslevel=1))

    size = unpacked_size(stream, limit=10)

    # One chunk is read, not the whole bomb.
    assert 10 < size <= 1024 * 1024
    assert stream.tell() == 0


def test_a_corrupt_gzip_stream_counts_what_could_be_read() -> None:
    packed = gzip.compress(b"x" * 100_000)
    stream = io.BytesIO(packed[: len(packed) // 2])

    assert unpacked_size(stream, limit=1_000_000) < 100_000


def test_uploads_are_read_in_order_and_files_of_one_name_are_told_apart() -> None:
    files = [
        ("cases.jsonl", io.BytesIO(b'{"id": "a"}\n{"id": "b"}\n')),
        ("cases.jsonl", io.BytesIO(gzip.compress(b'{"id": "c"}\n'))),
        ("", io.BytesIO(b'[{"id": "d"}]')),
    ]

    read = read_uploads(files, max_documents=10)

    assert [item.origin for item in read] == [
        "cases.jsonl (file 1):1",
        "cases.jsonl (file 1):2",
        "cases.jsonl (file 2):1",
        "upload[0]",
    ]
    assert [item.document for item in read] == [{"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "d"}]


def test_uploads_past_the_document_cap_name_the_file_that_passed_it() -> None:
    files = [
        ("one.json", io.BytesIO(b'{"id": "a"}')),
        ("many.jsonl", io.BytesIO(b'{"id": "b"}\n{"id": "c"}\n')),
    ]

    with pytest.raises(TooManyDocumentsError) as raised:
        read_uploads(files, max_documents=2)

    assert (raised.value.name, raised.value.limit) == ("many.jsonl", 2)


def test_uploads_that_unpack_past_the_limit_together_are_refused_before_any_is_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(documents, "MAX_UNPACKED_BYTES", 1000)
    files = [
        ("a.json.gz", io.BytesIO(gzip.compress(b" " * 600 + b"{}"))),
        ("b.json", io.BytesIO(b"{not json" + b" " * 600)),
    ]

    with pytest.raises(UnpackedTooLargeError) as raised:
        read_uploads(files, max_documents=10)

    assert (raised.value.name, raised.value.limit) == ("b.json", 1000)


def test_parsing_documents_pairs_each_origin_with_its_record_or_error() -> None:
    sources = [
        SourceDocument(origin="a.json", document=phenopacket()),
        SourceDocument(origin="b.json", error=RecordFormatError("not valid JSON")),
        SourceDocument(origin="c.json", document=phenopacket(subject={"id": "p", "sex": "F"})),
    ]

    parsed = list(parse_documents(sources, case_record_from_phenopacket))

    assert [origin for origin, _ in parsed] == ["a.json", "b.json", "c.json"]
    assert isinstance(parsed[0][1], CaseRecord)
    assert parsed[1][1] is sources[1].error
    assert isinstance(parsed[2][1], RecordFormatError)
