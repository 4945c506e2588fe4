"""The load generator's own HTTP client (bench/mme_load.py), against a real HTTP server.

The MME load figures in docs/benchmarks.md count what this client reads: a status it misreads
or a body it cuts short would be an error or a result count that never happened.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.mme_load import HttpClientError, LeanHttpClient

ANSWER = json.dumps({"results": [{"score": {"patient": 0.5}}] * 3}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/mme/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            for start in range(0, len(ANSWER), 7):
                piece = ANSWER[start : start + 7]
                self.wfile.write(f"{len(piece):x};ext=1\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self._answer(200, ANSWER)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        echoed = json.dumps(
            {
                "path": self.path,
                "body": body.decode(),
                "token": self.headers["X-Auth-Token"],
                "connection": self.headers["Connection"],
            }
        ).encode()
        self._answer(422 if body == b"bad" else 200, echoed)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/mme"
    server.shutdown()
    server.server_close()


def test_posts_the_body_and_headers_and_reads_the_whole_answer(server_url: str) -> None:
    client = LeanHttpClient(server_url, {"X-Auth-Token": "t0ken"}, timeout=5)

    status, body = asyncio.run(client.request("POST", "match", b'{"patient": {}}'))

    assert status == 200
    assert json.loads(body) == {
        "path": "/mme/match",
        "body": '{"patient": {}}',
        "token": "t0ken",
        "connection": "close",
    }
    assert asyncio.run(client.request("POST", "match", b"bad"))[0] == 422


def test_reads_content_length_and_chunked_answers(server_url: str) -> None:
    client = LeanHttpClient(server_url, {}, timeout=5)

    assert asyncio.run(client.request("GET", "plain")) == (200, ANSWER)
    assert asyncio.run(client.request("GET", "chunked")) == (200, ANSWER)


def test_an_answer_that_is_not_http_or_cut_short_is_an_error() -> None:
    def serve_once(answer: bytes) -> str:
        listener = socket.create_server(("127.0.0.1", 0))

        def reply() -> None:
            connection, _ = listener.accept()
            connection.recv(65536)
            connection.sendall(answer)
            connection.close()
            listener.close()

        threading.Thread(target=reply, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}/"

    for answer in (
        b"SSH-2.0-OpenSSH\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
    ):
        client = LeanHttpClient(serve_once(answer), {}, timeout=5)
        with pytest.raises(HttpClientError):
            asyncio.run(client.request("GET", "x"))


def test_only_http_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="not an http"):
        LeanHttpClient("ftp://example.org/mme", {}, timeout=5)
