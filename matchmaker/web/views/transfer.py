"""Import phenopacket files and download a case as a phenopacket or MME JSON.

Imports belong to the uploader's institution; exports read through `cases_visible_to`, so
another institution's case is a 404.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from matchmaker.cases.interchange import case_record_from_phenopacket, parse_documents
from matchmaker.cases.models import Case
from matchmaker.cases.records import CaseRecord, RecordFormatError
from matchmaker.cases.selectors import case_document, cases_visible_to, institution_of
from matchmaker.casework import services
from matchmaker.lib.users import signed_in_user
from matchmaker.reference.ontology import get_hpo
from matchmaker.web.transfer_forms import CaseImportForm

# The `fmt` path segment, and how the format is named in messages.
EXPORT_FORMATS = {"phenopacket": "a GA4GH phenopacket", "mme": "an MME patient"}


@dataclass(slots=True)
class ImportedDocument:
    """One line of the import report."""

    origin: str
    label: str = ""
    public_id: str = ""  # set when the document became a case
    reason: str = ""  # set when it was rejected
    notes: list[str] = field(default_factory=list)


@login_required
@require_http_methods(["GET", "POST"])
def case_import(request: HttpRequest) -> HttpResponse:
    institution = institution_of(request.user)
    if institution is None:
        raise PermissionDenied("Only members of an institution can import cases.")
    if request.method == "GET":
        return _import_page(request, CaseImportForm())
    form = CaseImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _import_page(request, form, status=400)

    records: dict[str, CaseRecord] = {}

    def items() -> Iterator[tuple[str, CaseRecord | RecordFormatError]]:
        for origin, parsed in parse_documents(form.documents, case_record_from_phenopacket):
            if isinstance(parsed, CaseRecord):
                records[origin] = parsed
            yield origin, parsed

    consented = form.cleaned_data["consented"]
    ownership = services.CaseOwnership(
        institution=institution,
        owner=signed_in_user(request),
        source=Case.Source.PHENOPACKET,
        consented=consented,
        consent_note=f"confirmed for the whole upload by {request.user.get_username()}"
        if consented
        else "",
    )
    report = services.import_case_records(items(), ownership=ownership, match_each=True)

    public_ids = dict(Case.objects.filter(pk__in=report.case_ids).values_list("label", "public_id"))
    rejected = dict(report.rejected)
    notes: dict[str, list[str]] = {}
    for origin, note in report.notes:
        notes.setdefault(origin, []).append(note)
    documents = []
    for source in form.documents:
        record = records.get(source.origin)
        label = record.label.strip() if record is not None else ""
        documents.append(
            ImportedDocument(
                origin=source.origin,
                label=label,
                public_id="" if source.origin in rejected else public_ids.get(label, ""),
                reason=rejected.get(source.origin, ""),
                notes=notes.get(source.origin, []),
            )
        )
    return _import_page(
        request,
        CaseImportForm(),
        report=report,
        documents=documents,
        consented=consented,
    )


def _import_page(
    request: HttpRequest, form: CaseImportForm, *, status: int = 200, **context: object
) -> HttpResponse:
    return render(
        request,
        "web/transfer/import.html",
        {"nav": "import", "form": form, **context},
        status=status,
    )


@login_required
@require_GET
def case_export(request: HttpRequest, public_id: str, fmt: str) -> HttpResponse:
    """The case as a downloaded file, named by its public id (a label may identify a patient)."""
    if fmt not in EXPORT_FORMATS:
        raise Http404("Unknown export format.")
    case = get_object_or_404(
        cases_visible_to(request.user)
        .select_related("institution")
        .prefetch_related("features", "genomic_features", "disorders"),
        public_id=public_id,
    )
    try:
        document = case_document(case, fmt=fmt, ontology=get_hpo())
    except ValueError as error:
        # e.g. MME needs a contact, and a case of an institution without contact details has none.
        messages.error(request, f"This case cannot be written as {EXPORT_FORMATS[fmt]}: {error}.")
        return redirect("case-detail", public_id=case.public_id)
    response = HttpResponse(
        json.dumps(document, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{case.public_id}.{fmt}.json"'
    # Patient data: no browser or proxy cache may keep a copy.
    response["Cache-Control"] = "no-store"
    return response
