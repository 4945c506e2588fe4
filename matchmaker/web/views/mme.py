"""The MME API for peer nodes: POST /mme/match, GET /mme/heartbeat, GET /mme/metrics.

Shaped by the spec, not by DRF defaults (mme-api.md §1.4, §1.7): the version comes from the
request's media types and is echoed in the answer's; every error is JSON with a `message`; status
codes are the spec's (401 token, 405 method, 406 version, 415 content type, 400 unreadable or bad
data, 422 schema violation, 429 rate limit, 413 body too large). Every request, refused or not,
lands in the audit log, with the client's address (`lib/client_address`) — except requests
without a valid token past the per-address limit, which only count (docs/security.md).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from matchmaker.casework.selectors import mme_metrics
from matchmaker.casework.services import inbound
from matchmaker.federation import schema, services
from matchmaker.federation.authentication import (
    TOKEN_HEADER,
    IsPeer,
    PeerRateThrottle,
    PeerTokenAuthentication,
    unauthenticated_wait,
)
from matchmaker.federation.models import MmeRequestLog, Peer
from matchmaker.federation.versioning import (
    ACCEPTED_MEDIA_TYPES,
    LATEST_VERSION,
    SUPPORTED_VERSIONS,
    NegotiatedVersion,
    UnsupportedVersionError,
    is_json_content_type,
    media_type_for,
    negotiate_version,
)
from matchmaker.lib.api import (
    MAX_DISORDERS,
    MAX_FEATURES,
    MAX_GENOMIC_FEATURES,
    database_unavailable,
    error_body,
)
from matchmaker.lib.client_address import client_address
from matchmaker.lib.errors import DomainError, FieldValidationError

logger = logging.getLogger(__name__)


class MmeJsonRenderer(JSONRenderer):
    media_type = media_type_for(LATEST_VERSION)
    charset = None


class MmeContentNegotiation(BaseContentNegotiation):
    """Always our JSON renderer; the version is negotiated by `negotiate_version` instead.

    DRF's default negotiation matches media subtypes exactly and would refuse every v1.x but
    the one a renderer names, before the peer is even authenticated.
    """

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class UnsupportedVersion(exceptions.NotAcceptable):
    pass


class TooManyUnauthenticated(exceptions.Throttled):
    default_detail = f"too many requests without a valid {TOKEN_HEADER} from this address."


class UnsupportedMediaType(exceptions.UnsupportedMediaType):
    def __init__(self, message: str) -> None:
        exceptions.APIException.__init__(self, message)


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "request body too large"


class UnreadableJson(exceptions.ParseError):
    pass


class SchemaViolation(exceptions.APIException):
    status_code = 422

    def __init__(self, violations: list[schema.SchemaViolation]) -> None:
        first = violations[0]
        super().__init__(f"{first.field}: {first.message}" if first.field else first.message)
        self.violations = violations


class MmeApiView(APIView):
    authentication_classes = [PeerTokenAuthentication]
    permission_classes = [IsPeer]
    throttle_classes = [PeerRateThrottle]
    renderer_classes = [MmeJsonRenderer]
    parser_classes: list[type[BaseParser]] = []
    content_negotiation_class = MmeContentNegotiation
    endpoint = ""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        self.started = time.perf_counter()
        self.negotiated: NegotiatedVersion | None = None
        # Filled in by the handlers for the audit log.
        self.audit: dict[str, Any] = {}
        return super().dispatch(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Authentication, permission and rate limit first: a stranger learns nothing, not even
        # which versions we speak.
        try:
            super().initial(request, *args, **kwargs)
        except (exceptions.NotAuthenticated, exceptions.AuthenticationFailed):
            wait = unauthenticated_wait(request)
            if wait is not None:
                # Past the address's limit: counted, never written down (no audit row).
                self.audit["unaudited"] = True
                raise TooManyUnauthenticated(wait) from None
            raise
        try:
            self.negotiated = negotiate_version(
                request.headers.get("Content-Type", ""), request.headers.get("Accept", "")
            )
        except UnsupportedVersionError as error:
            raise UnsupportedVersion(str(error)) from None

    def permission_denied(
        self, request: Request, message: str | None = None, code: str | None = None
    ) -> NoReturn:
        if request.successful_authenticator is None:
            raise exceptions.NotAuthenticated(f"missing {TOKEN_HEADER} header")
        super().permission_denied(request, message=message, code=code)

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response]:
        return self._handle_error

    def _handle_error(self, exc: Exception, context: dict[str, Any]) -> Response:
        headers: dict[str, str] = {}
        extra: dict[str, Any] = {}
        if isinstance(exc, DomainError):
            body = error_body(exc)
            return Response(body, status=exc.status_code)
        if isinstance(exc, exceptions.APIException):
            if isinstance(exc, exceptions.Throttled):
                # Set by Throttled's constructor; djangorestframework-stubs (3.18.1) omit it.
                wait: float | None = exc.wait  # type: ignore[attr-defined]
                if wait is not None:
                    headers["Retry-After"] = str(int(wait) + 1)
            if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
                headers["WWW-Authenticate"] = TOKEN_HEADER
            if isinstance(exc, UnsupportedVersion):
                extra["supportedVersions"] = list(SUPPORTED_VERSIONS)
            if isinstance(exc, SchemaViolation):
                extra["errors"] = [
                    {"field": violation.field, "message": violation.message}
                    for violation in exc.violations
                ]
            message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
            return Response(
                {"message": str(message), **extra}, status=exc.status_code, headers=headers
            )
        if isinstance(exc, OperationalError | InterfaceError):
            # The database is down or restarting: the peer may retry; we reconnect by ourselves.
            return database_unavailable()
        # Never a stack trace to a peer; the log has it.
        logger.exception("MME %s failed", self.endpoint)
        return Response({"message": "internal error"}, status=500)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        # The answer's media type names its version: the one asked, or, when refusing a version,
        # the latest we speak (so the peer can retry with it).
        if response.status_code == 406 or self.negotiated is None:
            response.content_type = media_type_for(LATEST_VERSION)
        else:
            response.content_type = self.negotiated.media_type
        self._audit(request, response)
        return response

    def _audit(self, request: Request, response: Any) -> None:
        if self.audit.get("unaudited"):
            return
        # `_auth`, not `auth`: reading `auth` would authenticate again (and may raise).
        peer = getattr(request, "_auth", None)
        if not isinstance(peer, Peer):
            peer = None
        error = ""
        if response.status_code >= 400 and isinstance(getattr(response, "data", None), dict):
            error = str(response.data.get("message", ""))
        try:
            services.log_request(
                direction=MmeRequestLog.Direction.INBOUND,
                peer=peer,
                endpoint=self.endpoint,
                method=request.method or "",
                status_code=response.status_code,
                latency_ms=(time.perf_counter() - self.started) * 1000,
                api_version=self.negotiated.version if self.negotiated else "",
                result_count=self.audit.get("result_count"),
                is_test=self.audit.get("is_test", False),
                remote_address=client_address(request),
                error=error,
                query_payload=self.audit.get("payload"),
                matched=bool(self.audit.get("result_count")),
                returned_case_ids=self.audit.get("returned_case_ids"),
                ignored_identifiers=self.audit.get("ignored_identifiers"),
            )
        except Exception:
            # The peer still gets its answer; a failing audit log is the operator's alarm.
            logger.exception("could not write the MME audit log")


_AUTH_PARAMETER = OpenApiParameter(
    TOKEN_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="The token this node issued to the calling peer.",
)
_ERRORS = {
    code: OpenApiResponse(description=description)
    for code, description in {
        401: "missing or unknown X-Auth-Token",
        405: "wrong method",
        406: "unsupported API version (body lists supportedVersions)",
        429: "rate limit exceeded (Retry-After says when to try again)",
    }.items()
}


class MatchApi(MmeApiView):
    endpoint = "match"

    @extend_schema(
        operation_id="mme_match",
        tags=["MME"],
        summary="Find cases at this node that resemble the peer's patient",
        description=(
            "Matchmaker Exchange search API (v1.0/v1.1). Send the version in Content-Type (or "
            "Accept): application/vnd.ga4gh.matchmaker.v1.x+json. Only cases whose owners "
            "consented to external matching are answered, highest score first."
        ),
        parameters=[_AUTH_PARAMETER],
        request=dict.fromkeys(ACCEPTED_MEDIA_TYPES, OpenApiTypes.OBJECT),
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="results, best first"),
            400: OpenApiResponse(description="unreadable JSON, or data that is not valid"),
            413: OpenApiResponse(description="request body too large"),
            415: OpenApiResponse(description="missing or unsupported Content-Type"),
            422: OpenApiResponse(description="request violates the MME schema"),
            **_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        if not is_json_content_type(request.headers.get("Content-Type", "")):
            raise UnsupportedMediaType(
                "Content-Type must be application/vnd.ga4gh.matchmaker.v1.x+json "
                "(or application/json)"
            )
        document = self._read_json(request)
        # Before the payload is kept for the audit log: the database could not store it.
        if unstorable := _unstorable_text(document):
            raise FieldValidationError(unstorable)
        violations = _oversized_lists(document) or schema.request_violations(document)
        if isinstance(document, dict):
            self.audit["payload"] = document
            patient = document.get("patient")
            self.audit["is_test"] = isinstance(patient, dict) and patient.get("test") is True
        if violations:
            raise SchemaViolation(violations)
        peer = request.auth
        if not isinstance(peer, Peer):  # IsPeer lets no other request this far
            raise exceptions.NotAuthenticated(f"missing {TOKEN_HEADER} header")
        answer = inbound.answer_match_request(peer, document)
        self.audit.update(
            result_count=answer.result_count,
            returned_case_ids=answer.returned_case_ids,
            ignored_identifiers=answer.ignored_identifiers,
        )
        return Response(answer.body)

    def _read_json(self, request: Request) -> Any:
        declared = request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > settings.MME_MAX_REQUEST_BYTES:
            raise RequestTooLarge(f"request body over {settings.MME_MAX_REQUEST_BYTES} bytes")
        try:
            body = request.body
        except RequestDataTooBig:
            raise RequestTooLarge("request body too large") from None
        if len(body) > settings.MME_MAX_REQUEST_BYTES:
            raise RequestTooLarge(f"request body over {settings.MME_MAX_REQUEST_BYTES} bytes")
        try:
            return json.loads(
                body,
                parse_constant=_refuse_constant,
                parse_float=_finite_float,
                object_pairs_hook=_object_without_duplicate_keys,
            )
        except UnicodeDecodeError:
            raise UnreadableJson("request body is not UTF-8 text") from None
        except json.JSONDecodeError as error:
            raise UnreadableJson(f"request body is not valid JSON: {error}") from None
        except (RecursionError, ValueError) as error:
            raise UnreadableJson(f"request body is not valid JSON: {error}") from None


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large a number")
    return value


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # JSON leaves duplicate keys undefined: a proxy or log reader may see the first value where
    # we would see the last. Refused rather than guessed.
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the key {key[:40]!r} appears twice in one object")
            seen.add(key)
    return document


# How many items of each list of a patient we read (matchmaker.lib.api): past them the request
# is refused before the schema check walks every item.
_LIST_LIMITS = {
    "features": MAX_FEATURES,
    "genomicFeatures": MAX_GENOMIC_FEATURES,
    "disorders": MAX_DISORDERS,
}
_MAX_REPORTED_PROBLEMS = 20


def _oversized_lists(document: Any) -> list[schema.SchemaViolation]:
    patient = document.get("patient") if isinstance(document, dict) else None
    if not isinstance(patient, dict):
        return []
    return [
        schema.SchemaViolation(
            f"patient.{name}", f"holds {len(items)} items; at most {limit} are accepted"
        )
        for name, limit in _LIST_LIMITS.items()
        if isinstance(items := patient.get(name), list) and len(items) > limit
    ]


def _unstorable_text(document: Any) -> list[tuple[str, str]]:
    """Strings and keys the database cannot store, with their paths (`patient.contact.name`).

    NUL characters (PostgreSQL's text and jsonb refuse them) and lone surrogates ("\\ud800" is
    valid JSON but no Unicode character, so it has no UTF-8 form). Walked with a stack, not
    recursion: the parser accepts nesting close to Python's recursion limit.
    """
    problems: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [("", document)]
    while stack and len(problems) < _MAX_REPORTED_PROBLEMS:
        path, value = stack.pop()
        if isinstance(value, str):
            if problem := _text_problem(value):
                problems.append((path, problem))
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else key
                if problem := _text_problem(key):
                    problems.append((path, f"a key {problem}"))
                    continue
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
    return sorted(problems)


def _text_problem(text: str) -> str:
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    return ""


class HeartbeatApi(MmeApiView):
    endpoint = "heartbeat"

    @extend_schema(
        operation_id="mme_heartbeat",
        tags=["MME"],
        summary="Whether this node is up, which software release it runs, what it accepts",
        parameters=[_AUTH_PARAMETER],
        responses={200: OpenApiTypes.OBJECT, **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "heartbeat": {
                    "production": settings.MME_PRODUCTION,
                    "version": _software_version(),
                    "accept": list(ACCEPTED_MEDIA_TYPES),
                },
                "disclaimer": settings.MME_DISCLAIMER,
            }
        )


class MetricsApi(MmeApiView):
    endpoint = "metrics"

    @extend_schema(
        operation_id="mme_metrics",
        tags=["MME"],
        summary="Counts of the cases peers can match against and of the requests answered",
        parameters=[_AUTH_PARAMETER],
        responses={200: OpenApiTypes.OBJECT, **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "metrics": mme_metrics(),
                "disclaimer": settings.MME_DISCLAIMER,
                "terms": settings.MME_TERMS,
            }
        )


def _software_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("matchmaker")
    except PackageNotFoundError:
        return "unknown"
