"""Loading reference releases by URL, and how old the loaded releases are.

The files are served by a real HTTP server on loopback. The download tests use the fixture HPO
release (2000-01-01): they are about fetching, limits and keeping the release in use, not about
the graph; the age tests read the real release the node ships (2025-01-16).
"""

from __future__ import annotations

import datetime
import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.core.management.base import SystemCheckError
from django.test import Client, override_settings

from matchmaker.reference.models import ReferenceRelease
from matchmaker.reference.ontology import get_gene_catalogue, get_hpo
from matchmaker.reference.releases import loaded_release_ages, release_date
from tests.matching.conftest import FIXTURES, load_mini_release, run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("forget_loaded_reference_data")]

MINI_RELEASE = {
    "/release/hp.obo": (FIXTURES / "mini_hpo.obo").read_bytes(),
    "/release/phenotype.hpoa": (FIXTURES / "mini_phenotype.hpoa").read_bytes(),
    "/release/genes_to_phenotype.txt": (FIXTURES / "mini_genes_to_phenotype.txt").read_bytes(),
    "/hgnc/hgnc_complete_set.txt": (FIXTURES / "hgnc_complete_set_sample.txt").read_bytes(),
}


class ReleaseServer(ThreadingHTTPServer):
    files: dict[str, bytes]
    announce_length: bool


class ReleaseHandler(BaseHTTPRequestHandler):
    server: ReleaseServer

    def do_GET(self) -> None:
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        if self.server.announce_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def release_server() -> Iterator[ReleaseServer]:
    server = ReleaseServer(("127.0.0.1", 0), ReleaseHandler)
    server.files = dict(MINI_RELEASE)
    server.announce_length = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url(server: ReleaseServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    with override_settings(DATA_DIR=tmp_path / "data", HPO_CACHE_DIR=tmp_path / "cache"):
        yield tmp_path / "data"


def test_load_hpo_from_a_release_url_downloads_records_and_switches(
    release_server: ReleaseServer, data_dir: Path
) -> None:
    out = run("load_hpo", "--release-url", url(release_server, "/release/"))

    assert get_hpo().release == "2000-01-01"
    release = ReferenceRelease.objects.get(kind="hpo")
    assert release.version == "2000-01-01"
    downloaded = release.source_paths["downloaded"]
    obo_sha256 = hashlib.sha256(MINI_RELEASE["/release/hp.obo"]).hexdigest()
    assert downloaded["obo"] == {
        "url": url(release_server, "/release/hp.obo"),
        "sha256": obo_sha256,
    }
    assert obo_sha256 in out, "the checksum is shown to the operator"
    obo = Path(release.source_paths["obo"])
    assert obo.name == "hp.obo"
    assert obo.is_relative_to(data_dir / "reference" / "hpo")
    assert Path(release.source_paths["genes"]).name == "genes_to_phenotype.txt"


def test_load_hpo_takes_a_url_and_a_path_together(
    release_server: ReleaseServer, data_dir: Path
) -> None:
    run(
        "load_hpo",
        "--obo",
        url(release_server, "/release/hp.obo"),
        "--annotations",
        str(FIXTURES / "mini_phenotype.hpoa"),
    )
    release = ReferenceRelease.objects.get(kind="hpo")
    assert set(release.source_paths["downloaded"]) == {"obo"}
    assert release.source_paths["annotations"] == str(FIXTURES / "mini_phenotype.hpoa")


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("missing annotations", "HTTP 404"),
        ("too large", "more than the limit of 1,000 bytes"),
        ("too large, length not announced", "more than the limit of 1,000 bytes"),
        ("not an ontology", "could not be read as an HPO release"),
    ],
)
def test_a_failed_release_download_keeps_the_release_in_use(
    release_server: ReleaseServer, data_dir: Path, breakage: str, message: str
) -> None:
    load_mini_release()
    in_use = ReferenceRelease.objects.get(kind="hpo")
    limit = 512 * 1024 * 1024
    if breakage == "missing annotations":
        del release_server.files["/release/phenotype.hpoa"]
    elif breakage.startswith("too large"):
        limit = 1000
        release_server.announce_length = breakage == "too large"
    else:
        release_server.files["/release/hp.obo"] = b"<html><body>Sign in</body></html>\n"

    with (
        override_settings(REFERENCE_DOWNLOAD_MAX_BYTES=limit),
        pytest.raises(CommandError, match=message) as raised,
    ):
        run("load_hpo", "--release-url", url(release_server, "/release/"))

    assert "unchanged" in str(raised.value)
    assert list(ReferenceRelease.objects.filter(kind="hpo")) == [in_use]
    assert get_hpo().release == "2000-01-01"
    downloads = data_dir / "reference" / "hpo"
    assert not downloads.exists() or not any(downloads.iterdir()), "no partial release is left"


