"""The transport a request cycle writes to (web/serving.py, _OneWritePerTick): what is written in one turn of
the event loop reaches the peer as one write, after that turn; close sends what is pending, abort drops it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator

import pytest

from mockidp.web.serving import _OneWritePerTick
from tests.own_thread import in_own_thread

Check = Callable[[_OneWritePerTick, socket.socket], None]


class _Sink(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _run(loop: asyncio.AbstractEventLoop, check: Check) -> None:
    ours, peer = socket.socketpair()
    peer.setblocking(False)

    async def main() -> None:
        transport, _ = await loop.create_connection(_Sink, sock=ours)
        check(_OneWritePerTick(transport, loop), peer)  # type: ignore[arg-type]
        await asyncio.sleep(0)  # one turn of the loop
        await asyncio.sleep(0.05)
        transport.close()

    try:
        in_own_thread(lambda: loop.run_until_complete(main()))  # tests/own_thread.py says why
    finally:
        peer.close()


def _nothing_yet(peer: socket.socket) -> bool:
    try:
        peer.recv(1)
    except BlockingIOError:
        return True
    return False


def test_writes_of_one_turn_go_out_together_after_it(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[bytes] = []

    def check(transport: _OneWritePerTick, peer: socket.socket) -> None:
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"ok")
        assert _nothing_yet(peer)
        assert transport.get_write_buffer_size() == 40
        loop.call_later(0.02, lambda: seen.append(peer.recv(65536)))

    _run(loop, check)
    assert seen == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]


def test_close_sends_what_is_pending_and_abort_drops_it(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[bytes] = []

    def closing(transport: _OneWritePerTick, peer: socket.socket) -> None:
        transport.write(b"last words")
        transport.close()
        assert transport.is_closing()
        loop.call_later(0.02, lambda: seen.append(peer.recv(65536)))

    def aborting(transport: _OneWritePerTick, peer: socket.socket) -> None:
        transport.write(b"never sent")
        transport.abort()
        loop.call_later(0.02, lambda: seen.append(peer.recv(65536)))

    _run(loop, closing)
    _run(loop, aborting)
    assert seen == [b"last words", b""]
