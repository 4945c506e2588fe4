"""The phenopacket upload form: which files, consent for all of them, and the limits of one upload.

The form reads every uploaded file into documents before anything is stored, so an upload over
a limit is refused as a whole. Larger loads go through `manage.py import_phenopackets`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from matchmaker.cases.interchange import (
    MAX_UPLOAD_BYTES,
    SourceDocument,
    TooManyDocumentsError,
    UnpackedTooLargeError,
    read_uploads,
)

MAX_IMPORT_DOCUMENTS = 2000

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

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile[bytes]]:
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
    # Named like BaseForm.files (the request's files) for mypy only: Django's form metaclass takes
    # declared fields off the class.
    files = MultipleFileField(  # type: ignore[assignment]
        label="Phenopacket files",
        help_text=(
            "One or many GA4GH Phenopacket v2 files: a JSON object, a JSON list of them, or one per "
            f"line (.jsonl, .ndjson); gzipped or not. At most {_megabytes(MAX_UPLOAD_BYTES)} and "
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

    def clean_files(self) -> list[UploadedFile[bytes]]:
        uploads: list[UploadedFile[bytes]] = self.cleaned_data["files"]
        total = sum(upload.size or 0 for upload in uploads)
        if total > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"These files hold {_megabytes(total)}; one upload takes at most "
                f"{_megabytes(MAX_UPLOAD_BYTES)}. Split them, or ask your admin to run the "
                "import_phenopackets command."
            )
        try:
            self.documents = read_uploads(
                [(upload.name or "", upload) for upload in uploads],
                max_documents=MAX_IMPORT_DOCUMENTS,
            )
        except UnpackedTooLargeError as error:
            raise forms.ValidationError(
                f"{error.name}: unpacked, these files hold more than "
                f"{_megabytes(error.limit)}; split them into smaller uploads."
            ) from None
        except TooManyDocumentsError as error:
            raise forms.ValidationError(
                f"{error.name}: this upload holds more than {error.limit:,} "
                "phenopackets; split it into smaller uploads."
            ) from None
        if not self.documents:
            raise forms.ValidationError("These files hold no phenopacket.")
        return uploads
