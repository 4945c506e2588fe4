"""The outbound MME client against real HTTP servers on loopback that misbehave on purpose.

Each test starts a tiny `http.server` node whose answer is one function; the client talks to it
over a real socket, so timeouts, trickling bodies and closed ports behave as they would in the
wild. A `httpx.MockTransport` covers only small cases that need no socket.
"""

from __future__ import annotations

import json
import pickle
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from matchmaker.federation.client import MmeClient, PeerError, PeerTarget
from tests.conftest import free_port
from tests.federation.fake_peers import Behaviour, FakeNode, FakeNodeHandler

TOKEN = "token-we-send-0123456789abcdef0123456789"
MME_V1_0 = "application/vnd.ga4gh.matchmaker.v1.0+json"
MME_V1_1 = "application/vnd.ga4gh.matchmaker.v1.1+json"
QUERY = {
    "patient": {
        "id": "local-1",
        "contact": {"name": "Dr Local", "href": "mailto:local@example.org"},
        "features": [{"id": "HP:0001250"}],
    }
}


def target_at(match_url: str, **overrides: Any) -> PeerTarget:
    """A peer as the outbound service would read it, with whatever `overrides` say."""
    settings: dict[str, Any] = {
        "outbound_token": TOKEN,
        "api_version": "1.1",
        "connect_timeout_seconds": 2.0,
        "timeout_seconds": 5.0,
    }
    return PeerTarget(match_url=match_url, **(settings | overrides))


def peer_of(node: FakeNode, **overrides: Any) -> PeerTarget:
    return target_at(node.match_url, **overrides)


@pytest.fixture
def client() -> Iterator[MmeClient]:
    with MmeClient(user_agent="matchmaker-tests") as mme_client:
        yield mme_client


def result(patient_id: str = "remote-1", score: Any = 0.8, **patient: Any) -> dict[str, Any]:
    remote: dict[str, Any] = {
        "id": patient_id,
        "contact": {"name": "Dr Remote", "href": "mailto:remote@example.org"},
        "features": [{"id": "HP:0001250"}],
    }
    remote.update(patient)
    return {"score": {"patient": score}, "patient": remote}


def answering(body: Any, **reply: Any) -> Behaviour:
    return lambda handler: handler.reply(200, body, **reply)


def refusal(client: MmeClient, peer: PeerTarget) -> PeerError:
    with pytest.raises(PeerError) as caught:
        client.match(peer, QUERY)
    assert TOKEN not in caught.value.reason
    return caught.value


def test_a_well_behaved_v1_1_node_gets_our_headers_and_its_results_come_back(
    serve: Callable[[Behaviour], FakeNode], client: MmeClient
) -> None:
    first = result("remote-1", 0.9)
    first["score"].update(_phenotype=0.7, _genotype=1)
    first["patient"]["_geneName"] = "NGLY1"
    node = serve(
        answering(
            {
                "disclaimer": "Research use only.",
                "terms": "T",
                "results": [first, result("remote-2", 0.4)],
            }
        )
    )

    answer = client.match(peer_of(node), QUERY)

    [received] = node.requests
    assert received.headers["X-Auth-Token"] == TOKEN
    assert received.headers["Content-Type"] == MME_V1_1
    assert received.headers["Accept"] == MME_V1_1
    assert received.headers["Content-Language"] == "en-US"
    assert received.headers["User-Agent"] == "matchmaker-tests"
    assert json.loads(received.body) == QUERY
    assert [r.patient_id for r in answer.results] == ["remote-1", "remote-2"]
    assert answer.results[0].score == 0.9
    assert answer.results[0].phenotype_score == 0.7
    assert answer.results[0].genotype_score == 1.0
    assert answer.results[0].patient["_geneName"] == "NGLY1"
    assert answer.results[1].phenotype_score is None
    assert (answer.disclaimer, answer.terms) == ("Research use only.", "T")
    assert answer.api_version == "1.1"
    assert answer.status_code == 200
    assert answer.latency_ms > 0


