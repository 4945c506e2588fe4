"""The MME conformance checker, against fake nodes behind an httpx.MockTransport.

The fakes stand in for a remote node so that each deviation from the spec can be switched on
alone; the end-to-end run against our own live node lives with the inbound API's tests.
"""

from __future__ import annotations

import io
import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.management import CommandError, call_command

from matchmaker.federation.conformance import (
    CHECK_NAMES,
    CheckResult,
    format_results,
    run_conformance_checks,
)

TOKEN = "0123456789abcdef0123456789abcdef01234567"
BASE_URL = "https://node.example/mme"
MME_MEDIA_TYPE = re.compile(r"application/vnd\.ga4gh\.matchmaker\.v(\d+)\.(\d+)\+json")


@dataclass
class FakeNode:
    """A conformant MME node at https://node.example/mme; each field switches on one deviation."""

    open_heartbeat: bool = False
    open_metrics: bool = False
    top_score: float = 0.9
    unsorted: bool = False
    version_error_status: int = 406
    supported_versions: bool = True
    disclaimer_key: str | None = "disclaimer"
    schema_error_status: int = 422
    answer_content_type: str | None = None  # None: the MME media type of the version asked
    bare_errors: frozenset[int] = frozenset()  # statuses answered with an empty body
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        endpoint = request.url.path.removeprefix("/mme/")
        if endpoint in ("heartbeat", "metrics"):
            return self.status_endpoint(request, endpoint)
        if endpoint != "match":
            return self.error(404, "no such endpoint")
        if request.headers.get("x-auth-token") != TOKEN:
            return self.error(401, "missing or unknown X-Auth-Token")
        if request.method != "POST":
            return self.error(405, "use POST")
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        accept = request.headers.get("accept", "").split(";")[0].strip()
        asked = MME_MEDIA_TYPE.fullmatch(content_type) or MME_MEDIA_TYPE.fullmatch(accept)
        if content_type != "application/json" and not MME_MEDIA_TYPE.fullmatch(content_type):
            return self.error(415, "send an MME media type")
        if asked and asked.group(1) != "1":
            return self.version_error()
        minor = asked.group(2) if asked else "1"
        try:
            body = json.loads(request.content)
        except ValueError:
            return self.error(400, "unreadable JSON")
        patient = body.get("patient") if isinstance(body, dict) else None
        if not isinstance(patient, dict) or "id" not in patient or "contact" not in patient:
            return self.error(self.schema_error_status, "patient needs an id and a contact")
        if not patient.get("features") and not patient.get("genomicFeatures"):
            return self.error(422, "patient needs features or genomicFeatures")
        return self.answer(minor)

    def answer(self, minor: str) -> httpx.Response:
        results = [self.result("N1-000007", self.top_score), self.result("N1-000042", 0.4)]
        if self.unsorted:
            results.reverse()
        body: dict[str, Any] = {"results": results}
        if self.disclaimer_key:
            body[self.disclaimer_key] = "Data are shared for research; verify before use."
        content_type = (
            self.answer_content_type or f"application/vnd.ga4gh.matchmaker.v1.{minor}+json"
        )
        return httpx.Response(
            200, content=json.dumps(body).encode(), headers={"Content-Type": content_type}
        )

    @staticmethod
    def result(patient_id: str, score: float) -> dict[str, Any]:
        return {
            "score": {"patient": score, "_genotype": 0.5, "_phenotype": 0.3},
            "patient": {
                "id": patient_id,
                "contact": {"name": "Dr A. Example", "href": "mailto:mme@example.org"},
                "features": [{"id": "HP:0001250"}],
            },
        }

    def status_endpoint(self, request: httpx.Request, endpoint: str) -> httpx.Response:
        is_open = self.open_heartbeat if endpoint == "heartbeat" else self.open_metrics
        if request.headers.get("x-auth-token") != TOKEN and not is_open:
            return httpx.Response(401, text="Unauthorized")  # heartbeat-api.md: need not be JSON
        if endpoint == "heartbeat":
            body: dict[str, Any] = {
                "heartbeat": {
                    "production": False,
                    "version": "0.1.0",
                    "accept": [
                        "application/vnd.ga4gh.matchmaker.v1.0+json",
                        "application/vnd.ga4gh.matchmaker.v1.1+json",
                    ],
                }
            }
        else:
            body = {
                "metrics": {
                    "numberOfCases": 12,
                    "numberOfSubmitters": 3,
                    "numberOfUniqueGenes": 0,
                    "dateGenerated": "2026-01-01",
                }
            }
        return httpx.Response(200, json=body)

    def version_error(self) -> httpx.Response:
        body: dict[str, Any] = {"message": "unsupported API version"}
        if self.supported_versions:
            body["supportedVersions"] = ["1.0", "1.1"]
        return httpx.Response(
            self.version_error_status,
            content=json.dumps(body).encode(),
            headers={"Content-Type": "application/vnd.ga4gh.matchmaker.v1.1+json"},
        )

    def error(self, status: int, message: str) -> httpx.Response:
        if status in self.bare_errors:
            return httpx.Response(status)
        return httpx.Response(status, json={"message": message})


