"""Phenopacket round trip, field by field: import, export, import again, compare what is stored.

    .venv/bin/python bench/export_fidelity.py [--limit N] [--every K]

Every dev phenopacket (../shared/data/phenopackets-dev.jsonl.gz; or every K-th, or the first N)
is imported through `manage.py import_phenopackets` into institution "First", exported with
`manage.py export_phenopackets`, and the export imported into "Second". Then each stored field
of each case (the case row, its phenotype features, genomic features and disorders) is compared
between the two institutions. Documents the importer rejects are counted, with the first words
of their reasons, not compared. Runs on a fresh SQLite file in a temporary folder unless
POSTGRES_HOST is set (then on POSTGRES_DB, which must be empty and migrated). The last line
printed is one JSON object; tests/cases/test_commands.py runs the same comparison on a sample.
"""

from __future__ import annotations

import argparse
import gzip
import io
import itertools
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matchmaker.cases.models import Case

ROOT = Path(__file__).resolve().parents[1]
PHENOPACKETS_DEV = ROOT.parent / "shared" / "data" / "phenopackets-dev.jsonl.gz"

# Stored, but not case data a phenopacket carries, so not compared: who the case belongs to and
# its bookkeeping. The contact is filled in from the importing institution (Phenopacket v2 has
# no place for a contact), so it differs between "First" and "Second" by construction.
NOT_COMPARED = {
    "id",
    "public_id",
    "institution",
    "owner",
    "contact_name",
    "contact_institution",
    "contact_href",
    "contact_email",
    "external_matching_consent",
    "consent_recorded_by",
    "consent_recorded_at",
    "consent_note",
    "status",
    "withdrawn_at",
    "source",
    "created_at",
    "updated_at",
    "case",
}


def _columns(model: type[Any]) -> list[str]:
    return [field.name for field in model._meta.concrete_fields if field.name not in NOT_COMPARED]


def stored_fields(case: Case) -> dict[str, Any]:
    """Every compared stored field of `case`, named "case.sex", "features.onset_age", ...

    Children are compared as sorted lists of (key, value), keyed by what identifies them in the
    case (the HPO term; the gene with its variant position; the disorder id), so the order rows
    were written in does not count as a difference.
    """
    from matchmaker.cases.models import Case, Disorder, GenomicFeature, PhenotypeFeature

    values: dict[str, Any] = {f"case.{name}": getattr(case, name) for name in _columns(Case)}
    children: list[tuple[str, Iterable[Any], Any, list[str]]] = [
        ("features", case.features.all(), lambda row: row.hpo_id, _columns(PhenotypeFeature)),
        (
            "genomic_features",
            case.genomic_features.all(),
            lambda row: (row.gene_id, row.reference_name, row.start or 0, row.alternate_bases),
            _columns(GenomicFeature),
        ),
        ("disorders", case.disorders.all(), lambda row: row.disorder_id, _columns(Disorder)),
    ]
    for prefix, rows, key, columns in children:
        rows = sorted(rows, key=key)
        values[f"{prefix}.count"] = len(rows)
        for name in columns:
            values[f"{prefix}.{name}"] = [(key(row), _plain(getattr(row, name))) for row in rows]
    return values