def _v1_0_only(handler: FakeNodeHandler) -> None:
    # matchbox and seqr check Accept and know nothing but 1.0 (mme-api.md §1.3).
    if handler.headers.get("Accept") != MME_V1_0:
        handler.reply(406, {"message": "unsupported API version", "supportedVersions": ["1.0"]})
        return
    handler.reply(
        200,
        {"_disclaimer": "matchbox disclaimer", "results": [result(score=0.5, _x=1)]},
        content_type=MME_V1_0,
    )


def test_a_v1_0_only_node_refuses_1_1_and_answers_1_0_with_its_underscore_disclaimer(
    serve: Callable[[Behaviour], FakeNode], client: MmeClient
) -> None:
    node = serve(_v1_0_only)

    error = refusal(client, peer_of(node, api_version="1.1"))
    answer = client.match(peer_of(node, api_version="1.0"), QUERY)

    assert error.reason == "HTTP 406: unsupported API version (supported versions: 1.0)"
    assert not error.transient
    assert not error.malformed
    assert error.status_code == 406
    assert node.requests[1].headers["Content-Type"] == MME_V1_0
    assert answer.api_version == "1.0"
    assert answer.disclaimer == "matchbox disclaimer"
    assert [r.score for r in answer.results] == [0.5]


def test_a_plain_json_answer_is_accepted_without_a_version(
    serve: Callable[[Behaviour], FakeNode], client: MmeClient
) -> None:
    node = serve(answering({"results": [result()]}, content_type="application/json; charset=UTF-8"))

    answer = client.match(peer_of(node), QUERY)

    assert answer.api_version == ""
    assert answer.disclaimer == ""
    assert len(answer.results) == 1


def test_an_empty_result_list_is_a_valid_answer(
    serve: Callable[[Behaviour], FakeNode], client: MmeClient
) -> None:
    node = serve(answering({"results": []}))

    assert client.match(peer_of(node), QUERY).results == ()


def test_a_result_without_features_or_an_href_but_with_an_email_is_accepted(
    serve: Callable[[Behaviour], FakeNode], client: MmeClient
) -> None:
    bare = result(features=[], genomicFeatures=[], contact={"name": "Dr R", "email": "r@x.org"})
    bare["patient"]["unknownField"] = {"kept": True}
    node = serve(answering({"results": [bare]}))

    [only] = client.match(peer_of(node), QUERY).results

    assert only.patient["unknownField"] == {"kept": True}


def test_a_node_that_is_down_is_worth_retrying(client: MmeClient) -> None:
    # Nothing listens on the port, so the connection is refused.
    error = refusal(client, target_at(f"http://127.0.0.1:{free_port()}/match"))

    assert error.transient
    assert not error.malformed
    assert error.reason.startswith("cannot connect: ")
    assert error.status_code is None


def test_a_node_slower_than_the_timeout_is_given_up_on_in_time(
    serve: Callable[[Behaviour], FakeNode], client: MmeClient
) -> None:
    def slow(handler: FakeNodeHandler) -> None:
        time.sleep(3)
        handler.reply(200, {"results": []})

    node = serve(slow)
    started = time.monotonic()

    error = refusal(client, peer_of(node, timeout_seconds=1))

    assert time.monotonic() - started < 2
    assert error.transient
    assert not error.malformed
    assert error.reason == "timed out after 1 s (read)"
    assert 900 < error.latency_ms < 2000


def test_a_node_trickling_its_answer_is_cut_off_at_the_deadline(
    serve: Callable[[Behaviour], FakeNode], client: MmeClient
) -> None:
    def trickle(handler: FakeNodeHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", MME_V1_1)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        # JSON whitespace, one byte every 0.1 s: every read succeeds, the answer never ends.
        for _ in range(100):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.1)

    node = serve(trickle)
    started = time.monotonic()

    error = refusal(client, peer_of(node, timeout_seconds=1))

    assert time.monotonic() - started < 2.5
    assert error.transient
    assert error.reason == "timed out after 1 s (whole answer)"


