"""Plain, framework-free shapes of a case as it crosses the node's edges.

A `CaseRecord` is what an importer produces from a phenopacket or an MME patient, what the case
services validate and store, and what an exporter turns back into either format. It holds the data
*as submitted* (HPO ids and gene ids not yet normalised); `cases.services` validates and normalises
it against the loaded HPO release and gene catalogue before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# GA4GH sex values shared by MME (`sex`) and Phenopacket v2 (`subject.sex`), plus UNKNOWN_SEX
# which Phenopacket uses and MME leaves implicit by omitting the field.
SEX_VALUES = ("FEMALE", "MALE", "OTHER", "MIXED_SAMPLE", "NOT_APPLICABLE", "UNKNOWN_SEX")
# Phenopacket v2 AcmgPathogenicityClassification, less NOT_PROVIDED (stored as "").
ACMG_CLASSIFICATIONS = (
    "PATHOGENIC",
    "LIKELY_PATHOGENIC",
    "UNCERTAIN_SIGNIFICANCE",
    "LIKELY_BENIGN",
    "BENIGN",
)


@dataclass(frozen=True, slots=True)
class FeatureRecord:
    hpo_id: str
    observed: bool = True
    onset_hpo_id: str = ""
    label: str = ""
    # The onset as an ISO 8601 age ("P3Y6M") when it was given as an age instead of a term.
    onset_age: str = ""


@dataclass(frozen=True, slots=True)
class VariantRecord:
    """A sequence variant. `start` is 0-based (MME convention), `end` exclusive when given."""

    assembly: str
    reference_name: str
    start: int
    end: int | None = None
    reference_bases: str = ""
    alternate_bases: str = ""


@dataclass(frozen=True, slots=True)
class GenomicFeatureRecord:
    gene_id: str  # as submitted: symbol, HGNC id, Entrez id or Ensembl id
    variant: VariantRecord | None = None
    zygosity: int | None = None  # 1 heterozygous or hemizygous, 2 homozygous
    variant_type_id: str = ""  # SO:#######
    variant_type_label: str = ""
    # The gene symbol when `gene_id` is a structured id (a phenopacket's "HGNC:25662" with its
    # symbol): a catalogue that knows only symbols can still resolve the gene. "" when unknown or
    # the same as `gene_id`.
    gene_symbol: str = ""
    # As submitted, for exports: HGVS expressions as (syntax, value) pairs ("hgvs.c",
    # "NM_000138.5:c.1A>G"), the ACMG class (Phenopacket's AcmgPathogenicityClassification:
    # PATHOGENIC, LIKELY_PATHOGENIC, UNCERTAIN_SIGNIFICANCE, LIKELY_BENIGN, BENIGN), the GENO
    # allelic state that `zygosity` summarises (tells hemizygous from heterozygous), and the
    # variant's free-text label (a structural variant often has nothing else).
    hgvs_expressions: tuple[tuple[str, str], ...] = ()
    acmg_classification: str = ""
    allelic_state_id: str = ""
    variant_label: str = ""
    # The node's canonical id ("NCBIGene:672") and the gene's Ensembl id, filled in by exports;
    # "" in submitted records (and the Ensembl id when the catalogue has none).
    canonical_gene_id: str = ""
    ensembl_gene_id: str = ""


@dataclass(frozen=True, slots=True)
class DisorderRecord:
    disorder_id: str  # OMIM:######, ORPHA:#####, MONDO:#######
    label: str = ""


@dataclass(frozen=True, slots=True)
class ContactRecord:
    name: str = ""
    institution: str = ""
    href: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class CaseRecord:
    label: str
    features: tuple[FeatureRecord, ...] = ()
    genomic_features: tuple[GenomicFeatureRecord, ...] = ()
    disorders: tuple[DisorderRecord, ...] = ()
    contact: ContactRecord = field(default_factory=ContactRecord)
    sex: str = ""  # one of SEX_VALUES or ""
    age_of_onset: str = ""  # HPO id under HP:0003674 Onset
    onset_age: str = ""  # the onset as an ISO 8601 age ("P18Y") when given as an age
    inheritance_mode: str = ""  # HPO id under HP:0000005 Mode of inheritance
    # Provenance kept for the curator (e.g. PMIDs of a published case); never shown to peers.
    external_references: tuple[str, ...] = ()
    # Non-standard MME fields (keys starting with "_") are kept and passed through, per MME §1.8.
    extra: dict[str, Any] = field(default_factory=dict)
    # MME `test: true`: a benchmark or test patient.
    is_test: bool = False
    # Phenopacket v2 has no field for the mode of inheritance (nor an onset outside a disease):
    # such documents carry them as phenotypic features, which validation then takes as the
    # case's `inheritance_mode` / `age_of_onset`. False for formats that have the fields.
    case_terms_as_features: bool = False
    # What the importer read but could not carry into the record, for the curator to see
    # (e.g. "no gene: telomeric 11q deletion"). Not case data: exporters do not write it.
    notes: tuple[str, ...] = ()


class RecordFormatError(ValueError):
    """A document that cannot be read as a case; `field` names the offending path."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
