"""A conformance checker for Matchmaker Exchange nodes: good and bad requests, one verdict each.

It relies only on the MME specification (ga4gh/mme-apis: search-api.md, heartbeat-api.md,
metrics-api.md, join-protocol.md), never on this node's internals, so it checks any node, ours or
a peer's. It is pure Python and httpx, without Django, so that it can be reused outside the
`mme_check` management command that wraps it.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import httpx

DEFAULT_API_VERSION = "1.1"
DEFAULT_TIMEOUT = 30.0  # seconds
# A node that takes long to match still accepts connections at once: do not wait long for those.
MAX_CONNECT_TIMEOUT = 10.0  # seconds
USER_AGENT = "matchmaker-mme-check"

MATCH_NO_AUTH = "match: missing token -> 401"
MATCH_BAD_AUTH = "match: wrong token -> 401"
HEARTBEAT_NO_AUTH = "heartbeat: missing token -> 401"
METRICS_NO_AUTH = "metrics: missing token -> 401"
MATCH_UNSUPPORTED_VERSION = "match: unsupported version v2.0 -> 406"
MATCH_WRONG_METHOD = "match: wrong method -> 405"
MATCH_UNREADABLE_JSON = "match: unreadable JSON -> 400"
MATCH_WRONG_CONTENT_TYPE = "match: text/plain content type -> 415"
MATCH_SCHEMA_VIOLATION = "match: patient without id/contact -> 422"
MATCH_NO_FEATURES = "match: no features or genomicFeatures -> 400/422"
MATCH_VALID_QUERY = "match: valid test patient -> 200"
MATCH_RESULTS_WELL_FORMED = "match: results well-formed"
MATCH_RESULTS_SORTED = "match: results sorted by score, highest first"
MATCH_DISCLAIMER = "match: answer carries a disclaimer"
MATCH_VERSION_IN_ACCEPT = "match: v1.0 in Accept only -> 200"
HEARTBEAT_AUTHORISED = "heartbeat: with token -> 200"
METRICS_AUTHORISED = "metrics: with token -> 200"
MATCH_ERROR_MESSAGES = "match: error bodies carry a message"

# Every check, in the order they run; the names are stable (scripts may grep for them).
CHECK_NAMES: tuple[str, ...] = (
    MATCH_NO_AUTH,
    MATCH_BAD_AUTH,
    HEARTBEAT_NO_AUTH,
    METRICS_NO_AUTH,
    MATCH_UNSUPPORTED_VERSION,
    MATCH_WRONG_METHOD,
    MATCH_UNREADABLE_JSON,
    MATCH_WRONG_CONTENT_TYPE,
    MATCH_SCHEMA_VIOLATION,
    MATCH_NO_FEATURES,
    MATCH_VALID_QUERY,
    MATCH_RESULTS_WELL_FORMED,
    MATCH_RESULTS_SORTED,
    MATCH_DISCLAIMER,
    MATCH_VERSION_IN_ACCEPT,
    HEARTBEAT_AUTHORISED,
    METRICS_AUTHORISED,
    MATCH_ERROR_MESSAGES,
)

# metrics-api.md: every metric is optional, but a count that is present is a count.
METRIC_COUNT_FIELDS: tuple[str, ...] = (
    "numberOfCases",
    "numberOfSubmitters",
    "numberOfGenes",
    "numberOfUniqueGenes",
    "numberOfVariants",
    "numberOfUniqueVariants",
    "numberOfFeatures",
    "numberOfUniqueFeatures",
    "numberOfFeatureSets",
    "numberOfUniqueGenesMatched",
    "numberOfCasesWithDiagnosis",
    "numberOfRequestsReceived",
    "numberOfPotentialMatchesSent",
)

_API_VERSION = re.compile(r"(\d+)\.(\d+)")
_MME_MEDIA_TYPE = re.compile(r"application/vnd\.ga4gh\.matchmaker\.v(\d+)\.(\d+)\+json")
_UNREADABLE_JSON = b'{"patient": '
_EXCERPT_LENGTH = 80


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    passed: bool
    detail: str


# What a check decides: passed or not, and why, in a few words.
_Verdict = tuple[bool, str]


def mme_media_type(api_version: str) -> str:
    """The MME media type of a version: "1.1" -> application/vnd.ga4gh.matchmaker.v1.1+json."""
    return f"application/vnd.ga4gh.matchmaker.v{api_version}+json"


def make_test_patient(patient_id: str) -> dict[str, Any]:
    """A realistic patient marked `test: true` (an NGLY1 case), which every node must accept.

    The contact uses example.org (reserved, RFC 2606) so that no real person is ever emailed.
    """
    return {
        "id": patient_id,
        "label": "mme-check test patient",
        "contact": {
            "name": "MME conformance check",
            "institution": "matchmaker mme_check",
            "href": "mailto:mme-check@example.org",
            "email": "mme-check@example.org",
        },
        "species": "NCBITaxon:9606",
        "sex": "FEMALE",
        "ageOfOnset": "HP:0003593",
        "features": [
            {"id": "HP:0001250", "label": "Seizure"},
            {"id": "HP:0001263", "label": "Global developmental delay"},
            {"id": "HP:0000252", "label": "Microcephaly"},
        ],
        "genomicFeatures": [
            {
                "gene": {"id": "ENSG00000151092"},
                "variant": {
                    "assembly": "GRCh37",
                    "referenceName": "3",
                    "start": 25775421,
                    "referenceBases": "C",
                    "alternateBases": "T",
                },
                "zygosity": 2,
            }
        ],
        "test": True,
    }


def run_conformance_checks(
    base_url: str,
    *,
    token: str,
    api_version: str = DEFAULT_API_VERSION,
    client: httpx.Client | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[CheckResult]:
    """Send the standard good and bad requests to the node at `base_url`; one result per check.

    `base_url` is what join-protocol.md calls the base URL: scheme, host, optional port and path
    prefix, with or without a trailing slash; `/match`, `/heartbeat` and `/metrics` are appended.
    A network error (refused connection, timeout) fails the check it happened in and the run goes
    on. The token never appears in a result. Raises ValueError for an unusable base URL, API
    version, token or timeout. An injected `client` is not closed; one made here is.
    """
    base = _validated_base_url(base_url)
    if not _API_VERSION.fullmatch(api_version):
        raise ValueError(f"API version {api_version!r} is not MAJOR.MINOR, e.g. 1.1")
    if not token.strip():
        raise ValueError("the token is empty")
    if not timeout > 0:
        raise ValueError(f"timeout must be positive, not {timeout}")
    own_client = client is None
    http = client if client is not None else httpx.Client(follow_redirects=False)
    try:
        session = _Session(
            http,
            base,
            token=token,
            api_version=api_version,
            timeout=httpx.Timeout(timeout, connect=min(timeout, MAX_CONNECT_TIMEOUT)),
        )
        return [_run_check(name, check, token=token) for name, check in session.checks()]
    finally:
        if own_client:
            http.close()


def format_results(results: Sequence[CheckResult]) -> str:
    """One line per check (`PASS  name  (detail)`), then `N/M checks passed`."""
    width = max((len(result.name) for result in results), default=0)
    lines = []
    for result in results:
        line = f"{'PASS' if result.passed else 'FAIL'}  {result.name.ljust(width)}"
        if result.detail:
            line += f"  ({result.detail})"
        lines.append(line.rstrip())
    passed = sum(result.passed for result in results)
    lines.append(f"{passed}/{len(results)} checks passed")
    return "\n".join(lines)


def _validated_base_url(base_url: str) -> str:
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as error:
        raise ValueError(f"base URL {base_url!r}: {error}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"base URL {base_url!r} is not an http(s) URL with a host")
    if url.query or url.fragment:
        raise ValueError(f"base URL {base_url!r} must not have a query or fragment")
    return base_url.rstrip("/")


def _run_check(name: str, check: Callable[[], _Verdict], *, token: str) -> CheckResult:
    try:
        passed, detail = check()
    except httpx.HTTPError as error:
        passed, detail = False, f"network error: {type(error).__name__}: {error}"
    # Details quote what the node sent: keep them on one printable line, and never show the token
    # even if a node echoes it back.
    detail = " ".join("".join(c if c.isprintable() else " " for c in detail).split())
    return CheckResult(name=name, passed=passed, detail=detail.replace(token, "<token>"))


class _NotJson:
    """The body of a response that is not JSON (distinct from a JSON `null`)."""


_NOT_JSON = _NotJson()


def _json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both are ValueErrors
        return _NOT_JSON


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT_LENGTH else text[: _EXCERPT_LENGTH - 1] + "…"


def _media_type(response: httpx.Response) -> str:
    content_type: str = response.headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower()


def _mme_version(media_type: str) -> tuple[int, int] | None:
    found = _MME_MEDIA_TYPE.fullmatch(media_type)
    return (int(found.group(1)), int(found.group(2))) if found else None


def _describe_status(response: httpx.Response) -> str:
    """The status code, with a hint for the answers that usually mean a setup mistake."""
    status = response.status_code
    if response.is_redirect:
        return f"{status}, a redirect to {response.headers.get('location', '?')}"
    if status == 404:
        return f"404, {response.request.url} not found: is the base URL right?"
    return str(status)


def _message_of(response: httpx.Response) -> tuple[bool, str]:
    """Whether an error body is JSON with a `message` string (search-api.md), and what it says."""
    body = _json_body(response)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return True, f'message "{_excerpt(body["message"])}"'
    if isinstance(body, dict):
        keys = ", ".join(sorted(body)[:5]) or "none"
        return False, f"JSON body without a `message` (keys: {keys})"
    if body is not _NOT_JSON:
        return False, "JSON body is not an object"
    if not response.content.strip():
        return False, "empty body"
    return False, f"body is not JSON: {_excerpt(response.text)!r}"


def _is_score(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _result_problems(results: list[Any]) -> list[str]:
    """What is wrong with the `results` of a match answer (search-api.md, "Response")."""
    problems = []
    for index, result in enumerate(results):
        where = f"results[{index}]"
        if not isinstance(result, dict):
            problems.append(f"{where} is not an object")
            continue
        score = result.get("score")
        value = score.get("patient") if isinstance(score, dict) else None
        if not _is_score(value):
            problems.append(f"{where} has no numeric score.patient")
        elif not 0 <= value <= 1:
            problems.append(f"{where} score.patient {value} is outside [0, 1]")
        patient = result.get("patient")
        if not isinstance(patient, dict):
            problems.append(f"{where} has no patient object")
            continue
        if not isinstance(patient.get("id"), str) or not patient["id"]:
            problems.append(f"{where}.patient has no id")
        contact = patient.get("contact")
        if not isinstance(contact, dict):
            problems.append(f"{where}.patient has no contact")
            continue
        if not isinstance(contact.get("name"), str) or not contact["name"]:
            problems.append(f"{where}.patient.contact has no name")
        # The v1.2 draft lets `email` be a list of addresses; accept both forms.
        email = contact.get("email")
        has_email = (isinstance(email, str) and bool(email)) or (
            isinstance(email, list) and bool(email) and all(isinstance(e, str) for e in email)
        )
        href = contact.get("href")
        if not (isinstance(href, str) and href) and not has_email:
            problems.append(f"{where}.patient.contact has neither href nor email")
    return problems


class _Session:
    """One run against one node: how to reach it, and what later checks reuse from earlier ones."""

    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        *,
        token: str,
        api_version: str,
        timeout: httpx.Timeout,
    ) -> None:
        self.client = client
        self.base_url = base_url
        self.token = token
        self.api_version = api_version
        self.major = int(api_version.split(".")[0])
        self.media_type = mme_media_type(api_version)
        self.timeout = timeout
        self.valid_body = {"patient": make_test_patient(f"mme-check-{secrets.token_hex(8)}")}
        # The valid query's answer, for the checks on its results; why there is none otherwise.
        self.answer: dict[str, Any] | None = None
        self.no_answer_reason = "the valid query got no answer"
        # (short check label, status, has a message, what the body said) per /match 4xx answer.
        self.error_bodies: list[tuple[str, int, bool, str]] = []

    def checks(self) -> list[tuple[str, Callable[[], _Verdict]]]:
        checks: dict[str, Callable[[], _Verdict]] = {
            MATCH_NO_AUTH: self.check_match_missing_token,
            MATCH_BAD_AUTH: self.check_match_wrong_token,
            HEARTBEAT_NO_AUTH: lambda: self.check_open_endpoint("heartbeat"),
            METRICS_NO_AUTH: lambda: self.check_open_endpoint("metrics"),
            MATCH_UNSUPPORTED_VERSION: self.check_unsupported_version,
            MATCH_WRONG_METHOD: self.check_wrong_method,
            MATCH_UNREADABLE_JSON: self.check_unreadable_json,
            MATCH_WRONG_CONTENT_TYPE: self.check_wrong_content_type,
            MATCH_SCHEMA_VIOLATION: self.check_schema_violation,
            MATCH_NO_FEATURES: self.check_no_features,
            MATCH_VALID_QUERY: self.check_valid_query,
            MATCH_RESULTS_WELL_FORMED: self.check_results_well_formed,
            MATCH_RESULTS_SORTED: self.check_results_sorted,
            MATCH_DISCLAIMER: self.check_disclaimer,
            MATCH_VERSION_IN_ACCEPT: self.check_version_in_accept,
            HEARTBEAT_AUTHORISED: self.check_heartbeat,
            METRICS_AUTHORISED: self.check_metrics,
            MATCH_ERROR_MESSAGES: self.check_error_messages,
        }
        return [(name, checks[name]) for name in CHECK_NAMES]

    # --- requests

    def headers(
        self, *, token: str | None = "", content_type: str = "", accept: str = ""
    ) -> dict[str, str]:
        """The headers of a good request; `token=None` leaves X-Auth-Token out."""
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": content_type or self.media_type,
            "Accept": accept or self.media_type,
        }
        if token is not None:
            headers["X-Auth-Token"] = token or self.token
        return headers

    def send(
        self, method: str, endpoint: str, headers: dict[str, str], content: bytes | None = None
    ) -> httpx.Response:
        return self.client.request(
            method,
            f"{self.base_url}/{endpoint}",
            headers=headers,
            content=content,
            timeout=self.timeout,
            follow_redirects=False,
        )

    def post_match(self, headers: dict[str, str], body: dict[str, Any] | bytes) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.send("POST", "match", headers, content)

    def expect_error(
        self, name: str, response: httpx.Response, expected: Collection[int]
    ) -> _Verdict:
        """Whether /match answered one of the `expected` 4xx codes; notes the body's message."""
        status = response.status_code
        note = ""
        if 400 <= status < 500:
            has_message, note = _message_of(response)
            label = name.removeprefix("match: ").split(" -> ")[0]
            self.error_bodies.append((label, status, has_message, note))
        if status in expected:
            return True, f"{status}; {note}"
        return False, f"got {_describe_status(response)}" + (f"; {note}" if note else "")

    # --- the checks

    def check_match_missing_token(self) -> _Verdict:
        response = self.post_match(self.headers(token=None), self.valid_body)
        return self.expect_error(MATCH_NO_AUTH, response, {401})

    def check_match_wrong_token(self) -> _Verdict:
        # join-protocol.md recommends 40 hex characters; a random one is nobody's token.
        response = self.post_match(self.headers(token=secrets.token_hex(20)), self.valid_body)
        return self.expect_error(MATCH_BAD_AUTH, response, {401})

    def check_open_endpoint(self, endpoint: str) -> _Verdict:
        # heartbeat-api.md and metrics-api.md make the token mandatory; their error bodies need
        # not be JSON, so only the status counts here.
        response = self.send("GET", endpoint, self.headers(token=None))
        if response.status_code == 401:
            return True, "401"
        if response.status_code == 200:
            return False, (
                f"got 200: /{endpoint} answers without a token; the spec requires X-Auth-Token "
                "(some nodes leave it open on purpose, but that is not conformant)"
            )
        return False, f"got {_describe_status(response)}"

    def check_unsupported_version(self) -> _Verdict:
        version = mme_media_type("2.0")
        response = self.post_match(
            self.headers(content_type=version, accept=version), self.valid_body
        )
        passed, detail = self.expect_error(MATCH_UNSUPPORTED_VERSION, response, {406})
        if not passed:
            return passed, detail
        has_message, _ = _message_of(response)
        body = _json_body(response)
        supported = body.get("supportedVersions") if isinstance(body, dict) else None
        if supported is None:
            detail += "; no supportedVersions (optional, but the spec's example has it)"
        else:
            detail += f"; supportedVersions {supported}"
        detail += f"; Content-Type {response.headers.get('content-type', 'missing')}"
        if not has_message:
            return False, f"406 without a JSON `message`: {detail}"
        return True, detail

    def check_wrong_method(self) -> _Verdict:
        response = self.send("GET", "match", self.headers())
        return self.expect_error(MATCH_WRONG_METHOD, response, {405})

    def check_unreadable_json(self) -> _Verdict:
        response = self.post_match(self.headers(), _UNREADABLE_JSON)
        return self.expect_error(MATCH_UNREADABLE_JSON, response, {400})

    def check_wrong_content_type(self) -> _Verdict:
        response = self.post_match(self.headers(content_type="text/plain"), self.valid_body)
        return self.expect_error(MATCH_WRONG_CONTENT_TYPE, response, {415})

    def check_schema_violation(self) -> _Verdict:
        body = {"patient": {"features": [{"id": "HP:0001250"}]}}
        response = self.post_match(self.headers(), body)
        passed, detail = self.expect_error(MATCH_SCHEMA_VIOLATION, response, {422, 400})
        if passed and response.status_code == 400:
            # search-api.md lists 400 for "missing or invalid data" and 422 for a body that
            # breaks the schema; either reading is defensible.
            detail += " (400 accepted as invalid data; 422 is the code for a schema violation)"
        return passed, detail

    def check_no_features(self) -> _Verdict:
        patient = make_test_patient(f"mme-check-{secrets.token_hex(8)}")
        del patient["features"], patient["genomicFeatures"]
        response = self.post_match(self.headers(), {"patient": patient})
        return self.expect_error(MATCH_NO_FEATURES, response, {400, 422})

    def check_valid_query(self) -> _Verdict:
        response = self.post_match(self.headers(), self.valid_body)
        if response.status_code != 200:
            self.no_answer_reason = f"the valid query got {response.status_code}"
            detail = f"got {_describe_status(response)}"
            if response.status_code == 401:
                detail += " (the node refused the token given)"
            elif 400 <= response.status_code < 500:
                detail += f"; {_message_of(response)[1]}"
            return False, detail
        problems = []
        content_type = response.headers.get("content-type", "")
        version = _mme_version(_media_type(response))
        if version is None:
            problems.append(
                f"Content-Type {content_type or 'missing'} is not an MME media type "
                f"(application/vnd.ga4gh.matchmaker.v{self.major}.x+json)"
            )
        elif version[0] != self.major:
            problems.append(
                f"answered v{version[0]}.{version[1]} to a v{self.api_version} query "
                "(another major version)"
            )
        body = _json_body(response)
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(body, dict):
            self.no_answer_reason = "the valid query's answer is not a JSON object"
            problems.append("the body is not a JSON object")
        elif not isinstance(results, list):
            self.no_answer_reason = "the valid query's answer has no `results` list"
            problems.append("no `results` list")
        else:
            # The checks on results inspect the body even when the media type was wrong.
            self.answer = body
        if problems:
            return False, "200, but " + "; ".join(problems)
        return True, f"200, {content_type}, {len(results or [])} results"

    def check_results_well_formed(self) -> _Verdict:
        if self.answer is None:
            return False, f"nothing to inspect: {self.no_answer_reason}"
        results = self.answer["results"]
        if not results:
            return True, "no results to inspect (0 results)"
        problems = _result_problems(results)
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            return False, "; ".join(problems[:3]) + more
        return True, f"{len(results)} results, each with score.patient in [0, 1] and a contact"

    def check_results_sorted(self) -> _Verdict:
        if self.answer is None:
            return False, f"nothing to inspect: {self.no_answer_reason}"
        scores: list[float] = []
        for index, result in enumerate(self.answer["results"]):
            score = result.get("score") if isinstance(result, dict) else None
            value = score.get("patient") if isinstance(score, dict) else None
            if not _is_score(value):
                return False, f"cannot tell: results[{index}] has no numeric score.patient"
            scores.append(value)
        for index in range(1, len(scores)):
            if scores[index] > scores[index - 1]:
                return False, (
                    f"results[{index}] scores {scores[index]}, after {scores[index - 1]} "
                    f"(scores in order: {scores[:10]})"
                )
        return True, f"{len(scores)} results"

    def check_disclaimer(self) -> _Verdict:
        if self.answer is None:
            return False, f"nothing to inspect: {self.no_answer_reason}"
        for key in ("disclaimer", "_disclaimer"):
            value = self.answer.get(key)
            if key in self.answer:
                if not (isinstance(value, str) and value.strip()):
                    return False, f"`{key}` is not a non-empty string"
                detail = f'"{_excerpt(value)}"'
                if key == "_disclaimer":
                    # matchbox and seqr send `_disclaimer`; readers accept both keys.
                    detail = f"as `_disclaimer` (matchbox/seqr style; the spec says `disclaimer`): {detail}"
                return True, detail
        return False, "no `disclaimer` (nor `_disclaimer`) in the answer"

    def check_version_in_accept(self) -> _Verdict:
        # v1.0 put the version in Accept only; most deployed nodes and peers still do that.
        headers = self.headers(content_type="application/json", accept=mme_media_type("1.0"))
        response = self.post_match(headers, self.valid_body)
        if response.status_code != 200:
            return False, f"got {_describe_status(response)}"
        content_type = response.headers.get("content-type", "")
        version = _mme_version(_media_type(response))
        if version is None or version[0] != 1:
            return False, (
                f"200, but Content-Type {content_type or 'missing'} is not "
                "application/vnd.ga4gh.matchmaker.v1.x+json"
            )
        body = _json_body(response)
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            return False, "200, but the body is not a JSON object with a `results` list"
        return True, f"answered v{version[0]}.{version[1]} ({content_type})"

    def check_heartbeat(self) -> _Verdict:
        response = self.send("GET", "heartbeat", self.headers())
        if response.status_code != 200:
            return False, f"got {_describe_status(response)}"
        body = _json_body(response)
        heartbeat = body.get("heartbeat") if isinstance(body, dict) else None
        if not isinstance(heartbeat, dict):
            return False, "200, but no `heartbeat` object"
        problems = []
        production, version, accept = (
            heartbeat.get(key) for key in ("production", "version", "accept")
        )
        if not isinstance(production, bool):
            problems.append("`production` is not a boolean")
        if not isinstance(version, str):
            problems.append("`version` is not a string")
        if not isinstance(accept, list) or not all(isinstance(item, str) for item in accept):
            problems.append("`accept` is not a list of strings")
        if problems or not isinstance(accept, list):
            return False, "200, but " + "; ".join(problems)
        detail = f"production {str(production).lower()}, version {version!r}, accept {accept}"
        if self.media_type not in (item.split(";")[0].strip().lower() for item in accept):
            detail += f"; {self.media_type} is not listed"
        return True, detail

    def check_metrics(self) -> _Verdict:
        response = self.send("GET", "metrics", self.headers())
        if response.status_code != 200:
            return False, f"got {_describe_status(response)}"
        body = _json_body(response)
        metrics = body.get("metrics") if isinstance(body, dict) else None
        if not isinstance(metrics, dict):
            return False, "200, but no `metrics` object"
        problems = [
            f"{name} is {metrics[name]!r}, not a non-negative integer"
            for name in METRIC_COUNT_FIELDS
            if name in metrics and not _is_count(metrics[name])
        ]
        if "dateGenerated" in metrics and not isinstance(metrics["dateGenerated"], str):
            problems.append(f"dateGenerated is {metrics['dateGenerated']!r}, not a string")
        if problems:
            return False, "200, but " + "; ".join(problems)
        present = sum(name in metrics for name in METRIC_COUNT_FIELDS)
        detail = f"{present} of {len(METRIC_COUNT_FIELDS)} known counts present"
        if "dateGenerated" in metrics:
            detail += f", dateGenerated {metrics['dateGenerated']}"
        return True, detail

    def check_error_messages(self) -> _Verdict:
        # search-api.md: error bodies are JSON with a human-readable `message`.
        if not self.error_bodies:
            return False, "no 4xx answer from /match to inspect"
        lacking = [
            f"{label} ({status}: {note})"
            for label, status, has_message, note in self.error_bodies
            if not has_message
        ]
        if lacking:
            return False, "no JSON `message` on: " + "; ".join(lacking)
        return True, f"all {len(self.error_bodies)} 4xx answers have one"