def test_load_hpo_refuses_mixed_or_non_http_release_urls() -> None:
    with pytest.raises(CommandError, match="either --release-url or"):
        run("load_hpo", "--release-url", "http://127.0.0.1:9/", "--obo", "hp.obo")
    with pytest.raises(CommandError, match="http:// or https://"):
        run("load_hpo", "--release-url", "file:///etc/")
    assert not ReferenceRelease.objects.exists()


def test_load_genes_from_a_url(release_server: ReleaseServer, data_dir: Path) -> None:
    output = data_dir / "genes.json.gz"
    with override_settings(GENE_CATALOGUE_PATH=output):
        out = run("load_genes", url(release_server, "/hgnc/hgnc_complete_set.txt"))
        catalogue = get_gene_catalogue()

    assert "HGNC complete set" in catalogue.source
    assert catalogue.resolve("HGNC:1100").symbol == "BRCA1"
    release = ReferenceRelease.objects.get(kind="genes")
    (downloaded,) = release.source_paths["downloaded"]
    expected = hashlib.sha256(MINI_RELEASE["/hgnc/hgnc_complete_set.txt"]).hexdigest()
    assert downloaded["sha256"] == expected
    assert expected in out


def test_a_failed_gene_download_keeps_the_catalogue_in_use(
    release_server: ReleaseServer, data_dir: Path
) -> None:
    output = data_dir / "genes.json.gz"
    with override_settings(GENE_CATALOGUE_PATH=output):
        run("load_genes", str(FIXTURES / "hgnc_complete_set_sample.txt"))
        before = output.read_bytes()
        with pytest.raises(CommandError, match=r"HTTP 404.*unchanged"):
            run("load_genes", url(release_server, "/hgnc/missing.txt"))
        release_server.files["/hgnc/other.txt"] = b"<html>not a gene list</html>\n"
        with pytest.raises(CommandError, match=r"not a gene source.*unchanged"):
            run("load_genes", url(release_server, "/hgnc/other.txt"))

    assert output.read_bytes() == before
    assert ReferenceRelease.objects.filter(kind="genes").count() == 1


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2025-01-16", datetime.date(2025, 1, 16)),
        ("org.Hs.eg.db (Entrez Gene 2022-Sep12)", datetime.date(2022, 9, 12)),
        (
            "HGNC complete set 2026-11-30 + HPO genes_to_phenotype 2025-01-16",
            datetime.date(2025, 1, 16),
        ),
        ("HGNC complete set (hgnc_complete_set.txt)", None),
        ("2025-13-40", None),
    ],
)
def test_release_dates_are_read_from_what_each_source_writes(
    version: str, expected: datetime.date | None
) -> None:
    assert release_date(version) == expected


def test_the_shipped_hpo_release_is_reported_stale_after_six_months() -> None:
    with time_machine.travel(datetime.datetime(2025, 3, 1, tzinfo=datetime.UTC)):
        (hpo, genes) = loaded_release_ages()
        assert (hpo.version, hpo.age_days, hpo.stale) == ("2025-01-16", 44, False)
        assert not hpo.recorded
        assert genes.version == "2025-01-16"
    with time_machine.travel(datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC)):
        (hpo, _) = loaded_release_ages()
        assert hpo.stale
        assert hpo.age_days == 690


def test_check_with_the_database_warns_about_stale_releases() -> None:
    with time_machine.travel(datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC)):
        with pytest.raises(SystemCheckError, match=r"matchmaker\.W001") as raised:
            call_command("check", "--database", "default", "--fail-level", "WARNING")
        assert "2025-01-16, 690 days ago" in str(raised.value)
        assert "load_hpo --release-url" in str(raised.value)
        with override_settings(REFERENCE_RELEASE_MAX_AGE_DAYS=1000):
            call_command("check", "--database", "default", "--fail-level", "WARNING")
    # Without --database (the deploy entrypoint's check), an old release never stops a start.
    call_command("check", "--fail-level", "WARNING")


def test_readiness_and_admin_show_the_release_ages(admin_client: Client, data_dir: Path) -> None:
    with override_settings(GENE_CATALOGUE_PATH=data_dir / "genes.json.gz"):
        run("load_genes", str(FIXTURES / "hgnc_complete_set_sample.txt"))
        with time_machine.travel(datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC)):
            body = Client().get("/health/ready").json()
            page = admin_client.get("/admin/reference/referencerelease/").content.decode()

    assert body["releases"]["hpo"] == {
        "version": "2025-01-16",
        "released": "2025-01-16",
        "ageDays": 690,
        "stale": True,
    }
    # The catalogue is as old as its oldest source: the sample's newest HGNC change.
    assert body["releases"]["genes"]["released"] == "2023-09-19"
    assert "2023-09-19 (1175 days): older than 183 days" in page