def check(node: FakeNode, *, base_url: str = BASE_URL, **options: Any) -> list[CheckResult]:
    with httpx.Client(transport=httpx.MockTransport(node)) as client:
        return run_conformance_checks(base_url, token=TOKEN, client=client, **options)


def failed(results: list[CheckResult]) -> set[str]:
    return {result.name for result in results if not result.passed}


def detail(results: list[CheckResult], name: str) -> str:
    return next(result.detail for result in results if result.name == name)


def test_a_conformant_node_passes_every_check_in_order() -> None:
    results = check(FakeNode())

    assert [result.name for result in results] == list(CHECK_NAMES)
    assert failed(results) == set(), format_results(results)
    assert detail(results, "match: valid test patient -> 200") == (
        "200, application/vnd.ga4gh.matchmaker.v1.1+json, 2 results"
    )
    assert "supportedVersions ['1.0', '1.1']" in detail(
        results, "match: unsupported version v2.0 -> 406"
    )
    assert detail(results, "match: v1.0 in Accept only -> 200").startswith("answered v1.0")
    assert detail(results, "match: missing token -> 401") == (
        '401; message "missing or unknown X-Auth-Token"'
    )


def test_the_checks_have_stable_names() -> None:
    assert CHECK_NAMES == (
        "match: missing token -> 401",
        "match: wrong token -> 401",
        "heartbeat: missing token -> 401",
        "metrics: missing token -> 401",
        "match: unsupported version v2.0 -> 406",
        "match: wrong method -> 405",
        "match: unreadable JSON -> 400",
        "match: text/plain content type -> 415",
        "match: patient without id/contact -> 422",
        "match: no features or genomicFeatures -> 400/422",
        "match: valid test patient -> 200",
        "match: results well-formed",
        "match: results sorted by score, highest first",
        "match: answer carries a disclaimer",
        "match: v1.0 in Accept only -> 200",
        "heartbeat: with token -> 200",
        "metrics: with token -> 200",
        "match: error bodies carry a message",
    )


def test_good_requests_carry_the_token_and_the_mme_media_type_under_the_path_prefix() -> None:
    node = FakeNode()
    check(node, base_url="https://node.example/mme/")

    media_type = "application/vnd.ga4gh.matchmaker.v1.1+json"
    valid = [
        request
        for request in node.requests
        if request.method == "POST"
        and request.headers.get("x-auth-token") == TOKEN
        and request.headers["content-type"] == media_type
        and b"genomicFeatures" in request.content
    ]
    assert valid, "no valid query was sent"
    assert valid[0].headers["accept"] == media_type
    assert {request.url.path for request in node.requests} == {
        "/mme/match",
        "/mme/heartbeat",
        "/mme/metrics",
    }
    patient = json.loads(valid[0].content)["patient"]
    assert patient["test"] is True
    assert patient["id"].startswith("mme-check-")
    assert patient["genomicFeatures"][0]["gene"]["id"] == "ENSG00000151092"
    assert {feature["id"] for feature in patient["features"]} == {
        "HP:0001250",
        "HP:0001263",
        "HP:0000252",
    }


def test_asking_for_v1_0_gets_a_v1_0_answer() -> None:
    results = check(FakeNode(), api_version="1.0")

    assert failed(results) == set(), format_results(results)
    assert "v1.0+json" in detail(results, "match: valid test patient -> 200")


@pytest.mark.parametrize(
    ("node", "expected_failures"),
    [
        pytest.param(
            FakeNode(open_heartbeat=True), {"heartbeat: missing token -> 401"}, id="open heartbeat"
        ),
        pytest.param(
            FakeNode(open_metrics=True), {"metrics: missing token -> 401"}, id="open metrics"
        ),
        pytest.param(
            FakeNode(unsorted=True),
            {"match: results sorted by score, highest first"},
            id="results unsorted",
        ),
        pytest.param(FakeNode(top_score=1.7), {"match: results well-formed"}, id="score 1.7"),
        pytest.param(
            FakeNode(version_error_status=400),
            {"match: unsupported version v2.0 -> 406"},
            id="400 instead of 406",
        ),
        pytest.param(
            FakeNode(disclaimer_key=None),
            {"match: answer carries a disclaimer"},
            id="no disclaimer",
        ),
        pytest.param(
            FakeNode(answer_content_type="application/json"),
            {"match: valid test patient -> 200", "match: v1.0 in Accept only -> 200"},
            id="plain application/json answers",
        ),
        pytest.param(
            FakeNode(bare_errors=frozenset({405})),
            {"match: error bodies carry a message"},
            id="bare 405",
        ),
    ],
)
def test_a_non_conformant_node_fails_exactly_the_checks_it_breaks(
    node: FakeNode, expected_failures: set[str]
) -> None:
    results = check(node)

    assert failed(results) == expected_failures, format_results(results)


