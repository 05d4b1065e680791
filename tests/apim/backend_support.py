"""A real HTTP backend on 127.0.0.1 for the runtime's tests, and the runtime's Backend over httpx.

The echo server answers what it received (method, path with query, headers in order, body) as JSON, with
the status a `/status/NNN` path asks for; it counts the requests it served."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from mockidp.apim.runtime import BackendError, GatewayResponse, OutgoingRequest


@dataclass
class Echo:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    echo: Echo

    def log_message(self, format: str, *args: Any) -> None:
        return

    def answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        seen = {"method": self.command, "path": self.path, "headers": [[k, v] for k, v in self.headers.items()],
                "body": body}
        self.echo.received.append(seen)
        status = int(self.path.split("/status/")[1][:3]) if "/status/" in self.path else 200
        out = json.dumps(seen).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Powered-By", "echo")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = answer


@contextmanager
def echo_server() -> Iterator[Echo]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    echo = Echo(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = type("Handler", (_Handler,), {"echo": echo})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield echo
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port_url() -> str:
    """A loopback URL nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class HttpxBackend:
    """runtime.Backend over httpx: one client per call, which the tests can afford."""

    def __init__(self) -> None:
        self.sent: list[OutgoingRequest] = []

    async def __call__(self, request: OutgoingRequest) -> GatewayResponse:
        self.sent.append(request)
        try:
            async with httpx.AsyncClient(timeout=request.timeout, follow_redirects=request.follow_redirects) as c:
                r = await c.request(request.method, request.url, headers=request.headers, content=request.body)
        except httpx.TimeoutException as exc:
            raise BackendError(f"the backend did not answer in {request.timeout:g} s ({exc!r})", timeout=True) \
                from None
        except httpx.TransportError as exc:
            raise BackendError(f"the backend refused the connection ({type(exc).__name__})") from None
        headers = [(k, v) for k, v in r.headers.multi_items() if k.lower() not in ("content-length", "date",
                                                                                      "server")]
        return GatewayResponse(headers, r.content, r.status_code, r.reason_phrase)
