"""Connections to `mockidp serve` (rows X8): idle, slow and half-open clients are closed
within seconds, TLS on and off, several workers; a low file limit does not stop health from answering;
workers die with their parent; a client that goes away mid-body costs one quiet log line."""

from __future__ import annotations

import os
import resource
import signal
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import CLIENT, CLIENT_SECRET, TENANT
from tests.connection_support import connect, drip, seconds_until_closed
from tests.serving.test_serve import Served

# Timeouts of 1 s where the point is "it closes"; one test below keeps the defaults.
SHORT = ("--keep-alive-timeout", "1", "--header-timeout", "1", "--body-timeout", "1",
         "--tls-handshake-timeout", "1")
CLOSED_WITHIN = 6.0  # seconds, for a 1 s timeout on a loaded 2-core machine
TOKEN = f"/{TENANT}/oauth2/v2.0/token"
FORM = f"grant_type=client_credentials&client_id={CLIENT}&client_secret={CLIENT_SECRET}&scope=x".encode()


@pytest.fixture(scope="module", params=["tls", "plain"])
def short(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tls = () if request.param == "tls" else ("--no-tls",)
    served = Served(tmp_path_factory.mktemp("short") / "data", "--workers", "2", *SHORT, *tls)
    try:
        served.wait()
        yield served
    finally:
        served.stop()


def _head(method: str, path: str, *headers: str) -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: localhost", *headers, "", ""]).encode()


def test_an_idle_connection_is_closed_within_the_keep_alive_timeout(short: Served) -> None:
    with connect(short) as sock:
        assert seconds_until_closed(sock) < CLOSED_WITHIN


def test_a_kept_alive_connection_is_closed_after_its_last_response(short: Served) -> None:
    with connect(short) as sock:
        sock.sendall(_head("GET", "/_mockidp/health"))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        assert seconds_until_closed(sock) < CLOSED_WITHIN


@pytest.mark.parametrize("short", ["tls"], indirect=True)
def test_a_tls_connection_that_never_sends_a_client_hello_is_closed(short: Served) -> None:
    with connect(short, handshake=False) as sock:
        assert seconds_until_closed(sock) < CLOSED_WITHIN


def test_headers_sent_byte_by_byte_time_out(short: Served) -> None:
    """The header timeout counts from the request's first byte: a steady trickle does not reset it."""
    with connect(short) as sock:
        pieces = drip(_head("GET", "/_mockidp/health", *(f"X-Slow-{i}: {'a' * 20}" for i in range(100))))
        assert seconds_until_closed(sock, pieces, every=0.05) < CLOSED_WITHIN


def test_a_body_sent_byte_by_byte_times_out(short: Served) -> None:
    with connect(short) as sock:
        sock.sendall(_head("POST", TOKEN, "Content-Type: application/x-www-form-urlencoded",
                           f"Content-Length: {len(FORM) + 1000}"))
        assert seconds_until_closed(sock, drip(FORM), every=0.05) < CLOSED_WITHIN


def test_a_request_sent_in_good_time_is_answered(short: Served) -> None:
    with connect(short) as sock:
        sock.sendall(_head("POST", TOKEN, "Content-Type: application/x-www-form-urlencoded",
                           f"Content-Length: {len(FORM)}", "Connection: close") + FORM)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ")  # scope=x: Entra's answer, the point is that there is one
    assert b"AADSTS" in answer


def test_with_the_default_timeouts_an_idle_connection_is_closed_within_seconds(tmp_path: Path) -> None:
    served = Served(tmp_path / "data")
    try:
        served.wait()
        with connect(served) as sock:
            assert seconds_until_closed(sock, within=20) < 10
        with connect(served, handshake=False) as sock:
            assert seconds_until_closed(sock, within=20) < 10
    finally:
        served.stop()


def _limit_files(soft: int, hard: int | None) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard if hard is not None else soft))
    return limit


