"""Fake MME peers: real HTTP servers on loopback whose answer is one function of the request.

Used wherever a test needs a peer that misbehaves on purpose (down, slow, 500, garbage, bad
scores): the code under test talks to it over a real socket, from this process or from a Celery
worker process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

MME_V1_0 = "application/vnd.ga4gh.matchmaker.v1.0+json"
MME_V1_1 = "application/vnd.ga4gh.matchmaker.v1.1+json"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeNode:
    port: int
    requests: list[Received] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mme"

    @property
    def match_url(self) -> str:
        return f"{self.base_url}/match"


class FakeNodeServer(ThreadingHTTPServer):
    daemon_threads = True
    behaviour: Callable[[FakeNodeHandler], None]
    node: FakeNode

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up on a slow or trickling answer is the point of those tests.
        pass


class FakeNodeHandler(BaseHTTPRequestHandler):
    server: FakeNodeServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.node.requests.append(Received(dict(self.headers.items()), body))
        self.server.behaviour(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(
        self,
        status: int = 200,
        body: Any = None,
        *,
        content_type: str | None = MME_V1_1,
        headers: dict[str, str] | None = None,
    ) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


Behaviour = Callable[[FakeNodeHandler], None]


@pytest.fixture
def serve() -> Iterator[Callable[[Behaviour], FakeNode]]:
    """Start a fake node on 127.0.0.1 answering with `behaviour`; stopped after the test."""
    servers: list[FakeNodeServer] = []

    def start(behaviour: Behaviour) -> FakeNode:
        server = FakeNodeServer(("127.0.0.1", 0), FakeNodeHandler)
        server.behaviour = behaviour
        server.node = FakeNode(port=server.server_address[1])
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server.node

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def remote_result(patient_id: str, score: float = 0.8, **patient: Any) -> dict[str, Any]:
    """One result as a peer sends it: an NGLY1 patient with seizures."""
    return {
        "score": {"patient": score, "_genotype": 1.0, "_phenotype": 0.6},
        "patient": {
            "id": patient_id,
            "label": f"their {patient_id}",
            "contact": {
                "name": "Dr Far",
                "institution": "Far Genetics",
                "href": "mailto:far@x.org",
            },
            "features": [{"id": "HP:0001250"}, {"id": "HP:0001263"}],
            "genomicFeatures": [{"gene": {"id": "NGLY1"}}],
            **patient,
        },
    }


def answering(*results: dict[str, Any], disclaimer_key: str = "disclaimer") -> Behaviour:
    def behaviour(handler: FakeNodeHandler) -> None:
        handler.reply(body={disclaimer_key: "Their disclaimer.", "results": list(results)})

    return behaviour
