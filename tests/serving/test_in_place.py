"""Discovery and JWKS by GET are answered by the HTTP protocol itself (serving.BoundedHttpProtocol, through
app.Served.in_place), before any ASGI task: the same bytes as the ASGI way, on the wire, for keep-alive,
HTTP/1.0, `Connection: close` and pipelined requests; everything else still goes the ASGI way."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from mockidp.app import create_app, served
from mockidp.settings import Settings
from mockidp.web.serving import Limits, ServingConfig
from tests.conftest import DEMO_SEED, TENANT, _free_port

DOCS = [f"/{TENANT}/discovery/v2.0/keys", f"/{TENANT}/discovery/keys",
        f"/{TENANT}/v2.0/.well-known/openid-configuration", f"/{TENANT}/.well-known/openid-configuration"]


class AsgiOnly:
    """The same app without `in_place`: every request goes the ASGI way."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class NoAsgi:
    """`in_place` of the real app, and an ASGI way that answers 503: what still answers 200 was answered in place."""

    def __init__(self, app: Any) -> None:
        self.in_place = app.in_place

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 503, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})


@contextmanager
def serving(app: Any, settings: Settings, *, access_log: bool = False) -> Iterator[int]:
    limits = Limits(max_header_bytes=settings.max_header_bytes, max_headers=settings.max_headers,
                    header_timeout=settings.header_timeout, body_timeout=settings.body_timeout,
                    keep_alive_timeout=settings.keep_alive_timeout,
                    tls_handshake_timeout=settings.tls_handshake_timeout)
    config = ServingConfig(app, limits=limits, host="127.0.0.1", port=settings.port, log_config=None,
                           access_log=access_log, server_header=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        assert time.time() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield settings.port
    finally:
        server.should_exit = True
        thread.join(10)


def exchange(port: int, request: bytes, *, answers: int = 1) -> bytes:
    """Sends `request` (one or several, pipelined) in one write; reads until `answers` complete answers or
    the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while len(_answers(received)) < answers:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def _answers(data: bytes) -> list[bytes]:
    out, rest = [], data
    while b"\r\n\r\n" in rest:
        head, _, after = rest.partition(b"\r\n\r\n")
        length = int(re.search(rb"content-length: (\d+)", head).group(1)) if b"content-length:" in head else 0  # type: ignore[union-attr]
        if len(after) < length:
            break
        out.append(head + b"\r\n\r\n" + after[:length])
        rest = after[length:]
    return out


def _masked(data: bytes) -> bytes:
    """Without what differs from one answer to the next: the date, the request, trace and correlation ids
    and an error's timestamp."""
    data = re.sub(rb"date: [^\r]+", b"date: *", data)
    data = re.sub(rb"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", b"*", data)
    return re.sub(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", b"*", data)


def _settings(tmp_path: Path, name: str) -> Settings:
    return Settings(seed=[DEMO_SEED], data_dir=tmp_path / name, port=_free_port(), tls=False, gateway_port=0)


def test_in_place_answers_are_the_asgi_ways_byte_for_byte(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "a")
    app = served(create_app(settings), settings)
    same_dir = settings.model_copy(update={"port": _free_port()})  # the same keys and directory, the ASGI way
    asgi = AsgiOnly(served(create_app(same_dir), same_dir))
    requests = [*(f"GET {p} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode() for p in DOCS),
                f"GET {DOCS[0]}?appid=x HTTP/1.1\r\nHost: idp.test:8443\r\n\r\n".encode(),
                b"GET /no-such-tenant.example/discovery/v2.0/keys HTTP/1.1\r\nHost: localhost\r\n\r\n",
                f"GET {DOCS[0]} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello".encode()]
    closing = [f"GET {DOCS[2]} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode(),
               f"GET {DOCS[1]} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()]
    pipelined = b"".join(f"GET {p} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode() for p in DOCS) + (
        b"GET /_mockidp/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
    with serving(app, settings) as fast_port, serving(asgi, same_dir) as asgi_port:
        for request in requests:
            a, b = exchange(fast_port, request), exchange(asgi_port, request)
            assert a.startswith(b"HTTP/1.1 ") and _masked(a) == _masked(b), request
        for request in closing:  # answered, then the server closes the connection
            a, b = until_closed(fast_port, request), until_closed(asgi_port, request)
            assert b"connection: close\r\n" in a and _masked(a) == _masked(b), request
        a, b = exchange(fast_port, pipelined, answers=5), exchange(asgi_port, pipelined, answers=5)
        assert [x.split(b"\r\n", 1)[0] for x in _answers(a)] == [b"HTTP/1.1 200 OK"] * 5
        assert _masked(a) == _masked(b)


def until_closed(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received  # recv gave b"": the server closed


def test_discovery_and_keys_are_answered_before_any_asgi_task_and_the_rest_is_not(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "b")
    app = served(create_app(settings), settings)
    with serving(NoAsgi(app), settings) as port:
        for path in DOCS:
            answer = exchange(port, f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b'"' in answer.partition(b"\r\n\r\n")[2]
        for request in (b"GET /_mockidp/health HTTP/1.1\r\nHost: localhost\r\n\r\n",  # not a document
                        f"HEAD {DOCS[0]} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode(),  # not a GET
                        f"GET /no-such-tenant.example{DOCS[0][len(TENANT) + 1:]} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
                        f"POST /{TENANT}/oauth2/v2.0/token HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()):
            assert exchange(port, request).startswith(b"HTTP/1.1 503 "), request


def test_an_in_place_answer_is_in_the_access_log_as_uvicorn_writes_it_secrets_hidden(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(tmp_path, "c")
    app = served(create_app(settings), settings)
    with caplog.at_level(logging.INFO, logger="uvicorn.access"), serving(app, settings, access_log=True) as port:
        answer = exchange(port, f"GET {DOCS[0]}?code=s3cret HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert line.endswith(f' - "GET {DOCS[0]}?code=[redacted] HTTP/1.1" 200') and line.startswith("127.0.0.1:")


def test_an_in_place_answer_carries_the_date_of_now_on_a_connection_that_stays(tmp_path: Path) -> None:
    """uvicorn makes its date header anew every second; the protocol joins it into header lines once a new
    one comes (BoundedHttpProtocol._default_lines): two answers 1.5 s apart on one connection carry two
    dates, each the second it was sent in, as the ASGI way's do."""
    from email.utils import parsedate_to_datetime

    settings = _settings(tmp_path, "d")
    app = served(create_app(settings), settings)
    request = f"GET {DOCS[0]} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
    dates = []
    with serving(app, settings) as port, socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for _ in range(2):
            sock.sendall(request)
            received = b""
            while not _answers(received):
                received += sock.recv(65536)
            sent_at = time.time()
            found = re.search(rb"\r\ndate: ([^\r]+)\r\n", received)
            assert found is not None
            dates.append(parsedate_to_datetime(found.group(1).decode()).timestamp())
            assert abs(dates[-1] - sent_at) <= 2.0
            time.sleep(1.5)
    assert dates[1] > dates[0]


def test_an_in_place_answer_makes_no_request_cycle_and_a_body_sent_with_it_is_passed_over(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The protocol answers at the end of the headers, before uvicorn would make a RequestResponseCycle (and
    its event) for the request: only what goes the ASGI way has one. A GET that carries a body is answered
    and its body passed over; the next request on the connection is read as a request of its own."""
    from uvicorn.protocols.http import httptools_impl

    made: list[str] = []

    class Counted(httptools_impl.RequestResponseCycle):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(kwargs["scope"]["path"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(httptools_impl, "RequestResponseCycle", Counted)
    settings = _settings(tmp_path, "e")
    app = served(create_app(settings), settings)
    requests = (b"".join(f"GET {p} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode() for p in DOCS)
                + f"GET {DOCS[0]} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 15\r\n\r\nGET /x HTTP/1.1".encode()
                + f"GET {DOCS[1]} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
                + b"GET /_mockidp/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
    with serving(app, settings) as port:
        answers = _answers(exchange(port, requests, answers=7))
    assert [a.split(b"\r\n", 1)[0] for a in answers] == [b"HTTP/1.1 200 OK"] * 7
    assert [b'"keys":[' in a for a in answers] == [True, True, False, False, True, True, False]
    assert made == ["/_mockidp/health"]