def test_a_node_stalling_mid_answer_is_given_up_on_at_the_deadline(
    serve: Callable[[Behaviour], FakeNode], client: MmeClient
) -> None:
    def stall(handler: FakeNodeHandler) -> None:
        time.sleep(0.9)
        handler.send_response(200)
        handler.send_header("Content-Type", MME_V1_1)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b'{"results": ')
        handler.wfile.flush()
        time.sleep(5)

    node = serve(stall)
    started = time.monotonic()

    error = refusal(client, peer_of(node, timeout_seconds=1))

    # The read timeout alone would wait until 0.9 + 1 s; the deadline is 1 s + 0.5 s of grace.
    assert time.monotonic() - started < 1.8
    assert error.transient
    assert error.reason == "timed out after 1 s (whole answer)"


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (500, {"message": "database\nis down"}, "HTTP 500: database is down"),
        (502, b"<html>Bad gateway</html>", "HTTP 502"),
        (503, {"error": "maintenance"}, "HTTP 503: maintenance"),
        (429, {"message": "slow down"}, "HTTP 429: slow down"),
    ],
)
def test_server_errors_and_rate_limits_are_worth_retrying(
    serve: Callable[[Behaviour], FakeNode],
    client: MmeClient,
    status: int,
    body: Any,
    reason: str,
) -> None:
    node = serve(lambda handler: handler.reply(status, body, headers={"Retry-After": "120"}))

    error = refusal(client, peer_of(node))

    assert error.reason == reason
    assert error.transient
    assert not error.malformed
    assert error.status_code == status
    assert error.retry_after == 120.0


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (401, {"message": "unknown X-Auth-Token"}, "HTTP 401: unknown X-Auth-Token"),
        (400, {"error": "invalid JSON"}, "HTTP 400: invalid JSON"),
        (404, b"Not Found", "HTTP 404"),
        (405, b"", "HTTP 405"),
        (409, {"message": "record updated"}, "HTTP 409: record updated"),
        (415, {"message": "missing content type"}, "HTTP 415: missing content type"),
        (207, {"results": []}, "HTTP 207"),
        (422, {"message": f"bad token {TOKEN}"}, "HTTP 422: bad token <token>"),
    ],
)
def test_client_errors_are_permanent(
    serve: Callable[[Behaviour], FakeNode],
    client: MmeClient,
    status: int,
    body: Any,
    reason: str,
) -> None:
    node = serve(lambda handler: handler.reply(status, body))

    error = refusal(client, peer_of(node))

    assert error.reason == reason
    assert not error.transient
    assert not error.malformed
    assert error.status_code == status
    assert error.retry_after is None


def test_a_redirect_is_not_followed_and_names_where_it_points(
    serve: Callable[[Behaviour], FakeNode], client: MmeClient
) -> None:
    def redirect(handler: FakeNodeHandler) -> None:
        handler.reply(302, b"", headers={"Location": "https://elsewhere.example/match"})

    node = serve(redirect)

    error = refusal(client, peer_of(node))

    assert error.reason == "redirected (HTTP 302) to https://elsewhere.example/match"
    assert not error.transient
    assert not error.malformed
    assert len(node.requests) == 1


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"{not json", MME_V1_1, "answer is not JSON: "),
        (b'{"results": [{"score": {"patient": NaN}}]}', MME_V1_1, "answer is not JSON: NaN"),
        (b"<html>hello</html>", "text/html; charset=utf-8", "wrong content type text/html"),
        (b'{"results": []}', None, "no content type"),
        (
            b'{"results": []}',
            "application/vnd.ga4gh.matchmaker.v2.0+json",
            "answered in version 2.0, we asked 1.1",
        ),
    ],
)
def test_an_answer_that_is_not_mme_json_is_malformed(
    serve: Callable[[Behaviour], FakeNode],
    client: MmeClient,
    body: bytes,
    content_type: str | None,
    reason: str,
) -> None:
    node = serve(answering(body, content_type=content_type))

    error = refusal(client, peer_of(node))

    assert error.reason.startswith(reason)
    assert error.malformed
    assert not error.transient
    assert error.status_code == 200


