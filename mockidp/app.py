"""Composition root: settings, store, keys, seed and routers wired together. The only module that
knows every concrete part."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from mockidp import logs
from mockidp.clock import Clock, IdFactory, SharedClock
from mockidp.directory.artefacts import PURGE_EVERY, Artefacts
from mockidp.directory.control_state import ControlState
from mockidp.directory.faults import FaultBook
from mockidp.directory.live import LiveDirectory
from mockidp.directory.model import DirectoryContent
from mockidp.directory.signing_keys import SigningKeys
from mockidp.directory.snapshot import Directory
from mockidp.directory.stamp import Stamp
from mockidp.directory.traces import TraceStore
from mockidp.local_ca import CA_CERT, ensure_ca, server_names
from mockidp.oauth.context import Services
from mockidp.oauth.workload_issuers import WorkloadIssuers
from mockidp.preparation import prepare
from mockidp.settings import Settings
from mockidp.tokens.issuer import TokenIssuer
from mockidp.tokens.key_ring import KeyRing, RingKey, Role
from mockidp.tokens.keys import ISSUER_CERT_FILE, ISSUER_KEY_FILE, SigningKey, load_or_create_signing_key
from mockidp.tokens.remote_metadata import IssuerKeys
from mockidp.tokens.signer import Signer
from mockidp.web import access_log, errors, fast, tracing
from mockidp.web.following import Following, FollowOnRequest
from mockidp.web.routes import (
    admin,
    arm,
    console,
    control,
    device,
    discovery,
    graph,
    instance,
    issuers,
    logout,
    managed_identity,
    signin,
    token,
    traces,
)
from mockidp.web.runtime import Runtime
from mockidp.web.sealing import Sealer, load_or_create_secret

if TYPE_CHECKING:
    from mockidp.web.gateway.edge import Gateway
    from mockidp.web.gateway.forwarding import BackendClient

log = logging.getLogger("mockidp")


async def purge_on_schedule(artefacts: Artefacts, traces: TraceStore, clock: Clock, every: float,
                            stop: asyncio.Event) -> None:
    """Each worker (and replica) purges expired artefacts and old traces every `every` seconds, as of the
    injectable clock; the DELETEs are conditional, so workers running it at the same moment are harmless."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(artefacts.purge_expired, now=clock.now())
            await asyncio.to_thread(traces.purge, now=clock.now())
        except Exception as exc:  # the next round retries; a failed purge must never stop the worker
            log.warning("purging expired artefacts failed (%s); retrying in %.0f s", exc.__class__.__name__, every)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


CONTROL_POLL = 0.5


def _role(stored: str) -> Role:
    return "active" if stored == "active" else "next" if stored == "next" else "retired"


async def poll_control(following: Following, stop: asyncio.Event) -> None:
    """Between requests too, a replica follows a change made through another one within CONTROL_POLL seconds
    (its purge runs by the clock); a request checks for itself first (web/following.py)."""
    while not stop.is_set():
        try:
            following.check()  # on the loop, as a request does (web/following.py)
        except Exception as exc:  # the next round retries
            log.warning("reading the control state failed (%s); retrying", exc.__class__.__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CONTROL_POLL)


