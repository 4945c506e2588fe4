"""Read JSON documents from a file, a folder of files or an upload, gzipped or not, one at a time.

Uploads (the import page, the REST API) are read whole before anything is stored, so they have
limits; bulk loads go through `manage.py import_phenopackets`, which streams.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from matchmaker.cases.interchange.fields import json_type
from matchmaker.cases.records import CaseRecord, RecordFormatError

JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
# What read_documents picks up from a folder (compared in lower case).
FOLDER_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # all files of one upload (or one request body), as sent
# After gunzipping: the documents of an upload are held in memory, and a small gzip file can
# expand a thousandfold.
MAX_UNPACKED_BYTES = 64 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """One JSON object read from a file, or why it could not be read; exactly one is set."""

    origin: str  # "cases.jsonl.gz:42" (line), "folder/x.json", "list.json[3]" (list item)
    document: dict[str, Any] | None = None
    error: RecordFormatError | None = None


def read_documents(path: Path) -> Iterator[SourceDocument]:
    """Yield every JSON object in a file or a folder of files, in order.

    `path` is one file (a JSON object, a JSON list of objects, or JSON lines when named .jsonl or
    .ndjson) or a folder, whose files ending in FOLDER_SUFFIXES are read in name order. Any file
    may be gzipped; that is detected from its first bytes, not its name. Text that is not JSON,
    or JSON that is not an object, becomes an item with `error` set (its message gives the
    line and column) and reading goes on. JSON lines are read one line at a time, so memory stays
    bounded by the longest line. A missing `path` raises FileNotFoundError.
    """
    if path.is_dir():
        files = sorted(
            child
            for child in path.iterdir()
            if child.is_file() and child.name.lower().endswith(FOLDER_SUFFIXES)
        )
        for file in files:
            yield from _read_file(file, origin=f"{path.name}/{file.name}")
    else:
        yield from _read_file(path, origin=path.name)


def _read_file(path: Path, *, origin: str) -> Iterator[SourceDocument]:
    with path.open("rb") as raw:
        yield from read_stream(raw, name=path.name, origin=origin)


def read_stream(
    raw: IO[bytes], *, name: str, origin: str | None = None
) -> Iterator[SourceDocument]:
    """Like `read_documents`, for one file already open (an upload); `name` decides JSON lines.

    The stream must be seekable (Django's uploaded files are).
    """
    origin = name if origin is None else origin
    is_json_lines = name.lower().removesuffix(".gz").endswith(JSON_LINES_SUFFIXES)
    is_gzipped = raw.read(2) == _GZIP_MAGIC
    raw.seek(0)
    stream: IO[bytes] | gzip.GzipFile = gzip.GzipFile(fileobj=raw, mode="rb") if is_gzipped else raw
    try:
        if is_json_lines:
            yield from _read_json_lines(stream, origin=origin)
        else:
            yield from _read_json_file(stream, origin=origin)
    except (OSError, EOFError, zlib.error) as error:
        # A truncated or corrupt gzip stream: what was read so far stands, the rest of this
        # file is lost, and the next file is still read.
        yield _failed(origin, f"cannot read the rest of the file ({error})")


def _read_json_lines(stream: IO[bytes] | gzip.GzipFile, *, origin: str) -> Iterator[SourceDocument]:
    for number, raw_line in enumerate(stream, start=1):
        line_origin = f"{origin}:{number}"
        try:
            # utf-8-sig drops a byte order mark, which some editors put on the first line.
            line = raw_line.decode("utf-8-sig").rstrip("\r\n")
        except UnicodeDecodeError as error:
            yield _failed(line_origin, f"not UTF-8 text ({error.reason} at byte {error.start})")
            continue
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            yield _failed(line_origin, f"not valid JSON: {error.msg} at column {error.colno}")
            continue
        yield _as_source_document(value, origin=line_origin)


def _read_json_file(stream: IO[bytes] | gzip.GzipFile, *, origin: str) -> Iterator[SourceDocument]:
    try:
        value = json.loads(stream.read().decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        yield _failed(origin, f"not UTF-8 text ({error.reason} at byte {error.start})")
        return
    except json.JSONDecodeError as error:
        yield _failed(
            origin, f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        )
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield _as_source_document(item, origin=f"{origin}[{index}]")
    else:
        yield _as_source_document(value, origin=origin)


def _as_source_document(value: Any, *, origin: str) -> SourceDocument:
    if isinstance(value, dict):
        return SourceDocument(origin=origin, document=value)
    return _failed(origin, f"is a JSON {json_type(value)}, not an object")


def _failed(origin: str, message: str) -> SourceDocument:
    # The origin travels next to the error, and importers print both: it is not repeated here.
    return SourceDocument(origin=origin, error=RecordFormatError(message))


def parse_documents(
    sources: Iterable[SourceDocument], parse: Callable[[Mapping[str, Any]], CaseRecord]
) -> Iterator[tuple[str, CaseRecord | RecordFormatError]]:
    """Each document's origin with its record, or with why it could not be read or parsed.

    The pairs are what `cases.services.import_case_records` takes.
    """
    for source in sources:
        if source.error is not None:
            yield source.origin, source.error
            continue
        try:
            yield source.origin, parse(source.document or {})
        except RecordFormatError as error:
            yield source.origin, error


class UploadLimitError(ValueError):
    """An upload holds more than one request may; none of it is to be imported."""

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(name, limit)
        self.name = name  # of the file being read when the limit was passed
        self.limit = limit


class UnpackedTooLargeError(UploadLimitError):
    """Gunzipped, the files hold more than `limit` bytes."""


class TooManyDocumentsError(UploadLimitError):
    """The files hold more than `limit` documents."""


def read_uploads(
    files: Sequence[tuple[str, IO[bytes]]], *, max_documents: int
) -> list[SourceDocument]:
    """Every document of the uploaded (name, stream) pairs, read before anything is stored.

    Raises `UnpackedTooLargeError` past MAX_UNPACKED_BYTES (checked before any file is parsed,
    so a gzip bomb is never unpacked into memory) and `TooManyDocumentsError` past
    `max_documents`. Each document's origin starts with its file's name; two files of one name
    are told apart by their number in the upload.
    """
    unpacked = 0
    for name, stream in files:
        unpacked += unpacked_size(stream, limit=MAX_UNPACKED_BYTES - unpacked)
        if unpacked > MAX_UNPACKED_BYTES:
            raise UnpackedTooLargeError(name, MAX_UNPACKED_BYTES)
    documents: list[SourceDocument] = []
    names = [name for name, _ in files]
    for (name, stream), origin in zip(files, _origins(names), strict=True):
        for document in read_stream(stream, name=name, origin=origin):
            documents.append(document)
            if len(documents) > max_documents:
                raise TooManyDocumentsError(name, max_documents)
    return documents


def _origins(names: Sequence[str]) -> list[str]:
    """The name each file is reported under; two files with one name are told apart by number."""
    shown = [name or "upload" for name in names]
    repeated = {name for name, count in Counter(shown).items() if count > 1}
    return [
        f"{name} (file {number})" if name in repeated else name
        for number, name in enumerate(shown, start=1)
    ]


def unpacked_size(stream: IO[bytes], *, limit: int) -> int:
    """The stream's size once gunzipped, counted up to just past `limit` (a gzip bomb stops early).

    A stream that is not gzipped counts as its plain size. A corrupt gzip stream counts as what
    could be read: `read_stream` reports the rest as a failed document. The stream must be
    seekable; it is left at its start.
    """
    stream.seek(0)
    is_gzipped = stream.read(2) == _GZIP_MAGIC
    if not is_gzipped:
        size = stream.seek(0, io.SEEK_END)
        stream.seek(0)
        return size
    stream.seek(0)
    size = 0
    try:
        with gzip.GzipFile(fileobj=stream, mode="rb") as unpacked:
            while size <= limit and (chunk := unpacked.read(_CHUNK_BYTES)):
                size += len(chunk)
    except (OSError, EOFError, zlib.error):
        pass
    stream.seek(0)
    return size
