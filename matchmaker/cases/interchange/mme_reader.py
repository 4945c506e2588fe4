"""MME patient (API 1.0/1.1) -> CaseRecord."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matchmaker.cases.interchange.fields import (
    assembly_at,
    bool_at,
    chromosome_at,
    disorder_id_at,
    hpo_id_at,
    is_integer,
    join,
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
    SEX_VALUES,
    CaseRecord,
    ContactRecord,
    DisorderRecord,
    FeatureRecord,
    GenomicFeatureRecord,
    RecordFormatError,
    VariantRecord,
)

_MME_SEX_VALUES = tuple(value for value in SEX_VALUES if value != "UNKNOWN_SEX")


def case_record_from_mme_patient(patient: Mapping[str, Any]) -> CaseRecord:
    """Read an MME `patient` object (API 1.0/1.1, mme-api.md §1.5); its `id` becomes the label.

    Keys starting with "_" go into `extra`; other unknown keys are ignored. A variant without a
    `start` (two of the benchmark patients have one) is dropped with a note and the gene kept.
    Disorder ids are normalised to OMIM:/ORPHA:; zygosity 0 means unknown.
    """
    require_object(patient, "", what="an MME patient")
    label = string_at(patient, "id", "", required=True)
    notes: list[str] = []

    contact = required_object_at(patient, "contact", "")
    email = contact.get("email")
    if isinstance(email, list) and all(isinstance(address, str) for address in email):
        # The v1.2 draft allows a list of addresses.
        email = ", ".join(address.strip() for address in email)
    elif email is not None and not isinstance(email, str):
        raise RecordFormatError(
            f"must be a string or a list of strings, not {json_type(email)}",
            field="contact.email",
        )
    contact_record = ContactRecord(
        name=string_at(contact, "name", "contact", required=True),
        institution=string_at(contact, "institution", "contact"),
        href=string_at(contact, "href", "contact", required=not email),
        email=email or "",
    )

    features: list[tuple[str, FeatureRecord]] = []
    for path, feature in objects_at(patient, "features", ""):
        observed = string_at(feature, "observed", path) or "yes"
        if observed not in ("yes", "no"):
            raise RecordFormatError(
                f"must be 'yes' or 'no', not {observed!r}", field=f"{path}.observed"
            )
        features.append(
            (
                path,
                FeatureRecord(
                    hpo_id=hpo_id_at(feature, "id", path, required=True),
                    observed=observed == "yes",
                    onset_hpo_id=hpo_id_at(feature, "ageOfOnset", path),
                    label=string_at(feature, "label", path),
                ),
            )
        )

    genomic_features = [
        _genomic_feature_from_mme(feature, path, notes=notes)
        for path, feature in objects_at(patient, "genomicFeatures", "")
    ]

    disorders: dict[str, DisorderRecord] = {}
    for path, disorder in objects_at(patient, "disorders", ""):
        disorder_id = disorder_id_at(disorder, "id", path)
        disorders.setdefault(
            disorder_id, DisorderRecord(disorder_id, label=string_at(disorder, "label", path))
        )

    sex = string_at(patient, "sex", "").upper()
    if sex == "UNKNOWN_SEX":
        sex = ""
    if sex and sex not in _MME_SEX_VALUES:
        raise RecordFormatError(f"{sex!r} is not one of {', '.join(_MME_SEX_VALUES)}", field="sex")

    return CaseRecord(
        label=label,
        features=unique_features(features),
        genomic_features=tuple(genomic_features),
        disorders=tuple(disorders.values()),
        contact=contact_record,
        sex=sex,
        age_of_onset=hpo_id_at(patient, "ageOfOnset", ""),
        inheritance_mode=hpo_id_at(patient, "inheritanceMode", ""),
        extra={key: value for key, value in patient.items() if key.startswith("_")},
        is_test=bool_at(patient, "test", ""),
        notes=tuple(notes),
    )


def _genomic_feature_from_mme(
    feature: Mapping[str, Any], path: str, *, notes: list[str]
) -> GenomicFeatureRecord:
    gene = required_object_at(feature, "gene", path)
    gene_id = string_at(gene, "id", f"{path}.gene", required=True).strip()
    # patientMatcher's non-standard `_geneName` carries the symbol next to an Ensembl id.
    symbol = string_at(gene, "_geneName", f"{path}.gene").strip()

    zygosity = feature.get("zygosity")
    if zygosity is not None and (not is_integer(zygosity) or zygosity not in (0, 1, 2)):
        raise RecordFormatError(
            f"must be 1 (heterozygous or hemizygous) or 2 (homozygous), not {zygosity!r}",
            field=f"{path}.zygosity",
        )

    type_id, type_label = so_term_at(feature, "type", path)

    variant = None
    submitted_variant = object_at(feature, "variant", path)
    if submitted_variant is not None:
        variant_path = f"{path}.variant"
        assembly = assembly_at(submitted_variant, "assembly", variant_path)
        reference_name = chromosome_at(submitted_variant, "referenceName", variant_path)
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
                reference_bases=string_at(submitted_variant, "referenceBases", variant_path),
                alternate_bases=string_at(submitted_variant, "alternateBases", variant_path),
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
    if not is_integer(value):
        raise RecordFormatError(
            f"must be an integer, not {json_type(value)}", field=join(path, key)
        )
    if value < 0:
        raise RecordFormatError(
            "must be 0 or more (MME positions are 0-based)", field=join(path, key)
        )
    return value