@pytest.mark.parametrize(
    ("bad_score", "message"),
    [
        (1.7, "must be at most 1, not 1.7"),
        (-0.1, "must be at least 0, not -0.1"),
        ("0.5", "must be a number, not string"),
        (True, "must be a number, not boolean"),
    ],
)
def test_a_score_outside_0_to_1_or_not_a_number_refuses_the_whole_answer(
    serve: Callable[[Behaviour], FakeNode], client: MmeClient, bad_score: Any, message: str
) -> None:
    results = [result("a", 0.9), result("b", 0.8), result("c", bad_score)]
    node = serve(answering({"results": results}))

    error = refusal(client, peer_of(node))

    assert error.reason == f"results[2].score.patient: {message}"
    assert error.malformed
    assert not error.transient


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"results": [result(id="")]}, "results[0].patient.id: must not be empty"),
        (
            {
                "results": [
                    {
                        "score": {"patient": 0.5},
                        "patient": {
                            "contact": {"name": "x", "href": "mailto:x@y"},
                            "features": [{"id": "HP:0001250"}],
                        },
                    }
                ]
            },
            "results[0].patient.id: is required",
        ),
        (
            {"results": [result(contact={"href": "mailto:x@y.org"})]},
            "results[0].patient.contact.name: is required",
        ),
        ({"results": {"0": result()}}, "results: must be an array, not object"),
        ({"matches": []}, "results: is required"),
        ([result()], "answer: must be an object, not array"),
        (
            {"results": [result("same", 0.9), result("same", 0.8)]},
            "results[1].patient.id: 'same' appears twice",
        ),
    ],
)
def test_a_result_without_a_usable_patient_refuses_the_whole_answer(
    serve: Callable[[Behaviour], FakeNode], client: MmeClient, document: Any, reason: str
) -> None:
    node = serve(answering(document))

    error = refusal(client, peer_of(node))

    assert error.reason == reason
    assert error.malformed
    assert not error.transient


@pytest.mark.parametrize(
    ("patient", "reason"),
    [
        ({"sex": "female"}, "results[0].patient.sex: 'female' is not one of FEMALE, MALE"),
        ({"features": [{"id": "HP:12"}]}, "results[0].patient.features[0].id: 'HP:12' does not"),
        (
            {"contact": {"name": "x", "href": "javascript:alert(1)"}},
            "results[0].patient.contact.href: 'javascript:alert(1)' does not match",
        ),
    ],
)
def test_a_result_breaking_the_schema_elsewhere_refuses_the_whole_answer(
    serve: Callable[[Behaviour], FakeNode], client: MmeClient, patient: Any, reason: str
) -> None:
    # Strict on purpose: what we store is shown to users and mailed, and a contact href becomes
    # a link; only a patient without features is let through (see the test above).
    node = serve(answering({"results": [result(**patient), result("other")]}))

    error = refusal(client, peer_of(node))

    assert error.reason.startswith(reason)
    assert error.malformed


def test_an_answer_larger_than_the_limit_is_refused(
    serve: Callable[[Behaviour], FakeNode],
) -> None:
    body = json.dumps({"results": [result(f"remote-{i}") for i in range(50)]}).encode()

    def without_length(handler: FakeNodeHandler) -> None:
        # HTTP/1.0 without Content-Length: the body ends when the connection closes.
        handler.send_response(200)
        handler.send_header("Content-Type", MME_V1_1)
        handler.end_headers()
        handler.wfile.write(body)

    declared, streamed = serve(answering(body)), serve(without_length)
    with MmeClient(max_response_bytes=len(body) - 1) as small_client:
        errors = [refusal(small_client, peer_of(node)) for node in (declared, streamed)]
    with MmeClient(max_response_bytes=len(body)) as big_enough_client:
        assert len(big_enough_client.match(peer_of(streamed), QUERY).results) == 50

    for error in errors:
        assert error.reason == f"answer is larger than {len(body) - 1} bytes"
        assert error.malformed
        assert not error.transient


