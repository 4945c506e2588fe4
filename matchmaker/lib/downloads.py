"""Downloading reference files (HPO release, HGNC complete set) for `load_hpo` and `load_genes`.

A download is streamed to a temporary file beside its destination, counted as it arrives (a
server that sends more than `max_bytes`, or announces more, is refused before the disk fills),
hashed (SHA-256, logged and recorded with the release so an operator can compare it with the
publisher's) and renamed into place only when complete: a failed or partial download never
leaves a file that a later load could mistake for a release.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 1 << 16


class DownloadError(Exception):
    """The file could not be downloaded; the message says why, in words an operator can act on."""


@dataclass(frozen=True, slots=True)
class DownloadedFile:
    url: str
    path: Path
    size: int
    sha256: str


def is_url(value: str) -> bool:
    return urlsplit(value).scheme in ("http", "https")


def file_name_of(url: str) -> str:
    """The last path segment of `url` ("hp.obo"), refused when it is empty or not a plain name."""
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    if not name or name in (".", "..") or "\\" in name:
        raise DownloadError(f"{url}: the address does not end in a file name")
    return name


def download(
    url: str,
    destination: Path,
    *,
    max_bytes: int,
    timeout_seconds: float,
) -> DownloadedFile:
    """Fetch `url` into `destination` (created or replaced only on success).

    Redirects are followed (release assets are served from a CDN); `timeout_seconds` bounds
    the whole transfer, not each read, so a server that trickles cannot hold the command.
    Raises DownloadError.
    """
    if not is_url(url):
        raise DownloadError(f"{url}: only http:// and https:// addresses can be downloaded")
    destination.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_seconds
    digest = hashlib.sha256()
    size = 0
    handle, temporary_name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".part", dir=destination.parent
    )
    temporary = Path(temporary_name)
    try:
        with (
            os.fdopen(handle, "wb") as output,
            httpx.Client(
                follow_redirects=True,
                timeout=httpx.Timeout(min(timeout_seconds, 60.0)),
                headers={"Accept-Encoding": "identity"},
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise DownloadError(f"{url}: the server answered HTTP {response.status_code}")
            announced = response.headers.get("Content-Length", "")
            if announced.isdigit() and int(announced) > max_bytes:
                raise DownloadError(
                    f"{url}: the file is {int(announced):,} bytes, more than the limit of "
                    f"{max_bytes:,} bytes (REFERENCE_DOWNLOAD_MAX_BYTES)"
                )
            for chunk in response.iter_bytes(_CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise DownloadError(
                        f"{url}: more than the limit of {max_bytes:,} bytes "
                        "(REFERENCE_DOWNLOAD_MAX_BYTES) arrived; download refused"
                    )
                if time.monotonic() > deadline:
                    raise DownloadError(
                        f"{url}: not complete after {timeout_seconds:g} s "
                        "(REFERENCE_DOWNLOAD_TIMEOUT_SECONDS)"
                    )
                digest.update(chunk)
                output.write(chunk)
        os.replace(temporary, destination)
    except httpx.HTTPError as error:
        raise DownloadError(f"{url}: {type(error).__name__}: {error}") from None
    finally:
        temporary.unlink(missing_ok=True)
    downloaded = DownloadedFile(url=url, path=destination, size=size, sha256=digest.hexdigest())
    logger.info(
        "downloaded %s (%d bytes, sha256 %s) to %s",
        url,
        downloaded.size,
        downloaded.sha256,
        destination,
    )
    return downloaded
