"""Read and write cases as GA4GH Phenopacket v2 and MME patient JSON, through `CaseRecord`.

Pure mapping: no database and no Django, so it can be used and tested anywhere. The readers check
the *shape* of a document and raise `RecordFormatError` naming the JSON path of the problem
(`phenotypicFeatures[3].type.id`). Whether an HPO term exists or a gene is known is decided later
by `cases.services` against the loaded ontology and gene catalogue.

What a reader cannot carry into the record (a variant without a gene, a gene the curator
rejected) goes into `CaseRecord.notes` so the importer can show it. Fields with no place in the
target format are dropped by the writers; each writer's docstring lists them.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

from matchmaker.cases.records import (
    SEX_VALUES,
    CaseRecord,
    ContactRecord,
    DisorderRecord,
    FeatureRecord,
    GenomicFeatureRecord,
    RecordFormatError,
    VariantRecord,
)

JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
# What read_documents picks up from a folder (compared in lower case).
FOLDER_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")
_GZIP_MAGIC = b"\x1f\x8b"

_HPO_ID = re.compile(r"^HP:\d{7}$")
_SO_ID = re.compile(r"^SO:\d{7}$")
_DISORDER_ID = re.compile(r"^(OMIM|MIM|ORPHA|ORPHANET|MONDO):(\d+)$", re.IGNORECASE)
_DISORDER_PREFIXES = {
    "OMIM": "OMIM",
    "MIM": "OMIM",
    "ORPHA": "ORPHA",
    "ORPHANET": "ORPHA",
    "MONDO": "MONDO",
}
_ASSEMBLIES = {
    "ncbi36": "NCBI36",
    "hg18": "NCBI36",
    "grch37": "GRCh37",
    "hg19": "GRCh37",
    "grch38": "GRCh38",
    "hg38": "GRCh38",
}
# Patch releases (GRCh37.p13) keep the coordinates of the primary chromosomes, so the record keeps
# only the assembly.
_ASSEMBLY_PATCH = re.compile(r"\.p\d+$", re.IGNORECASE)
# "MT" is the GRC name; MME's reference schema spells it "M", UCSC "chrM".
CHROMOSOMES = frozenset([*(str(number) for number in range(1, 23)), "X", "Y", "MT"])

# Phenopacket v2 `Sex` enum. MME has no UNKNOWN_SEX: it omits the field.
_SEX_FROM_PHENOPACKET = {
    "FEMALE": "FEMALE",
    "MALE": "MALE",
    "OTHER_SEX": "OTHER",
    "UNKNOWN_SEX": "",
}
# MIXED_SAMPLE and NOT_APPLICABLE have no Phenopacket equivalent; neither is OTHER_SEX
# ("not male or female"), so they become UNKNOWN_SEX.
_SEX_TO_PHENOPACKET = {"FEMALE": "FEMALE", "MALE": "MALE", "OTHER": "OTHER_SEX"}
_MME_SEX_VALUES = tuple(value for value in SEX_VALUES if value != "UNKNOWN_SEX")

HETEROZYGOUS = "GENO:0000135"
HOMOZYGOUS = "GENO:0000136"
HEMIZYGOUS = "GENO:0000134"
COMPOUND_HETEROZYGOUS = "GENO:0000402"
# MME zygosity counts affected copies: 1 for het and hemi (and each allele of a compound het).
_ZYGOSITY_FROM_GENO = {HETEROZYGOUS: 1, HEMIZYGOUS: 1, COMPOUND_HETEROZYGOUS: 1, HOMOZYGOUS: 2}
_ALLELIC_STATE_FROM_ZYGOSITY = {
    1: {"id": HETEROZYGOUS, "label": "heterozygous"},
    2: {"id": HOMOZYGOUS, "label": "homozygous"},
}
# Interpretations that say no diagnosis was made: their diagnosis.disease is not a disorder.
_UNDIAGNOSED_PROGRESS = frozenset({"IN_PROGRESS", "UNSOLVED"})
# Phenopacket v2 holds genes only inside a Diagnosis, whose `disease` is required; see
# _interpretation().
_PLACEHOLDER_DISEASE = {"id": "MONDO:0000001", "label": "disease"}

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


# --- Reading files -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """One JSON object read from a file, or why it could not be read; exactly one is set."""

    origin: str  # "cases.jsonl.gz:42" (line), "folder/x.json", "list.json[3]" (list item)
    document: dict[str, Any] | None = None
    error: RecordFormatError | None = None


def read_documents(path: Path) -> Iterator[SourceDocument]:
    """Yield every JSON object in a file or a folder of files, in order.

    `path` is one file (a JSON object, a JSON list of objects, or JSON lines when named .jsonl or
    .ndjson) or a folder, whose files ending in FOLDER_SUFFIXES are read in name order. Any file
    may be gzipped; that is detected from its first bytes, not its name. Text that is not JSON,
    or JSON that is not an object, becomes an item with `error` set (its message gives the
    line and column) and reading goes on. JSON lines are read one line at a time, so memory stays
    bounded by the longest line. A missing `path` raises FileNotFoundError.
    """
    if path.is_dir():
        files = sorted(
            child
            for child in path.iterdir()
            if child.is_file() and child.name.lower().endswith(FOLDER_SUFFIXES)
        )
        for file in files:
            yield from _read_file(file, origin=f"{path.name}/{file.name}")
    else:
        yield from _read_file(path, origin=path.name)


def _read_file(path: Path, *, origin: str) -> Iterator[SourceDocument]:
    is_json_lines = path.name.lower().removesuffix(".gz").endswith(JSON_LINES_SUFFIXES)
    with path.open("rb") as raw:
        is_gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        stream: io.BufferedIOBase = gzip.GzipFile(fileobj=raw, mode="rb") if is_gzipped else raw
        try:
            if is_json_lines:
                yield from _read_json_lines(stream, origin=origin)
            else:
                yield from _read_json_file(stream, origin=origin)
        except (OSError, EOFError, zlib.error) as error:
            # A truncated or corrupt gzip stream: what was read so far stands, the rest of this
            # file is lost, and the next file is still read.
            yield _failed(origin, f"cannot read the rest of the file ({error})")


def _read_json_lines(stream: io.BufferedIOBase, *, origin: str) -> Iterator[SourceDocument]:
    for number, raw_line in enumerate(stream, start=1):
        line_origin = f"{origin}:{number}"
        try:
            # utf-8-sig drops a byte order mark, which some editors put on the first line.
            line = raw_line.decode("utf-8-sig").rstrip("\r\n")
        except UnicodeDecodeError as error:
            yield _failed(line_origin, f"not UTF-8 text ({error.reason} at byte {error.start})")
            continue
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            yield _failed(line_origin, f"not valid JSON: {error.msg} at column {error.colno}")
            continue
        yield _as_source_document(value, origin=line_origin)


def _read_json_file(stream: io.BufferedIOBase, *, origin: str) -> Iterator[SourceDocument]:
    try:
        value = json.loads(stream.read().decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        yield _failed(origin, f"not UTF-8 text ({error.reason} at byte {error.start})")
        return
    except json.JSONDecodeError as error:
        yield _failed(
            origin, f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        )
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield _as_source_document(item, origin=f"{origin}[{index}]")
    else:
        yield _as_source_document(value, origin=origin)


def _as_source_document(value: Any, *, origin: str) -> SourceDocument:
    if isinstance(value, dict):
        return SourceDocument(origin=origin, document=value)
    return _failed(origin, f"is a JSON {_json_type(value)}, not an object")


def _failed(origin: str, message: str) -> SourceDocument:
    # The origin travels next to the error, and importers print both: it is not repeated here.
    return SourceDocument(origin=origin, error=RecordFormatError(message))


# --- Phenopacket v2 -> CaseRecord --------------------------------------------------------------


def case_record_from_phenopacket(document: Mapping[str, Any]) -> CaseRecord:
    """Read a GA4GH Phenopacket v2 document as a case; the phenopacket `id` becomes the label.

    Genes come from `interpretations[].diagnosis.genomicInterpretations[]` (a gene descriptor or a
    variation descriptor's `geneContext`); a variant with no gene, or a genomic interpretation
    marked REJECTED, is left out with a note. Disorders come from `diseases[]` (excluded ones
    are not disorders) and from each diagnosis whose progress is not IN_PROGRESS or UNSOLVED.
    Age-based onsets are ignored; only HPO onset terms are kept. A term that is both observed and
    excluded is an error.
    """
    _require_object(document, "", what="a phenopacket")
    label = _string_at(document, "id", "", required=True)
    meta_data = _object_at(document, "metaData", "")
    if meta_data is not None:
        version = _string_at(meta_data, "phenopacketSchemaVersion", "metaData")
        if version.startswith("1"):
            raise RecordFormatError(
                f"is {version!r}; only Phenopacket v2 is supported",
                field="metaData.phenopacketSchemaVersion",
            )
    notes: list[str] = []

    sex = ""
    subject = _object_at(document, "subject", "")
    if subject is not None:
        submitted_sex = _string_at(subject, "sex", "subject")
        if submitted_sex:
            if submitted_sex not in _SEX_FROM_PHENOPACKET:
                raise RecordFormatError(
                    f"{submitted_sex!r} is not one of {', '.join(_SEX_FROM_PHENOPACKET)}",
                    field="subject.sex",
                )
            sex = _SEX_FROM_PHENOPACKET[submitted_sex]

    features: list[tuple[str, FeatureRecord]] = []
    for path, feature in _objects_at(document, "phenotypicFeatures", ""):
        term = _required_object_at(feature, "type", path)
        excluded = _bool_at(feature, "excluded", path)
        features.append(
            (
                path,
                FeatureRecord(
                    hpo_id=_hpo_id_at(term, "id", f"{path}.type", required=True),
                    observed=not excluded,
                    onset_hpo_id=_phenopacket_onset(feature, path),
                    label=_string_at(term, "label", f"{path}.type"),
                ),
            )
        )

    disorders: dict[str, DisorderRecord] = {}
    excluded_disorders: set[str] = set()
    age_of_onset = ""
    for path, disease in _objects_at(document, "diseases", ""):
        term = _required_object_at(disease, "term", path)
        disorder_id = _disorder_id_at(term, "id", f"{path}.term")
        onset = _phenopacket_onset(disease, path)
        if _bool_at(disease, "excluded", path):
            excluded_disorders.add(disorder_id)
            notes.append(f"excluded disease: {disorder_id}")
            continue
        disorders.setdefault(
            disorder_id,
            DisorderRecord(disorder_id, label=_string_at(term, "label", f"{path}.term")),
        )
        age_of_onset = age_of_onset or onset

    genomic_features: list[GenomicFeatureRecord] = []
    for path, interpretation in _objects_at(document, "interpretations", ""):
        progress = _string_at(interpretation, "progressStatus", path)
        diagnosis = _object_at(interpretation, "diagnosis", path)
        if diagnosis is None:
            continue
        diagnosis_path = f"{path}.diagnosis"
        diagnosed = _object_at(diagnosis, "disease", diagnosis_path)
        if diagnosed is not None:
            disorder_id = _disorder_id_at(diagnosed, "id", f"{diagnosis_path}.disease")
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
                        label=_string_at(diagnosed, "label", f"{diagnosis_path}.disease"),
                    ),
                )
        for genomic_path, genomic_interpretation in _objects_at(
            diagnosis, "genomicInterpretations", diagnosis_path
        ):
            genomic_feature = _genomic_feature_from_interpretation(
                genomic_interpretation, genomic_path, notes=notes
            )
            if genomic_feature is not None:
                genomic_features.append(genomic_feature)

    external_references: dict[str, None] = {}
    if meta_data is not None:
        for path, reference in _objects_at(meta_data, "externalReferences", "metaData"):
            reference_id = _string_at(reference, "id", path) or _string_at(
                reference, "reference", path
            )
            if reference_id:
                external_references[reference_id] = None

    return CaseRecord(
        label=label,
        features=_unique_features(features),
        genomic_features=tuple(genomic_features),
        disorders=tuple(disorders.values()),
        sex=sex,
        age_of_onset=age_of_onset,
        external_references=tuple(external_references),
        notes=tuple(notes),
    )


def _phenopacket_onset(parent: Mapping[str, Any], path: str) -> str:
    """The HPO id of `parent.onset.ontologyClass`; "" for an age, or a term of another ontology."""
    onset = _object_at(parent, "onset", path)
    if onset is None:
        return ""
    term = _object_at(onset, "ontologyClass", f"{path}.onset")
    if term is None:
        return ""
    term_path = f"{path}.onset.ontologyClass"
    if not _string_at(term, "id", term_path, required=True).strip().startswith("HP:"):
        return ""
    return _hpo_id_at(term, "id", term_path, required=True)


def _genomic_feature_from_interpretation(
    interpretation: Mapping[str, Any], path: str, *, notes: list[str]
) -> GenomicFeatureRecord | None:
    status = _string_at(interpretation, "interpretationStatus", path)
    gene = _object_at(interpretation, "gene", path)
    variant_interpretation = _object_at(interpretation, "variantInterpretation", path)
    if gene is not None:
        gene_id, symbol = _gene_descriptor(gene, f"{path}.gene")
        feature = GenomicFeatureRecord(gene_id=gene_id, gene_symbol=symbol)
    elif variant_interpretation is not None:
        descriptor_path = f"{path}.variantInterpretation.variationDescriptor"
        descriptor = _required_object_at(
            variant_interpretation, "variationDescriptor", f"{path}.variantInterpretation"
        )
        zygosity = None
        allelic_state = _object_at(descriptor, "allelicState", descriptor_path)
        if allelic_state is not None:
            state_id = _string_at(allelic_state, "id", f"{descriptor_path}.allelicState")
            zygosity = _ZYGOSITY_FROM_GENO.get(state_id)
        type_id, type_label = "", ""
        structural_type = _object_at(descriptor, "structuralType", descriptor_path)
        if structural_type is not None:
            type_path = f"{descriptor_path}.structuralType"
            type_id = _so_id_at(structural_type, "id", type_path)
            type_label = _string_at(structural_type, "label", type_path)
        variant = _variant_from_vcf_record(descriptor, descriptor_path)
        gene_context = _object_at(descriptor, "geneContext", descriptor_path)
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
        )
    else:
        raise RecordFormatError("needs a gene or a variantInterpretation", field=path)
    if status == "REJECTED":
        notes.append(f"rejected by the curator: {feature.gene_symbol or feature.gene_id}")
        return None
    return feature


def _gene_descriptor(gene: Mapping[str, Any], path: str) -> tuple[str, str]:
    """(gene_id, gene_symbol): the structured id, with the symbol kept only when it differs."""
    value_id = _string_at(gene, "valueId", path).strip()
    symbol = _string_at(gene, "symbol", path).strip()
    gene_id = value_id or symbol
    if not gene_id:
        raise RecordFormatError("needs a valueId or a symbol", field=path)
    return gene_id, "" if symbol == gene_id else symbol


def _variant_from_vcf_record(descriptor: Mapping[str, Any], path: str) -> VariantRecord | None:
    vcf = _object_at(descriptor, "vcfRecord", path)
    if vcf is None:
        return None
    path = f"{path}.vcfRecord"
    position = vcf.get("pos")
    # Protobuf's JSON mapping writes 64-bit integers as strings, so "12345" is as valid as 12345.
    if isinstance(position, str) and position.isdigit():
        position = int(position)
    if not _is_integer(position):
        raise RecordFormatError(
            f"must be an integer, not {_json_type(position)}", field=f"{path}.pos"
        )
    if position < 1:
        raise RecordFormatError(
            "must be 1 or more (VCF positions are 1-based)", field=f"{path}.pos"
        )
    reference_bases = _string_at(vcf, "ref", path)
    # MME positions are 0-based and the end exclusive: VCF `pos` 1 is MME `start` 0.
    start = position - 1
    return VariantRecord(
        assembly=_assembly_at(vcf, "genomeAssembly", path),
        reference_name=_chromosome_at(vcf, "chrom", path),
        start=start,
        end=start + len(reference_bases) if reference_bases else None,
        reference_bases=reference_bases,
        alternate_bases=_string_at(vcf, "alt", path),
    )


def _describe_variation(descriptor: Mapping[str, Any]) -> str:
    for key in ("label", "description", "id"):
        value = descriptor.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return "a variant"


# --- CaseRecord -> Phenopacket v2 --------------------------------------------------------------


def phenopacket_from_case_record(
    record: CaseRecord,
    *,
    subject_id: str,
    created_by: str,
    hpo_release: str = "",
    created: datetime | None = None,
) -> dict[str, Any]:
    """Write a case as a Phenopacket v2 document whose `id` is the record's label.

    Phenopacket v2 has no place for the contact, the inheritance mode, the `extra` fields, the
    test flag or the notes; they are not written. Zygosity 1 is written as heterozygous (the
    record does not tell het from hemi). A variant's `end` is not written: a reader derives it
    from the reference bases. `created` defaults to now and must be timezone-aware.
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
    features = [_phenotypic_feature(feature) for feature in record.features]
    if features:
        document["phenotypicFeatures"] = features

    if record.genomic_features or record.disorders:
        document["interpretations"] = [_interpretation(record, subject_id=subject_id)]
        if not record.disorders:
            prefixes.add("MONDO")
        for genomic_feature in record.genomic_features:
            prefixes.add(genomic_feature.gene_id.partition(":")[0])
            if genomic_feature.variant_type_id:
                prefixes.add("SO")
            if genomic_feature.zygosity in _ALLELIC_STATE_FROM_ZYGOSITY:
                prefixes.add("GENO")

    diseases: list[dict[str, Any]] = []
    for index, disorder in enumerate(record.disorders):
        prefixes.add(disorder.disorder_id.partition(":")[0])
        disease: dict[str, Any] = {"term": {"id": disorder.disorder_id, "label": disorder.label}}
        # The record has one onset for the case, and the first disease is the diagnosis.
        if index == 0 and record.age_of_onset:
            disease["onset"] = {"ontologyClass": _onset_term(record.age_of_onset)}
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


def _phenotypic_feature(feature: FeatureRecord) -> dict[str, Any]:
    written: dict[str, Any] = {"type": {"id": feature.hpo_id, "label": feature.label}}
    if not feature.observed:
        written["excluded"] = True
    if feature.onset_hpo_id:
        written["onset"] = {"ontologyClass": _onset_term(feature.onset_hpo_id)}
    return written


def _onset_term(hpo_id: str) -> dict[str, str]:
    return {"id": hpo_id, "label": _ONSET_LABELS.get(hpo_id, "")}


def _interpretation(record: CaseRecord, *, subject_id: str) -> dict[str, Any]:
    if record.disorders:
        first = record.disorders[0]
        disease = {"id": first.disorder_id, "label": first.label}
        progress, status = "SOLVED", "CAUSATIVE"
    else:
        # Genomic interpretations live only inside a Diagnosis, and Diagnosis.disease is
        # required. A case with candidate genes but no diagnosis therefore gets the MONDO root as
        # a placeholder, under progressStatus IN_PROGRESS ("no diagnosis has been found to
        # date") with CANDIDATE genes. Readers, ours included, must not take the disease of an
        # IN_PROGRESS interpretation as a disorder.
        disease = dict(_PLACEHOLDER_DISEASE)
        progress, status = "IN_PROGRESS", "CANDIDATE"
    genomic_interpretations = [
        _genomic_interpretation(feature, number, subject_id=subject_id, status=status)
        for number, feature in enumerate(record.genomic_features, start=1)
    ]
    diagnosis: dict[str, Any] = {"disease": disease}
    if genomic_interpretations:
        diagnosis["genomicInterpretations"] = genomic_interpretations
    return {"id": subject_id, "progressStatus": progress, "diagnosis": diagnosis}


def _genomic_interpretation(
    feature: GenomicFeatureRecord, number: int, *, subject_id: str, status: str
) -> dict[str, Any]:
    # GeneDescriptor requires both fields; a record from MME may only know the symbol.
    gene = {"valueId": feature.gene_id, "symbol": feature.gene_symbol or feature.gene_id}
    written: dict[str, Any] = {"subjectOrBiosampleId": subject_id, "interpretationStatus": status}
    if feature.variant is None and feature.zygosity is None and not feature.variant_type_id:
        written["gene"] = gene
        return written
    descriptor: dict[str, Any] = {
        "id": f"{subject_id}-variant-{number}",
        "geneContext": gene,
        "moleculeContext": "genomic",
    }
    variant = feature.variant
    if variant is not None:
        descriptor["vcfRecord"] = {
            "genomeAssembly": variant.assembly,
            "chrom": "chrM" if variant.reference_name == "MT" else f"chr{variant.reference_name}",
            "pos": variant.start + 1,
            "ref": variant.reference_bases,
            "alt": variant.alternate_bases,
        }
    if feature.variant_type_id:
        descriptor["structuralType"] = {
            "id": feature.variant_type_id,
            "label": feature.variant_type_label,
        }
    if feature.zygosity in _ALLELIC_STATE_FROM_ZYGOSITY:
        descriptor["allelicState"] = dict(_ALLELIC_STATE_FROM_ZYGOSITY[feature.zygosity])
    written["variantInterpretation"] = {"variationDescriptor": descriptor}
    return written


def _external_reference(reference: str) -> dict[str, str]:
    written = {"id": reference}
    if match := _PUBMED_ID.match(reference):
        written["reference"] = f"https://pubmed.ncbi.nlm.nih.gov/{match.group(1)}"
    return written


# --- MME patient -> CaseRecord -----------------------------------------------------------------


def case_record_from_mme_patient(patient: Mapping[str, Any]) -> CaseRecord:
    """Read an MME `patient` object (API 1.0/1.1, mme-api.md §1.5); its `id` becomes the label.

    Keys starting with "_" go into `extra`; other unknown keys are ignored. A variant without a
    `start` (two of the benchmark patients have one) is dropped with a note and the gene kept.
    Disorder ids are normalised to OMIM:/ORPHA:; zygosity 0 means unknown.
    """
    _require_object(patient, "", what="an MME patient")
    label = _string_at(patient, "id", "", required=True)
    notes: list[str] = []

    contact = _required_object_at(patient, "contact", "")
    email = contact.get("email")
    if isinstance(email, list) and all(isinstance(address, str) for address in email):
        # The v1.2 draft allows a list of addresses.
        email = ", ".join(address.strip() for address in email)
    elif email is not None and not isinstance(email, str):
        raise RecordFormatError(
            f"must be a string or a list of strings, not {_json_type(email)}",
            field="contact.email",
        )
    contact_record = ContactRecord(
        name=_string_at(contact, "name", "contact", required=True),
        institution=_string_at(contact, "institution", "contact"),
        href=_string_at(contact, "href", "contact", required=not email),
        email=email or "",
    )

    features: list[tuple[str, FeatureRecord]] = []
    for path, feature in _objects_at(patient, "features", ""):
        observed = _string_at(feature, "observed", path) or "yes"
        if observed not in ("yes", "no"):
            raise RecordFormatError(
                f"must be 'yes' or 'no', not {observed!r}", field=f"{path}.observed"
            )
        features.append(
            (
                path,
                FeatureRecord(
                    hpo_id=_hpo_id_at(feature, "id", path, required=True),
                    observed=observed == "yes",
                    onset_hpo_id=_hpo_id_at(feature, "ageOfOnset", path),
                    label=_string_at(feature, "label", path),
                ),
            )
        )

    genomic_features = [
        _genomic_feature_from_mme(feature, path, notes=notes)
        for path, feature in _objects_at(patient, "genomicFeatures", "")
    ]

    disorders: dict[str, DisorderRecord] = {}
    for path, disorder in _objects_at(patient, "disorders", ""):
        disorder_id = _disorder_id_at(disorder, "id", path)
        disorders.setdefault(
            disorder_id, DisorderRecord(disorder_id, label=_string_at(disorder, "label", path))
        )

    sex = _string_at(patient, "sex", "").upper()
    if sex == "UNKNOWN_SEX":
        sex = ""
    if sex and sex not in _MME_SEX_VALUES:
        raise RecordFormatError(f"{sex!r} is not one of {', '.join(_MME_SEX_VALUES)}", field="sex")

    return CaseRecord(
        label=label,
        features=_unique_features(features),
        genomic_features=tuple(genomic_features),
        disorders=tuple(disorders.values()),
        contact=contact_record,
        sex=sex,
        age_of_onset=_hpo_id_at(patient, "ageOfOnset", ""),
        inheritance_mode=_hpo_id_at(patient, "inheritanceMode", ""),
        extra={key: value for key, value in patient.items() if key.startswith("_")},
        is_test=_bool_at(patient, "test", ""),
        notes=tuple(notes),
    )


def _genomic_feature_from_mme(
    feature: Mapping[str, Any], path: str, *, notes: list[str]
) -> GenomicFeatureRecord:
    gene = _required_object_at(feature, "gene", path)
    gene_id = _string_at(gene, "id", f"{path}.gene", required=True).strip()
    # patientMatcher's non-standard `_geneName` carries the symbol next to an Ensembl id.
    symbol = _string_at(gene, "_geneName", f"{path}.gene").strip()

    zygosity = feature.get("zygosity")
    if zygosity is not None and (not _is_integer(zygosity) or zygosity not in (0, 1, 2)):
        raise RecordFormatError(
            f"must be 1 (heterozygous or hemizygous) or 2 (homozygous), not {zygosity!r}",
            field=f"{path}.zygosity",
        )

    type_id, type_label = "", ""
    variant_type = _object_at(feature, "type", path)
    if variant_type is not None:
        type_id = _so_id_at(variant_type, "id", f"{path}.type")
        type_label = _string_at(variant_type, "label", f"{path}.type")

    variant = None
    submitted_variant = _object_at(feature, "variant", path)
    if submitted_variant is not None:
        variant_path = f"{path}.variant"
        assembly = _assembly_at(submitted_variant, "assembly", variant_path)
        reference_name = _chromosome_at(submitted_variant, "referenceName", variant_path)
        start = _coordinate_at(submitted_variant, "start", variant_path)
        end = _coordinate_at(submitted_variant, "end", variant_path)
        if start is None:
            notes.append(f"variant of {gene_id} on chromosome {reference_name} has no start")
        elif end is not None and end < start:
            raise RecordFormatError("is before start", field=f"{variant_path}.end")
        else:
            variant = VariantRecord(
                assembly=assembly,
                reference_name=reference_name,
                start=start,
                end=end,
                reference_bases=_string_at(submitted_variant, "referenceBases", variant_path),
                alternate_bases=_string_at(submitted_variant, "alternateBases", variant_path),
            )

    return GenomicFeatureRecord(
        gene_id=gene_id,
        variant=variant,
        zygosity=zygosity or None,
        variant_type_id=type_id,
        variant_type_label=type_label,
        gene_symbol="" if symbol == gene_id else symbol,
    )


def _coordinate_at(parent: Mapping[str, Any], key: str, path: str) -> int | None:
    value = parent.get(key)
    if value is None:
        return None
    if not _is_integer(value):
        raise RecordFormatError(
            f"must be an integer, not {_json_type(value)}", field=_join(path, key)
        )
    if value < 0:
        raise RecordFormatError(
            "must be 0 or more (MME positions are 0-based)", field=_join(path, key)
        )
    return value


# --- CaseRecord -> MME patient -----------------------------------------------------------------


def mme_patient_from_case_record(record: CaseRecord, *, patient_id: str) -> dict[str, Any]:
    """Write a case as an MME v1.1 `patient` with the given opaque `id` and the record's label.

    MONDO disorders are left out (MME allows only MIM: and Orphanet: ids); external references
    and notes are not written. A gene given as an HGNC id is written as its symbol, since peers
    accept only Ensembl ids, Entrez ids and symbols; a known symbol also goes in `_geneName`.
    Raises ValueError when the result could not be valid MME: no patient id, no contact name, no
    way to reach the contact (href or e-mail), or neither features nor genomic features.
    """
    contact = record.contact
    emails = [address.strip() for address in contact.email.split(",") if address.strip()]
    href = contact.href or (f"mailto:{','.join(emails)}" if emails else "")
    if not patient_id:
        raise ValueError("an MME patient needs an id")
    if not contact.name or not href:
        raise ValueError("an MME patient needs a contact name and an href or e-mail address")
    if not record.features and not record.genomic_features:
        raise ValueError("an MME patient needs at least one feature or genomic feature")

    written_contact = {"name": contact.name, "href": href}
    if contact.institution:
        written_contact["institution"] = contact.institution
    if contact.email:
        written_contact["email"] = contact.email
    patient: dict[str, Any] = {"id": patient_id}
    if record.label:
        patient["label"] = record.label
    patient["contact"] = written_contact
    if record.sex and record.sex != "UNKNOWN_SEX":
        patient["sex"] = record.sex
    if record.age_of_onset:
        patient["ageOfOnset"] = record.age_of_onset
    if record.inheritance_mode:
        patient["inheritanceMode"] = record.inheritance_mode
    patient["disorders"] = [
        _mme_disorder(disorder)
        for disorder in record.disorders
        if not disorder.disorder_id.startswith("MONDO:")
    ]
    patient["features"] = [_mme_feature(feature) for feature in record.features]
    patient["genomicFeatures"] = [
        _mme_genomic_feature(feature) for feature in record.genomic_features
    ]
    if record.is_test:
        patient["test"] = True
    # Only underscore keys: anything else in `extra` would make the patient invalid (MME §1.8).
    patient.update((key, value) for key, value in record.extra.items() if key.startswith("_"))
    return patient


def _mme_disorder(disorder: DisorderRecord) -> dict[str, str]:
    prefix, _, number = disorder.disorder_id.partition(":")
    written = {"id": f"{'MIM' if prefix == 'OMIM' else 'Orphanet'}:{number}"}
    if disorder.label:
        written["label"] = disorder.label
    return written


def _mme_feature(feature: FeatureRecord) -> dict[str, str]:
    written = {"id": feature.hpo_id}
    if feature.label:
        written["label"] = feature.label
    written["observed"] = "yes" if feature.observed else "no"
    if feature.onset_hpo_id:
        written["ageOfOnset"] = feature.onset_hpo_id
    return written


def _mme_genomic_feature(feature: GenomicFeatureRecord) -> dict[str, Any]:
    gene_id = feature.gene_id
    if gene_id.upper().startswith("HGNC:") and feature.gene_symbol:
        gene_id = feature.gene_symbol
    gene = {"id": gene_id}
    if feature.gene_symbol and feature.gene_symbol != gene_id:
        gene["_geneName"] = feature.gene_symbol
    written: dict[str, Any] = {"gene": gene}
    variant = feature.variant
    if variant is not None:
        written_variant: dict[str, Any] = {
            "assembly": variant.assembly,
            "referenceName": "M" if variant.reference_name == "MT" else variant.reference_name,
            "start": variant.start,
        }
        if variant.end is not None:
            written_variant["end"] = variant.end
        if variant.reference_bases:
            written_variant["referenceBases"] = variant.reference_bases
        if variant.alternate_bases:
            written_variant["alternateBases"] = variant.alternate_bases
        written["variant"] = written_variant
    if feature.zygosity is not None:
        written["zygosity"] = feature.zygosity
    if feature.variant_type_id:
        written["type"] = {"id": feature.variant_type_id}
        if feature.variant_type_label:
            written["type"]["label"] = feature.variant_type_label
    return written


# --- Shared checks -----------------------------------------------------------------------------


def _unique_features(features: Iterable[tuple[str, FeatureRecord]]) -> tuple[FeatureRecord, ...]:
    """Keep the first of repeated terms; a term both observed and excluded is an error."""
    by_term: dict[str, FeatureRecord] = {}
    for path, feature in features:
        previous = by_term.setdefault(feature.hpo_id, feature)
        if previous.observed != feature.observed:
            raise RecordFormatError(
                f"{feature.hpo_id} is listed both as observed and as excluded", field=path
            )
    return tuple(by_term.values())


def _assembly_at(parent: Mapping[str, Any], key: str, path: str) -> str:
    value = _string_at(parent, key, path, required=True)
    assembly = _ASSEMBLIES.get(_ASSEMBLY_PATCH.sub("", value.strip()).lower())
    if assembly is None:
        raise RecordFormatError(
            f"{value!r} is not a known assembly (GRCh37/hg19, GRCh38/hg38, NCBI36/hg18)",
            field=_join(path, key),
        )
    return assembly


def _chromosome_at(parent: Mapping[str, Any], key: str, path: str) -> str:
    value = _string_at(parent, key, path, required=True)
    name = value.strip()
    if name[:3].lower() == "chr":
        name = name[3:]
    name = name.upper()
    if name == "M":
        name = "MT"
    if name not in CHROMOSOMES:
        raise RecordFormatError(
            f"{value!r} is not a chromosome (1-22, X, Y, MT)", field=_join(path, key)
        )
    return name


def _disorder_id_at(parent: Mapping[str, Any], key: str, path: str) -> str:
    value = _string_at(parent, key, path, required=True).strip()
    match = _DISORDER_ID.match(value)
    if match is None:
        raise RecordFormatError(
            f"{value!r} is not an OMIM, MIM, ORPHA, Orphanet or MONDO id", field=_join(path, key)
        )
    return f"{_DISORDER_PREFIXES[match.group(1).upper()]}:{match.group(2)}"


def _hpo_id_at(parent: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str:
    value = _string_at(parent, key, path, required=required).strip()
    if value and not _HPO_ID.match(value):
        raise RecordFormatError(f"{value!r} is not an HPO id (HP:#######)", field=_join(path, key))
    return value


def _so_id_at(parent: Mapping[str, Any], key: str, path: str) -> str:
    value = _string_at(parent, key, path, required=True).strip()
    if not _SO_ID.match(value):
        raise RecordFormatError(f"{value!r} is not an SO id (SO:#######)", field=_join(path, key))
    return value


# --- JSON shape helpers ------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Sequence):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _is_integer(value: Any) -> TypeGuard[int]:
    # JSON true/false arrive as Python bools, which are ints.
    return isinstance(value, int) and not isinstance(value, bool)


def _require_object(value: Any, path: str, *, what: str = "") -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        subject = what or "it"
        raise RecordFormatError(f"{subject} must be an object, not {_json_type(value)}", field=path)
    return value


def _object_at(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any] | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise RecordFormatError(
            f"must be an object, not {_json_type(value)}", field=_join(path, key)
        )
    return value


def _required_object_at(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = _object_at(parent, key, path)
    if value is None:
        raise RecordFormatError("is required", field=_join(path, key))
    return value


def _objects_at(
    parent: Mapping[str, Any], key: str, path: str
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path, item) for each object in the list at `key`; a missing list is empty."""
    value = parent.get(key)
    if value is None:
        return
    list_path = _join(path, key)
    if not isinstance(value, list):
        raise RecordFormatError(f"must be a list, not {_json_type(value)}", field=list_path)
    for index, item in enumerate(value):
        item_path = f"{list_path}[{index}]"
        if not isinstance(item, Mapping):
            raise RecordFormatError(f"must be an object, not {_json_type(item)}", field=item_path)
        yield item_path, item


def _string_at(parent: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str:
    value = parent.get(key)
    if value is None:
        if required:
            raise RecordFormatError("is required", field=_join(path, key))
        return ""
    if not isinstance(value, str):
        raise RecordFormatError(
            f"must be a string, not {_json_type(value)}", field=_join(path, key)
        )
    if required and not value.strip():
        raise RecordFormatError("must not be empty", field=_join(path, key))
    return value


def _bool_at(parent: Mapping[str, Any], key: str, path: str) -> bool:
    value = parent.get(key, False)
    if not isinstance(value, bool):
        raise RecordFormatError(
            f"must be true or false, not {_json_type(value)}", field=_join(path, key)
        )
    return value