def _plain(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else value


def _is_given(value: Any) -> bool:
    """Whether a field holds something in a case (any child row with a non-empty value)."""
    if isinstance(value, list):
        return any(_is_given(item[1]) for item in value)
    return value not in ("", None, [], {}, "[]", "{}", 0, False)


def compare_institutions(first: str, second: str) -> dict[str, Any]:
    """Field-by-field comparison of the cases of two institutions, matched by label.

    Returns {"cases": n, "missing": [labels only in `first`], "fields": {field: {"given": cases
    where `first` has a value, "lost": cases where `second` differs}}, "examples": {field:
    (label, first value, second value)}}.
    """
    from matchmaker.cases.models import Case
    from matchmaker.cases.selectors import iterate_cases_with_details

    def by_label(name: str) -> dict[str, dict[str, Any]]:
        cases = Case.objects.filter(institution__name=name).order_by("id")
        return {case.label: stored_fields(case) for case in iterate_cases_with_details(cases)}

    before, after = by_label(first), by_label(second)
    fields: dict[str, dict[str, int]] = {}
    examples: dict[str, tuple[str, Any, Any]] = {}
    for label, values in before.items():
        again = after.get(label)
        for name, value in values.items():
            counts = fields.setdefault(name, {"given": 0, "lost": 0})
            counts["given"] += _is_given(value)
            if again is None or again.get(name) != value:
                counts["lost"] += 1
                if again is not None:
                    examples.setdefault(name, (label, value, again.get(name)))
    return {
        "cases": len(before),
        "missing": sorted(set(before) - set(after)),
        "fields": fields,
        "examples": examples,
    }


def _run(*args: str) -> tuple[str, str]:
    from django.core.management import call_command

    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def round_trip(source: Path, folder: Path) -> dict[str, Any]:
    """Import `source` as "First", export it, import the export as "Second", and compare."""
    started = time.perf_counter()
    out, err = _run("import_phenopackets", str(source), "--institution", "First")
    rejected = [line for line in err.splitlines() if line.startswith("rejected ")]
    reasons = Counter(
        " ".join(line.split(": ", 2)[-1].split()[2:8]) if ": " in line else line
        for line in rejected
    )
    exported = folder / "export.jsonl.gz"
    _run("export_phenopackets", str(exported), "--institution", "First")
    _, err_again = _run("import_phenopackets", str(exported), "--institution", "Second")
    comparison = compare_institutions("First", "Second")
    comparison["rejected"] = len(rejected)
    comparison["rejected_reasons"] = dict(reasons)
    comparison["rejected_on_reimport"] = [
        line for line in err_again.splitlines() if line.startswith("rejected ")
    ]
    comparison["seconds"] = round(time.perf_counter() - started, 1)
    # The first line counts imported and rejected documents; the others group the notes (what
    # was read but has no place in a case, e.g. a gestational-age onset).
    comparison["import_report"] = out.strip()
    return comparison


def print_table(result: dict[str, Any]) -> None:
    print(f"{result['import_report']}")
    print(f"rejected on import: {result['rejected']}  {result['rejected_reasons']}")
    print(f"rejected when the export was imported again: {len(result['rejected_on_reimport'])}")
    print(f"cases compared: {result['cases']}; missing after the round trip: {result['missing']}")
    print(f"{'field':40} {'cases with a value':>20} {'cases that differ':>18}")
    for name, counts in sorted(result["fields"].items()):
        print(f"{name:40} {counts['given']:>20} {counts['lost']:>18}")
    for name, (label, before, after) in result["examples"].items():
        print(f"e.g. {name} of {label}: {str(before)[:120]} -> {str(after)[:120]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, help="only the first N documents")
    parser.add_argument("--every", type=int, default=1, help="only every K-th document")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        if "POSTGRES_HOST" not in os.environ:
            os.environ["SQLITE_PATH"] = str(folder / "fidelity.sqlite3")
        sys.path.insert(0, str(ROOT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "matchmaker.settings")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        source = PHENOPACKETS_DEV
        if options.limit or options.every > 1:
            source = folder / "sample.jsonl"
            with gzip.open(PHENOPACKETS_DEV, "rt") as documents:
                lines = itertools.islice(documents, 0, options.limit, options.every)
                source.write_text("".join(lines))
        result = round_trip(source, folder)
    print_table(result)
    summary = {
        "cases": result["cases"],
        "rejected": result["rejected"],
        "rejected_on_reimport": len(result["rejected_on_reimport"]),
        "missing": len(result["missing"]),
        "fields_with_loss": {
            name: counts["lost"] for name, counts in result["fields"].items() if counts["lost"]
        },
        "seconds": result["seconds"],
    }
    print(json.dumps(summary, default=str))


if __name__ == "__main__":
    main()
