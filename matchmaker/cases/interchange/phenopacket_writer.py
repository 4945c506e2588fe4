"""CaseRecord -> GA4GH Phenopacket v2."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from matchmaker.cases.interchange.phenopacket_reader import (
    COMPOUND_HETEROZYGOUS,
    HEMIZYGOUS,
    HETEROZYGOUS,
    HOMOZYGOUS,
)
from matchmaker.cases.records import CaseRecord, FeatureRecord, GenomicFeatureRecord
from matchmaker.lib.variants import vcf_position
from ontologies.genes import GeneCatalogue

# MIXED_SAMPLE and NOT_APPLICABLE have no Phenopacket equivalent; neither is OTHER_SEX
# ("not male or female"), so they become UNKNOWN_SEX.
_SEX_TO_PHENOPACKET = {"FEMALE": "FEMALE", "MALE": "MALE", "OTHER": "OTHER_SEX"}
_ALLELIC_STATE_FROM_ZYGOSITY = {
    1: {"id": HETEROZYGOUS, "label": "heterozygous"},
    2: {"id": HOMOZYGOUS, "label": "homozygous"},
}
_ALLELIC_STATE_LABELS = {
    HETEROZYGOUS: "heterozygous",
    HOMOZYGOUS: "homozygous",
    HEMIZYGOUS: "hemizygous",
    COMPOUND_HETEROZYGOUS: "compound heterozygous",
}

# Labels of the onset terms (HP:0003674 subtree) the writers emit, since OntologyClass requires
# a label and the record keeps only the id.
_ONSET_LABELS = {
    "HP:0003674": "Onset",
    "HP:0003577": "Congenital onset",
    "HP:0003581": "Adult onset",
    "HP:0003584": "Late onset",
    "HP:0003593": "Infantile onset",
    "HP:0003596": "Middle age onset",
    "HP:0003621": "Juvenile onset",
    "HP:0003623": "Neonatal onset",
    "HP:0011460": "Embryonal onset",
    "HP:0011461": "Fetal onset",
    "HP:0011462": "Young adult onset",
    "HP:0011463": "Childhood onset",
    "HP:0025708": "Early young adult onset",
    "HP:0025709": "Intermediate young adult onset",
    "HP:0025710": "Late young adult onset",
    "HP:0030674": "Antenatal onset",
    "HP:0034197": "Third trimester onset",
    "HP:0034198": "Second trimester onset",
    "HP:0034199": "Late first trimester onset",
    "HP:0410280": "Pediatric onset",
}

# metaData.resources, keyed by CURIE prefix, in the order they are written. Versions other than
# the HPO's are unknown to the node; the schema requires the field, so it is left empty.
_RESOURCES: dict[str, dict[str, str]] = {
    "HP": {
        "id": "hp",
        "name": "human phenotype ontology",
        "url": "http://purl.obolibrary.org/obo/hp.owl",
        "iriPrefix": "http://purl.obolibrary.org/obo/HP_",
    },
    "OMIM": {
        "id": "omim",
        "name": "An Online Catalog of Human Genes and Genetic Disorders",
        "url": "https://www.omim.org",
        "iriPrefix": "https://www.omim.org/entry/",
    },
    "ORPHA": {
        "id": "orpha",
        "name": "Orphanet Rare Disease Ontology",
        "url": "http://www.orpha.net/ontology/orphanet.owl",
        "iriPrefix": "http://www.orpha.net/ORDO/Orphanet_",
    },
    "MONDO": {
        "id": "mondo",
        "name": "Mondo Disease Ontology",
        "url": "http://purl.obolibrary.org/obo/mondo.obo",
        "iriPrefix": "http://purl.obolibrary.org/obo/MONDO_",
    },
    "SO": {
        "id": "so",
        "name": "Sequence types and features ontology",
        "url": "http://purl.obolibrary.org/obo/so.obo",
        "iriPrefix": "http://purl.obolibrary.org/obo/SO_",
    },
    "GENO": {
        "id": "geno",
        "name": "Genotype Ontology",
        "url": "http://purl.obolibrary.org/obo/geno.owl",
        "iriPrefix": "http://purl.obolibrary.org/obo/GENO_",
    },
    "HGNC": {
        "id": "hgnc",
        "name": "HUGO Gene Nomenclature Committee",
        "url": "https://www.genenames.org",
        "iriPrefix": "https://www.genenames.org/data/gene-symbol-report/#!/hgnc_id/",
    },
    "NCBIGene": {
        "id": "ncbigene",
        "name": "NCBI Gene",
        "url": "https://www.ncbi.nlm.nih.gov/gene",
        "iriPrefix": "https://www.ncbi.nlm.nih.gov/gene/",
    },
    "ENSEMBL": {
        "id": "ensembl",
        "name": "Ensembl",
        "url": "https://www.ensembl.org",
        "iriPrefix": "https://identifiers.org/ensembl:",
    },
}
_PUBMED_ID = re.compile(r"^PMID:(\d+)$")


def phenopacket_from_case_record(
    record: CaseRecord,
    *,
    subject_id: str,
    created_by: str,
    hpo_release: str = "",
    created: datetime | None = None,
    term_label: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Write a case as a Phenopacket v2 document whose `id` is the record's label.

    Phenopacket v2 has no place for the contact, the `extra` fields, the test flag or the notes;
    they are not written. It has no field for the mode of inheritance either: it is written as
    an observed phenotypic feature (the HPO term, as many phenopackets carry it), and so is the
    onset term of a case with no disorder to hang it on (an onset given as an age is then
    lost). The allelic state is written as submitted; without it, zygosity 1 is written as
    heterozygous. A variant's `end` is not written: a reader derives it from the reference
    bases. Genes keep the id they were submitted with when it was an HGNC, Entrez or Ensembl
    id. `term_label` names onset and inheritance terms (OntologyClass requires a label).
    `created` defaults to now and must be timezone-aware.
    """
    if not record.label:
        raise ValueError("a phenopacket needs an id: the record has no label")
    created = created or datetime.now(tz=UTC)
    if created.tzinfo is None:
        raise ValueError("created must be a timezone-aware datetime")
    prefixes = {"HP"}

    document: dict[str, Any] = {
        "id": record.label,
        "subject": {"id": subject_id, "sex": _SEX_TO_PHENOPACKET.get(record.sex, "UNKNOWN_SEX")},
    }

    def label_of(hpo_id: str) -> str:
        return (term_label(hpo_id) if term_label else "") or _ONSET_LABELS.get(hpo_id, "")

    features = [_phenotypic_feature(feature, label_of) for feature in record.features]
    if record.inheritance_mode:
        features.append(
            {"type": {"id": record.inheritance_mode, "label": label_of(record.inheritance_mode)}}
        )
    if record.age_of_onset and not record.disorders:
        features.append(
            {"type": {"id": record.age_of_onset, "label": label_of(record.age_of_onset)}}
        )
    if features:
        document["phenotypicFeatures"] = features

    if record.genomic_features or record.disorders:
        document["interpretations"] = [_interpretation(record, subject_id=subject_id)]
        for genomic_feature in record.genomic_features:
            prefixes.add(_gene_value_id(genomic_feature).partition(":")[0])
            if genomic_feature.variant_type_id:
                prefixes.add("SO")
            if (
                genomic_feature.allelic_state_id
                or genomic_feature.zygosity in _ALLELIC_STATE_FROM_ZYGOSITY
            ):
                prefixes.add("GENO")

    diseases: list[dict[str, Any]] = []
    for index, disorder in enumerate(record.disorders):
        prefixes.add(disorder.disorder_id.partition(":")[0])
        disease: dict[str, Any] = {"term": {"id": disorder.disorder_id, "label": disorder.label}}
        # The record has one onset for the case, and the first disease is the diagnosis.
        # Onset is a TimeElement, one of a term or an age: the term when both are known.
        if index == 0 and record.age_of_onset:
            disease["onset"] = {
                "ontologyClass": {
                    "id": record.age_of_onset,
                    "label": label_of(record.age_of_onset),
                }
            }
        elif index == 0 and record.onset_age:
            disease["onset"] = {"age": {"iso8601duration": record.onset_age}}
        diseases.append(disease)
    if diseases:
        document["diseases"] = diseases

    resources = []
    for prefix, resource in _RESOURCES.items():
        if prefix in prefixes:
            version = hpo_release if prefix == "HP" else ""
            resources.append({**resource, "version": version, "namespacePrefix": prefix})
    meta_data: dict[str, Any] = {
        "created": created.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "createdBy": created_by,
        "resources": resources,
        "phenopacketSchemaVersion": "2.0",
    }
    if record.external_references:
        meta_data["externalReferences"] = [
            _external_reference(reference) for reference in record.external_references
        ]
    document["metaData"] = meta_data
    return document


