"""The phenopacket upload form: which files, consent for all of them, and the limits of one upload.

The form reads every uploaded file into documents before anything is stored, so an upload over
a limit is refused as a whole. Larger loads go through `manage.py import_phenopackets`.
"""

from __future__ import annotations

import gzip
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from matchmaker.cases.interchange import SourceDocument, read_stream

MAX_IMPORT_BYTES = 20 * 1024 * 1024  # all files of one upload, as sent
# After gunzipping: the documents are held in memory, and a small gzip file can expand a
# thousandfold.
MAX_IMPORT_EXPANDED_BYTES = 64 * 1024 * 1024
MAX_IMPORT_DOCUMENTS = 2000
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK_BYTES = 1024 * 1024

IMPORT_CONSENT_STATEMENT = (
    "Every patient in these files (or their guardian) consented to matching with other "
    "Matchmaker Exchange nodes. For each imported case, its public id, phenotype terms, candidate "
    "genes and variants, sex, onset, inheritance, diagnosis codes and contact details are then "
    "sent to the peer nodes we trust. Leave this unticked to match the cases within this node "
    "only; consent can still be recorded case by case later."
)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file input that takes one or many files (Django's documented recipe)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".json,.jsonl,.ndjson,.gz"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, list | tuple):
            if not data and self.required:
                # The recipe's list comprehension would accept an empty selection.
                raise forms.ValidationError(self.error_messages["required"], code="required")
            return [single(item, initial) for item in data]
        return [single(data, initial)]


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB"


class CaseImportForm(forms.Form):
    files = MultipleFileField(
        label="Phenopacket files",
        help_text=(
            "One or many GA4GH Phenopacket v2 files: a JSON object, a JSON list of them, or one per "
            f"line (.jsonl, .ndjson); gzipped or not. At most {_megabytes(MAX_IMPORT_BYTES)} and "
            f"{MAX_IMPORT_DOCUMENTS:,} phenopackets per upload. The phenopacket id becomes the "
            "case label."
        ),
        error_messages={
            "required": "Choose one or more phenopacket files.",
            "empty": "The file is empty.",
        },
    )
    consented = forms.BooleanField(
        label="Consent to external matching for all imported cases",
        required=False,
        help_text=IMPORT_CONSENT_STATEMENT,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.documents: list[SourceDocument] = []

    def clean_files(self) -> list[UploadedFile]:
        uploads: list[UploadedFile] = self.cleaned_data["files"]
        total = sum(upload.size or 0 for upload in uploads)
        if total > MAX_IMPORT_BYTES:
            raise forms.ValidationError(
                f"These files hold {_megabytes(total)}; one upload takes at most "
                f"{_megabytes(MAX_IMPORT_BYTES)}. Split them, or ask your admin to run the "
                "import_phenopackets command."
            )
        expanded = 0
        for upload in uploads:
            expanded += _expanded_size(upload, limit=MAX_IMPORT_EXPANDED_BYTES - expanded)
            if expanded > MAX_IMPORT_EXPANDED_BYTES:
                raise forms.ValidationError(
                    f"{upload.name}: unpacked, these files hold more than "
                    f"{_megabytes(MAX_IMPORT_EXPANDED_BYTES)}; split them into smaller uploads."
                )
        self.documents = []
        for upload, origin in zip(uploads, _origins(uploads), strict=True):
            for document in read_stream(upload, name=upload.name or "", origin=origin):
                self.documents.append(document)
                if len(self.documents) > MAX_IMPORT_DOCUMENTS:
                    raise forms.ValidationError(
                        f"{upload.name}: this upload holds more than {MAX_IMPORT_DOCUMENTS:,} "
                        "phenopackets; split it into smaller uploads."
                    )
        if not self.documents:
            raise forms.ValidationError("These files hold no phenopacket.")
        return uploads


def _origins(uploads: Sequence[UploadedFile]) -> list[str]:
    """The name each file is reported under; two files with one name are told apart by number."""
    names = [upload.name or "upload" for upload in uploads]
    repeated = {name for name, count in Counter(names).items() if count > 1}
    return [
        f"{name} (file {number})" if name in repeated else name
        for number, name in enumerate(names, start=1)
    ]


def _expanded_size(upload: UploadedFile, *, limit: int) -> int:
    """The file's size once gunzipped, counted up to just past `limit` (a gzip bomb stops early).

    A corrupt gzip stream counts as what could be read: the reader reports it per document.
    """
    upload.seek(0)
    is_gzipped = upload.read(2) == _GZIP_MAGIC
    upload.seek(0)
    if not is_gzipped:
        return upload.size or 0
    size = 0
    try:
        with gzip.GzipFile(fileobj=upload, mode="rb") as stream:
            while size <= limit and (chunk := stream.read(_CHUNK_BYTES)):
                size += len(chunk)
    except (OSError, EOFError, zlib.error):
        pass
    upload.seek(0)
    return size
