"""The one way out to peers: POST /match to a node and judge its answer (mme-api.md §1.4-1.8).

Whatever a peer does wrong ends as a `PeerError` saying whether asking again later may help
(`transient`) and whether the peer broke the protocol (`malformed`; admins are alerted). An answer
is never half-accepted: one bad result refuses all of it, so callers never store part of a reply.
No Django here: the caller reads the peer into a `PeerTarget` and records the outcome.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn, Self

import httpx

from matchmaker.federation.schema import response_violations
from matchmaker.federation.versioning import JSON_MEDIA_TYPES, bare_media_type, media_type_for

_MME_MEDIA_TYPE = re.compile(r"application/vnd\.ga4gh\.matchmaker\.v(\d{1,3})\.(\d{1,3})\+json")
_VERSION = re.compile(r"(\d{1,3})\.(\d{1,3})")
# The spec requires features or genomicFeatures, but a result without either still names a
# patient and a contact: worth showing. Every other schema violation refuses the answer.
_HARMLESS = re.compile(r"results\[\d+\]\.patient: needs at least one feature or genomic feature")
_RESULT_INDEX = re.compile(r"^results\[(\d+)\]")
# The whole exchange, from connect to the last byte of the body, must be over by the peer's
# timeout (counted from the start) plus this slack, so a peer finishing right at its timeout is
# not cut off. Per-read timeouts alone would let a peer trickling a byte a second (headers or
# body) hold a federation worker for as long as it likes.
_DEADLINE_GRACE_SECONDS = 0.5
# We ask for no encoding; a peer that compresses anyway may use one of these, once. wbits as
# zlib wants them: gzip framing, or zlib framing (what HTTP calls "deflate", RFC 9110 §8.4.1.2).
_DECODABLE_ENCODINGS = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,
}
# Inflate at most this much per step, so a compression bomb never expands far past the size limit.
_INFLATE_STEP_BYTES = 65_536
# Error bodies are only read for a short message; no need to hold a big HTML page.
_MAX_ERROR_BODY_BYTES = 65_536
_MAX_QUOTED_CHARACTERS = 200


@dataclass(frozen=True, slots=True)
class RemoteResult:
    """One match a peer returned."""

    patient_id: str
    patient: dict[str, Any]  # as the peer sent it, `_` fields included (§1.8)
    score: float  # score.patient, 0..1, higher = better match
    phenotype_score: float | None  # score._phenotype or _phenotypeScore, 0..1, if sent
    genotype_score: float | None  # score._genotype or _genotypeScore, 0..1, if sent


@dataclass(frozen=True, slots=True)
class PeerAnswer:
    """A peer's whole, valid answer."""

    results: tuple[RemoteResult, ...]  # in the peer's order; only the best when cut (offered)
    disclaimer: str  # must be shown next to the results (MME service agreement, item 6)
    terms: str
    api_version: str  # from the answer's Content-Type; "" for plain JSON
    status_code: int
    latency_ms: float
    offered: int = 0  # how many results the peer sent; more than len(results) when some were cut


@dataclass(eq=False)
class PeerError(Exception):
    """The peer could not be asked, or answered something we refuse.

    `reason` is one line for people and never holds the token. `transient`: worth retrying later
    (timeouts, broken connections, 5xx, 429). `malformed`: a 200 that breaks the protocol.
    Pickles whole (Exception's own reduce: args, then __dict__), for task queues.
    """

    reason: str
    _: KW_ONLY
    transient: bool = False
    malformed: bool = False
    status_code: int | None = None
    latency_ms: float = 0.0
    retry_after: float | None = None  # seconds, from a 429/503 Retry-After header

    def __post_init__(self) -> None:
        super().__init__(self.reason)

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True)
class PeerTarget:
    """Where and how to ask one peer, read once off its settings by the caller."""

    match_url: str
    outbound_token: str = field(repr=False)  # decrypted: kept out of reprs, logs and errors
    api_version: str  # MAJOR.MINOR, sent in Content-Type and Accept
    connect_timeout_seconds: float
    timeout_seconds: float  # the whole exchange, connect to last byte (plus a small grace)


