"""Bring the stored cases to the HPO release loaded by `load_hpo` (`remap_case_terms`), and to
the gene catalogue loaded by `load_genes` (`remap_case_genes`).

Cases keep the ids they were validated against. After a new release, an id that became an
alternative id or an obsolete term is no longer a current term: the index cannot score it (the
case silently matches on fewer terms) and the pages show no label for it. `remap_case_terms` rewrites
such ids through the release's replacements (alt_id and replaced_by, as validation does for new
cases), keeps the id as submitted, logs the changed cases for every process's index and queues
them for matching, and reports what it changed and what it could not.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction

from matchmaker.cases.models import Case, GenomicFeature, PhenotypeFeature
from matchmaker.casework.services.matches import note_case_changed, queue_matching
from ontologies.genes import CHROMOSOMES, Gene, GeneCatalogue, GeneLookupError
from ontologies.hpo import ObsoleteTermError, Ontology, UnknownTermError


@dataclass(slots=True)
class RemapReport:
    """What `remap_case_terms` changed, and what it left for a curator."""

    release: str
    # old id -> (current id, number of rows rewritten), per place the id was stored
    remapped: dict[str, dict[str, tuple[str, int]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    # features dropped because the case already had the current term (same observed/excluded)
    merged: list[tuple[str, str, str]] = field(default_factory=list)  # public id, old, current
    # (public id, stored id, reason): left as they are
    not_remapped: list[tuple[str, str, str]] = field(default_factory=list)
    changed_case_ids: set[int] = field(default_factory=set)
    cases_on_release: int = 0


def remap_case_terms(
    ontology: Ontology, *, dry_run: bool = False, rematch: bool = True
) -> RemapReport:
    """Rewrite stored HPO ids that are not current terms of `ontology` to their replacements.

    Phenotype features (`hpo_id`, the id as first submitted kept in `submitted_hpo_id`), their
    onsets, and each case's onset and mode of inheritance. An obsolete id without a single
    replacement, or an id the release does not know, is reported and left as it is; so is a
    remapped feature contradicting one the case already has (observed against excluded). A
    remapped feature the case already has as such is merged into it. Cases whose stored ids are
    now all current are recorded as validated against this release. One transaction; with
    `dry_run` it is rolled back, and nothing is queued.
    """
    report = RemapReport(release=ontology.release)
    with transaction.atomic():
        reasons: dict[str, str] = {}
        replacements = _replacements_of_stale_ids(ontology, _stored_ids(), reasons)
        _remap_features(replacements, reasons, report)
        _remap_onsets(replacements, reasons, report)
        _note_changed_cases(report.changed_case_ids, rematch=rematch)
        problem_cases = {public_id for public_id, _, _ in report.not_remapped}
        report.cases_on_release = (
            Case.objects.exclude(hpo_release=ontology.release)
            .exclude(public_id__in=problem_cases)
            .update(hpo_release=ontology.release)
        )
        if dry_run:
            transaction.set_rollback(True)
    return report


def _stored_ids() -> set[str]:
    ids = set(PhenotypeFeature.objects.values_list("hpo_id", flat=True).distinct())
    ids |= set(PhenotypeFeature.objects.values_list("onset_hpo_id", flat=True).distinct())
    ids |= set(Case.objects.values_list("age_of_onset", flat=True).distinct())
    ids |= set(Case.objects.values_list("inheritance_mode", flat=True).distinct())
    ids.discard("")
    return ids


def _is_current(ontology: Ontology, hpo_id: str) -> bool:
    try:
        ontology.index_of(hpo_id)
    except LookupError:
        return False
    return True


def _replacements_of_stale_ids(
    ontology: Ontology, stored: set[str], reasons: dict[str, str]
) -> dict[str, str]:
    """Stale id -> its current term; the stale ids without one get their reason in `reasons`."""
    replacements = {}
    for hpo_id in sorted(stored):
        if _is_current(ontology, hpo_id):
            continue
        try:
            replacements[hpo_id] = ontology.resolve(hpo_id).hpo_id
        except (ObsoleteTermError, UnknownTermError) as error:
            reasons[hpo_id] = str(error)
    return replacements


def _remap_features(
    replacements: dict[str, str], reasons: dict[str, str], report: RemapReport
) -> None:
    stale = [*replacements, *reasons]
    rows = list(
        PhenotypeFeature.objects.filter(hpo_id__in=stale)
        .select_related("case")
        .order_by("case_id", "id")
    )
    case_ids = {row.case_id for row in rows}
    # What each touched case already holds, so a remapped term never collides with one it has.
    held: dict[tuple[int, str], bool] = {
        (case_id, hpo_id): observed
        for case_id, hpo_id, observed in PhenotypeFeature.objects.filter(
            case_id__in=case_ids
        ).values_list("case_id", "hpo_id", "observed")
    }
    updated, deleted = [], []
    counts: defaultdict[str, int] = defaultdict(int)
    for row in rows:
        public_id = row.case.public_id
        if row.hpo_id in reasons:
            report.not_remapped.append((public_id, row.hpo_id, reasons[row.hpo_id]))
            continue
        target = replacements[row.hpo_id]
        already = held.get((row.case_id, target))
        if already is not None and already != row.observed:
            state, this = ("observed", "excluded") if already else ("excluded", "observed")
            report.not_remapped.append(
                (
                    public_id,
                    row.hpo_id,
                    f"its replacement {target} is already {state} in this case while this term "
                    f"is {this}: a curator must decide",
                )
            )
            continue
        report.changed_case_ids.add(row.case_id)
        if already is not None:
            report.merged.append((public_id, row.hpo_id, target))
            deleted.append(row.pk)
            continue
        counts[row.hpo_id] += 1
        held[(row.case_id, target)] = row.observed
        row.submitted_hpo_id = row.submitted_hpo_id or row.hpo_id
        row.hpo_id = target
        updated.append(row)
    PhenotypeFeature.objects.bulk_update(updated, ["hpo_id", "submitted_hpo_id"], batch_size=1000)
    PhenotypeFeature.objects.filter(pk__in=deleted).delete()
    for old, count in counts.items():
        report.remapped["phenotype"][old] = (replacements[old], count)


def _remap_onsets(
    replacements: dict[str, str], reasons: dict[str, str], report: RemapReport
) -> None:
    """The onset of features, and each case's onset and mode of inheritance."""
    places: list[tuple[str, type[PhenotypeFeature | Case], str, str, str]] = [
        ("feature onset", PhenotypeFeature, "onset_hpo_id", "case_id", "case__public_id"),
        ("case onset", Case, "age_of_onset", "id", "public_id"),
        ("inheritance", Case, "inheritance_mode", "id", "public_id"),
    ]
    for place, model, column, case_column, public_id_column in places:
        for old, target in replacements.items():
            rows = model.objects.filter(**{column: old})
            case_ids = set(rows.values_list(case_column, flat=True))
            if not case_ids:
                continue
            count = rows.update(**{column: target})
            report.changed_case_ids |= case_ids
            report.remapped[place][old] = (target, count)
        for old, reason in reasons.items():
            for public_id in (
                model.objects.filter(**{column: old})
                .values_list(public_id_column, flat=True)
                .distinct()
            ):
                report.not_remapped.append((public_id, old, f"{place}: {reason}"))


