"""How `mockidp serve` holds connections, on uvicorn: bounds on what one client may hold (the size and
count of a request's headers; header, body, idle and TLS handshake timeouts), worker processes that
die with their parent, and the start of it all (file limit, one socket, N workers forked from a parent
that has imported the app).

uvicorn's httptools protocol has no header limits, arms its keep-alive timer only after a first
response, and its server passes no TLS handshake timeout (asyncio's default is 60 s): the subclass
and the loop below add what it lacks, through uvicorn's own seams (`Config.http` takes a protocol
class; `Config.get_loop_factory` runs once in each serving process before its loop starts).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import enum
import gc
import importlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import Any, cast

import httptools
import uvicorn
from uvicorn._subprocess import subprocess_started
from uvicorn._types import HTTPScope
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.protocols.utils import get_path_with_query_string
from uvicorn.server import ServerState
from uvicorn.supervisors.multiprocess import Multiprocess, Process

try:
    from uvloop import Loop as _BaseLoop
except ImportError:  # pragma: no cover - Windows
    from asyncio import SelectorEventLoop as _BaseLoop  # type: ignore[assignment]

log = logging.getLogger("mockidp")
ABORT = "mockidp.abort"  # the scope extension that closes the request's connection at once

LINGER = 2.0  # seconds a refused client may go on sending (dropped) before the close, so it reads the answer
PARENT_GONE_GRACE = 10.0  # seconds a worker whose parent died has to finish in-flight requests


@dataclass(frozen=True)
class Limits:
    max_header_bytes: int  # request line and header fields
    max_headers: int
    header_timeout: float  # from a request's first byte to the end of its headers
    body_timeout: float  # from the end of the headers to the end of the body
    keep_alive_timeout: float  # a connection without a request: before the first one and between them
    tls_handshake_timeout: float  # also bounds the TLS close (waiting for the client's close_notify)


# Entra's front end refuses an oversized request head as HTTP.sys does ("Request Header Too Long":
# 400 and this page), not with RFC 6585's 431: chosen so clients see what they would see there; inferred.
_TOO_LONG_BODY = (b"<!DOCTYPE HTML><html><head><title>Bad Request</title></head><body>"
                  b"<h2>Bad Request - Request Too Long</h2><hr>"
                  b"<p>HTTP Error 400. The size of the request headers is too long.</p></body></html>")
_TOO_LONG = (b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/html; charset=us-ascii\r\n"
             b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_TOO_LONG_BODY), _TOO_LONG_BODY))


class _Phase(enum.Enum):
    IDLE = "no request under way"
    HEAD = "request headers"
    BODY = "request body"
    WAIT = "request read, the app is answering"
    REFUSED = "refused, draining"


class _HeadTooLarge(Exception):
    """The request line and headers passed --max-header-bytes or --max-headers: answered 400, then closed."""


class _OneWritePerTick:
    """The connection's transport as uvicorn's request cycle sees it: what is written within one turn of
    the event loop goes out in one write. uvicorn writes a response's head and its body separately, two
    send calls (and two segments to wake the client) for every answer; on the token and JWKS paths that
    second system call was a tenth of a request's CPU (issue 11). The bytes and their order are the same."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's own
        return getattr(self._transport, name)


@dataclass(frozen=True, slots=True)
class _Recalled:
    """A request answered in place, as the parser left it: what the app read (its scope) and whether the
    connection stays."""

    scope: HTTPScope
    keep_alive: bool


_RECALLED_LIMIT = 64  # requests remembered by their bytes, per listening socket (all forgotten when full)
_RECALLED_BYTES = 2048  # longer chunks are not remembered


class _NoWaiter:
    def set(self) -> None:
        """Nobody waits on a request answered in place."""


class _Answered:
    """The connection's `cycle` once an answer was written in place: finished, nothing to read into or wait
    for (uvicorn's callbacks read `response_complete`, and set `message_event` when the connection goes)."""

    __slots__ = ()
    response_complete = True
    message_event = _NoWaiter()


_ANSWERED = _Answered()


