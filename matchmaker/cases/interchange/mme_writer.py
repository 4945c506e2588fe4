"""CaseRecord -> MME patient (API 1.1)."""

from __future__ import annotations

from typing import Any

from matchmaker.cases.records import CaseRecord, DisorderRecord, FeatureRecord, GenomicFeatureRecord


def mme_patient_from_case_record(record: CaseRecord, *, patient_id: str) -> dict[str, Any]:
    """Write a case as an MME v1.1 `patient` with the given opaque `id` and the record's label.

    MONDO disorders are left out (MME allows only MIM: and Orphanet: ids); external references
    and notes are not written. A gene given as a prefixed id (HGNC:, NCBIGene:) is written as its symbol, since
    peers accept only Ensembl ids, Entrez ids and symbols; a known symbol also goes in `_geneName`.
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
    # A stored case's gene is its submitted id (HGNC, NCBIGene, ...) with the approved symbol;
    # peers reliably understand the symbol.
    if ":" in gene_id and feature.gene_symbol:
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
