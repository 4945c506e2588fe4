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

from matchmaker.cases.interchange.documents import (
    FOLDER_SUFFIXES,
    JSON_LINES_SUFFIXES,
    MAX_UNPACKED_BYTES,
    MAX_UPLOAD_BYTES,
    SourceDocument,
    TooManyDocumentsError,
    UnpackedTooLargeError,
    parse_documents,
    read_documents,
    read_stream,
    read_uploads,
    unpacked_size,
)
from matchmaker.cases.interchange.mme_reader import case_record_from_mme_patient
from matchmaker.cases.interchange.mme_writer import mme_patient_from_case_record
from matchmaker.cases.interchange.phenopacket_reader import (
    COMPOUND_HETEROZYGOUS,
    HEMIZYGOUS,
    HETEROZYGOUS,
    HOMOZYGOUS,
    case_record_from_phenopacket,
)
from matchmaker.cases.interchange.phenopacket_writer import phenopacket_from_case_record
from ontologies.genes import CHROMOSOMES

__all__ = [
    "CHROMOSOMES",
    "COMPOUND_HETEROZYGOUS",
    "FOLDER_SUFFIXES",
    "HEMIZYGOUS",
    "HETEROZYGOUS",
    "HOMOZYGOUS",
    "JSON_LINES_SUFFIXES",
    "MAX_UNPACKED_BYTES",
    "MAX_UPLOAD_BYTES",
    "SourceDocument",
    "TooManyDocumentsError",
    "UnpackedTooLargeError",
    "case_record_from_mme_patient",
    "case_record_from_phenopacket",
    "mme_patient_from_case_record",
    "parse_documents",
    "phenopacket_from_case_record",
    "read_documents",
    "read_stream",
    "read_uploads",
    "unpacked_size",
]