class BoundedHttpProtocol(HttpToolsProtocol):
    """One connection: a deadline for the phase the client is in (idle, headers, body); none while the
    app works. Header size is counted on whole chunks too, so one endless header field (which httptools
    would buffer, at growing cost) is refused after the limit, not at its end."""

    def __init__(self, config: uvicorn.Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        if not isinstance(config, ServingConfig):
            raise TypeError(f"BoundedHttpProtocol needs a ServingConfig (its limits), got {type(config).__name__}")
        self.limits = config.limits
        self._phase = _Phase.IDLE
        self._deadline: float | None = None
        self._allowed = 0.0  # the seconds the deadline gave, for the log
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._head_bytes = 0  # counted by the parser's callbacks
        self._streamed = 0  # counted on chunks that were all request head
        self._headers = 0
        self._too_large = False
        self._defaults_of: list[tuple[bytes, bytes]] | None = None  # _default_lines' list, and its lines
        self._defaults_lines = b""
        self._in_place: Callable[[dict[str, Any]], tuple[bytes, bytes] | None] | None = getattr(
            self.app, "in_place", None)
        self._recalled: dict[bytes, _Recalled] | None = None  # this listening socket's; set on connection
        self._begun = 0  # messages begun within the chunk being fed
        self._placed: _Recalled | None = None  # the chunk's request, when it was answered in place

    def _arm(self, phase: _Phase, seconds: float) -> None:
        # Phases change several times per request: moving a deadline is two assignments; the one timer
        # is rescheduled only when the new deadline comes before it (it re-checks when it fires).
        self._phase = phase
        self._allowed = seconds
        self._deadline = self.loop.time() + seconds
        if self._timer is not None and self._timer_at > self._deadline:
            self._timer.cancel()
            self._timer = None
        if self._timer is None:
            self._timer_at = self._deadline
            self._timer = self.loop.call_at(self._deadline, self._check)

    def _disarm(self, phase: _Phase) -> None:
        self._phase = phase
        self._deadline = None

    def _check(self) -> None:
        self._timer = None
        if self._deadline is None:
            return
        if self.loop.time() < self._deadline:
            self._timer_at = self._deadline
            self._timer = self.loop.call_at(self._deadline, self._check)
            return
        if self._phase in (_Phase.HEAD, _Phase.BODY):
            log.debug("closed a connection from %s: %s not received within %s s",
                      self.client[0] if self.client else "?", self._phase.value, self._allowed)
            self.transport.abort()
        elif not self.transport.is_closing():
            self.transport.close()

    def _idle(self) -> None:
        self._arm(_Phase.IDLE, self.limits.keep_alive_timeout)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = _OneWritePerTick(transport, self.loop)  # type: ignore[assignment]
        if self._in_place is not None and isinstance(self.config, ServingConfig):
            self._recalled = self.config.recalled.setdefault(self.server, {})
        self._idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm(self._phase)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._phase is _Phase.REFUSED:
            return
        whole = False  # the chunk starts a request: it may be all of one
        if self._phase is _Phase.IDLE:
            if self._recalled is not None:
                recalled = self._recalled.get(data)
                if recalled is not None and self._answered_again(recalled):
                    return
                whole = len(data) <= _RECALLED_BYTES
                self._begun = 0
                self._placed = None
            self._arm(_Phase.HEAD, self.limits.header_timeout)
            self._streamed = 0
        in_head = self._phase is _Phase.HEAD
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            if self._too_large:
                self._refuse()
            else:
                self._invalid()
            return
        except httptools.HttpParserError:
            self._invalid()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if in_head and self._phase is _Phase.HEAD:  # this whole chunk was request head
            self._streamed += len(data)
            if self._streamed > self.limits.max_header_bytes:
                self._refuse()
        elif (whole and self._placed is not None and self._begun == 1 and self._phase is _Phase.IDLE
              and self._recalled is not None):
            # one request, all of it in this chunk, answered in place: these bytes parse to it again
            if len(self._recalled) >= _RECALLED_LIMIT:
                self._recalled.clear()
            self._recalled[data] = self._placed

    def _invalid(self) -> None:
        msg = "Invalid HTTP request received."  # as uvicorn answers it
        self.logger.warning(msg)
        self.send_400_response(msg)

    def _refuse(self) -> None:
        log.info("refused a request head from %s: over %d bytes or %d header fields (400)",
                 self.client[0] if self.client else "?", self.limits.max_header_bytes, self.limits.max_headers)
        if self.cycle is not None and not self.cycle.response_complete:  # a pipelined answer is being written
            self._disarm(_Phase.REFUSED)
            self.transport.abort()
            return
        self.transport.write(_TOO_LONG)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._arm(_Phase.REFUSED, LINGER)

    def _count(self, size: int, *, field: bool = False) -> None:
        self._head_bytes += size
        self._headers += field
        if self._head_bytes > self.limits.max_header_bytes or self._headers > self.limits.max_headers:
            self._too_large = True
            raise _HeadTooLarge  # stops the parser; feed_data raises HttpParserCallbackError

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begun += 1
        self._head_bytes = 0
        self._headers = 0
        if self._phase is not _Phase.HEAD:  # a pipelined request: its clock starts now
            self._arm(_Phase.HEAD, self.limits.header_timeout)
            self._streamed = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4, field=True)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._arm(_Phase.BODY, self.limits.body_timeout)
        if self._in_place is not None and self._answered_in_place(self._in_place):
            return
        super().on_headers_complete()
        # A test's "drop" fault (web/faulting.py): the connection closed with no answer, which ASGI has no
        # message for. The request's task has not run yet: it finds the extension in its scope.
        extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
        extensions[ABORT] = self.transport.abort

    def _answered_in_place(self, in_place: Callable[[dict[str, Any]], tuple[bytes, bytes] | None]) -> bool:
        """A GET the app can answer at once (app.Served.in_place: discovery and JWKS) is written here, at the
        end of its headers, as uvicorn's RequestResponseCycle.send would write it (status line, its default
        headers, the app's, a `connection: close` when the connection does not stay), with no request cycle
        and no ASGI task: the cycle (and its event), the task, the app's call chain and the two ASGI messages
        were most of such a request's CPU (issue 11). The app gives its headers as header lines already
        (lowercase names, as send writes them). Anything else (another method, an upgrade, an answer still
        being written before it, a URL uvicorn would unquote, what in_place declines) goes uvicorn's way."""
        parser = self.parser
        if not self._may_answer_now() or parser.get_method() != b"GET" or parser.should_upgrade():
            return False
        try:
            url = httptools.parse_url(self.url)
            path = url.path.decode("ascii")
        except (httptools.HttpParserInvalidURLError, UnicodeDecodeError):
            return False  # uvicorn's way answers it as it does
        if "%" in path:
            return False
        scope = self.scope
        version = parser.get_http_version()
        scope["method"] = "GET"
        if version != "1.1":
            scope["http_version"] = version
        scope["path"] = self.root_path + path
        scope["raw_path"] = self.root_path.encode("ascii") + url.path
        scope["query_string"] = url.query or b""
        try:
            answer = in_place(cast("dict[str, Any]", scope))  # uvicorn's TypedDict, the app's plain scope
        except Exception:  # the ASGI way answers it, and logs it, as for any request
            return False
        if answer is None:
            return False
        keep_alive = version != "1.0" and parser.should_keep_alive()
        self._placed = _Recalled(scope, keep_alive)
        self._write_in_place(answer, scope, keep_alive)
        return True

    def _answered_again(self, recalled: _Recalled) -> bool:
        """A chunk byte for byte the same as one whole request answered in place before, on this listening
        socket: answered in place again, as it would be after parsing it (the app's answer is asked for anew:
        the keys, the directory and the date of now), without the parser and its seven callbacks, half of
        such a request's CPU (issue 11). What the app declines now goes the parser's way."""
        if self._in_place is None or not self._may_answer_now():
            return False
        try:
            answer = self._in_place(cast("dict[str, Any]", recalled.scope))
        except Exception:
            return False
        if answer is None:
            return False
        self._unset_keepalive_if_required()
        self._write_in_place(answer, recalled.scope, recalled.keep_alive)
        if recalled.keep_alive:
            self._idle()
        return True

    def _may_answer_now(self) -> bool:
        """No answer still being written before this one, the client reading, the concurrency limit not
        reached: what an answer in place needs, parsed or recalled."""
        previous = self.cycle
        return not ((previous is not None and not previous.response_complete) or self.flow.write_paused
                    or (self.limit_concurrency is not None
                        and max(len(self.connections), len(self.tasks)) >= self.limit_concurrency))

    def _write_in_place(self, answer: tuple[bytes, bytes], scope: HTTPScope, keep_alive: bool) -> None:
        lines, body = answer
        if self.access_log:
            # this connection's client (a recalled scope is another's), as uvicorn's get_client_addr writes it
            client = f"{self.client[0]}:{self.client[1]}" if self.client else ""
            self.access_logger.info('%s - "%s %s HTTP/%s" %d', client, "GET",
                                    get_path_with_query_string(scope), scope["http_version"], 200)
        content = [STATUS_LINE[200], self._default_lines(self.server_state.default_headers), lines]
        if not keep_alive:
            content.append(b"connection: close\r\n")
        content.extend((b"\r\n", body))
        self.cycle = _ANSWERED  # type: ignore[assignment]  # what uvicorn's callbacks read of a finished cycle
        self.transport.write(b"".join(content))
        self.server_state.total_requests += 1  # as on_response_complete counts (uvicorn's --limit-max-requests)
        if not keep_alive:
            self.transport.close()
        # No keep-alive timer of uvicorn's: this connection's own (_idle) is armed by on_message_complete, or
        # by _answered_again for a recalled request.

    def _default_lines(self, defaults: list[tuple[bytes, bytes]]) -> bytes:
        """uvicorn's default headers (the date, a new list every second) as header lines, joined once a list."""
        if defaults is not self._defaults_of:
            self._defaults_of = defaults
            self._defaults_lines = b"".join(name.lower() + b": " + value + b"\r\n" for name, value in defaults)
        return self._defaults_lines

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self.cycle is not None and self.cycle.response_complete:  # answered before its body was read
            self._idle()
        else:
            self._disarm(_Phase.WAIT)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if (self._phase is _Phase.WAIT and self.cycle is not None and self.cycle.response_complete
                and not self.transport.is_closing()):
            self._idle()