def _note_changed_cases(case_ids: set[int], *, rematch: bool) -> None:
    """Log the rewritten cases for every process's index (one row per run of consecutive ids)
    and, with `rematch`, queue the active ones for matching after commit."""
    for first, last in _ranges(sorted(case_ids)):
        note_case_changed(first, last, rematch=False)
    if case_ids and rematch:
        queue_matching(
            Case.objects.filter(pk__in=case_ids, status=Case.Status.ACTIVE).values_list(
                "pk", flat=True
            )
        )


def _ranges(ids: list[int]) -> list[tuple[int, int]]:
    """Sorted ids as runs of consecutive ids: one IndexChange row per run, not per case."""
    runs: list[tuple[int, int]] = []
    for case_id in ids:
        if runs and runs[-1][1] == case_id - 1:
            runs[-1] = (runs[-1][0], case_id)
        else:
            runs.append((case_id, case_id))
    return runs


@dataclass(slots=True)
class GeneRemapReport:
    """What `remap_case_genes` changed, and what the catalogue still does not know."""

    catalogue: str
    # stored id -> (canonical id, symbol, number of rows rewritten)
    resolved: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    # (public id, stored id): still unknown to the catalogue, left as submitted
    still_unknown: list[tuple[str, str]] = field(default_factory=list)
    changed_case_ids: set[int] = field(default_factory=set)


