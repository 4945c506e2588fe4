"""Case pages: the list, entry and editing, status changes, and the form's lookups (terms, genes).

Every page reads cases through `cases_visible_to`, so another institution's case is a 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from matchmaker.cases.models import Case
from matchmaker.cases.selectors import (
    case_record_of,
    cases_visible_to,
    institution_of,
    search_cases,
    visible_case,
)
from matchmaker.casework import services
from matchmaker.casework.selectors import has_new_matches, new_match_counts
from matchmaker.lib.errors import DomainError, FieldValidationError, UnconfirmedWarningsError
from matchmaker.lib.users import signed_in_user
from matchmaker.reference.ontology import get_gene_catalogue, get_hpo
from matchmaker.web.case_forms import (
    CONSENT_STATEMENT,
    CaseForm,
    GeneFormSet,
    initial_from_case,
    place_errors,
    record_from_forms,
)
from ontologies.genes import (
    AmbiguousGeneError,
    GeneLookupError,
    UnknownGeneError,
    UnsupportedGeneIdentifierError,
)

CASES_PER_PAGE = 50
# What to do next, under the catalogue's own explanation of why a typed gene did not resolve.
_GENE_HINTS: dict[type[GeneLookupError], str] = {
    UnknownGeneError: "Check the spelling, or enter its HGNC id (e.g. HGNC:17646) or "
    "Ensembl id (e.g. ENSG00000151092).",
    AmbiguousGeneError: "Enter the HGNC id of the gene you mean (e.g. HGNC:17646): it names "
    "exactly one gene.",
    UnsupportedGeneIdentifierError: "Enter the gene's symbol or HGNC id instead.",
}
TERM_SUGGESTIONS = 15


def visible_case_or_404(request: HttpRequest, public_id: str) -> Case:
    """The signed-in clinician's case with this public id; 404 for any other (pages)."""
    case = visible_case(request.user, public_id)
    if case is None:
        raise Http404("no such case in your institution")
    return case