class _TlsTimeoutLoop(_BaseLoop):
    """The event loop of a serving process: servers it creates time out TLS handshakes and closes
    (uvicorn passes no timeout; asyncio's defaults are 60 s and 30 s)."""

    tls_timeout = 5.0

    async def create_server(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("ssl") is not None:
            kwargs.setdefault("ssl_handshake_timeout", self.tls_timeout)
            kwargs.setdefault("ssl_shutdown_timeout", self.tls_timeout)
        return await super().create_server(*args, **kwargs)


class ServingConfig(uvicorn.Config):
    """uvicorn's Config with our limits; it travels to every worker (uvicorn pickles it for spawn)."""

    def __init__(self, app: str, *, limits: Limits, **kwargs: Any) -> None:
        # proxy_headers off: uvicorn would otherwise let a loopback peer's X-Forwarded-For replace the client
        # address, and the gateway must see the TCP peer to append it to X-Forwarded-For as APIM does (behind a
        # proxy, --public-url gives the origin; nothing of mockidp reads X-Forwarded-*).
        kwargs.setdefault("proxy_headers", False)
        super().__init__(app, http=BoundedHttpProtocol, timeout_keep_alive=limits.keep_alive_timeout,  # type: ignore[arg-type]
                         **kwargs)
        self.limits = limits
        # per listening socket (scope["server"]): the bytes of requests answered in place, and their parse
        self.recalled: dict[Any, dict[bytes, _Recalled]] = {}

    def get_loop_factory(self) -> Callable[[], asyncio.AbstractEventLoop]:
        die_with_parent()

        def new_loop() -> asyncio.AbstractEventLoop:
            loop = _TlsTimeoutLoop()
            loop.tls_timeout = self.limits.tls_handshake_timeout
            return loop

        return new_loop


def die_with_parent() -> None:
    """In a worker process: stop when the supervising parent dies, even by SIGKILL, so that no orphan
    keeps serving (and holding the port). PR_SET_PDEATHSIG on Linux; a getppid() watch everywhere, which
    also covers a parent that died before the prctl call. Outside a worker: nothing."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return
    expected = parent.pid
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)

    def watch() -> None:
        while os.getppid() == expected:
            time.sleep(0.5)
        log.info("worker %d: the parent process %d is gone, stopping", os.getpid(), expected)
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful stop: the listener closes at once
        time.sleep(PARENT_GONE_GRACE)
        os._exit(1)

    threading.Thread(target=watch, name="mockidp-parent-watch", daemon=True).start()


def raise_open_files_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit, as servers do: each connection is a descriptor."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            log.warning("could not raise the open files limit from %d to %d", soft, hard)


def bind_port(host: str, port: int) -> socket.socket:
    """A second listening socket beside config.bind_socket()'s, made the same way (inheritable for workers)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        log.error("cannot listen on %s:%d: %s", host, port, exc.strerror)
        raise SystemExit(3) from None
    sock.set_inheritable(True)
    return sock


def _fork_context() -> BaseContext | None:
    """Linux forks workers; elsewhere (macOS, where forking a process that loaded system frameworks is
    unsafe, and Windows, where it does not exist) they are spawned, as uvicorn does."""
    return multiprocessing.get_context("fork") if sys.platform.startswith("linux") else None


class _ForkedWorker(Process):
    """uvicorn's worker, forked from the parent that already imported the app's modules instead of
    spawned: a spawned worker is a new interpreter that imports FastAPI, SQLAlchemy and every route
    again, most of a second of the start to healthy (issue 11); a forked one goes straight to the app
    factory, and shares the parent's pages of those modules until it writes to them."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], context: BaseContext) -> None:
        super().__init__(config, sockets)
        # stdin is inherited by a fork: nothing to reopen (uvicorn passes its fd to a spawned child)
        self.process = context.Process(target=subprocess_started, kwargs={  # type: ignore[attr-defined]
            "config": config, "target": self.target, "sockets": sockets, "stdin_fileno": None})


class _Workers(Multiprocess):
    """uvicorn's supervisor (signals, health pings, restarts) with forked workers where the platform
    forks; its three places that start a worker, as uvicorn 0.55 writes them, start ours."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], context: BaseContext) -> None:
        super().__init__(config, sockets)
        self._context = context

    def _worker(self) -> Process:
        return _ForkedWorker(self.config, self.sockets, self._context)

    def init_processes(self) -> None:
        for _ in range(self.processes_num):
            process = self._worker()
            process.start()
            self.processes.append(process)

    def restart_all(self) -> None:
        for idx, old_process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new_process = self._worker()
            new_process.start()
            if not new_process.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new_process.kill()
                new_process.join()
                if not self.should_exit.is_set():
                    log.error("new worker %s was not ready in time; keeping worker %s", new_process.pid,
                              old_process.pid)
                return
            old_process.terminate()
            old_process.join()
            self.processes[idx] = new_process

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # the app, TLS or socket is broken: every restart would fail
                log.error("worker %s failed to start, stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.info("worker %s died, starting another", process.pid)
            process = self._worker()
            process.start()
            self.processes[idx] = process


def _collect_from_now() -> None:
    """What start-up made (modules, classes, the seed's records) lives as long as the server: frozen, the
    collector never scans it again, and forked workers do not copy its pages by touching it to collect it.
    Then the collector is on (cli.main turns it off for the start-up)."""
    gc.freeze()
    gc.enable()


def serve(app: str, *, limits: Limits, workers: int, extra_ports: tuple[int, ...] = (), **options: Any) -> int:
    """uvicorn.run's dispatch, with our Config: one process, or N workers on the same sockets (forked on
    Linux from this process once it imported the app's modules, spawned elsewhere).

    `extra_ports` (the gateway's) are more listening sockets of the same server, not a second server: uvicorn
    serves every socket it is given with one Config (one TLS context: the same certificate; one protocol
    class: the same BoundedHttpProtocol limits), in the parent's workers alike, and the app tells the ports
    apart by scope["server"] (app.Served). A second uvicorn.Server per worker would mean a second lifespan,
    a second signal handler and a second supervisor for what is one process's work."""
    raise_open_files_limit()
    config = ServingConfig(app, limits=limits, workers=workers, factory=True, **options)
    sockets = [config.bind_socket(), *(bind_port(config.host, port) for port in extra_ports)]
    if workers > 1:
        context = _fork_context()
        if context is None:
            _collect_from_now()
            Multiprocess(config, sockets=sockets).run()
            return 0
        importlib.import_module(app.partition(":")[0])  # once here, for every forked worker
        _collect_from_now()
        _Workers(config, sockets, context).run()
        return 0
    _collect_from_now()
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=sockets)
    return 0 if server.started else 3
