"""Opens a decision trace (oauth/trace.py) around each request to a traced endpoint, gives its response
the trace id as x-ms-request-id, and queues the finished trace for the database (directory/traces.py).

Plain ASGI, not a Starlette BaseHTTPMiddleware: it sits on the token path, and must cost little more
than a context variable and a list append per request (bench/run.py --traces on|off measures it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from mockidp.clock import Clock, IdFactory
from mockidp.directory.traces import FLUSH_EVERY, TraceStore
from mockidp.oauth import trace

log = logging.getLogger("mockidp")

Scope = dict[str, Any]
# Microsoft's endpoints whose requests decide something, and mockidp's sign-in form targets.
TRACED_SUFFIXES = ("/oauth2/v2.0/token", "/oauth2/token", "/oauth2/v2.0/authorize", "/oauth2/authorize",
                   "/oauth2/v2.0/devicecode", "/oauth2/devicecode", "/metadata/identity/oauth2/token",
                   "/metadata/identity/oauth2/token/")
TRACED_PATHS = ("/_mockidp/login", "/_mockidp/consent", "/_mockidp/control/tokens", "/msi/token", "/msi/token/")
DEVICE_PAGE = "/device"
TRACE_PAGE = "/_mockidp/console/traces"  # the console's page of one trace: TRACE_PAGE/{id}


def traced(method: str, path: str) -> bool:
    if method == "OPTIONS":  # a CORS preflight decides nothing
        return False
    if path.endswith(TRACED_SUFFIXES):
        return True
    return path in TRACED_PATHS or (path == DEVICE_PAGE and method == "POST")


class Tracing:
    def __init__(self, app: Any, *, store: TraceStore, clock: Clock, ids: IdFactory, wake: asyncio.Event) -> None:
        self.app = app
        self.store = store
        self.clock = clock
        self.ids = ids
        self.wake = wake

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not traced(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        current = trace.Trace(f"{scope['method']} {scope['path'][:256]}", self.clock.now())
        if scope["method"] == "GET" and scope.get("query_string"):
            # /authorize by GET: the client is in the query (forms name it in the routes they reach)
            client = parse_qs(scope["query_string"].decode("latin-1")[:8192], max_num_fields=64).get("client_id")
            if client:
                current.client_id = client[0][:64].lower()
        started = time.perf_counter()
        token = trace.begin(current)

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                current.status = message["status"]
                headers = message.get("headers") or []
                if not any(k == b"x-ms-request-id" for k, _ in headers):
                    # Pages and redirects carry no id of their own; Entra's carry one, and the trace is under it.
                    message["headers"] = [*headers, (b"x-ms-request-id", trace.response_id(self.ids.guid).encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            current.outcome = current.outcome or "server_error"
            raise
        finally:
            trace.end(token)
            self._finish(current, time.perf_counter() - started)

    def _finish(self, current: trace.Trace, elapsed: float) -> None:
        if not current.id:  # no response was sent (the client went away): nobody can ask for this trace
            return
        current.duration_ms = elapsed * 1000
        current.outcome = current.outcome or ("success" if current.status < 400 else f"HTTP {current.status}")
        if self.store.add(current):
            self.wake.set()


async def flush_on_schedule(store: TraceStore, wake: asyncio.Event, stop: asyncio.Event, *,
                            inline: bool = False) -> None:
    """Each worker writes its traces every FLUSH_EVERY seconds (sooner when many wait), and once more at stop.
    `inline` (a local SQLite file): on the event loop itself, a millisecond or two a batch, which costs less
    than handing the batch to a thread and taking the GIL back (bench/run.py --traces on|off)."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), FLUSH_EVERY)
        wake.clear()
        try:
            if inline:
                store.flush()
            else:
                await asyncio.to_thread(store.flush)
        except Exception as exc:  # the next round retries; tracing must never stop a worker
            log.warning("writing decision traces failed (%s); retrying", exc.__class__.__name__)
        if stop.is_set():
            return
