"""The case index of this process: loaded once, kept current through the IndexChange log.

Every web and worker process holds one `CaseIndex` (all active cases as arrays). It starts from
the file written by `manage.py build_index` (or is built from the database when there is none),
and before each search applies the changes other processes logged since (`IndexChange` rows):
one indexed query when nothing changed, and a reload of just the changed cases otherwise.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from matchmaker.cases.models import Case, GenomicFeature, PhenotypeFeature
from matchmaker.lib.sql import quoted_column, quoted_table
from matchmaker.matching.models import IndexChange
from matchmaker.reference.ontology import get_hpo, get_phenotype_scorer
from ontologies.case_index import CaseIndex, IndexedCase
from ontologies.hpo import Ontology

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_index: CaseIndex | None = None
_applied_change_id = 0


def record_index_change(first_case_id: int, last_case_id: int | None = None) -> None:
    """Log that cases first..last changed (created, edited, withdrawn, consent, deleted).

    Call it inside the transaction that changes them, so the log and the data commit together.
    """
    IndexChange.objects.create(
        first_case_id=first_case_id,
        last_case_id=first_case_id if last_case_id is None else last_case_id,
    )


def _latest_change_id() -> int:
    latest = IndexChange.objects.order_by("-id").values_list("id", flat=True).first()
    return latest or 0


def indexed_cases(first_case_id: int, last_case_id: int) -> list[IndexedCase]:
    """The index rows of the active cases with ids first..last, read with three queries.

    Id ranges rather than id lists keep every query small and within SQLite's limit on query
    parameters, however many cases a bulk import wrote.
    """
    ontology = get_hpo()
    profiler = get_phenotype_scorer().disease_profiler
    id_range = (first_case_id, last_case_id)
    rows = list(
        Case.objects.filter(id__range=id_range, status=Case.Status.ACTIVE)
        .order_by("id")
        .values_list("id", "external_matching_consent", "is_test")
    )
    observed: defaultdict[int, list[int]] = defaultdict(list)
    excluded: defaultdict[int, list[int]] = defaultdict(list)
    genes: defaultdict[int, list[str]] = defaultdict(list)
    for case_id, hpo_id, is_observed in PhenotypeFeature.objects.filter(
        case__id__range=id_range
    ).values_list("case_id", "hpo_id", "observed"):
        term = _term_index(ontology, hpo_id)
        if term is not None:
            (observed if is_observed else excluded)[case_id].append(term)
    for case_id, gene_id in GenomicFeature.objects.filter(case__id__range=id_range).values_list(
        "case_id", "gene_id"
    ):
        genes[case_id].append(gene_id)
    # Disease profiles (~0.1-1 ms a case) share the term rows of one batch.
    row_cache: dict[int, Any] = {}
    return [
        IndexedCase(
            key=case_id,
            observed=observed[case_id],
            excluded=excluded[case_id],
            genes=genes[case_id],
            shareable=consent,
            is_test=is_test,
            disease_profile=(
                profiler.profile(observed[case_id], row_cache) if profiler is not None else None
            ),
        )
        for case_id, consent, is_test in rows
    ]


def _term_index(ontology: Ontology, hpo_id: str) -> int | None:
    try:
        return ontology.index_of(hpo_id)
    except LookupError:
        # A term of an older release that the loaded one has dropped: the case keeps it, the
        # index cannot score it. Reported by the HPO upgrade check, not here.
        return None


def build_case_index(*, batch_size: int = 50_000) -> tuple[CaseIndex, int]:
    """Build the index of every active case from the database (a full rebuild).

    Returns the index and the id of the last `IndexChange` it includes. The id is read before the
    cases, so a change committed during the build is applied again afterwards (harmless: applying
    a change reloads the case).
    """
    ontology = get_hpo()
    change_id = _latest_change_id()
    ids = Case.objects.filter(status=Case.Status.ACTIVE).order_by("id").values_list("id", flat=True)
    all_ids = list(ids)
    cases: list[IndexedCase] = []
    for start in range(0, len(all_ids), batch_size):
        chunk = all_ids[start : start + batch_size]
        cases.extend(indexed_cases(chunk[0], chunk[-1]))
    index = CaseIndex.build(cases, hpo_release=ontology.release)
    index.metadata["disease_profiler"] = _profiler_fingerprint()
    return index, change_id


def _profiler_fingerprint() -> str | None:
    profiler = get_phenotype_scorer().disease_profiler
    return profiler.fingerprint if profiler is not None else None


def _apply_changes(index: CaseIndex, changes: Iterable[tuple[int, int]]) -> None:
    """Reload the cases in each changed id range: upsert those still active, remove the others."""
    for first, last in changes:
        present = {case.key: case for case in indexed_cases(first, last)}
        for case in present.values():
            index.upsert(case)
        # Deleted or withdrawn cases of the range that the index still holds. Most ranges are
        # one case; listing every key (a sort of all keys) is only worth it for bulk ranges.
        if last - first < 10_000:
            candidates: Iterable[int] = range(first, last + 1)
        else:
            keys = index.keys()
            candidates = keys[(keys >= first) & (keys <= last)].tolist()
        for key in candidates:
            if key not in present and key in index:
                index.remove(key)


def get_case_index() -> CaseIndex:
    """This process's index, brought up to date with every change committed so far."""
    global _index, _applied_change_id
    with _lock:
        if _index is None:
            _index, _applied_change_id = _load_or_build()
        pending = _changes_after(_applied_change_id)
        if pending:
            _apply_changes(_index, [(first, last) for _, first, last in pending])
            _applied_change_id = pending[-1][0]
        return _index