@pytest.mark.parametrize(("hard", "workers", "count"), [
    # soft and hard (`ulimit -n 512`), one worker: only closing idle connections frees descriptors; until
    # then the event loop resets connections it cannot accept (libuv), so health is retried as a health
    # checker would. (With two workers, the one with descriptors left would answer now and then.)
    pytest.param(None, "1", 600, id="ulimit-n-512"),
    # soft only, more idle connections than two workers of 512 hold: the server raises the soft limit to
    # the hard one and answers at once
    pytest.param(resource.getrlimit(resource.RLIMIT_NOFILE)[1], "2", 1200, id="soft-512"),
])
def test_health_answers_under_many_idle_connections_and_a_low_file_limit(
        tmp_path: Path, hard: int | None, workers: str, count: int) -> None:
    served = Served(tmp_path / "data", "--workers", workers, *SHORT, preexec_fn=_limit_files(512, hard))
    idle: list[socket.socket] = []
    try:
        served.wait()
        idle = [connect(served, handshake=False) for _ in range(count)]
        started = time.monotonic()
        errors: list[httpx.TransportError] = []
        in_a_row = 0  # health answers every time, not now and then
        while time.monotonic() - started < 15 and in_a_row < 10:
            try:
                with served.client() as c:
                    c.timeout = httpx.Timeout(15)
                    assert c.get("/_mockidp/health").status_code == 200
                    in_a_row += 1
            except httpx.TransportError as exc:
                errors.append(exc)
                in_a_row = 0
                time.sleep(0.2)
        assert in_a_row == 10, errors
        if hard is not None:
            assert errors == []
    finally:
        for sock in idle:
            sock.close()
        served.stop()


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return children


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
@pytest.mark.parametrize(("tls", "workers"), [pytest.param((), "2", id="tls-2-workers"),
                                             pytest.param(("--no-tls",), "2", id="plain-2-workers"),
                                             pytest.param((), "4", id="tls-4-workers")])
def test_killing_the_parent_stops_its_workers_and_a_restart_serves_at_once(
        tmp_path: Path, tls: tuple[str, ...], workers: str) -> None:
    served = Served(tmp_path / "data", "--workers", workers, *tls)
    again: Served | None = None
    children: list[int] = []
    try:
        served.wait()
        children = _children(served.proc.pid)
        assert len(children) >= int(workers)
        os.kill(served.proc.pid, signal.SIGKILL)
        served.proc.wait()
        deadline = time.monotonic() + 10
        while any(_running(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [c for c in children if _running(c)], "workers outlived their parent"
        again = Served(served.data_dir, "--workers", workers, *tls, port=served.port)
        again.wait()
        assert "already in use" not in again.output()
    finally:
        for pid in children:  # orphans, if the test failed
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        served.stop()
        if again is not None:
            again.stop()


@pytest.mark.parametrize("tls", [pytest.param((), id="tls"), pytest.param(("--no-tls",), id="plain")])
def test_a_client_leaving_mid_body_costs_one_debug_line_and_no_traceback(tmp_path: Path, tls: tuple[str, ...]) -> None:
    served = Served(tmp_path / "data", "--workers", "2", "--log-level", "debug", *tls)
    left = 20
    try:
        served.wait()
        for i in range(left):
            with connect(served) as sock:
                sock.sendall(_head("POST", TOKEN, "Content-Type: application/x-www-form-urlencoded",
                                   f"Content-Length: {len(FORM) + 1000}") + FORM)
                time.sleep(0.05)
                if i % 2:  # half of them reset the connection instead of closing it
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with served.client() as c:
            assert c.get("/_mockidp/health").status_code == 200
        time.sleep(0.5)
    finally:
        served.stop()
    log = served.output()
    assert "Traceback" not in log
    assert "ERROR" not in log
    assert "WARNING" not in log
    lines = [line for line in log.splitlines() if "client disconnected" in line]
    assert len(lines) == left, log
    assert all(" DEBUG " in line for line in lines)


def test_pipelined_requests_are_answered_whole_and_in_order(short: Served) -> None:
    """Three requests in one write: three whole answers, in order (each answer's head and body go out in
    one write, web/serving.py; nothing of one answer may come before, after or inside another)."""
    with connect(short) as sock:
        sock.sendall(_head("GET", "/_mockidp/health")
                     + _head("POST", TOKEN, "Content-Type: application/x-www-form-urlencoded",
                             f"Content-Length: {len(FORM)}") + FORM
                     + _head("GET", f"/{TENANT}/discovery/v2.0/keys", "Connection: close"))
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    answers = []
    while answer:
        head, _, rest = answer.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        answers.append((head.split(b" ")[1], rest[:length]))
        answer = rest[length:]
    assert [status for status, _ in answers] == [b"200", b"400", b"200"]
    assert b'"status":"ok"' in answers[0][1] and b"AADSTS" in answers[1][1] and b'"keys":[' in answers[2][1]
