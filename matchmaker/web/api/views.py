"""The local REST API (/api/v1/) for hospital scripts: cases, imports, exports, matches, triage.

Every view reads through `cases_visible_to` / `matches_visible_to`, so another institution's case
or match is a 404, as if it did not exist. Views parse, call one service, and serialize; errors
of either the shape (serializers) or the content (services) come out as one 400 body naming the
field (`matchmaker.lib.api.exception_handler`).
"""

# ruff: noqa: N815 (field names are the JSON keys, camelCase like MME's)

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db.models import Prefetch, Q, QuerySet
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from matchmaker.cases.interchange import (
    MAX_UPLOAD_BYTES,
    SourceDocument,
    TooManyDocumentsError,
    UnpackedTooLargeError,
    case_record_from_phenopacket,
    parse_documents,
    read_uploads,
)
from matchmaker.cases.models import Case, GenomicFeature, Institution
from matchmaker.cases.records import RecordFormatError
from matchmaker.cases.selectors import (
    DOCUMENT_FORMATS,
    case_document,
    cases_visible_to,
    cases_with_term,
    institution_of,
    visible_case,
)
from matchmaker.cases.services.validation import ValidatedCase
from matchmaker.casework import services as cases
from matchmaker.casework.models import Match, MatchEvent
from matchmaker.casework.selectors import (
    has_new_matches,
    matches_of,
    matches_visible_to,
    new_match_counts,
)
from matchmaker.casework.services import CaseOwnership
from matchmaker.casework.services import matches as casework
from matchmaker.lib.api import JSONParser
from matchmaker.lib.errors import ConflictError, FieldValidationError
from matchmaker.lib.users import signed_in_user
from matchmaker.reference.ontology import get_gene_catalogue, get_hpo
from matchmaker.web.api.authentication import ApiTokenAuthentication, IsInstitutionMember
from matchmaker.web.api.serializers import (
    CaseInputSerializer,
    CaseOutputSerializer,
    CaseWrittenOutputSerializer,
    MatchDetailOutputSerializer,
    MatchOutputSerializer,
    case_record_from_input,
    validated,
)
from ontologies.genes import GeneLookupError
from ontologies.hpo import ObsoleteTermError, UnknownTermError

# One request imports at most this many documents: each is matched as it lands, and a bigger
# load belongs to `manage.py import_phenopackets` (which does not swamp the workers).
MAX_IMPORT_DOCUMENTS = 1000


class ErrorSerializer(serializers.Serializer[dict[str, Any]]):
    """The body of a 400 or 409: what is wrong, and with which field."""

    class FieldErrorSerializer(serializers.Serializer[dict[str, Any]]):
        field = serializers.CharField(help_text='JSON path, e.g. "features[0].id"; "" for all')
        message = serializers.CharField()

        class Meta:
            ref_name = "FieldError"

    message = serializers.CharField()
    # Shadows Serializer.errors for mypy; DRF's metaclass takes declared fields off the class.
    errors = FieldErrorSerializer(many=True, required=False)  # type: ignore[assignment]

    class Meta:
        ref_name = "Error"


class ApiPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class JsonOnlyNegotiation(DefaultContentNegotiation):
    """Always answer JSON. Unlike DRF's default, `?format=` does not pick a renderer here: the
    export endpoint uses it to name the document format."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class LocalApi(APIView):
    """What every endpoint of the local API shares: who may call it, and in what language."""

    authentication_classes = [ApiTokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated, IsInstitutionMember]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JsonOnlyNegotiation

    def institution(self) -> Institution:
        institution = institution_of(self.request.user)
        if institution is None:  # IsInstitutionMember lets no such request in
            raise PermissionDenied(IsInstitutionMember.message)
        return institution


def _visible_case(request: Request, public_id: str) -> Case:
    case = visible_case(request.user, public_id)
    if case is None:
        raise NotFound("no such case in your institution")
    return case


def _case_answer(
    case: Case,
    *,
    code: int = status.HTTP_200_OK,
    written: ValidatedCase | None = None,
) -> Response:
    """One case, prefetched again: services replace its children.

    Creating or replacing a case also answers its `warnings` (plausible mistakes, such as a
    variant on another chromosome than its gene): the case is stored as sent, and the script
    is told, never silently; and its `notes`: what was changed or kept on the way in (an
    outdated HPO id recorded as its current term, an HPO id or gene newer than the node's
    releases kept as submitted and not used for matching until a release knows it).
    """
    case = Case.objects.prefetch_related("features", "genomic_features", "disorders").get(
        pk=case.pk
    )
    data = dict(
        CaseOutputSerializer(case, context={"new_match_counts": new_match_counts([case.pk])}).data
    )
    if written is not None:
        data["warnings"] = [
            {"field": field, "message": message} for field, message in written.warnings
        ]
        data["notes"] = list(written.notes)
    return Response(data, status=code)


NOT_FOUND = OpenApiResponse(description="no such case (or not one of your institution's)")
INVALID = OpenApiResponse(ErrorSerializer, description="a field is wrong; `errors` names it")
LABEL_TAKEN = OpenApiResponse(ErrorSerializer, description="another case has this label")


# --- Cases -------------------------------------------------------------------------------------


def _filtered_cases(cases: QuerySet[Case], filters: dict[str, Any]) -> QuerySet[Case]:
    errors = []
    if text := filters.get("q", "").strip():
        cases = cases.filter(Q(label__icontains=text) | Q(public_id__icontains=text))
    if gene := filters.get("gene", "").strip():
        try:
            gene_id = get_gene_catalogue().resolve(gene).gene_id
        except GeneLookupError as error:
            errors.append(("gene", str(error)))
        else:
            cases = cases.filter(
                id__in=GenomicFeature.objects.filter(gene_id=gene_id).values("case_id")
            )
    if hpo_id := filters.get("hpo", "").strip():
        ontology = get_hpo()
        try:
            term = ontology.resolve(hpo_id.upper()).hpo_id
        except (UnknownTermError, ObsoleteTermError) as error:
            errors.append(("hpo", str(error)))
        else:
            cases = cases.filter(cases_with_term(term, ontology=ontology))
    if errors:
        raise FieldValidationError(errors)
    if filters.get("status"):
        cases = cases.filter(status=filters["status"])
    if filters.get("consent") is not None:
        cases = cases.filter(external_matching_consent=filters["consent"])
    if filters.get("has_new_matches") is True:
        cases = cases.filter(has_new_matches())
    elif filters.get("has_new_matches") is False:
        cases = cases.exclude(has_new_matches())
    return cases


class CaseListApi(LocalApi):
    pagination_class = ApiPagination

    class FilterSerializer(serializers.Serializer[dict[str, Any]]):
        q = serializers.CharField(
            required=False, allow_blank=True, help_text="part of the label or public id"
        )
        gene = serializers.CharField(
            required=False, allow_blank=True, help_text="a candidate gene (symbol or gene id)"
        )
        hpo = serializers.CharField(
            required=False,
            allow_blank=True,
            help_text="an observed HPO term, or any term below it (HP:#######)",
        )
        status = serializers.ChoiceField(choices=Case.Status.choices, required=False)
        consent = serializers.BooleanField(
            required=False, allow_null=True, help_text="consent to external matching"
        )
        has_new_matches = serializers.BooleanField(
            required=False, allow_null=True, help_text="has current matches not triaged yet"
        )

    OutputSerializer = CaseOutputSerializer

    @extend_schema(
        tags=["cases"],
        summary="List your institution's cases, newest first",
        parameters=[FilterSerializer],
        responses={200: OutputSerializer(many=True), 400: INVALID},
    )
    def get(self, request: Request) -> Response:
        filters = validated(self.FilterSerializer(data=request.query_params))
        found = _filtered_cases(cases_visible_to(request.user), filters).order_by("-id")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            found.prefetch_related("features", "genomic_features", "disorders"), request, view=self
        )
        counts = new_match_counts(case.pk for case in page or [])
        # many=True takes a list, which djangorestframework-stubs (3.18.1) do not know.
        data = self.OutputSerializer(page, many=True, context={"new_match_counts": counts}).data  # type: ignore[arg-type]
        return paginator.get_paginated_response(data)


class CaseCreateApi(LocalApi):
    class InputSerializer(CaseInputSerializer):
        externalMatchingConsent = serializers.BooleanField(
            default=False,
            help_text="the patient consented to being matched at peer nodes (recorded as given "
            "by you, now)",
        )
        consentNote = serializers.CharField(
            required=False, allow_blank=True, max_length=255, help_text="e.g. the consent form"
        )

        class Meta:
            ref_name = "CaseCreateInput"

    OutputSerializer = CaseWrittenOutputSerializer

    @extend_schema(
        tags=["cases"],
        summary="Submit a case; it is matched at once (and at the peers, with consent)",
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            400: INVALID,
            409: LABEL_TAKEN,
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer(data=request.data))
        record = case_record_from_input(data)
        case = cases.submit_case(
            record,
            institution=self.institution(),
            owner=signed_in_user(request),
            consented=data["externalMatchingConsent"],
            consent_note=data.get("consentNote", ""),
        )
        response = _case_answer(case, code=status.HTTP_201_CREATED, written=cases.validate(record))
        response["Location"] = reverse("api-case-detail", args=[case.public_id])
        return response


class CaseDetailApi(LocalApi):
    OutputSerializer = CaseOutputSerializer

    @extend_schema(tags=["cases"], responses={200: OutputSerializer, 404: NOT_FOUND})
    def get(self, request: Request, public_id: str) -> Response:
        return _case_answer(_visible_case(request, public_id))


class CaseUpdateApi(LocalApi):
    class InputSerializer(CaseInputSerializer):
        externalMatchingConsent = serializers.BooleanField(
            required=False,
            help_text="ignored when unchanged; consent is changed with POST .../consent/",
        )

        class Meta:
            ref_name = "CaseReplaceInput"

    OutputSerializer = CaseWrittenOutputSerializer

    @extend_schema(
        tags=["cases"],
        summary="Replace a case's data (public id, owner, consent and matches history stay)",
        request=InputSerializer,
        responses={200: OutputSerializer, 400: INVALID, 404: NOT_FOUND, 409: LABEL_TAKEN},
    )
    def put(self, request: Request, public_id: str) -> Response:
        case = _visible_case(request, public_id)
        data = validated(self.InputSerializer(data=request.data))
        consent = data.get("externalMatchingConsent")
        if consent is not None and consent != case.external_matching_consent:
            # A script sending the case back must not record or revoke consent by accident.
            raise FieldValidationError(
                [
                    (
                        "externalMatchingConsent",
                        "consent is not changed by replacing the case; use POST "
                        f"/api/v1/cases/{case.public_id}/consent/",
                    )
                ]
            )
        record = case_record_from_input(data)
        cases.update_case(case, record)
        return _case_answer(case, written=cases.validate(record))


class CaseDeleteApi(LocalApi):
    @extend_schema(
        tags=["cases"],
        summary="Delete a case and everything stored with it, for good (GDPR erasure)",
        responses={204: None, 404: NOT_FOUND},
    )
    def delete(self, request: Request, public_id: str) -> Response:
        cases.delete_case(_visible_case(request, public_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CaseConsentApi(LocalApi):
    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        externalMatching = serializers.BooleanField(
            help_text="true: the case may be sent to and returned to peer nodes"
        )
        note = serializers.CharField(
            required=False, allow_blank=True, max_length=255, help_text="e.g. the consent form"
        )

        class Meta:
            ref_name = "CaseConsentInput"

    OutputSerializer = CaseOutputSerializer

    @extend_schema(
        tags=["cases"],
        summary="Record (or revoke) consent to external matching, as given by you, now",
        request=InputSerializer,
        responses={200: OutputSerializer, 400: INVALID, 404: NOT_FOUND},
    )
    def post(self, request: Request, public_id: str) -> Response:
        case = _visible_case(request, public_id)
        data = validated(self.InputSerializer(data=request.data))
        cases.record_consent(
            case,
            consented=data["externalMatching"],
            by=signed_in_user(request),
            note=data.get("note", ""),
        )
        return _case_answer(case)


class CaseWithdrawApi(LocalApi):
    OutputSerializer = CaseOutputSerializer

    @extend_schema(
        tags=["cases"],
        summary="Take a case out of matching (it stays stored until deleted)",
        request=None,
        responses={200: OutputSerializer, 404: NOT_FOUND},
    )
    def post(self, request: Request, public_id: str) -> Response:
        case = _visible_case(request, public_id)
        cases.withdraw_case(case)
        return _case_answer(case)


class CaseReactivateApi(LocalApi):
    OutputSerializer = CaseOutputSerializer

    @extend_schema(
        tags=["cases"],
        summary="Put a withdrawn case back into matching",
        request=None,
        responses={200: OutputSerializer, 404: NOT_FOUND},
    )
    def post(self, request: Request, public_id: str) -> Response:
        case = _visible_case(request, public_id)
        cases.reactivate_case(case)
        return _case_answer(case)


class CaseExportApi(LocalApi):
    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        format = serializers.ChoiceField(choices=DOCUMENT_FORMATS, default="phenopacket")

    @extend_schema(
        tags=["cases"],
        summary="A case as a GA4GH Phenopacket v2 or an MME patient (JSON)",
        parameters=[InputSerializer],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="the document"),
            400: INVALID,
            404: NOT_FOUND,
            409: OpenApiResponse(ErrorSerializer, description="the case cannot be written so"),
        },
    )
    def get(self, request: Request, public_id: str) -> Response:
        options = validated(self.InputSerializer(data=request.query_params))
        case = _visible_case(request, public_id)
        try:
            document = case_document(case, fmt=options["format"], ontology=get_hpo())
        except ValueError as error:
            # e.g. MME requires a way to reach the contact, which the case may lack.
            raise ConflictError(str(error), field="format") from None
        return Response(document)


class CaseImportApi(LocalApi):
    parser_classes = [JSONParser, MultiPartParser]

    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        file = serializers.FileField(
            help_text="phenopackets: a JSON object, a JSON list, or JSON lines (.jsonl, "
            ".ndjson); gzipped or not"
        )
        consented = serializers.BooleanField(
            default=False, help_text="consent to external matching was given for every case"
        )

        class Meta:
            ref_name = "CaseImportUpload"

    class OptionsSerializer(serializers.Serializer[dict[str, Any]]):
        consented = serializers.BooleanField(
            default=False,
            help_text="consent to external matching was given for every case (JSON bodies; "
            "an upload may also send it as a form field)",
        )

    class OutputSerializer(serializers.Serializer[dict[str, Any]]):
        class ProblemSerializer(serializers.Serializer[dict[str, Any]]):
            origin = serializers.CharField(help_text='where: "body[3]", "cases.jsonl:12"')
            message = serializers.CharField()

            class Meta:
                ref_name = "ImportProblem"

        imported = serializers.IntegerField()
        rejected = ProblemSerializer(many=True, help_text="documents not imported, and why")
        notes = ProblemSerializer(many=True, help_text="what was changed on the way in")
        cases = serializers.ListField(
            child=serializers.CharField(), help_text="public ids of the new cases, in input order"
        )

        class Meta:
            ref_name = "CaseImportReport"

    @extend_schema(
        tags=["cases"],
        summary="Import phenopackets; each document is imported whole or reported, not stored",
        description=f"At most {MAX_IMPORT_DOCUMENTS} documents per request. Each new case is "
        "matched (and searched at the peers when consented), as if entered by hand.",
        parameters=[OptionsSerializer],
        request={
            "application/json": {
                "oneOf": [
                    {"type": "object", "description": "one phenopacket"},
                    {"type": "array", "items": {"type": "object"}},
                ]
            },
            "multipart/form-data": InputSerializer,
        },
        responses={200: OutputSerializer, 400: INVALID},
    )
    def post(self, request: Request) -> Response:
        _refuse_a_large_body(request)
        consented = validated(self.OptionsSerializer(data=request.query_params))["consented"]
        if request.content_type.startswith("multipart/"):
            upload = validated(self.InputSerializer(data=request.data))
            consented = consented or upload["consented"]
            documents = _uploaded_documents(upload["file"])
        else:
            documents = _at_most(_body_documents(request.data))
        report = cases.import_case_records(
            parse_documents(documents, case_record_from_phenopacket),
            ownership=CaseOwnership(
                institution=self.institution(),
                owner=signed_in_user(request),
                source=Case.Source.PHENOPACKET,
                consented=consented,
                consent_note=f"confirmed for the whole import by {request.user} (REST API)"
                if consented
                else "",
            ),
            match_each=True,
        )
        public_ids = dict(
            Case.objects.filter(pk__in=report.case_ids).values_list("pk", "public_id")
        )
        data = {
            "imported": report.imported,
            "rejected": [{"origin": o, "message": m} for o, m in report.rejected],
            "notes": [{"origin": o, "message": m} for o, m in report.notes],
            "cases": [public_ids[case_id] for case_id in report.case_ids],
        }
        return Response(self.OutputSerializer(data).data)


def _refuse_a_large_body(request: Request) -> None:
    # Checked before DRF reads the body: its JSON parser would read any length.
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > MAX_UPLOAD_BYTES:
        raise FieldValidationError(
            [
                (
                    "",
                    f"the request holds {_megabytes(length)}; send at most "
                    f"{_megabytes(MAX_UPLOAD_BYTES)} at once",
                )
            ]
        )


def _uploaded_documents(file: UploadedFile[bytes]) -> list[SourceDocument]:
    try:
        return read_uploads([(file.name or "", file)], max_documents=MAX_IMPORT_DOCUMENTS)
    except UnpackedTooLargeError as error:
        raise FieldValidationError(
            [
                (
                    "file",
                    f"unpacked, the file holds more than {_megabytes(error.limit)}; "
                    "send it in smaller parts",
                )
            ]
        ) from None
    except TooManyDocumentsError:
        raise _too_many_documents(field="file") from None


def _body_documents(body: Any) -> Iterator[SourceDocument]:
    if not body:
        raise FieldValidationError(
            [("", "send a phenopacket (a JSON object), a JSON list of them, or a file as `file`")]
        )
    items = body if isinstance(body, list) else [body]
    for index, item in enumerate(items):
        origin = f"body[{index}]" if isinstance(body, list) else "body"
        if isinstance(item, dict):
            yield SourceDocument(origin=origin, document=item)
        else:
            yield SourceDocument(
                origin=origin, error=RecordFormatError("is not a JSON object (a phenopacket)")
            )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _at_most(documents: Iterable[SourceDocument]) -> list[SourceDocument]:
    """All the documents, read before anything is stored: a request over the cap stores none."""
    read = list(itertools.islice(documents, MAX_IMPORT_DOCUMENTS + 1))
    if len(read) > MAX_IMPORT_DOCUMENTS:
        raise _too_many_documents(field="")
    return read


def _too_many_documents(*, field: str) -> FieldValidationError:
    return FieldValidationError(
        [
            (
                field,
                f"more than {MAX_IMPORT_DOCUMENTS} documents in one request; send them in "
                "smaller parts, or load them with `manage.py import_phenopackets`",
            )
        ]
    )


# --- Matches -----------------------------------------------------------------------------------


def _matches_to_list(matches: QuerySet[Match]) -> QuerySet[Match]:
    return matches.select_related(
        "case", "matched_case", "matched_case__institution", "peer"
    ).order_by("-score", "id")


class MatchListApi(LocalApi):
    pagination_class = ApiPagination

    class FilterSerializer(serializers.Serializer[dict[str, Any]]):
        case = serializers.CharField(required=False, help_text="public id of one of your cases")
        status = serializers.ChoiceField(choices=Match.Status.choices, required=False)
        direction = serializers.ChoiceField(choices=Match.Direction.choices, required=False)
        include_removed = serializers.BooleanField(
            default=False, help_text="also matches that later searches no longer found"
        )

    OutputSerializer = MatchOutputSerializer

    @extend_schema(
        tags=["matches"],
        summary="Your institution's matches, best first",
        parameters=[FilterSerializer],
        responses={200: OutputSerializer(many=True), 400: INVALID},
    )
    def get(self, request: Request) -> Response:
        filters = validated(self.FilterSerializer(data=request.query_params))
        matches = matches_visible_to(request.user)
        if filters.get("case"):
            matches = matches.filter(case__public_id=filters["case"])
        if filters.get("status"):
            matches = matches.filter(status=filters["status"])
        if filters.get("direction"):
            matches = matches.filter(direction=filters["direction"])
        if not filters["include_removed"]:
            matches = matches.filter(removed_at__isnull=True)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(_matches_to_list(matches), request, view=self)
        # many=True takes a list, which djangorestframework-stubs (3.18.1) do not know.
        data = self.OutputSerializer(page, many=True).data  # type: ignore[arg-type]
        return paginator.get_paginated_response(data)


class CaseMatchListApi(LocalApi):
    pagination_class = ApiPagination
    OutputSerializer = MatchOutputSerializer

    @extend_schema(
        tags=["matches"],
        summary="A case's current matches, best first",
        responses={200: OutputSerializer(many=True), 404: NOT_FOUND},
    )
    def get(self, request: Request, public_id: str) -> Response:
        case = _visible_case(request, public_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            matches_of(case.pk).select_related("case"), request, view=self
        )
        # many=True takes a list, which djangorestframework-stubs (3.18.1) do not know.
        data = self.OutputSerializer(page, many=True).data  # type: ignore[arg-type]
        return paginator.get_paginated_response(data)


def _visible_match(request: Request, match_id: int) -> Match:
    match = (
        matches_visible_to(request.user)
        .select_related("case", "matched_case", "matched_case__institution", "peer")
        .prefetch_related(Prefetch("events", queryset=MatchEvent.objects.select_related("by")))
        .filter(pk=match_id)
        .first()
    )
    if match is None:
        raise NotFound("no such match in your institution")
    return match


MATCH_NOT_FOUND = OpenApiResponse(description="no such match (or not one of your institution's)")


class MatchDetailApi(LocalApi):
    OutputSerializer = MatchDetailOutputSerializer

    @extend_schema(
        tags=["matches"],
        summary="A match, why it matched, and its triage history",
        responses={200: OutputSerializer, 404: MATCH_NOT_FOUND},
    )
    def get(self, request: Request, match_id: int) -> Response:
        return Response(self.OutputSerializer(_visible_match(request, match_id)).data)


class MatchTriageApi(LocalApi):
    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        status = serializers.ChoiceField(
            choices=Match.Status.choices, required=False, help_text="unchanged when left out"
        )
        notes = serializers.CharField(
            required=False,
            allow_blank=True,
            trim_whitespace=False,
            max_length=casework.MAX_NOTES_LENGTH,
            help_text="replaces the notes; unchanged when left out",
        )

        class Meta:
            ref_name = "MatchTriageInput"

    OutputSerializer = MatchDetailOutputSerializer

    @extend_schema(
        tags=["matches"],
        summary="Set a match's triage status and notes (each change is kept in its history)",
        request=InputSerializer,
        responses={200: OutputSerializer, 400: INVALID, 404: MATCH_NOT_FOUND},
    )
    def patch(self, request: Request, match_id: int) -> Response:
        match = _visible_match(request, match_id)
        data = validated(self.InputSerializer(data=request.data))
        casework.triage_match(
            match,
            status=data.get("status", match.status),
            notes=data.get("notes", match.notes),
            by=signed_in_user(request),
        )
        return Response(self.OutputSerializer(_visible_match(request, match_id)).data)