@login_required
@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    cases = cases_visible_to(request.user)
    query = request.GET.get("q", "")
    cases = search_cases(cases, query, ontology=get_hpo())
    status = request.GET.get("status", "active")
    if status in Case.Status.values:
        cases = cases.filter(status=status)
    consent = request.GET.get("consent", "")
    if consent in ("yes", "no"):
        cases = cases.filter(external_matching_consent=consent == "yes")
    only_new = request.GET.get("new_matches") == "1"
    if only_new:
        cases = cases.filter(has_new_matches())

    listed = cases.only(*_LIST_COLUMNS).prefetch_related("genomic_features")
    page = Paginator(listed, CASES_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    new_counts = new_match_counts(case.pk for case in rows)
    for case in rows:
        case.new_match_count = new_counts.get(case.pk, 0)  # type: ignore[attr-defined]  # for the template
    filters = request.GET.copy()
    filters.pop("page", None)
    return render(
        request,
        "web/cases/list.html",
        {
            "nav": "cases",
            "page": page,
            "cases": rows,
            "query": query,
            "status": status,
            "consent": consent,
            "only_new": only_new,
            "filters": filters.urlencode(),
        },
    )


_LIST_COLUMNS = (
    "id",
    "public_id",
    "label",
    "status",
    "external_matching_consent",
    "updated_at",
    "institution_id",
)


def _case_form_page(
    request: HttpRequest,
    *,
    case: Case | None,
    form: CaseForm,
    genes: Any,
    warnings: list[str] | None = None,
) -> HttpResponse:
    return render(
        request,
        "web/cases/form.html",
        {
            "nav": "new" if case is None else "cases",
            "case": case,
            "form": form,
            "genes": genes,
            "chosen_terms": form.chosen_terms(),
            "consent_statement": CONSENT_STATEMENT,
            "warnings": warnings or [],
        },
        status=400 if form.is_bound else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def case_create(request: HttpRequest) -> HttpResponse:
    institution = institution_of(request.user)
    if institution is None:
        messages.error(request, "Only members of an institution can enter cases.")
        return redirect("case-list")
    if request.method == "GET":
        return _case_form_page(
            request, case=None, form=CaseForm(), genes=GeneFormSet(prefix="genes")
        )
    form, genes = CaseForm(request.POST), GeneFormSet(request.POST, prefix="genes")
    if not _forms_valid(form, genes):
        return _case_form_page(request, case=None, form=form, genes=genes)
    record, gene_rows = record_from_forms(form, genes)
    try:
        case = services.submit_case(
            record,
            institution=institution,
            owner=signed_in_user(request),
            consented=form.cleaned_data["external_matching_consent"],
            consent_note=form.cleaned_data["consent_note"],
            confirm_warnings=form.cleaned_data["confirm_warnings"],
        )
    except UnconfirmedWarningsError as warning:
        return _warnings_page(request, None, form, genes, warning, record, gene_rows)
    except DomainError as error:
        _place_domain_error(form, genes, error, record=record, gene_rows=gene_rows)
        return _case_form_page(request, case=None, form=form, genes=genes)
    messages.success(
        request, f"Case {case.public_id} saved. Matching runs now; matches appear below."
    )
    _tell_what_the_releases_do_not_know(request, record)
    return redirect("case-detail", public_id=case.public_id)


def _tell_what_the_releases_do_not_know(request: HttpRequest, record: Any) -> None:
    """Say which saved terms and genes the node's releases do not know (kept, not matched on)."""
    validated = services.validate(record)
    if validated.unknown_terms:
        messages.warning(
            request,
            f"Not in HPO release {validated.hpo_release}: {', '.join(validated.unknown_terms)}. "
            "Saved as entered, but not used for matching until the node loads a release that "
            "knows them; check the id if it should already exist.",
        )
    if validated.unknown_genes:
        messages.warning(
            request,
            f"Not in this node's gene list: {', '.join(validated.unknown_genes)}. Saved as "
            "entered; matched only with cases that name the same gene the same way.",
        )


def _forms_valid(form: CaseForm, genes: Any, *, previous: Any = None) -> bool:
    """Do the forms clean? If not, the case services' verdict on the rest is added to them.

    A clinician sees every problem of the case at once, not the form's first and, after fixing
    it, the service's (a malformed term id used to hide a label with a name and an unknown gene).
    """
    form_valid, genes_valid = form.is_valid(), genes.is_valid()
    if form_valid and genes_valid:
        return True
    record, gene_rows = record_from_forms(form, genes, previous=previous)
    try:
        services.validate(record)
    except FieldValidationError as error:
        place_errors(form, genes, error.errors, record=record, gene_rows=gene_rows)
    return False


def _warnings_page(
    request: HttpRequest,
    case: Case | None,
    form: CaseForm,
    genes: Any,
    warning: UnconfirmedWarningsError,
    record: Any,
    gene_rows: list[int],
) -> HttpResponse:
    """The form again, each warning next to its field and a box to confirm them all."""
    place_errors(
        form,
        genes,
        [(field, f"Warning: {message}") for field, message in warning.errors],
        record=record,
        gene_rows=gene_rows,
    )
    warnings = [message for _, message in warning.errors]
    return _case_form_page(request, case=case, form=form, genes=genes, warnings=warnings)


def _place_domain_error(
    form: CaseForm, genes: Any, error: DomainError, *, record: Any, gene_rows: list[int]
) -> None:
    errors = (
        error.errors if isinstance(error, FieldValidationError) else [(error.field, error.message)]
    )
    place_errors(form, genes, errors, record=record, gene_rows=gene_rows)


@login_required
@require_http_methods(["GET", "POST"])
def case_edit(request: HttpRequest, public_id: str) -> HttpResponse:
    case = visible_case_or_404(request, public_id)
    previous = case_record_of(case)
    if request.method == "GET":
        initial, gene_initial = initial_from_case(case, previous)
        return _case_form_page(
            request,
            case=case,
            form=CaseForm(initial=initial),
            genes=GeneFormSet(initial=gene_initial, prefix="genes"),
        )
    form, genes = CaseForm(request.POST), GeneFormSet(request.POST, prefix="genes")
    if not _forms_valid(form, genes, previous=previous):
        return _case_form_page(request, case=case, form=form, genes=genes)
    record, gene_rows = record_from_forms(form, genes, previous=previous)
    consented = form.cleaned_data["external_matching_consent"]
    note = form.cleaned_data["consent_note"]
    try:
        with transaction.atomic():
            services.update_case(
                case, record, confirm_warnings=form.cleaned_data["confirm_warnings"]
            )
            if consented != case.external_matching_consent or note != case.consent_note:
                services.record_consent(
                    case, consented=consented, by=signed_in_user(request), note=note
                )
    except UnconfirmedWarningsError as warning:
        return _warnings_page(request, case, form, genes, warning, record, gene_rows)
    except DomainError as error:
        _place_domain_error(form, genes, error, record=record, gene_rows=gene_rows)
        return _case_form_page(request, case=case, form=form, genes=genes)
    messages.success(request, f"Case {case.public_id} updated; its matches are being refreshed.")
    _tell_what_the_releases_do_not_know(request, record)
    return redirect("case-detail", public_id=case.public_id)


@login_required
@require_GET
def case_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    case = visible_case_or_404(request, public_id)
    ontology = get_hpo()
    features = list(case.features.all())
    for feature in features:
        try:
            label = ontology.label(feature.hpo_id)
        except LookupError:
            label = "(not in the loaded HPO release: not used for matching)"
        feature.label = label  # type: ignore[attr-defined]  # for the template, not a column
    counts = new_match_counts([case.pk])
    return render(
        request,
        "web/cases/detail.html",
        {
            "nav": "cases",
            "case": case,
            "observed": [f for f in features if f.observed],
            "excluded": [f for f in features if not f.observed],
            "genes": list(case.genomic_features.all()),
            "disorders": list(case.disorders.all()),
            "onset": _term_text(case.age_of_onset),
            "inheritance": _term_text(case.inheritance_mode),
            "new_match_count": counts.get(case.pk, 0),
            "match_count": case.matches.filter(removed_at__isnull=True).count(),
        },
    )


def _term_text(hpo_id: str) -> str:
    if not hpo_id:
        return ""
    try:
        return f"{get_hpo().label(hpo_id)} ({hpo_id})"
    except LookupError:
        return hpo_id


@login_required
@require_POST
def case_change_status(request: HttpRequest, public_id: str) -> HttpResponse:
    """Withdraw, reactivate or delete (GDPR erasure, after a typed confirmation) a case."""
    case = visible_case_or_404(request, public_id)
    action = request.POST.get("action", "")
    if action == "withdraw":
        services.withdraw_case(case)
        messages.success(request, f"Case {case.public_id} withdrawn: it is no longer matched.")
    elif action == "reactivate":
        services.reactivate_case(case)
        messages.success(request, f"Case {case.public_id} is active again and being matched.")
    elif action == "delete":
        if request.POST.get("confirm", "").strip() != case.public_id:
            messages.error(
                request, f"To delete, type the case's public id ({case.public_id}) to confirm."
            )
            return redirect("case-detail", public_id=case.public_id)
        services.delete_case(case)
        messages.success(request, f"Case {public_id} and everything stored with it were deleted.")
        return redirect("case-list")
    else:
        messages.error(request, "Unknown action.")
    return redirect("case-detail", public_id=case.public_id)


@login_required
@require_GET
def term_search(request: HttpRequest) -> JsonResponse:
    """HPO terms whose label or synonym matches `q`, best first, for the term picker."""
    text = request.GET.get("q", "")[:100]
    if len(text.strip()) < 2:
        return JsonResponse({"terms": []})
    ontology = get_hpo()
    terms = [
        {
            "id": match.hpo_id,
            "label": match.label,
            "synonym": match.matched_text if match.is_synonym else "",
        }
        for match in ontology.search(text, limit=TERM_SUGGESTIONS)
    ]
    return JsonResponse({"terms": terms})


RELATED_TERMS_SHOWN = 60


@login_required
@require_GET
def term_related(request: HttpRequest, hpo_id: str) -> JsonResponse:
    """A term with its direct parents and children, for going broader or narrower in the picker.

    Children come most common first (information content from the release's disease
    annotations), at most `RELATED_TERMS_SHOWN`; `more_children` says how many were left out.
    """
    ontology = get_hpo()
    try:
        current = ontology.resolve(hpo_id.upper()).hpo_id
    except LookupError:
        return JsonResponse(
            {"error": f"{hpo_id} is not a term of HPO release {ontology.release}"}, status=404
        )

    def commonest_first(ids: frozenset[str]) -> list[str]:
        ic = ontology.information_content
        return sorted(ids, key=lambda i: (ic[ontology.index_of(i)], ontology.label(i)))

    def described(ids: list[str]) -> list[dict[str, str]]:
        return [{"id": i, "label": ontology.label(i), "synonym": ""} for i in ids]

    children = commonest_first(ontology.children(current))
    return JsonResponse(
        {
            "term": described([current])[0],
            "parents": described(commonest_first(ontology.parents(current))),
            "children": described(children[:RELATED_TERMS_SHOWN]),
            "more_children": max(0, len(children) - RELATED_TERMS_SHOWN),
        }
    )


@login_required
@require_GET
def gene_check(request: HttpRequest) -> HttpResponse:
    """What a typed gene identifier resolves to, or why it does not (an htmx fragment).

    The gene input sends itself under its form name (`genes-0-gene`), so any parameter whose
    name ends in "gene" is read.
    """
    text = next((request.GET[key] for key in request.GET if key.endswith("gene")), "")
    text = text.strip()[:64]
    context: dict[str, Any] = {"text": text}
    if text:
        try:
            context["gene"] = get_gene_catalogue().resolve(text)
        except GeneLookupError as error:
            context["problem"] = str(error)
            context["hint"] = _GENE_HINTS.get(type(error), "")
    return render(request, "web/cases/gene_status.html", context)
