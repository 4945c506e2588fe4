"""How old the reference data this node matches with is, and fetching new releases by URL.

A node on an old HPO release cannot read the terms its peers send (they are ignored for
scoring), and an old gene catalogue does not know recently approved symbols. Operators see the
age of both in the Django admin, in `/health/ready` and in `manage.py check`, which warns once a
release is older than `REFERENCE_RELEASE_MAX_AGE_DAYS` (six months by default).

The age is that of the data, not of the load: the HPO release date, and for the gene catalogue
the oldest date its sources carry (org.Hs.eg.db's Entrez Gene date, the HGNC complete set's
newest modification), since the catalogue is as old as its oldest part.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from matchmaker.lib.downloads import DownloadedFile, download, file_name_of
from matchmaker.reference.models import ReferenceRelease
from matchmaker.reference.ontology import configured_hpo_sources
from ontologies.hpo import read_obo_release

_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
# org.Hs.eg.db writes its Entrez Gene date as "2022-Sep12".
_MONTH_NAME_DATE = re.compile(r"(\d{4})-([A-Z][a-z]{2})(\d{1,2})\b")
_MONTHS = {
    name: number
    for number, name in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}


def release_date(version: str) -> datetime.date | None:
    """The oldest date written in a release's version text, or None when it names none."""
    dates: list[datetime.date] = []
    for year, month, day in _ISO_DATE.findall(version):
        try:
            dates.append(datetime.date(int(year), int(month), int(day)))
        except ValueError:
            continue
    for year, month_name, day in _MONTH_NAME_DATE.findall(version):
        if month_name in _MONTHS:
            try:
                dates.append(datetime.date(int(year), _MONTHS[month_name], int(day)))
            except ValueError:
                continue
    return min(dates) if dates else None


@dataclass(frozen=True, slots=True)
class ReleaseAge:
    kind: str  # "hpo" or "genes"
    label: str  # "Human Phenotype Ontology"
    version: str  # as recorded, "" when nothing is loaded
    released: datetime.date | None
    age_days: int | None
    recorded: bool  # loaded with load_hpo/load_genes (False: the settings' default files)

    @property
    def stale(self) -> bool:
        return self.age_days is not None and self.age_days > settings.REFERENCE_RELEASE_MAX_AGE_DAYS

    def describe(self) -> str:
        if not self.version:
            return f"{self.label}: none loaded"
        if self.age_days is None:
            return f"{self.label} {self.version}: release date unknown"
        return f"{self.label} {self.version}: released {self.released}, {self.age_days} days ago"

    def as_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "released": self.released.isoformat() if self.released else None,
            "ageDays": self.age_days,
            "stale": self.stale,
        }


def _age(
    kind: ReferenceRelease.Kind, version: str, *, recorded: bool, dated_text: str = ""
) -> ReleaseAge:
    released = release_date(dated_text or version) if version else None
    age_days = (timezone.localdate() - released).days if released else None
    return ReleaseAge(
        kind=kind.value,
        label=kind.label,
        version=version,
        released=released,
        age_days=age_days,
        recorded=recorded,
    )


def release_age(release: ReferenceRelease) -> ReleaseAge:
    """The age of one recorded release."""
    kind = ReferenceRelease.Kind(release.kind)
    return _age(
        kind,
        release.version,
        recorded=True,
        # The version is cut to 64 characters; a gene catalogue's summary keeps every source's
        # name and date.
        dated_text=str(release.summary.get("source", "")),
    )


def loaded_release_ages() -> list[ReleaseAge]:
    """The age of the HPO release and of the gene catalogue this node matches with.

    Reads the newest recorded release of each kind (one query each). With no HPO release
    recorded, the node uses the configured files: their header names the release. With no gene
    catalogue recorded, the node falls back to the HPO's gene list (as old as that release).
    """
    latest = {
        kind: ReferenceRelease.objects.filter(kind=kind).first()
        for kind in (ReferenceRelease.Kind.HPO, ReferenceRelease.Kind.GENES)
    }
    hpo_release = latest[ReferenceRelease.Kind.HPO]
    if hpo_release is not None:
        hpo = release_age(hpo_release)
    else:
        obo_path = configured_hpo_sources().obo_path
        version = read_obo_release(obo_path) if obo_path.is_file() else ""
        hpo = _age(ReferenceRelease.Kind.HPO, version, recorded=False)
    genes_release = latest[ReferenceRelease.Kind.GENES]
    if genes_release is not None:
        genes = release_age(genes_release)
    else:
        genes = _age(ReferenceRelease.Kind.GENES, hpo.version, recorded=False)
    return [hpo, genes]


def download_folder(kind: str) -> Path:
    """A new folder for one release's downloaded files, never one an earlier release uses."""
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%fZ")
    folder = Path(settings.DATA_DIR) / "reference" / kind / stamp
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def download_reference_file(url: str, folder: Path, name: str | None = None) -> DownloadedFile:
    """Download one reference file into `folder` with the node's size and time limits."""
    return download(
        url,
        folder / (name or file_name_of(url)),
        max_bytes=settings.REFERENCE_DOWNLOAD_MAX_BYTES,
        timeout_seconds=settings.REFERENCE_DOWNLOAD_TIMEOUT_SECONDS,
    )