def _phenotypic_feature(feature: FeatureRecord, label_of: Callable[[str], str]) -> dict[str, Any]:
    written: dict[str, Any] = {"type": {"id": feature.hpo_id, "label": feature.label}}
    if not feature.observed:
        written["excluded"] = True
    if feature.onset_hpo_id:
        written["onset"] = {
            "ontologyClass": {"id": feature.onset_hpo_id, "label": label_of(feature.onset_hpo_id)}
        }
    elif feature.onset_age:
        written["onset"] = {"age": {"iso8601duration": feature.onset_age}}
    return written


def _interpretation(record: CaseRecord, *, subject_id: str) -> dict[str, Any]:
    diagnosis: dict[str, Any] = {}
    if record.disorders:
        first = record.disorders[0]
        diagnosis["disease"] = {"id": first.disorder_id, "label": first.label}
        progress, status = "SOLVED", "CAUSATIVE"
    else:
        # Genomic interpretations live only inside a Diagnosis. An unsolved case with candidate
        # genes gets a Diagnosis without a disease rather than an invented one: the schema
        # marks Diagnosis.disease required, but a placeholder disease would be read by other
        # tools as a diagnosis. progressStatus UNSOLVED says no diagnosis was made.
        progress, status = "UNSOLVED", "CANDIDATE"
    genomic_interpretations = [
        _genomic_interpretation(feature, number, subject_id=subject_id, status=status)
        for number, feature in enumerate(record.genomic_features, start=1)
    ]
    if genomic_interpretations:
        diagnosis["genomicInterpretations"] = genomic_interpretations
    return {"id": subject_id, "progressStatus": progress, "diagnosis": diagnosis}


