"""Composition root: settings, store, keys, seed and routers wired together. The only module that
knows every concrete part."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from fastapi import FastAPI

from mockidp.clock import Clock, IdFactory, SharedClock
from mockidp.directory.artefacts import PURGE_EVERY, Artefacts
from mockidp.directory.control_state import ControlState
from mockidp.directory.faults import FaultBook
from mockidp.directory.signing_keys import SigningKeys, StoredKey
from mockidp.directory.snapshot import Directory
from mockidp.directory.stamp import Stamp
from mockidp.directory.store import Store, make_engine
from mockidp.directory.traces import TraceStore
from mockidp.local_ca import CA_CERT, ensure_ca, ensure_server_certificate
from mockidp.oauth.context import Services
from mockidp.settings import Settings
from mockidp.tokens.issuer import TokenIssuer
from mockidp.tokens.key_ring import KeyRing, RingKey, Role
from mockidp.tokens.keys import SigningKey, load_or_create_signing_key
from mockidp.web import access_log, errors, tracing
from mockidp.web.routes import admin, console, control, device, discovery, instance, logout, signin, token, traces
from mockidp.web.runtime import Runtime
from mockidp.web.sealing import Sealer, load_or_create_secret

log = logging.getLogger("mockidp")


def server_names(settings: Settings) -> list[str]:
    names = list(settings.hostnames)
    if settings.public_url:
        names.append(urlsplit(settings.public_url).hostname or "")
    if settings.host not in ("0.0.0.0", "::", ""):
        names.append(settings.host)
    return [n for n in names if n]


def prepare(settings: Settings, *, apply_seed: bool = True) -> Store:
    """Once per start, before workers fork: data dir, keys, CA, seed validated and stored whole."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    load_or_create_signing_key(settings.data_dir)
    load_or_create_secret(settings.data_dir)
    if settings.tls:
        ensure_server_certificate(settings.data_dir, server_names(settings))
    store = Store(make_engine(settings.resolved_database_url))
    store.create_schema()
    key = load_or_create_signing_key(settings.data_dir)  # the first key; then the database holds them
    SigningKeys(store.engine).adopt(StoredKey(key.kid, key.private_pem, key.cert_der), now=time.time())
    if apply_seed and settings.seed:
        from mockidp.directory.seed import load_seed  # YAML and the seed schema: not in the workers

        store.replace_directory(load_seed(settings.seed))  # raises SeedError: nothing half-loaded
    return store


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


async def poll_control(control: ControlState, clock: SharedClock, faults: FaultBook, ring: KeyRing,
                       stop: asyncio.Event) -> None:
    """A replica learns of a control change made through another one within CONTROL_POLL seconds."""
    seen = -1
    while not stop.is_set():
        faults.forget()  # its next take reads the armed faults again
        ring.forget()  # and its next signature the keys (a rotation through another replica)
        try:
            version = await asyncio.to_thread(control.version)
            if version != seen:
                seen = version
                clock.setting = await asyncio.to_thread(control.clock)
        except Exception as exc:  # the next round retries
            log.warning("reading the control state failed (%s); retrying", exc.__class__.__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CONTROL_POLL)


def create_app(settings: Settings, *, clock: Clock | None = None, ids: IdFactory | None = None,
               apply_seed: bool = True, purge_every: float = PURGE_EVERY) -> FastAPI:
    store = prepare(settings, apply_seed=apply_seed)
    directory = Directory.build(store.load_directory())
    control_state: ControlState | None = None
    stamp = Stamp(settings.data_dir)
    faults = FaultBook(store.engine, stamp)
    if clock is None:  # mockidp's own clock: the control API's setting, shared by every worker and replica
        control_state = ControlState(store.engine, stamp)
        clock = SharedClock(control_state.clock, stamp.changed)
    signing_keys = SigningKeys(store.engine, stamp)
    ring = KeyRing(lambda: [RingKey(SigningKey(k.private_pem, k.cert_der), _role(k.role), k.published_until)
                            for k in signing_keys.load()], stamp.value, clock)
    ids = ids or IdFactory()
    services = Services(directory, TokenIssuer(ring, clock, ids), clock, ids, Artefacts(store.engine))
    ca_path = settings.data_dir / CA_CERT
    if settings.tls:
        ensure_ca(settings.data_dir)
    trace_store = TraceStore(store.engine)
    wake = asyncio.Event()
    hosts = {"localhost", "127.0.0.1", *(n.lower() for n in server_names(settings))}
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        purging = asyncio.create_task(purge_on_schedule(services.artefacts, trace_store, clock, purge_every, stop))
        flushing = asyncio.create_task(tracing.flush_on_schedule(trace_store, wake, stop))
        polling = None
        if control_state is not None and isinstance(clock, SharedClock) and not store.engine.url.drivername.startswith(
                "sqlite"):  # replicas on other machines share the database, not the stamp
            polling = asyncio.create_task(poll_control(control_state, clock, faults, ring, stop))
        yield
        stop.set()
        wake.set()
        if polling is not None:
            await polling
        await purging  # a purge under way finishes before the engine goes: no connection left behind
        await flushing  # and the last traces are written
        store.engine.dispose()  # close pooled connections (PostgreSQL) when the worker stops

    app = FastAPI(title="mockidp", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    sealer = Sealer(load_or_create_secret(settings.data_dir))
    app.state.runtime = Runtime(settings, services, ring, ca_path if ca_path.exists() else None, hosts,
                                sealer, trace_store if settings.traces else None, control_state, faults,
                                signing_keys)
    if settings.traces:
        app.add_middleware(tracing.Tracing, store=trace_store, clock=clock, ids=ids, wake=wake)
    errors.install(app)
    access_log.install()
    for module in (admin, instance, discovery, token, signin, device, logout, console, traces, control):
        app.include_router(module.router)
    return app


def create_worker_app() -> FastAPI:
    """uvicorn factory for `mockidp serve`: the parent already prepared keys, CA and seed."""
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return create_app(settings, apply_seed=False)