def create_app(settings: Settings, *, clock: Clock | None = None, ids: IdFactory | None = None,
               apply_seed: bool = True, purge_every: float = PURGE_EVERY) -> FastAPI:
    store = prepare(settings, apply_seed=apply_seed)
    control_state: ControlState | None = None
    stamp = Stamp(settings.data_dir)
    live = LiveDirectory(store, stamp)
    directory = live.current()
    content = directory.content
    faults = FaultBook(store.engine, stamp)
    if clock is None:  # mockidp's own clock: the control API's setting, shared by every worker and replica
        control_state = ControlState(store.engine, stamp)
        clock = SharedClock(control_state.clock, stamp.changed)
    signing_keys = SigningKeys(store.engine, stamp)
    ring = KeyRing(lambda: [RingKey(SigningKey(k.private_pem, k.cert_der), _role(k.role), k.published_until)
                            for k in signing_keys.load()], stamp.value, clock)
    ids = ids or IdFactory()
    ca_path = settings.data_dir / CA_CERT
    if settings.tls:
        ensure_ca(settings.data_dir)
    issuer_key = load_or_create_signing_key(settings.data_dir, ISSUER_KEY_FILE, ISSUER_CERT_FILE)
    workload_issuers = WorkloadIssuers(Signer(issuer_key), issuer_key.public_jwk(), clock)
    verify: Any = ssl.create_default_context(cafile=str(ca_path)) if ca_path.exists() else True
    federation = IssuerKeys(workload_issuers.keys_by_issuer(), verify=verify, timeout=settings.federation_fetch_timeout)
    services = Services(live, TokenIssuer(ring, clock, ids), clock, ids, Artefacts(store.engine), federation)
    trace_store = TraceStore(store.engine)
    wake = asyncio.Event()
    hosts = {"localhost", "127.0.0.1", *(n.lower() for n in server_names(settings))}
    gateway, clients = None, GatewayClients(ca_path if settings.tls else None)
    if settings.gateway_port and content.api_management:
        gateway = build_gateway(settings, content, directory, ring.published, clock, ids,
                                trace_store if settings.traces else None, wake, clients)

    following = None
    if control_state is not None and isinstance(clock, SharedClock) and not store.engine.url.drivername.startswith(
            "sqlite"):  # replicas on other machines share the database, not the stamp
        following = Following(control_state, clock, faults, ring, live)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        purging = asyncio.create_task(purge_on_schedule(services.artefacts, trace_store, clock, purge_every, stop))
        flushing = asyncio.create_task(tracing.flush_on_schedule(
            trace_store, wake, stop, inline=store.engine.url.drivername.startswith("sqlite")))
        polling = None
        if following is not None:
            polling = asyncio.create_task(poll_control(following, stop))
        yield
        stop.set()
        wake.set()
        if polling is not None:
            await polling
        if following is not None:
            following.close()
        await purging  # a purge under way finishes before the engine goes: no connection left behind
        await flushing  # and the last traces are written
        await clients.close()  # the gateway's connections to its backends
        store.engine.dispose()  # close pooled connections (PostgreSQL) when the worker stops

    app = fast.FrontedApp(title="mockidp", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    secret = load_or_create_secret(settings.data_dir)
    app.state.runtime = Runtime(settings, services, ring, ca_path if ca_path.exists() else None, hosts,
                                Sealer(secret), trace_store if settings.traces else None, control_state, faults,
                                signing_keys, live, identity_key=secret)
    # the hot paths in front of the framework (issue 11), inside the decision trace
    hot = fast.FastPaths(app.framework, runtime=app.state.runtime)
    app.front = tracing.Tracing(hot, store=trace_store, clock=clock, ids=ids, wake=wake) if settings.traces else hot
    if following is not None:  # outermost: before the trace, the fast paths and any route decide
        app.front = FollowOnRequest(app.front, following=following)
    errors.install(app)
    app.add_exception_handler(control.ControlRefused, control.on_refused)
    access_log.install()
    for module in (admin, instance, discovery, token, signin, device, logout, console, traces, control,
                   managed_identity, issuers, graph, arm):
        app.include_router(module.router)
    app.state.gateway = gateway
    app.state.following = following  # the gateway's port follows too (Served)
    app.state.workload_issuers = workload_issuers  # /_mockidp/issuers and the control API's federation tokens
    return app


class GatewayClients:
    """The gateway's HTTP client to its backends: one per worker, made in the worker's own event loop."""

    def __init__(self, ca_path: Path | None) -> None:
        self.ca_path = ca_path
        self._client: BackendClient | None = None

    def __call__(self) -> BackendClient:
        if self._client is None:
            from mockidp.web.gateway.forwarding import BackendClient

            self._client = BackendClient(self.ca_path)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _loopback_name(settings: Settings) -> str:
    """How this server reaches its own main port (the built-in echo function)."""
    host = settings.host
    return "localhost" if host in ("0.0.0.0", "::", "", "127.0.0.1", "localhost") else host


def main_origin(settings: Settings) -> str:
    return f"{'https' if settings.tls else 'http'}://{_loopback_name(settings)}:{settings.port}"


def build_gateway(settings: Settings, content: DirectoryContent, directory: Directory,
                  published: Callable[[], Sequence[dict[str, Any]]],
                  clock: Clock, ids: IdFactory, traces: TraceStore | None, wake: asyncio.Event,
                  clients: GatewayClients) -> Gateway:
    """The API Management gateway of the seed's apiManagement services (web/gateway/)."""
    from mockidp.apim.rate_limit import MemoryRateLimiter
    from mockidp.web.gateway.discovery import ENTRA_HOST, GatewayDiscovery
    from mockidp.web.gateway.echo import PREFIX as ECHO
    from mockidp.web.gateway.edge import Gateway
    from mockidp.web.gateway.routing import CompiledService, compile_services

    scheme = "https" if settings.tls else "http"
    own = main_origin(settings)
    origins = {own, f"{scheme}://127.0.0.1:{settings.port}", f"{scheme}://localhost:{settings.port}",
               *(f"{scheme}://{n}:{settings.port}" for n in server_names(settings))}
    if settings.public_url:
        origins.add(settings.public_url)
    if settings.port == (443 if settings.tls else 80):
        origins |= {f"{scheme}://{n}" for n in server_names(settings)}
    entra = settings.public_url or (f"https://{ENTRA_HOST}" if ENTRA_HOST in (h.lower() for h in settings.hostnames)
                                    else own)
    verify: Any = True
    ca = settings.data_dir / CA_CERT
    if settings.tls and ca.exists():
        verify = ssl.create_default_context(cafile=str(ca))
    discovery = GatewayDiscovery(directory, published, own_origins=origins, entra_origin=entra, verify=verify)

    def backend_urls(service: CompiledService) -> dict[str, str]:
        return {b.id: (f"{own}{ECHO}" if b.builtin == "echo" else (b.url or "")) for b in service.record.backends}

    def trace_location(host: str, trace_id: str) -> str:
        origin = settings.public_url or f"{scheme}://{host.rpartition(':')[0] or host}:{settings.port}"
        if host.startswith("["):  # an IPv6 literal keeps its brackets
            origin = settings.public_url or f"{scheme}://{host.rpartition(']')[0]}]:{settings.port}"
        return f"{origin}/_mockidp/traces/{trace_id}/apim"

    return Gateway(compile_services(content.api_management), clock=clock, ids=ids, discovery=discovery,
                   rate_limiter=MemoryRateLimiter(), client=clients, backend_urls=backend_urls, traces=traces,
                   wake=wake, trace_location=trace_location, max_body_bytes=settings.max_body_bytes)


class Served:
    """What `mockidp serve` runs in each worker: the identity app on the main port, the gateway on the
    gateway port, told apart by the port the connection came in on (scope["server"]), since both listening
    sockets are served by the same uvicorn server (web/serving.py says why). The echo function is served
    on the main port under /_mockidp/echo, in front of FastAPI (it is the gateway bench's backend)."""

    def __init__(self, app: FastAPI, gateway: Any, gateway_port: int) -> None:
        from mockidp.web.gateway.echo import PREFIX, echo

        self.app, self.gateway, self.gateway_port = app, gateway, gateway_port
        self.echo, self.echo_prefix = echo, PREFIX
        self.following: Following | None = getattr(app.state, "following", None)
        self.runtime = app.state.runtime

    def in_place(self, scope: dict[str, Any]) -> tuple[bytes, bytes] | None:
        """A GET of discovery or JWKS on the main port, for the HTTP protocol to answer before any ASGI task
        (serving.BoundedHttpProtocol): what FastPaths would send, its headers as header lines, without the
        task, the middleware chain and the ASGI messages, the better part of such a request's cost (issue 11).
        None: the ASGI way."""
        server = scope.get("server")
        if self.gateway_port and server is not None and server[1] == self.gateway_port:
            return None
        found = fast.route(scope["path"])
        if found is None:
            return None
        if self.following is not None:  # as FollowOnRequest, outermost on the ASGI way
            self.following.check_or_go_on()
        return fast.document_lines(self.runtime, scope, *found)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            server = scope.get("server")
            if server is not None and server[1] == self.gateway_port and self.gateway_port:
                if self.gateway is None:  # the port is bound but no service is seeded: APIM's 404
                    from mockidp.web.gateway.edge import NOT_FOUND_RESPONSE

                    await NOT_FOUND_RESPONSE(scope, receive, send)
                    return
                if self.following is not None:  # the gateway checks tokens with the keys of now, too
                    self.following.check_or_go_on()
                await self.gateway(scope, receive, send)
                return
            path = scope["path"]
            if path == self.echo_prefix or path.startswith(self.echo_prefix + "/"):
                await self.echo(scope, receive, send)
                return
        await self.app(scope, receive, send)


def served(app: FastAPI, settings: Settings) -> Served:
    return Served(app, app.state.gateway, settings.gateway_port)


def create_worker_app() -> Served:
    """uvicorn factory for `mockidp serve`: the parent already prepared keys, CA and seed."""
    settings = Settings()
    logs.configure(settings.log_level)
    return served(create_app(settings, apply_seed=False), settings)