def _genomic_interpretation(
    feature: GenomicFeatureRecord, number: int, *, subject_id: str, status: str
) -> dict[str, Any]:
    # GeneDescriptor requires both fields; a record from MME may only know the symbol.
    gene = {"valueId": _gene_value_id(feature), "symbol": feature.gene_symbol or feature.gene_id}
    written: dict[str, Any] = {"subjectOrBiosampleId": subject_id, "interpretationStatus": status}
    if (
        feature.variant is None
        and feature.zygosity is None
        and not feature.variant_type_id
        and not feature.hgvs_expressions
        and not feature.acmg_classification
        and not feature.allelic_state_id
        and not feature.variant_label
    ):
        written["gene"] = gene
        return written
    descriptor: dict[str, Any] = {"id": f"{subject_id}-variant-{number}"}
    if feature.variant_label:
        descriptor["label"] = feature.variant_label
    descriptor["geneContext"] = gene
    if feature.hgvs_expressions:
        descriptor["expressions"] = [
            {"syntax": syntax, "value": value} for syntax, value in feature.hgvs_expressions
        ]
    descriptor["moleculeContext"] = "genomic"
    variant = feature.variant
    if variant is not None:
        descriptor["vcfRecord"] = {
            "genomeAssembly": variant.assembly,
            "chrom": "chrM" if variant.reference_name == "MT" else f"chr{variant.reference_name}",
            "pos": vcf_position(variant.start),
            "ref": variant.reference_bases,
            "alt": variant.alternate_bases,
        }
    if feature.variant_type_id:
        descriptor["structuralType"] = {
            "id": feature.variant_type_id,
            "label": feature.variant_type_label,
        }
    if feature.allelic_state_id:
        descriptor["allelicState"] = {
            "id": feature.allelic_state_id,
            "label": _ALLELIC_STATE_LABELS.get(feature.allelic_state_id, ""),
        }
    elif feature.zygosity in _ALLELIC_STATE_FROM_ZYGOSITY:
        descriptor["allelicState"] = dict(_ALLELIC_STATE_FROM_ZYGOSITY[feature.zygosity])
    variant_interpretation: dict[str, Any] = {}
    if feature.acmg_classification:
        variant_interpretation["acmgPathogenicityClassification"] = feature.acmg_classification
    variant_interpretation["variationDescriptor"] = descriptor
    written["variantInterpretation"] = variant_interpretation
    return written


def _gene_value_id(feature: GenomicFeatureRecord) -> str:
    """GeneDescriptor.valueId: the id as submitted, or the node's canonical id for a symbol."""
    if GeneCatalogue.identifier_kind(feature.gene_id) != "symbol":
        return feature.gene_id.strip()
    return feature.canonical_gene_id or feature.gene_id


def _external_reference(reference: str) -> dict[str, str]:
    written = {"id": reference}
    if match := _PUBMED_ID.match(reference):
        written["reference"] = f"https://pubmed.ncbi.nlm.nih.gov/{match.group(1)}"
    return written
