"""Validate and normalise a submitted `CaseRecord` against the HPO release and gene catalogue.

Nothing is dropped silently: a problem with any field is an error naming the field (and the id),
and every change made on the way in (an alternative HPO id recorded as its current term, a gene
symbol resolved to its canonical gene) is reported as a note.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from matchmaker.cases.records import (
    ACMG_CLASSIFICATIONS,
    SEX_VALUES,
    CaseRecord,
    FeatureRecord,
    GenomicFeatureRecord,
    VariantRecord,
)
from matchmaker.lib.errors import FieldValidationError
from matchmaker.lib.pseudonymisation import identifier_problem
from ontologies.genes import (
    CHROMOSOMES,
    Gene,
    GeneCatalogue,
    GeneLookupError,
    UnknownGeneError,
    unresolved_gene,
)
from ontologies.hpo import ObsoleteTermError, Ontology, UnknownTermError

PHENOTYPIC_ABNORMALITY = "HP:0000118"
ONSET_ROOT = "HP:0003674"
INHERITANCE_ROOT = "HP:0000005"

HPO_ID = re.compile(r"HP:\d{7}")
DISORDER_ID_PATTERN = re.compile(r"^(OMIM:\d{6}|ORPHA:\d{1,7}|MONDO:\d{7})$")
_SO_ID = re.compile(r"^SO:\d{7}$")
_BASES = re.compile(r"^[ACGTN]+$")
# VCF symbolic alleles for structural variants ("<DEL>", "<DUP:TANDEM>"); curated phenopackets
# sometimes drop the angle brackets ("DEL").
_SYMBOLIC_ALLELE = re.compile(r"^<?(DEL|DUP|INS|INV|CNV)(:[A-Z0-9_:]+)?>?$")
_GENO_ID = re.compile(r"^GENO:\d{7}$")
_ISO8601_AGE = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ASSEMBLIES = re.compile(r"^(NCBI36|GRCh37|GRCh38)(\.p\d+)?$")
MAX_LABEL_LENGTH = 255
# The lengths of the columns these fields are stored in (cases/models.py). A longer value would
# be a database error on PostgreSQL (and the loss of a whole import batch), stored whole on SQLite.
MAX_CONTACT_LENGTH = 255
MAX_SUBMITTED_GENE_ID_LENGTH = 64
MAX_VARIANT_TYPE_LABEL_LENGTH = 255
MAX_DISORDER_LABEL_LENGTH = 500
MAX_CONSENT_NOTE_LENGTH = 255
# NUL cannot be stored by PostgreSQL (text or jsonb); the other C0 controls (tab, line feeds
# aside) are never meant and make stored text unreadable.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_SUBMITTED_TEXT = 1000  # an HGVS expression or a variant's label, kept as submitted


@dataclass(frozen=True, slots=True)
class ValidFeature:
    hpo_id: str
    observed: bool
    onset_hpo_id: str = ""
    submitted_hpo_id: str = ""  # set when an alternative or obsolete id was mapped to hpo_id
    onset_age: str = ""  # ISO 8601 age, as submitted


@dataclass(frozen=True, slots=True)
class ValidGenomicFeature:
    gene: Gene
    submitted: GenomicFeatureRecord


@dataclass(frozen=True, slots=True)
class ValidatedCase:
    record: CaseRecord
    sex: str
    features: tuple[ValidFeature, ...]
    genomic_features: tuple[ValidGenomicFeature, ...]
    hpo_release: str
    notes: tuple[str, ...]
    # (field, message): plausible mistakes the submitter may confirm (a variant on another
    # chromosome than its gene). The case services refuse them unless confirmed.
    warnings: tuple[tuple[str, str], ...] = ()
    # Well-formed identifiers the loaded releases do not know (a peer or a file on a newer HPO or
    # HGNC release): kept as submitted, reported, and left out of the phenotype score until a
    # release that knows them is loaded (an unknown gene still matches the same gene exactly).
    unknown_terms: tuple[str, ...] = ()
    unknown_genes: tuple[str, ...] = ()


def text_problem(value: str, *, max_length: int | None = None) -> str | None:
    """Why `value` cannot be stored as text, in words for the submitter; None when it can."""
    if max_length is not None and len(value) > max_length:
        return f"is longer than {max_length} characters ({len(value)} given)"
    if match := _CONTROL_CHARACTER.search(value):
        code = ord(match.group())
        name = "a NUL character" if code == 0 else f"a control character (U+{code:04X})"
        return f"contains {name} at position {match.start() + 1}; remove it"
    return None


def _check_text(
    field: str, value: str, *, max_length: int | None, errors: list[tuple[str, str]]
) -> bool:
    problem = text_problem(value, max_length=max_length)
    if problem is not None:
        errors.append((field, problem))
    return problem is None


def _check_json_text(field: str, value: object, errors: list[tuple[str, str]]) -> None:
    """Strings anywhere in a JSON value (kept as jsonb, where NUL is refused) must be storable."""
    if isinstance(value, str):
        _check_text(field, value, max_length=None, errors=errors)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json_text(f"{field}.{key}" if field else str(key), item, errors)
            if isinstance(key, str) and text_problem(key) is not None:
                errors.append((field or "extra", f"the key {key!r} contains a control character"))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_json_text(f"{field}[{index}]", item, errors)


def validate_case_record(
    record: CaseRecord,
    *,
    ontology: Ontology,
    genes: GeneCatalogue,
    drop_unknown_terms: bool = False,
    check_label: bool = True,
) -> ValidatedCase:
    """Check every field of `record`; raise `FieldValidationError` listing all problems at once.

    Field names follow the MME patient JSON (`features[2].id`, `genomicFeatures[0].gene.id`), so
    an error reads the same whether the case came from a form, a phenopacket or a peer.
    A well-formed HPO id that the loaded release does not know (typically coded against a newer
    release) is not an error: the feature is kept as submitted, with a note, and the scorer
    ignores it until a release that knows it is loaded; with `drop_unknown_terms` it is left out
    instead (for peers' answers, which are read but not stored). Likewise a gene that is shaped
    like a gene id or symbol but unknown to the catalogue is kept as submitted (see
    `ontologies.genes.unresolved_gene`). Malformed ids are errors.
    Without `check_label`, the label is not checked: a peer's query is matched, not stored, and
    its id is the peer's business.
    """
    errors: list[tuple[str, str]] = []
    notes: list[str] = list(record.notes)
    # Plausible mistakes the submitter confirms (the form) or is told about (REST, imports).
    warnings: list[tuple[str, str]] = []
    unknown_terms: list[str] = []
    unknown_genes: list[str] = []

    label = record.label.strip()
    if not check_label:
        pass
    elif not label:
        errors.append(("label", "is required"))
    elif not _check_text("label", label, max_length=MAX_LABEL_LENGTH, errors=errors):
        pass
    elif problem := identifier_problem(label):
        errors.append(("label", f"{problem}; use a pseudonymous label such as 'fam12-proband'"))

    sex = "" if record.sex in ("", "UNKNOWN_SEX") else record.sex
    if sex and sex not in SEX_VALUES:
        errors.append(("sex", f"must be one of {', '.join(SEX_VALUES)}, not {record.sex!r}"))

    for field, hpo_id, root, what in (
        ("ageOfOnset", record.age_of_onset, ONSET_ROOT, "an onset term (under HP:0003674 Onset)"),
        (
            "inheritanceMode",
            record.inheritance_mode,
            INHERITANCE_ROOT,
            "a mode of inheritance (under HP:0000005)",
        ),
    ):
        if hpo_id:
            _check_term_under(
                hpo_id,
                root,
                what,
                field=field,
                ontology=ontology,
                errors=errors,
                warnings=warnings,
                unknown_terms=unknown_terms,
            )

    if record.onset_age and not _ISO8601_AGE.match(record.onset_age):
        errors.append(("ageOfOnset", f"{record.onset_age!r} is not an ISO 8601 age such as P3Y6M"))
    case_terms: frozenset[int] = frozenset()
    if record.case_terms_as_features:
        record, case_terms = _case_terms_from_features(record, ontology=ontology, notes=notes)

    features = _validate_features(
        record,
        skip=case_terms,
        ontology=ontology,
        errors=errors,
        notes=notes,
        warnings=warnings,
        drop_unknown_terms=drop_unknown_terms,
        unknown_terms=unknown_terms,
    )
    genomic_features = _validate_genomic_features(
        record,
        genes=genes,
        errors=errors,
        warnings=warnings,
        notes=notes,
        unknown_genes=unknown_genes,
    )

    for index, disorder in enumerate(record.disorders):
        _check_text(
            f"disorders[{index}].label",
            disorder.label,
            max_length=MAX_DISORDER_LABEL_LENGTH,
            errors=errors,
        )
        if not DISORDER_ID_PATTERN.match(disorder.disorder_id):
            errors.append(
                (
                    f"disorders[{index}].id",
                    f"{disorder.disorder_id!r} is not an OMIM:######, ORPHA:##### or MONDO:####### id",
                )
            )

    contact = record.contact
    for name in ("name", "institution", "href", "email"):
        _check_text(
            f"contact.{name}",
            getattr(contact, name),
            max_length=MAX_CONTACT_LENGTH,
            errors=errors,
        )
    _check_json_text("externalReferences", list(record.external_references), errors)
    _check_json_text("", record.extra, errors)
    if contact.email and not all(_EMAIL.match(part.strip()) for part in contact.email.split(",")):
        errors.append(("contact.email", f"{contact.email!r} is not an e-mail address"))
    if contact.href and not re.match(r"^(https?|mailto):\S+$", contact.href):
        errors.append(("contact.href", "must be an http(s) or mailto: URL"))

    observed = sum(feature.observed for feature in features)
    if not errors and observed == 0 and not genomic_features:
        errors.append(
            (
                "features",
                "the case has no observed phenotype and no candidate gene, so there is nothing "
                "to match on; add at least one observed HPO term or a gene",
            )
        )
    if not errors:
        if not genomic_features:
            notes.append("no candidate gene: the case is matched on its phenotype only")
        elif observed == 0:
            notes.append("no observed phenotype: the case is matched on its genes only")

    if errors:
        raise FieldValidationError(errors)
    return ValidatedCase(
        record=record,
        sex=sex,
        features=tuple(features),
        genomic_features=tuple(genomic_features),
        hpo_release=ontology.release,
        notes=tuple(notes),
        warnings=tuple(warnings),
        unknown_terms=tuple(dict.fromkeys(unknown_terms)),
        unknown_genes=tuple(dict.fromkeys(unknown_genes)),
    )


def _case_terms_from_features(
    record: CaseRecord, *, ontology: Ontology, notes: list[str]
) -> tuple[CaseRecord, frozenset[int]]:
    """`record` with its observed onset and inheritance features as its case-level fields, and
    the indices of those features (not to be stored as features).

    Only where the case-level field is empty or says the same; the first such term is taken, a
    different second one stays a feature (and is refused as not a phenotypic abnormality).
    The features keep their places, so errors name them as submitted.
    """
    taken = {"inheritance": record.inheritance_mode, "onset": record.age_of_onset}
    moved = set()
    for index, feature in enumerate(record.features):
        try:
            hpo_id = ontology.resolve(feature.hpo_id).hpo_id
        except (UnknownTermError, ObsoleteTermError):
            continue
        kind = ""
        if ontology.is_a(hpo_id, INHERITANCE_ROOT):
            kind, what = "inheritance", "the mode of inheritance"
        elif ontology.is_a(hpo_id, ONSET_ROOT):
            kind, what = "onset", "the age of onset"
        if not kind or not feature.observed or taken[kind] not in ("", hpo_id, feature.hpo_id):
            continue
        if not taken[kind]:
            notes.append(f"{hpo_id} ({ontology.label(hpo_id)}) recorded as {what}")
            taken[kind] = hpo_id
        moved.add(index)
    if not moved:
        return record, frozenset()
    record = dataclasses.replace(
        record, age_of_onset=taken["onset"], inheritance_mode=taken["inheritance"]
    )
    return record, frozenset(moved)


def _check_term_under(
    hpo_id: str,
    root: str,
    what: str,
    *,
    field: str,
    ontology: Ontology,
    errors: list[tuple[str, str]],
    warnings: list[tuple[str, str]],
    unknown_terms: list[str],
) -> str | None:
    try:
        current = ontology.resolve(hpo_id).hpo_id
    except UnknownTermError as error:
        if HPO_ID.fullmatch(hpo_id):
            warnings.append((field, f"{error} (a newer release?): kept as submitted"))
            unknown_terms.append(hpo_id)
            return hpo_id
        errors.append((field, str(error)))
        return None
    except ObsoleteTermError as error:
        errors.append((field, str(error)))
        return None
    if not ontology.is_a(current, root):
        errors.append((field, f"{hpo_id} ({ontology.label(current)}) is not {what}"))
        return None
    return current


def _validate_features(
    record: CaseRecord,
    *,
    ontology: Ontology,
    errors: list[tuple[str, str]],
    notes: list[str],
    warnings: list[tuple[str, str]],
    drop_unknown_terms: bool,
    unknown_terms: list[str],
    skip: frozenset[int] = frozenset(),
) -> list[ValidFeature]:
    by_term: dict[str, ValidFeature] = {}
    for index, feature in enumerate(record.features):
        if index in skip:
            continue
        field = f"features[{index}].id"
        try:
            resolution = ontology.resolve(feature.hpo_id)
        except UnknownTermError as error:
            if not HPO_ID.fullmatch(feature.hpo_id):
                errors.append((field, str(error)))
            elif drop_unknown_terms:
                notes.append(f"{error}; the feature was left out")
            else:
                warnings.append(
                    (
                        field,
                        f"{error} (a newer release?): kept as submitted, not used for matching "
                        "until the node loads a release that knows it; check the id if it "
                        "should already exist",
                    )
                )
                unknown_terms.append(feature.hpo_id)
                _keep_unknown_feature(feature, by_term=by_term, field=field, errors=errors)
            continue
        except ObsoleteTermError as error:
            errors.append((field, str(error)))
            continue
        hpo_id = resolution.hpo_id
        if not ontology.is_a(hpo_id, PHENOTYPIC_ABNORMALITY):
            hint = ""
            if ontology.is_a(hpo_id, ONSET_ROOT):
                hint = "; give the onset as ageOfOnset"
            elif ontology.is_a(hpo_id, INHERITANCE_ROOT):
                hint = "; give it as inheritanceMode"
            errors.append(
                (
                    field,
                    f"{feature.hpo_id} ({ontology.label(hpo_id)}) is not a phenotypic "
                    f"abnormality (HP:0000118){hint}",
                )
            )
            continue
        onset = ""
        if feature.onset_hpo_id:
            onset = (
                _check_term_under(
                    feature.onset_hpo_id,
                    ONSET_ROOT,
                    "an onset term (under HP:0003674 Onset)",
                    field=f"features[{index}].ageOfOnset",
                    ontology=ontology,
                    errors=errors,
                    warnings=warnings,
                    unknown_terms=unknown_terms,
                )
                or ""
            )
        if resolution.remapped:
            notes.append(
                f"{feature.hpo_id} is an outdated id; recorded as {hpo_id} ({ontology.label(hpo_id)})"
            )
        if feature.onset_age and not _ISO8601_AGE.match(feature.onset_age):
            errors.append(
                (
                    f"features[{index}].ageOfOnset",
                    f"{feature.onset_age!r} is not an ISO 8601 age such as P3Y6M",
                )
            )
        valid = ValidFeature(
            hpo_id=hpo_id,
            observed=feature.observed,
            onset_hpo_id=onset,
            submitted_hpo_id=feature.hpo_id if resolution.remapped else "",
            onset_age=feature.onset_age,
        )
        previous = by_term.get(hpo_id)
        if previous is not None and previous.observed != valid.observed:
            errors.append(
                (
                    field,
                    f"{hpo_id} ({ontology.label(hpo_id)}) is listed both as observed and as "
                    "excluded",
                )
            )
            continue
        by_term.setdefault(hpo_id, valid)
    return list(by_term.values())


def _keep_unknown_feature(
    feature: FeatureRecord,
    *,
    by_term: dict[str, ValidFeature],
    field: str,
    errors: list[tuple[str, str]],
) -> None:
    """Keep a feature whose well-formed id the release does not know, as it was submitted."""
    previous = by_term.get(feature.hpo_id)
    if previous is not None and previous.observed != feature.observed:
        errors.append((field, f"{feature.hpo_id} is listed both as observed and as excluded"))
        return
    # Nothing about the term can be checked; its onset is kept as submitted if well formed.
    onset = feature.onset_hpo_id if HPO_ID.fullmatch(feature.onset_hpo_id) else ""
    by_term.setdefault(
        feature.hpo_id,
        ValidFeature(hpo_id=feature.hpo_id, observed=feature.observed, onset_hpo_id=onset),
    )


def _validate_genomic_features(
    record: CaseRecord,
    *,
    genes: GeneCatalogue,
    errors: list[tuple[str, str]],
    notes: list[str],
    warnings: list[tuple[str, str]],
    unknown_genes: list[str],
) -> list[ValidGenomicFeature]:
    valid: list[ValidGenomicFeature] = []
    for index, feature in enumerate(record.genomic_features):
        field = f"genomicFeatures[{index}]"
        gene = _resolve_gene(
            feature,
            genes=genes,
            field=f"{field}.gene.id",
            errors=errors,
            warnings=warnings,
            unknown_genes=unknown_genes,
        )
        variant = feature.variant
        if variant is not None:
            if not ASSEMBLIES.match(variant.assembly):
                errors.append(
                    (f"{field}.variant.assembly", f"unknown assembly {variant.assembly!r}")
                )
            if variant.reference_name not in CHROMOSOMES:
                errors.append(
                    (
                        f"{field}.variant.referenceName",
                        f"{variant.reference_name!r} is not a chromosome (1-22, X, Y, MT)",
                    )
                )
            if variant.start < 0:
                errors.append((f"{field}.variant.start", "must be 0 or more (0-based)"))
            if variant.end is not None and variant.end < variant.start:
                errors.append((f"{field}.variant.end", "is before start"))
            for name, bases in (
                ("referenceBases", variant.reference_bases),
                ("alternateBases", variant.alternate_bases),
            ):
                if bases and not _BASES.match(bases):
                    if name == "alternateBases" and _SYMBOLIC_ALLELE.match(bases):
                        continue
                    errors.append(
                        (
                            f"{field}.variant.{name}",
                            "may contain only A, C, G, T, N (or a symbolic allele such as <DEL>)",
                        )
                    )
        if feature.zygosity not in (None, 1, 2):
            errors.append((f"{field}.zygosity", "must be 1 (heterozygous) or 2 (homozygous)"))
        _check_text(
            f"{field}.type.label",
            feature.variant_type_label,
            max_length=MAX_VARIANT_TYPE_LABEL_LENGTH,
            errors=errors,
        )
        if gene is not None:
            _check_text(
                f"{field}.gene.id",
                feature.gene_id.strip(),
                max_length=MAX_SUBMITTED_GENE_ID_LENGTH,
                errors=errors,
            )
        if feature.variant_type_id and not _SO_ID.match(feature.variant_type_id):
            errors.append((f"{field}.type.id", f"{feature.variant_type_id!r} is not an SO id"))
        if feature.acmg_classification and feature.acmg_classification not in ACMG_CLASSIFICATIONS:
            errors.append(
                (
                    f"{field}.acmgClassification",
                    f"{feature.acmg_classification!r} is not one of "
                    f"{', '.join(ACMG_CLASSIFICATIONS)}",
                )
            )
        if feature.allelic_state_id and not _GENO_ID.match(feature.allelic_state_id):
            errors.append(
                (f"{field}.allelicState", f"{feature.allelic_state_id!r} is not a GENO id")
            )
        # Kept as submitted, so checked only for what storage cannot hold (PostgreSQL refuses
        # NUL in text and JSON).
        for number, (syntax, value) in enumerate(feature.hgvs_expressions):
            path = f"{field}.expressions[{number}]"
            if not syntax.strip() or not value.strip():
                errors.append((path, "needs both a syntax and a value"))
            elif len(syntax) > 32 or len(value) > MAX_SUBMITTED_TEXT:
                errors.append(
                    (path, f"is longer than 32 (syntax) or {MAX_SUBMITTED_TEXT} (value) characters")
                )
            elif "\x00" in syntax or "\x00" in value:
                errors.append((path, "contains a NUL character"))
        if len(feature.variant_label) > MAX_SUBMITTED_TEXT:
            errors.append(
                (f"{field}.variant.label", f"is longer than {MAX_SUBMITTED_TEXT} characters")
            )
        elif "\x00" in feature.variant_label:
            errors.append((f"{field}.variant.label", "contains a NUL character"))
        if gene is not None:
            # Structured ids (HGNC, Entrez, Ensembl) are expected to be normalised; a symbol that is
            # an alias or a previous symbol is worth telling the submitter about.
            for submitted_symbol in (feature.gene_id, feature.gene_symbol):
                submitted_symbol = submitted_symbol.strip()
                if (
                    submitted_symbol
                    and GeneCatalogue.identifier_kind(submitted_symbol) == "symbol"
                    and submitted_symbol.upper() != gene.symbol.upper()
                ):
                    notes.append(
                        f"gene {submitted_symbol} is not the approved symbol; recorded as "
                        f"{gene.symbol} ({gene.gene_id})"
                    )
                    break
            if variant is not None and (warning := _variant_off_its_gene(gene, variant)):
                warnings.append((f"{field}.{warning[0]}", warning[1]))
            valid.append(ValidGenomicFeature(gene=gene, submitted=feature))
    return valid


# How far outside a gene's transcribed span a variant may lie before it is worth a warning:
# promoters and nearby regulatory variants are reported with the gene.
GENE_SPAN_MARGIN = 10_000


def _variant_off_its_gene(gene: Gene, variant: VariantRecord) -> tuple[str, str] | None:
    """(field under `variant`, message) when the variant cannot be in `gene`, else None.

    The chromosome is compared where the gene list places the gene on one chromosome; the
    position where the list also has the gene's GRCh38 span and the variant is on GRCh38.
    """
    if not gene.chromosome or variant.reference_name not in CHROMOSOMES:
        return None
    if variant.reference_name != gene.chromosome:
        return (
            "variant.referenceName",
            f"{gene.symbol} is on chromosome {gene.chromosome}, but the variant is on chromosome "
            f"{variant.reference_name}: check the gene and the variant",
        )
    span = gene.grch38_span
    if span is None or not variant.assembly.startswith("GRCh38") or variant.start < 0:
        return None
    first = variant.start + 1  # MME starts are 0-based; the span is 1-based
    last = max(variant.end or 0, first)
    if last < span[0] - GENE_SPAN_MARGIN or first > span[1] + GENE_SPAN_MARGIN:
        return (
            "variant.start",
            f"position {first:,} on chromosome {gene.chromosome} is outside {gene.symbol} "
            f"({span[0]:,}-{span[1]:,} on GRCh38, give or take {GENE_SPAN_MARGIN // 1000} kb): "
            "check the gene and the variant",
        )
    return None


def _resolve_gene(
    feature: GenomicFeatureRecord,
    *,
    genes: GeneCatalogue,
    field: str,
    errors: list[tuple[str, str]],
    warnings: list[tuple[str, str]],
    unknown_genes: list[str],
) -> Gene | None:
    if not feature.gene_id.strip():
        errors.append((field, "is required"))
        return None
    # The variant's chromosome settles an alias shared by genes on different chromosomes (the
    # MME benchmark's "GARS": GARS1 on 7, GART on 21); it never overrides an unambiguous id.
    variant = feature.variant
    chromosome = (
        variant.reference_name if variant and variant.reference_name in CHROMOSOMES else None
    )
    try:
        return genes.resolve(feature.gene_id, chromosome=chromosome)
    except GeneLookupError as first_error:
        # Phenopackets carry an HGNC id and the symbol; a catalogue built only from the HPO gene
        # list knows symbols, so the symbol is a fair second try (never a guess: it must resolve
        # unambiguously by the same rules).
        last_error = first_error
        if feature.gene_symbol and feature.gene_symbol != feature.gene_id:
            try:
                return genes.resolve(feature.gene_symbol, chromosome=chromosome)
            except GeneLookupError as symbol_error:
                last_error = symbol_error
        # A gene the catalogue does not know is kept (a newer symbol); an id of a kind it
        # cannot read (an HGNC id without the HGNC set) or an ambiguous one is not: keeping those
        # would silently miss the known gene they name.
        if isinstance(last_error, UnknownGeneError) and (
            kept := unresolved_gene(feature.gene_id, symbol=feature.gene_symbol)
        ):
            # Newer than our catalogue, not wrong: keep it, to match the same gene exactly.
            warnings.append(
                (
                    field,
                    f"{last_error}: check the spelling; if it is a newer gene, it is kept as "
                    f"submitted ({kept.gene_id}) and matched only with cases and queries that "
                    "name the same gene the same way",
                )
            )
            unknown_genes.append(feature.gene_id.strip())
            return kept
        errors.append((field, str(first_error)))
        return None