def _changes_after(change_id: int) -> list[tuple[int, int, int]]:
    """(id, first case id, last case id) of the changes logged after `change_id`, oldest first.

    Asked before every search, so through the cursor: building the same ORM query each time
    cost twice the statement itself (~0.4 ms of CPU a search, issue 16). Table and column
    names come from the model.
    """
    table = quoted_table(IndexChange)
    id_column, first_column, last_column = (
        quoted_column(IndexChange, name) for name in ("id", "first_case_id", "last_case_id")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {id_column}, {first_column}, {last_column} FROM {table} "  # noqa: S608
            f"WHERE {id_column} > %s ORDER BY {id_column}",
            [change_id],
        )
        return [(int(row[0]), int(row[1]), int(row[2])) for row in cursor.fetchall()]


def _load_or_build() -> tuple[CaseIndex, int]:
    path = Path(settings.CASE_INDEX_PATH)
    release = get_hpo().release
    if path.exists() and _sidecar(path).exists():
        try:
            index = CaseIndex.load(path)
        except ValueError as error:  # e.g. an older format version
            logger.warning("Cannot use the case index at %s (%s): rebuilding it.", path, error)
            return build_case_index()
        profiler = _profiler_fingerprint()
        if index.hpo_release == release and index.metadata.get("disease_profiler") == profiler:
            return index, int(json.loads(_sidecar(path).read_text())["change_id"])
        logger.warning(
            "The case index at %s was built with HPO %s and disease profiles %s, not %s and "
            "%s: rebuilding it.",
            path,
            index.hpo_release,
            index.metadata.get("disease_profiler"),
            release,
            profiler,
        )
    return build_case_index()


def _sidecar(path: Path) -> Path:
    """Where the id of the last change included in a saved index is kept."""
    return path.with_suffix(".json")


def save_case_index(index: CaseIndex, change_id: int, path: Path | None = None) -> Path:
    """Save `index` (which includes every change up to `change_id`) for processes to load."""
    target = Path(path or settings.CASE_INDEX_PATH)
    target.parent.mkdir(parents=True, exist_ok=True)
    index.compact()
    # The index goes first: an index newer than its sidecar only re-applies a few changes, which
    # is harmless; the other way round would skip some.
    index.save(target)
    _sidecar(target).write_text(json.dumps({"change_id": change_id}))
    return target


def forget_case_index() -> None:
    """Drop this process's index (tests, and after an HPO release change)."""
    global _index, _applied_change_id
    with _lock:
        _index = None
        _applied_change_id = 0