def _gzip(chunks: Iterable[bytes]) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return b"".join([*(compressor.compress(chunk) for chunk in chunks), compressor.flush()])


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """200 MB of JSON whitespace, gzipped to about 190 kB."""
    return _gzip(b" " * 1_000_000 for _ in range(200))


@contextmanager
def bounded(*, megabytes: float, seconds: float) -> Iterator[None]:
    """The block allocates at most `megabytes` at its peak (every thread) and ends in time."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        yield
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < megabytes * 1_000_000, f"peak {peak / 1e6:.1f} MB"
    assert elapsed < seconds, f"took {elapsed:.1f} s"


def test_a_nested_gzip_answer_is_refused_before_anything_is_inflated(
    serve: Callable[[Behaviour], FakeNode], client: MmeClient, gzip_bomb: bytes
) -> None:
    # 200 MB inside 480 bytes: each layer multiplies the expansion.
    nested = _gzip([gzip_bomb])
    assert len(nested) < 2_000
    node = serve(answering(nested, headers={"Content-Encoding": "gzip, gzip"}))

    with bounded(megabytes=5, seconds=1):
        error = refusal(client, peer_of(node))

    assert node.requests[0].headers["Accept-Encoding"] == "identity"
    assert error.reason == (
        "answer is compressed 2 times over (gzip, gzip); "
        "we ask for no compression and accept one layer at most"
    )
    assert error.malformed
    assert not error.transient


def test_a_gzip_bomb_is_cut_at_the_size_limit_while_it_inflates(
    serve: Callable[[Behaviour], FakeNode], client: MmeClient, gzip_bomb: bytes
) -> None:
    node = serve(answering(gzip_bomb, headers={"Content-Encoding": "gzip"}))

    # The limit is 10 MB of decoded answer: not a byte more is held at once.
    with bounded(megabytes=client.max_response_bytes / 1e6 + 3, seconds=2):
        error = refusal(client, peer_of(node))

    assert error.reason == "answer is larger than 10000000 bytes"
    assert error.malformed


def test_a_peer_compressing_its_answer_anyway_is_read_once_inflated(
    serve: Callable[[Behaviour], FakeNode], client: MmeClient
) -> None:
    body = json.dumps({"results": [result("remote-1", 0.9)]}).encode()
    gzipped, deflated = (
        serve(answering(_gzip([body]), headers={"Content-Encoding": "gzip"})),
        serve(answering(zlib.compress(body), headers={"Content-Encoding": "deflate"})),
    )

    for node in (gzipped, deflated):
        [found] = client.match(peer_of(node), QUERY).results
        assert found.patient_id == "remote-1"


@pytest.mark.parametrize(
    ("encoding", "body", "reason"),
    [
        ("br", b"\x1b\x00", "answer has content encoding br, which we cannot read"),
        ("gzip", b"not gzip at all", "answer's compressed body is corrupt: "),
        ("gzip", _gzip([b'{"results": []}'])[:-8], "answer's compressed body ends early"),
    ],
)
def test_a_compressed_answer_we_cannot_read_is_malformed(
    serve: Callable[[Behaviour], FakeNode],
    client: MmeClient,
    encoding: str,
    body: bytes,
    reason: str,
) -> None:
    node = serve(answering(body, headers={"Content-Encoding": encoding}))

    error = refusal(client, peer_of(node))

    assert error.reason.startswith(reason)
    assert error.malformed


def test_a_node_trickling_its_headers_is_cut_off_at_the_deadline(
    serve: Callable[[Behaviour], FakeNode], client: MmeClient
) -> None:
    def trickle_headers(handler: FakeNodeHandler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        # A header line every 0.1 s for 30 s: every read succeeds well within the read timeout.
        for _ in range(300):
            handler.wfile.write(b"X-Wait: 1\r\n")
            handler.wfile.flush()
            time.sleep(0.1)

    node = serve(trickle_headers)

    with bounded(megabytes=2, seconds=2):
        error = refusal(client, peer_of(node, timeout_seconds=1))

    assert error.transient
    assert error.reason == "timed out after 1 s (whole answer)"
    assert 1000 < error.latency_ms < 2000


def test_only_the_best_results_are_kept_and_only_they_are_judged_in_full(
    serve: Callable[[Behaviour], FakeNode], client: MmeClient
) -> None:
    offered = 20_000
    scores = [(index * 7919 % offered) / offered for index in range(offered)]
    flood = [result(f"remote-{index}", score) for index, score in enumerate(scores)]
    # Broken beyond the kept ones: never stored, so not worth 0.5 ms each of schema checks.
    flood[0]["patient"]["features"] = [{"id": "not an HPO id"}]
    best = sorted(range(offered), key=lambda index: -scores[index])[:3]
    node = serve(answering({"results": flood}))

    started = time.monotonic()
    answer = client.match(peer_of(node), QUERY, max_results=3)
    elapsed = time.monotonic() - started

    assert [found.patient_id for found in answer.results] == [f"remote-{i}" for i in best]
    assert [found.score for found in answer.results] == [0.99995, 0.9999, 0.99985]
    assert answer.offered == offered
    assert elapsed < 5, f"took {elapsed:.1f} s"


def test_a_kept_result_that_breaks_the_schema_is_named_by_its_place_in_the_answer(
    serve: Callable[[Behaviour], FakeNode], client: MmeClient
) -> None:
    best = result("remote-best", 0.9, features=[{"id": "HP:12"}])
    cut = [result("remote-low", 0.1), result("remote-mid", 0.5), best]
    unranked = [result("remote-1", 0.5), result("remote-2", 2)]
    cut_node, unranked_node = (
        serve(answering({"results": cut})),
        serve(answering({"results": unranked})),
    )

    with pytest.raises(PeerError) as broken:
        client.match(peer_of(cut_node), QUERY, max_results=2)
    with pytest.raises(PeerError) as unrankable:
        client.match(peer_of(unranked_node), QUERY, max_results=1)

    assert (
        broken.value.reason
        == "results[2].patient.features[0].id: 'HP:12' does not match ^HP:\\d{7}$"
    )
    assert unrankable.value.reason == "results[1].score.patient: must be a number from 0 to 1"
    assert broken.value.malformed
    assert unrankable.value.malformed


def _mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> MmeClient:
    return MmeClient(transport=httpx.MockTransport(handler))


MOCK_PEER = target_at("https://mme.example.org/mme/match")


def test_a_retry_after_date_becomes_seconds_from_now() -> None:
    later = "Wed, 21 Oct 2099 07:28:00 GMT"
    with _mock_client(lambda _: httpx.Response(503, headers={"Retry-After": later})) as client:
        error = refusal(client, MOCK_PEER)

    assert error.retry_after is not None
    assert error.retry_after > 1e9


def test_an_unexpected_failure_becomes_a_transient_peer_error() -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise RuntimeError(request.headers["X-Auth-Token"])

    with _mock_client(explode) as client:
        error = refusal(client, MOCK_PEER)

    assert error.reason == "unexpected RuntimeError"
    assert error.transient


@pytest.mark.parametrize(
    ("peer", "reason"),
    [
        (target_at("/match"), "match URL /match is not an http(s) URL"),
        (target_at(MOCK_PEER.match_url, outbound_token=""), "no outbound token"),
        (
            target_at(MOCK_PEER.match_url, outbound_token=TOKEN + "\n"),
            "the outbound token has characters not allowed in an HTTP header",
        ),
    ],
)
def test_a_peer_we_cannot_ask_is_a_permanent_error(peer: PeerTarget, reason: str) -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing should be sent")

    with _mock_client(unreachable) as client:
        error = refusal(client, peer)

    assert error.reason.startswith(reason)
    assert not error.transient
    assert not error.malformed


def test_a_peer_error_survives_pickling_with_its_details() -> None:
    error = PeerError("HTTP 503", transient=True, status_code=503, latency_ms=12.5, retry_after=30)

    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object

    assert (copy.reason, copy.transient, copy.status_code, copy.retry_after) == (
        "HTTP 503",
        True,
        503,
        30,
    )
    assert str(copy) == "HTTP 503"
