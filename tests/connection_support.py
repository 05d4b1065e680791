"""Raw sockets against `mockidp serve` (tests.serving.test_serve.Served): what slow, idle and hostile clients
do byte by byte, which no HTTP client library lets a test do."""

from __future__ import annotations

import select
import socket
import ssl
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tests.serving.test_serve import Served


def connect(served: Served, *, handshake: bool = True) -> socket.socket:
    """A connection to the server; over TLS the handshake is done unless `handshake=False`."""
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
    if served.tls and handshake:
        ctx = ssl.create_default_context(cafile=str(served.data_dir / "ca.pem"))
        return ctx.wrap_socket(sock, server_hostname="localhost")
    return sock


def _closed(sock: socket.socket) -> bool:
    """True once the server has closed (EOF or reset); reads and drops whatever it sent before."""
    while True:
        readable, data = _early(sock)
        if not readable:
            return False
        if not data:
            return True


def seconds_until_closed(sock: socket.socket, pieces: Iterable[bytes] = (), *, every: float = 0.2,
                         within: float = 15.0) -> float:
    """Sends `pieces` one every `every` seconds (a slow client) and then nothing; returns how long the
    server took to close the connection, or fails after `within` seconds."""
    started = time.monotonic()
    queued = iter(pieces)
    while time.monotonic() - started < within:
        if _closed(sock):
            return time.monotonic() - started
        piece = next(queued, None)
        if piece is not None:
            try:
                sock.sendall(piece)
            except OSError:
                return time.monotonic() - started
        time.sleep(every)
    raise AssertionError(f"the server kept the connection open for {within} s")


def drip(data: bytes) -> Iterator[bytes]:
    """Byte by byte, forever: a client that never finishes."""
    while True:
        yield from (data[i:i + 1] for i in range(len(data)))


@dataclass
class Answer:
    head: bytes  # what the server sent (status line, headers and body)
    sent: int  # bytes of the request sent before the answer came
    seconds: float

    @property
    def status(self) -> int:
        return int(self.head.split(b" ", 2)[1]) if self.head.startswith(b"HTTP/1.1 ") else 0


def send_until_answered(sock: socket.socket, chunks: Iterable[bytes], *, within: float = 20.0) -> Answer:
    """Sends the chunks while watching for an answer (one thread: TLS sockets are not thread-safe), stops
    sending as soon as one arrives, then reads the answer until it is complete, the server closes, or
    `within` passes."""
    started = time.monotonic()
    sent = 0
    received = b""
    for chunk in chunks:
        if time.monotonic() - started > within:
            break
        answered, received = _early(sock)
        if answered:
            break
        try:
            sock.sendall(chunk)
        except OSError:  # the server closed or reset: its answer may already be here
            break
        sent += len(chunk)
    sock.settimeout(max(0.1, within - (time.monotonic() - started)))
    while not _complete(received):
        try:
            data = sock.recv(65536)
        except OSError:  # timeout or reset
            break
        if not data:
            break
        received += data
    return Answer(received, sent, time.monotonic() - started)


def _early(sock: socket.socket) -> tuple[bool, bytes]:
    """(whether the server answered or closed already, what it sent): a TLS session ticket makes the
    socket readable without being an answer."""
    if not select.select([sock], [], [], 0)[0] and not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
        return False, b""
    timeout = sock.gettimeout()
    sock.settimeout(0)
    try:
        return True, sock.recv(65536)
    except (ssl.SSLWantReadError, BlockingIOError):
        return False, b""
    except OSError:
        return True, b""
    finally:
        sock.settimeout(timeout)


def _complete(received: bytes) -> bool:
    head, found, body = received.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False