@dataclass(frozen=True, slots=True)
class _Target:
    """A `PeerTarget` checked before a byte is sent."""

    url: str
    token: str
    version: str
    major: int
    connect_timeout: float
    timeout: float


class MmeClient:
    """Sends match requests to peers, over one connection pool; close it, or use it with `with`."""

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        max_response_bytes: int = 10_000_000,
        user_agent: str = "matchmaker",
    ) -> None:
        self.max_response_bytes = max_response_bytes  # decoded bytes
        # A redirect is a peer's setup mistake to report, not to follow: following one would
        # send the token to whatever host the Location names. No connection is kept alive:
        # the deadline's watchdog finds the socket when it is opened (`_Watchdog`), and a
        # reused one would go through the headers unwatched. Identity encoding only: what a
        # peer compresses anyway is inflated here under the size limit (`_decoded_chunks`).
        self._http = httpx.Client(
            transport=transport,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"User-Agent": user_agent, "Accept-Encoding": "identity"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def match(
        self, peer: PeerTarget, request_body: Mapping[str, Any], *, max_results: int | None = None
    ) -> PeerAnswer:
        """Ask `peer` for matches; raises only `PeerError`.

        At most `max_results` results are kept, the best (by score.patient) first.
        """
        started = time.monotonic()
        token = ""
        try:
            target = _read_target(peer)
            token = target.token
            return self._match(target, request_body, started, max_results)
        except PeerError as error:
            failure = error
        except Exception as error:
            failure = PeerError(f"unexpected {type(error).__name__}", transient=True)
            failure.__cause__ = error
        # Peers may echo what they were sent; the token must not reach logs or the admin pages.
        if token and token in failure.reason:
            failure.reason = failure.reason.replace(token, "<token>")
            failure.args = (failure.reason,)
        failure.latency_ms = _elapsed_ms(started)
        raise failure

    def _match(
        self, target: _Target, body: Mapping[str, Any], started: float, max_results: int | None
    ) -> PeerAnswer:
        try:
            content = json.dumps(body, allow_nan=False, ensure_ascii=False).encode()
        except (TypeError, ValueError) as error:
            raise PeerError(f"our request is not JSON: {error}") from error
        media_type = media_type_for(target.version)
        # 1.1 nodes read the version from Content-Type, 1.0-only ones (matchbox, seqr) from Accept.
        headers = {
            "X-Auth-Token": target.token,
            "Content-Type": media_type,
            "Accept": media_type,
            "Content-Language": "en-US",
        }
        connect, wait = target.connect_timeout, target.timeout
        timeout = httpx.Timeout(connect=connect, read=wait, write=wait, pool=connect)
        deadline = started + target.timeout + _DEADLINE_GRACE_SECONDS
        watchdog = _Watchdog(deadline)
        request = self._http.build_request(
            "POST",
            target.url,
            content=content,
            headers=headers,
            timeout=timeout,
            extensions={"trace": watchdog},
        )
        try:
            response = self._http.send(request, stream=True)
            try:
                watchdog.watch(response.extensions.get("network_stream"))
                if response.status_code != 200:
                    _refuse_status(response, deadline)
                api_version = _answered_version(response, target)
                raw = _read_body(response, deadline, self.max_response_bytes, truncate=False)
            finally:
                response.close()
        except (httpx.HTTPError, OSError, ValueError) as error:
            # Whatever the shut socket made the read raise, the cause is the deadline.
            if watchdog.fired or time.monotonic() >= deadline:
                raise PeerError(
                    f"timed out after {target.timeout:g} s (whole answer)", transient=True
                ) from error
            if not isinstance(error, httpx.HTTPError):
                raise
            raise _transport_failure(error, target) from error
        finally:
            watchdog.disarm()
        return _parse_answer(
            raw, api_version, max_results=max_results, latency_ms=_elapsed_ms(started)
        )


class _Watchdog:
    """Shuts the request's socket at the deadline, in whatever phase the exchange is.

    It is httpcore's trace hook: the socket is known as soon as it connects, before a byte of
    the answer (a peer trickling its headers is cut off too). Shutting, not closing, wakes the
    reading thread with an error without freeing the descriptor under it.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def __call__(self, event: str, info: Mapping[str, Any]) -> None:
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self.watch(info.get("return_value"))

    def watch(self, stream: Any) -> None:
        sock = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(sock, socket.socket):
            return  # not a socket (a test transport): the per-chunk deadline check remains
        with self._lock:
            if self._timer is not None:
                return  # already watching this exchange's socket (TLS wraps the same one)
            self._timer = threading.Timer(
                max(0.0, self.deadline - time.monotonic()), self._fire, (sock,)
            )
            self._timer.daemon = True
            self._timer.start()

    def disarm(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()

    def _fire(self, sock: socket.socket) -> None:
        self.fired = True
        # socket.socket's own shutdown, not SSLSocket's, which would drop the TLS state under
        # the reading thread.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _read_target(peer: PeerTarget) -> _Target:
    url, token, version = peer.match_url, peer.outbound_token, peer.api_version
    connect_timeout, timeout = peer.connect_timeout_seconds, peer.timeout_seconds
    if not token:
        raise PeerError("no outbound token: we have nothing to authenticate with")
    # Refused here, before h11 would quote the bad header value (the token) in its error.
    if not all(" " <= character <= "~" for character in token):
        raise PeerError("the outbound token has characters not allowed in an HTTP header")
    found = _VERSION.fullmatch(version)
    if found is None:
        raise PeerError(f"API version {version!r} is not MAJOR.MINOR")
    try:
        scheme = httpx.URL(url).scheme
    except httpx.InvalidURL:
        scheme = ""
    if scheme not in ("http", "https"):
        raise PeerError(f"match URL {_quote(url)} is not an http(s) URL")
    return _Target(url, token, version, int(found[1]), connect_timeout, timeout)


def _read_body(response: httpx.Response, deadline: float, limit: int, *, truncate: bool) -> bytes:
    """The body, decoded, within the deadline and `limit` decoded bytes (error bodies: cut).

    The deadline is checked after every chunk too, for transports without a socket to watch.
    """
    declared = response.headers.get("content-length", "")
    if not truncate and declared.isdigit() and int(declared) > limit:
        raise _malformed(f"answer is larger than {limit} bytes")
    try:
        # Read already, and decoded by httpx: a transport that built the answer in memory.
        raws: Iterable[bytes] = [response.content]
        decoder = None
    except httpx.ResponseNotRead:
        raws, decoder = response.iter_raw(), _decoder_for(response)
    chunks: list[bytes] = []
    size = 0
    for raw in raws:
        for chunk in (raw,) if decoder is None else _decoded_chunks(decoder, raw):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                if truncate:
                    return b"".join(chunks)[:limit]
                raise _malformed(f"answer is larger than {limit} bytes")
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("deadline passed")
    if decoder is not None and not decoder.eof and not truncate:
        raise _malformed("answer's compressed body ends early")
    return b"".join(chunks)


def _decoder_for(response: httpx.Response) -> Any:
    """A zlib decompressor for the answer's Content-Encoding, or None for an identity body.

    Stacked encodings are refused before a byte is inflated: each layer multiplies the
    expansion (a 1.8 kB "gzip, gzip" answer inflates to gigabytes).
    """
    codings = [
        coding.strip().lower()
        for coding in response.headers.get_list("content-encoding", split_commas=True)
    ]
    codings = [coding for coding in codings if coding not in ("", "identity")]
    if not codings:
        return None
    if len(codings) > 1:
        raise _malformed(
            f"answer is compressed {len(codings)} times over ({_quote(', '.join(codings))}); "
            "we ask for no compression and accept one layer at most"
        )
    wbits = _DECODABLE_ENCODINGS.get(codings[0])
    if wbits is None:
        raise _malformed(f"answer has content encoding {_quote(codings[0])}, which we cannot read")
    return zlib.decompressobj(wbits)


def _decoded_chunks(decoder: Any, raw: bytes) -> Iterator[bytes]:
    """Inflate `raw` a step at a time: the caller stops as soon as the size limit is passed."""
    data = raw
    while data and not decoder.eof:
        try:
            chunk = decoder.decompress(data, _INFLATE_STEP_BYTES)
        except zlib.error as error:
            raise _malformed(f"answer's compressed body is corrupt: {error}") from None
        if chunk:
            yield chunk
        data = decoder.unconsumed_tail


def _transport_failure(error: httpx.HTTPError, target: _Target) -> PeerError:
    detail = _quote(str(error) or type(error).__name__)
    if isinstance(error, httpx.ConnectTimeout):
        reason = f"cannot connect: timed out after {target.connect_timeout:g} s"
    elif isinstance(error, httpx.ConnectError):
        reason = f"cannot connect: {detail}"
    elif isinstance(error, httpx.TimeoutException):
        phase = {httpx.ReadTimeout: "read", httpx.WriteTimeout: "write"}.get(type(error), "pool")
        seconds = target.connect_timeout if phase == "pool" else target.timeout
        reason = f"timed out after {seconds:g} s ({phase})"
    elif isinstance(error, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        reason = f"connection broken: {detail}"
    else:
        reason = f"{type(error).__name__}: {detail}"
    return PeerError(reason, transient=True)


def _refuse_status(response: httpx.Response, deadline: float) -> NoReturn:
    """Turn any status but 200 into a PeerError: 429 and 5xx may pass, the rest will not."""
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("location")
        where = f" to {_quote(location)}" if location else ""
        raise PeerError(f"redirected (HTTP {status}){where}", status_code=status)
    # The body only adds a message to the status: what arrives in time, if it is JSON.
    try:
        raw = _read_body(response, deadline, _MAX_ERROR_BODY_BYTES, truncate=True)
        document = json.loads(raw)
    except (PeerError, httpx.HTTPError, OSError, ValueError, RecursionError):
        document = None
    reason = f"HTTP {status}"
    if isinstance(document, dict):
        said = document.get("message") or document.get("error")
        if isinstance(said, str) and said.strip():
            reason += f": {_quote(said)}"
        versions = document.get("supportedVersions")
        if status == 406 and isinstance(versions, list):
            reason += f" (supported versions: {_quote(', '.join(map(str, versions)))})"
    transient = status == 429 or status >= 500
    raise PeerError(
        reason,
        transient=transient,
        status_code=status,
        retry_after=_retry_after(response.headers.get("retry-after")) if transient else None,
    )


def _answered_version(response: httpx.Response, target: _Target) -> str:
    media_type = bare_media_type(response.headers.get("content-type", ""))
    if media_type in JSON_MEDIA_TYPES:
        return ""
    found = _MME_MEDIA_TYPE.fullmatch(media_type)
    if found is None:
        raise _malformed(
            f"wrong content type {_quote(media_type)}" if media_type else "no content type"
        )
    answered = f"{int(found[1])}.{int(found[2])}"
    # Minor versions are compatible both ways; another major is another protocol (§1.3).
    if int(found[1]) != target.major:
        raise _malformed(f"answered in version {answered}, we asked {target.version}")
    return answered


def _parse_answer(
    raw: bytes, api_version: str, *, max_results: int | None, latency_ms: float
) -> PeerAnswer:
    """The answer, judged whole, or with more than `max_results` results, only the best kept.

    A peer sending thousands of results would otherwise cost minutes of explaining and an
    e-mail of hundreds of "new matches"; MME answers are meant to be short, best first. Those
    dropped are checked only for what ranking needs (a score), not against the whole schema,
    which costs about 0.5 ms a result: 10 s of a worker for 20,000 results never used.
    """
    try:
        document = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        raise _malformed(f"answer is not JSON: {_quote(str(error))}") from None
    offered_results = document.get("results") if isinstance(document, dict) else None
    offered = len(offered_results) if isinstance(offered_results, list) else 0
    # positions[i]: where the i-th result judged stood in the peer's answer, for messages.
    positions = list(range(offered))
    if offered_results is not None and max_results is not None and offered > max_results:
        scores = [_ranking_score(index, result) for index, result in enumerate(offered_results)]
        # sorted() is stable: among equal scores the peer's own order stands.
        positions = sorted(positions, key=lambda index: -scores[index])[:max_results]
        document = {**document, "results": [offered_results[index] for index in positions]}
    for violation in response_violations(document):
        line = f"{violation.field or 'answer'}: {violation.message}"
        if not _HARMLESS.fullmatch(line):
            line = _RESULT_INDEX.sub(lambda found: f"results[{positions[int(found[1])]}]", line)
            raise _malformed(_quote(line))
    results: list[RemoteResult] = []
    seen: set[str] = set()
    for index, result in zip(positions, document["results"], strict=True):
        patient, score = result["patient"], result["score"]
        if patient["id"] in seen:
            raise _malformed(
                f"results[{index}].patient.id: '{_quote(patient['id'])}' appears twice"
            )
        seen.add(patient["id"])
        results.append(
            RemoteResult(
                patient_id=patient["id"],
                patient=patient,
                score=float(score["patient"]),
                phenotype_score=_part_score(score, "_phenotype", "_phenotypeScore"),
                genotype_score=_part_score(score, "_genotype", "_genotypeScore"),
            )
        )
    disclaimer = document.get("disclaimer") or document.get("_disclaimer") or ""
    return PeerAnswer(
        results=tuple(results),
        disclaimer=disclaimer,
        terms=document.get("terms") or "",
        api_version=api_version,
        status_code=200,
        latency_ms=latency_ms,
        offered=offered,
    )


def _ranking_score(index: int, result: Any) -> float:
    """score.patient of one result, before the schema is checked: ranking must not guess."""
    score = result.get("score") if isinstance(result, dict) else None
    value = score.get("patient") if isinstance(score, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise _malformed(f"results[{index}].score.patient: must be a number from 0 to 1")
    return float(value)


def _malformed(reason: str) -> PeerError:
    """A 200 that breaks the protocol: asking again would get the same, so not transient."""
    return PeerError(reason, malformed=True, status_code=200)


def _part_score(score: Mapping[str, Any], *keys: str) -> float | None:
    """A partial score peers add under their own names; ignored unless a number in 0..1."""
    for key in keys:
        value = score.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
            return float(value)
    return None


def _refuse_constant(name: str) -> NoReturn:
    # Python's json reads NaN and Infinity, which are not JSON; a NaN score passes any range check.
    raise ValueError(f"{name} is not allowed in JSON")


def _retry_after(header: str | None) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = parsedate_to_datetime(header)
        return max(0.0, (when - datetime.now(tz=UTC)).total_seconds())
    except (TypeError, ValueError):  # not a date, or one without a time zone
        return None


def _quote(text: str) -> str:
    """A peer's words on one printable line, cut short: reasons land in logs and admin pages."""
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if len(text) > _MAX_QUOTED_CHARACTERS:
        return text[: _MAX_QUOTED_CHARACTERS - 1] + "…"
    return text


def _elapsed_ms(started: float) -> float:
    return (time.monotonic() - started) * 1000