def remap_case_genes(
    genes: GeneCatalogue, *, dry_run: bool = False, rematch: bool = True
) -> GeneRemapReport:
    """Resolve the genes stored as submitted because an older catalogue did not know them.

    A case (or a peer's query) naming a gene newer than the loaded catalogue keeps it as
    submitted (`ontologies.genes.unresolved_gene`: the symbol in upper case, or the structured
    id), so it matches only the same gene written the same way. After `load_genes` brought a
    newer catalogue, each such gene is resolved again by the rules validation uses (the stored
    id, then the submitted id, then the symbol, the variant's chromosome settling an alias) and
    rewritten to its canonical id, approved symbol and Ensembl id; the submitted id is kept. The
    changed cases are logged for every process's index and, unless `rematch` is off, matched
    again. One transaction; with `dry_run` it is rolled back, and nothing is queued.
    """
    report = GeneRemapReport(catalogue=genes.source)
    with transaction.atomic():
        # Each distinct stored id is judged once; only the rows of stale ones are read.
        stored = GenomicFeature.objects.values_list("gene_id", flat=True).distinct()
        stale_ids = [gene_id for gene_id in stored if not _is_canonical(genes, gene_id)]
        stale = list(
            GenomicFeature.objects.filter(gene_id__in=stale_ids)
            .select_related("case")
            .order_by("case_id", "id")
        )
        updated = []
        for row in stale:
            gene = _resolve_stored_gene(genes, row)
            if gene is None:
                report.still_unknown.append((row.case.public_id, row.gene_id))
                continue
            old_id = row.gene_id
            row.gene_id, row.gene_symbol = gene.gene_id, gene.symbol
            row.ensembl_gene_id = gene.ensembl_ids[0] if gene.ensembl_ids else ""
            updated.append(row)
            report.changed_case_ids.add(row.case_id)
            _, _, count = report.resolved.get(old_id, ("", "", 0))
            report.resolved[old_id] = (gene.gene_id, gene.symbol, count + 1)
        GenomicFeature.objects.bulk_update(
            updated, ["gene_id", "gene_symbol", "ensembl_gene_id"], batch_size=1000
        )
        _note_changed_cases(report.changed_case_ids, rematch=rematch)
        if dry_run:
            transaction.set_rollback(True)
    return report


def _is_canonical(genes: GeneCatalogue, gene_id: str) -> bool:
    """Whether the stored id is the canonical id of a gene this catalogue knows."""
    try:
        return genes.resolve(gene_id).gene_id == gene_id
    except GeneLookupError:
        return False


def _resolve_stored_gene(genes: GeneCatalogue, row: GenomicFeature) -> Gene | None:
    chromosome = row.reference_name if row.reference_name in CHROMOSOMES else None
    for identifier in dict.fromkeys((row.gene_id, row.submitted_gene_id, row.gene_symbol)):
        if not identifier:
            continue
        try:
            return genes.resolve(identifier, chromosome=chromosome)
        except GeneLookupError:
            continue
    return None
