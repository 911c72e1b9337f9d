"""A webhook receiver on loopback: a threading HTTP server started by the test, answering
each request with the next behaviour of its script (then the last one again)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from accounts.models import User
from outbound.models import Endpoint
from outbound.services.subscriptions import IssuedEndpoint, create_endpoint

OK = "200"
FAIL = "500"
GONE = "410"
HANG = "hang"  # answers only after HANG_SECONDS: longer than the tests' timeout
HANG_SECONDS = 2.0


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    script: list[str]
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Event = field(default_factory=threading.Event)

    def next_behaviour(self, request: Received) -> str:
        with self.lock:
            self.requests.append(request)
            index = len(self.requests) - 1
        self.arrived.set()
        return self.script[min(index, len(self.script) - 1)]

    def ids(self) -> list[str]:
        with self.lock:
            return [r.headers["webhook-id"] for r in self.requests]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            behaviour = receiver.next_behaviour(Received(headers, body))
            if behaviour == HANG:
                time.sleep(HANG_SECONDS)
                behaviour = OK
            payload = b'{"received": true}'
            try:
                self.send_response(int(behaviour))
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender timed out and hung up: what a hanging receiver causes

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    recv = Receiver(url="", script=[OK])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recv))
    server.daemon_threads = True
    recv.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield recv
    server.shutdown()
    server.server_close()


def subscribe(receiver: Receiver, owner: User, *event_types: str) -> IssuedEndpoint:
    return create_endpoint(actor=owner, url=receiver.url, event_types=list(event_types))


def endpoint_of(issued: IssuedEndpoint) -> Endpoint:
    return Endpoint.objects.get(pk=issued.endpoint.pk)