def test_the_failures_say_what_was_wrong() -> None:
    assert "answers without a token" in detail(
        check(FakeNode(open_heartbeat=True)), "heartbeat: missing token -> 401"
    )
    assert "outside [0, 1]" in detail(check(FakeNode(top_score=1.7)), "match: results well-formed")
    assert "results[1] scores 0.9, after 0.4" in detail(
        check(FakeNode(unsorted=True)), "match: results sorted by score, highest first"
    )
    assert detail(
        check(FakeNode(version_error_status=400)), "match: unsupported version v2.0 -> 406"
    ).startswith("got 400")
    assert "application/json is not an MME media type" in detail(
        check(FakeNode(answer_content_type="application/json")),
        "match: valid test patient -> 200",
    )
    assert "wrong method (405: empty body)" in detail(
        check(FakeNode(bare_errors=frozenset({405}))), "match: error bodies carry a message"
    )


def test_tolerated_deviations_pass_and_say_so() -> None:
    results = check(
        FakeNode(disclaimer_key="_disclaimer", supported_versions=False, schema_error_status=400)
    )

    assert failed(results) == set(), format_results(results)
    assert "`_disclaimer`" in detail(results, "match: answer carries a disclaimer")
    assert "no supportedVersions" in detail(results, "match: unsupported version v2.0 -> 406")
    assert "400 accepted" in detail(results, "match: patient without id/contact -> 422")


def test_a_network_error_fails_its_check_and_the_run_goes_on() -> None:
    node = FakeNode()

    def heartbeat_times_out(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/heartbeat"):
            raise httpx.ReadTimeout("timed out", request=request)
        return node(request)

    with httpx.Client(transport=httpx.MockTransport(heartbeat_times_out)) as client:
        results = run_conformance_checks(BASE_URL, token=TOKEN, client=client)

    assert failed(results) == {"heartbeat: missing token -> 401", "heartbeat: with token -> 200"}
    assert (
        detail(results, "heartbeat: with token -> 200") == "network error: ReadTimeout: timed out"
    )


def test_an_unreachable_node_fails_every_check() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with httpx.Client(transport=httpx.MockTransport(refuse)) as client:
        results = run_conformance_checks(BASE_URL, token=TOKEN, client=client)

    assert failed(results) == set(CHECK_NAMES)
    assert "nothing to inspect" in detail(results, "match: results well-formed")


def test_the_token_never_appears_in_the_results() -> None:
    def echo_token(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401, json={"message": f"bad token {request.headers.get('x-auth-token')}"}
        )

    with httpx.Client(transport=httpx.MockTransport(echo_token)) as client:
        results = run_conformance_checks(BASE_URL, token=TOKEN, client=client)

    assert TOKEN not in format_results(results)
    assert "<token>" in format_results(results)


@pytest.mark.parametrize(
    ("base_url", "options"),
    [
        ("ftp://node.example/mme", {}),
        ("node.example/mme", {}),
        ("https://node.example/mme?x=1", {}),
        (BASE_URL, {"api_version": "v1"}),
        (BASE_URL, {"timeout": 0}),
    ],
)
def test_it_rejects_unusable_arguments(base_url: str, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (each case has its own message)
        run_conformance_checks(base_url, token=TOKEN, **options)


def test_format_results_prints_one_line_per_check_then_a_summary() -> None:
    text = format_results(
        [
            CheckResult("match: missing token -> 401", True, "401"),
            CheckResult("match: wrong method -> 405", False, "got 200"),
        ]
    )

    assert text.splitlines() == [
        "PASS  match: missing token -> 401  (401)",
        "FAIL  match: wrong method -> 405   (got 200)",
        "1/2 checks passed",
    ]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it), not listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_the_command_fails_against_a_closed_port_without_printing_the_token(
    closed_port: int, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    out = io.StringIO()

    with pytest.raises(CommandError, match=rf"{len(CHECK_NAMES)} of {len(CHECK_NAMES)} checks"):
        call_command(
            "mme_check",
            f"http://127.0.0.1:{closed_port}/mme",
            "--token-file",
            str(token_file),
            "--timeout",
            "5",
            stdout=out,
        )

    output = out.getvalue()
    assert "FAIL  match: missing token -> 401" in output
    assert "network error: ConnectError" in output
    assert output.rstrip().endswith(f"0/{len(CHECK_NAMES)} checks passed")
    assert TOKEN not in output


def test_the_command_needs_a_token() -> None:
    with pytest.raises(CommandError):
        call_command("mme_check", BASE_URL)
