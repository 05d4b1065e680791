"""A chunk byte for byte the same as a whole request answered in place before, on the same listening socket,
is answered in place again without the parser (serving.BoundedHttpProtocol._answered_again): the same
answer as parsing it would give, asked of the app anew each time (a fresh request id, the keys of now, a
tenant that is gone goes the ASGI way to its error); anything not exactly one whole request in its chunk is
parsed as before, and what is remembered is bounded."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockidp.app import create_app, served
from mockidp.web import serving as serving_module
from mockidp.web.serving import BoundedHttpProtocol
from tests.conftest import TENANT
from tests.serving.test_in_place import DOCS, _answers, _masked, _settings, exchange, serving

configs: set[Any] = set()  # the serving configs seen by the protocol (what they remember)
JWKS = f"GET {DOCS[0]} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: fetcher\r\n\r\n".encode()


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the messages the parser began (uvicorn's on_message_begin, through the protocol's)."""
    begun: list[int] = []
    configs.clear()
    original = BoundedHttpProtocol.on_message_begin

    def counted(self: BoundedHttpProtocol) -> None:
        begun.append(1)
        configs.add(self.config)
        original(self)

    monkeypatch.setattr(BoundedHttpProtocol, "on_message_begin", counted)
    yield begun


def one_by_one(sock: socket.socket, request: bytes) -> bytes:
    """One request written and its whole answer read before the next is written (so each is a chunk)."""
    sock.sendall(request)
    received = b""
    while not _answers(received):
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def test_the_same_request_again_is_answered_without_the_parser_and_as_parsing_it_would(
        tmp_path: Path, parsed: list[int]) -> None:
    settings = _settings(tmp_path, "a")
    app = served(create_app(settings), settings)
    with serving(app, settings) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            kept = [one_by_one(sock, JWKS) for _ in range(4)]
        closing = JWKS.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
        closed = [exchange(port, closing) for _ in range(3)]  # new connections, each closed after its answer
        other = [exchange(port, JWKS) for _ in range(2)]  # another connection: the same bytes, recalled too
    assert len(parsed) == 2  # each of the two chunks parsed once: the kept-alive one and the closing one
    assert len({_masked(a) for a in kept + other}) == 1 and b"connection: close" not in kept[0]
    assert len({_masked(a) for a in closed}) == 1 and b"connection: close\r\n" in closed[0]
    assert _masked(closed[0]).replace(b"connection: close\r\n", b"") == _masked(kept[0])
    ids = [a.split(b"x-ms-request-id: ", 1)[1].split(b"\r\n", 1)[0] for a in kept + closed + other]
    assert len(set(ids)) == len(ids)  # asked of the app anew: a request id of its own each time
    assert json.loads(kept[0].partition(b"\r\n\r\n")[2])["keys"]


def test_a_recalled_request_answers_the_keys_of_now(
        tmp_path: Path, parsed: list[int]) -> None:
    settings = _settings(tmp_path, "b")
    app = served(create_app(settings), settings)
    discovery = f"GET /{TENANT}/v2.0/.well-known/openid-configuration HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
    with serving(app, settings) as port:
        before = exchange(port, JWKS)
        exchange(port, discovery)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
            assert c.post("/_mockidp/control/keys/rotate", json={}).status_code == 200
        after = exchange(port, JWKS)
        again = exchange(port, discovery)
    kids = [{k["kid"] for k in json.loads(a.partition(b"\r\n\r\n")[2])["keys"]} for a in (before, after)]
    assert again.startswith(b"HTTP/1.1 200 ") and b'"jwks_uri"' in again

    assert len(parsed) == 3  # the rotation's POST; the JWKS and discovery requests each parsed once
    assert kids[1] - kids[0]  # the new key is published to the recalled request


class Declining:
    """The real app's `in_place` until `declining` is set, then None; its ASGI way answers 503: a recalled
    request the app declines now is parsed and goes the ASGI way."""

    def __init__(self, app: Any) -> None:
        self.app, self.declining = app, False

    def in_place(self, scope: dict[str, Any]) -> tuple[bytes, bytes] | None:
        return None if self.declining else self.app.in_place(scope)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 503, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})


def test_a_recalled_request_the_app_declines_now_is_parsed_and_goes_the_asgi_way(
        tmp_path: Path, parsed: list[int]) -> None:
    settings = _settings(tmp_path, "d")
    app = Declining(served(create_app(settings), settings))
    with serving(app, settings) as port:
        assert [exchange(port, JWKS).split(b"\r\n", 1)[0] for _ in range(2)] == [b"HTTP/1.1 200 OK"] * 2
        assert len(parsed) == 1
        app.declining = True
        assert exchange(port, JWKS).startswith(b"HTTP/1.1 503 ")
    assert len(parsed) == 2


def test_only_one_whole_request_in_its_chunk_is_recalled_and_what_is_remembered_is_bounded(
        tmp_path: Path, parsed: list[int]) -> None:
    settings = _settings(tmp_path, "c")
    app = served(create_app(settings), settings)
    health = b"GET /_mockidp/health HTTP/1.1\r\nHost: localhost\r\n\r\n"
    with serving(app, settings) as port:
        for _ in range(2):
            assert len(_answers(exchange(port, JWKS + JWKS, answers=2))) == 2  # two in one chunk: parsed
        assert len(parsed) == 4
        for _ in range(2):
            assert exchange(port, health).startswith(b"HTTP/1.1 200 ")  # the ASGI way: not remembered
        assert len(parsed) == 6
        for _ in range(2):  # one request in two chunks
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.sendall(JWKS[:20])
                time.sleep(0.2)  # read as a chunk of its own before the rest is sent
                assert one_by_one(sock, JWKS[20:]).startswith(b"HTTP/1.1 200 ")
        assert len(parsed) == 8
        for n in range(serving_module._RECALLED_LIMIT + 5):  # Host headers are the client's to vary
            exchange(port, JWKS.replace(b"Host: localhost", f"Host: h{n}.localhost".encode()))
        assert len(parsed) == 8 + serving_module._RECALLED_LIMIT + 5  # each Host parsed once
        for n in range(serving_module._RECALLED_LIMIT + 5):
            exchange(port, JWKS.replace(b"Host: localhost", f"Host: h{n}.localhost".encode()))
        remembered = [len(by_bytes) for config in configs for by_bytes in config.recalled.values()]
    assert remembered and max(remembered) <= serving_module._RECALLED_LIMIT
    assert len(parsed) > 8 + serving_module._RECALLED_LIMIT + 5  # forgotten when full: some parsed again


def test_a_recalled_request_is_in_the_access_log_with_its_own_connections_client(
        tmp_path: Path, parsed: list[int], caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(tmp_path, "e")
    app = served(create_app(settings), settings)
    request = f"GET {DOCS[0]}?code=s3cret HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
    clients = []
    with caplog.at_level(logging.INFO, logger="uvicorn.access"), serving(app, settings, access_log=True) as port:
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                host, port_of_client = sock.getsockname()
                clients.append(f"{host}:{port_of_client}")
                assert one_by_one(sock, request).startswith(b"HTTP/1.1 200 OK\r\n")
    assert len(parsed) == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert lines == [f'{c} - "GET {DOCS[0]}?code=[redacted] HTTP/1.1" 200' for c in clients]
