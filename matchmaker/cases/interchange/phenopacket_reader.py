"""GA4GH Phenopacket v2 -> CaseRecord."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from matchmaker.cases.interchange.fields import (
    assembly_at,
    bool_at,
    chromosome_at,
    disorder_id_at,
    hpo_id_at,
    is_integer,
    json_type,
    object_at,
    objects_at,
    require_object,
    required_object_at,
    so_term_at,
    string_at,
    unique_features,
)
from matchmaker.cases.records import (
    ACMG_CLASSIFICATIONS,
    CaseRecord,
    DisorderRecord,
    FeatureRecord,
    GenomicFeatureRecord,
    RecordFormatError,
    VariantRecord,
)
from matchmaker.lib.variants import mme_start

# Phenopacket v2 `Sex` enum. MME has no UNKNOWN_SEX: it omits the field.
_SEX_FROM_PHENOPACKET = {
    "FEMALE": "FEMALE",
    "MALE": "MALE",
    "OTHER_SEX": "OTHER",
    "UNKNOWN_SEX": "",
}

HETEROZYGOUS = "GENO:0000135"
HOMOZYGOUS = "GENO:0000136"
HEMIZYGOUS = "GENO:0000134"
COMPOUND_HETEROZYGOUS = "GENO:0000402"
# MME zygosity counts affected copies: 1 for het and hemi (and each allele of a compound het).
_ZYGOSITY_FROM_GENO = {HETEROZYGOUS: 1, HEMIZYGOUS: 1, COMPOUND_HETEROZYGOUS: 1, HOMOZYGOUS: 2}
# Interpretations that say no diagnosis was made: their diagnosis.disease is not a disorder.
_UNDIAGNOSED_PROGRESS = frozenset({"IN_PROGRESS", "UNSOLVED"})
# An ISO 8601 duration as Phenopacket's Age carries it ("P3Y6M", "P2W", "P1DT12H").
_ISO8601_AGE = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$")


def case_record_from_phenopacket(document: Mapping[str, Any]) -> CaseRecord:
    """Read a GA4GH Phenopacket v2 document as a case; the phenopacket `id` becomes the label.

    Genes come from `interpretations[].diagnosis.genomicInterpretations[]` (a gene descriptor or a
    variation descriptor's `geneContext`); a variant with no gene, or a genomic interpretation
    marked REJECTED, is left out with a note. Disorders come from `diseases[]` (excluded ones
    are not disorders) and from each diagnosis whose progress is not IN_PROGRESS or UNSOLVED.
    Onsets are kept as an HPO term or as an ISO 8601 age; a gestational age or a time stamp is
    left out with a note. A term that is both observed and excluded is an error.
    """
    require_object(document, "", what="a phenopacket")
    label = string_at(document, "id", "", required=True)
    meta_data = object_at(document, "metaData", "")
    if meta_data is not None:
        version = string_at(meta_data, "phenopacketSchemaVersion", "metaData")
        if version.startswith("1"):
            raise RecordFormatError(
                f"is {version!r}; only Phenopacket v2 is supported",
                field="metaData.phenopacketSchemaVersion",
            )
    notes: list[str] = []

    sex = ""
    subject = object_at(document, "subject", "")
    if subject is not None:
        submitted_sex = string_at(subject, "sex", "subject")
        if submitted_sex:
            if submitted_sex not in _SEX_FROM_PHENOPACKET:
                raise RecordFormatError(
                    f"{submitted_sex!r} is not one of {', '.join(_SEX_FROM_PHENOPACKET)}",
                    field="subject.sex",
                )
            sex = _SEX_FROM_PHENOPACKET[submitted_sex]

    features: list[tuple[str, FeatureRecord]] = []
    for path, feature in objects_at(document, "phenotypicFeatures", ""):
        term = required_object_at(feature, "type", path)
        excluded = bool_at(feature, "excluded", path)
        hpo_id = hpo_id_at(term, "id", f"{path}.type", required=True)
        onset_hpo_id, onset_age = _phenopacket_onset(
            feature, path, notes=notes, what=f"onset of {hpo_id}"
        )
        features.append(
            (
                path,
                FeatureRecord(
                    hpo_id=hpo_id,
                    observed=not excluded,
                    onset_hpo_id=onset_hpo_id,
                    label=string_at(term, "label", f"{path}.type"),
                    onset_age=onset_age,
                ),
            )
        )

    disorders: dict[str, DisorderRecord] = {}
    excluded_disorders: set[str] = set()
    age_of_onset = onset_age = ""
    for path, disease in objects_at(document, "diseases", ""):
        term = required_object_at(disease, "term", path)
        disorder_id = disorder_id_at(term, "id", f"{path}.term")
        if bool_at(disease, "excluded", path):
            excluded_disorders.add(disorder_id)
            notes.append(f"excluded disease: {disorder_id}")
            continue
        disorders.setdefault(
            disorder_id,
            DisorderRecord(disorder_id, label=string_at(term, "label", f"{path}.term")),
        )
        # The case has one onset: the first disease's that has one.
        if not (age_of_onset or onset_age):
            age_of_onset, onset_age = _phenopacket_onset(
                disease, path, notes=notes, what=f"onset of {disorder_id}"
            )

    genomic_features: list[GenomicFeatureRecord] = []
    for path, interpretation in objects_at(document, "interpretations", ""):
        progress = string_at(interpretation, "progressStatus", path)
        diagnosis = object_at(interpretation, "diagnosis", path)
        if diagnosis is None:
            continue
        diagnosis_path = f"{path}.diagnosis"
        diagnosed = object_at(diagnosis, "disease", diagnosis_path)
        if diagnosed is not None:
            disorder_id = disorder_id_at(diagnosed, "id", f"{diagnosis_path}.disease")
            if progress not in _UNDIAGNOSED_PROGRESS:
                if disorder_id in excluded_disorders:
                    raise RecordFormatError(
                        f"{disorder_id} is the diagnosis but diseases[] lists it as excluded",
                        field=f"{diagnosis_path}.disease.id",
                    )
                disorders.setdefault(
                    disorder_id,
                    DisorderRecord(
                        disorder_id,
                        label=string_at(diagnosed, "label", f"{diagnosis_path}.disease"),
                    ),
                )
        for genomic_path, genomic_interpretation in objects_at(
            diagnosis, "genomicInterpretations", diagnosis_path
        ):
            genomic_feature = _genomic_feature_from_interpretation(
                genomic_interpretation, genomic_path, notes=notes
            )
            if genomic_feature is not None:
                genomic_features.append(genomic_feature)

    external_references: dict[str, None] = {}
    if meta_data is not None:
        for path, reference in objects_at(meta_data, "externalReferences", "metaData"):
            reference_id = string_at(reference, "id", path) or string_at(
                reference, "reference", path
            )
            if reference_id:
                external_references[reference_id] = None

    return CaseRecord(
        label=label,
        features=unique_features(features),
        genomic_features=tuple(genomic_features),
        disorders=tuple(disorders.values()),
        sex=sex,
        age_of_onset=age_of_onset,
        onset_age=onset_age,
        case_terms_as_features=True,
        external_references=tuple(external_references),
        notes=tuple(notes),
    )


def _phenopacket_onset(
    parent: Mapping[str, Any], path: str, *, notes: list[str], what: str
) -> tuple[str, str]:
    """(HPO onset id, ISO 8601 age) of `parent.onset`, a TimeElement; at most one is set.

    Other kinds of time element (a gestational age, a time stamp, an age range) and terms of
    other ontologies have no place in a case; they are left out with a note.
    """
    onset = object_at(parent, "onset", path)
    if onset is None:
        return "", ""
    onset_path = f"{path}.onset"
    term = object_at(onset, "ontologyClass", onset_path)
    if term is not None:
        term_path = f"{onset_path}.ontologyClass"
        term_id = string_at(term, "id", term_path, required=True).strip()
        if not term_id.startswith("HP:"):
            notes.append(f"{what}: {term_id} is not an HPO onset term; left out")
            return "", ""
        return hpo_id_at(term, "id", term_path, required=True), ""
    age = object_at(onset, "age", onset_path)
    if age is not None:
        duration = string_at(age, "iso8601duration", f"{onset_path}.age", required=True).strip()
        if not _ISO8601_AGE.match(duration):
            raise RecordFormatError(
                f"{duration!r} is not an ISO 8601 duration such as P3Y6M",
                field=f"{onset_path}.age.iso8601duration",
            )
        return "", duration
    kinds = ", ".join(sorted(key for key in onset if isinstance(key, str))) or "nothing"
    notes.append(f"{what}: given as {kinds}, which a case cannot hold; left out")
    return "", ""


def _genomic_feature_from_interpretation(
    interpretation: Mapping[str, Any], path: str, *, notes: list[str]
) -> GenomicFeatureRecord | None:
    status = string_at(interpretation, "interpretationStatus", path)
    gene = object_at(interpretation, "gene", path)
    variant_interpretation = object_at(interpretation, "variantInterpretation", path)
    if gene is not None:
        gene_id, symbol = _gene_descriptor(gene, f"{path}.gene")
        feature = GenomicFeatureRecord(gene_id=gene_id, gene_symbol=symbol)
    elif variant_interpretation is not None:
        descriptor_path = f"{path}.variantInterpretation.variationDescriptor"
        descriptor = required_object_at(
            variant_interpretation, "variationDescriptor", f"{path}.variantInterpretation"
        )
        zygosity = None
        state_id = ""
        allelic_state = object_at(descriptor, "allelicState", descriptor_path)
        if allelic_state is not None:
            state_id = string_at(allelic_state, "id", f"{descriptor_path}.allelicState").strip()
            zygosity = _ZYGOSITY_FROM_GENO.get(state_id)
        type_id, type_label = so_term_at(descriptor, "structuralType", descriptor_path)
        variant = _variant_from_vcf_record(descriptor, descriptor_path)
        gene_context = object_at(descriptor, "geneContext", descriptor_path)
        if gene_context is None:
            notes.append(f"no gene: {_describe_variation(descriptor)}")
            return None
        gene_id, symbol = _gene_descriptor(gene_context, f"{descriptor_path}.geneContext")
        feature = GenomicFeatureRecord(
            gene_id=gene_id,
            variant=variant,
            zygosity=zygosity,
            variant_type_id=type_id,
            variant_type_label=type_label,
            gene_symbol=symbol,
            hgvs_expressions=_expressions(descriptor, descriptor_path),
            acmg_classification=_acmg_classification(
                variant_interpretation, f"{path}.variantInterpretation"
            ),
            allelic_state_id=state_id if state_id in _ZYGOSITY_FROM_GENO else "",
            variant_label=string_at(descriptor, "label", descriptor_path).strip(),
        )
    else:
        raise RecordFormatError("needs a gene or a variantInterpretation", field=path)
    if status == "REJECTED":
        notes.append(f"rejected by the curator: {feature.gene_symbol or feature.gene_id}")
        return None
    return feature


def _expressions(descriptor: Mapping[str, Any], path: str) -> tuple[tuple[str, str], ...]:
    """(syntax, value) of each `expressions[]` entry, as submitted (HGVS and any other syntax)."""
    expressions: dict[tuple[str, str], None] = {}
    for expression_path, expression in objects_at(descriptor, "expressions", path):
        syntax = string_at(expression, "syntax", expression_path, required=True).strip()
        value = string_at(expression, "value", expression_path, required=True).strip()
        expressions[(syntax, value)] = None
    return tuple(expressions)


def _acmg_classification(variant_interpretation: Mapping[str, Any], path: str) -> str:
    value = string_at(variant_interpretation, "acmgPathogenicityClassification", path).strip()
    if value in ("", "NOT_PROVIDED"):
        return ""
    if value not in ACMG_CLASSIFICATIONS:
        raise RecordFormatError(
            f"{value!r} is not one of NOT_PROVIDED, {', '.join(ACMG_CLASSIFICATIONS)}",
            field=f"{path}.acmgPathogenicityClassification",
        )
    return value


def _gene_descriptor(gene: Mapping[str, Any], path: str) -> tuple[str, str]:
    """(gene_id, gene_symbol): the structured id, with the symbol kept only when it differs."""
    value_id = string_at(gene, "valueId", path).strip()
    symbol = string_at(gene, "symbol", path).strip()
    gene_id = value_id or symbol
    if not gene_id:
        raise RecordFormatError("needs a valueId or a symbol", field=path)
    return gene_id, "" if symbol == gene_id else symbol


def _variant_from_vcf_record(descriptor: Mapping[str, Any], path: str) -> VariantRecord | None:
    vcf = object_at(descriptor, "vcfRecord", path)
    if vcf is None:
        return None
    path = f"{path}.vcfRecord"
    position = vcf.get("pos")
    # Protobuf's JSON mapping writes 64-bit integers as strings, so "12345" is as valid as 12345.
    if isinstance(position, str) and position.isdigit():
        position = int(position)
    if not is_integer(position):
        raise RecordFormatError(
            f"must be an integer, not {json_type(position)}", field=f"{path}.pos"
        )
    if position < 1:
        raise RecordFormatError(
            "must be 1 or more (VCF positions are 1-based)", field=f"{path}.pos"
        )
    reference_bases = string_at(vcf, "ref", path)
    # MME positions are 0-based and the end exclusive: VCF `pos` 1 is MME `start` 0.
    start = mme_start(position)
    return VariantRecord(
        assembly=assembly_at(vcf, "genomeAssembly", path),
        reference_name=chromosome_at(vcf, "chrom", path),
        start=start,
        end=start + len(reference_bases) if reference_bases else None,
        reference_bases=reference_bases,
        alternate_bases=string_at(vcf, "alt", path),
    )


def _describe_variation(descriptor: Mapping[str, Any]) -> str:
    for key in ("label", "description", "id"):
        value = descriptor.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return "a variant"
