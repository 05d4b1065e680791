"""Fixtures: the app in-process with a frozen clock and sequential ids (exact bodies), and a real
uvicorn server over TLS for the real clients."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Self

import pytest
import uvicorn
from starlette.testclient import TestClient

from mockidp.app import create_app
from mockidp.clock import FrozenClock, SequentialIds
from mockidp.directory.seed import SeedError, load_seed
from mockidp.local_ca import ensure_server_certificate
from mockidp.settings import Settings
from tests.postgres_server import PostgresDatabase, PostgresServer

if TYPE_CHECKING:
    from playwright.sync_api import Playwright

ROOT = Path(__file__).resolve().parent.parent
DEMO_SEED = ROOT / "seed" / "demo.yaml"
TENANT = "72f988bf-0000-4000-8000-000000000001"
CLIENT = "1df771d6-ef9c-473e-af87-cafa8928e024"
CLIENT_SECRET = "testClient-secret-value-1"
BACKEND2 = "8d138478-d3a3-47f5-a233-1408cd6baae4"
BACKEND1_URI = "api://contoso.onmicrosoft.com/testBackend1"
REPORTING = "3f2c1a8e-5b7d-4e21-9c0a-6d4b8e2f7a13"
REPORTING_SECRET = "reportingJob-secret-value-1"
CLIENT_KEY = ROOT / "seed" / "certs" / "testClient.key"
CLIENT_CERT = ROOT / "seed" / "certs" / "testClient.crt"
FROZEN_AT = 1_767_225_600  # 2026-01-01T00:00:00Z
ORIGIN = "https://localhost:8443"


class Harness:
    def __init__(self, tmp: Path, seeds: list[Path]) -> None:
        self.clock = FrozenClock(FROZEN_AT)
        self.ids = SequentialIds()
        self.settings = Settings(seed=seeds, data_dir=tmp, tls=False)
        self.app = create_app(self.settings, clock=self.clock, ids=self.ids)
        self.client = TestClient(self.app, base_url=ORIGIN, raise_server_exceptions=False)

    def token(self, data: dict[str, str] | None = None, *, version: int = 2, tenant: str = TENANT,
              **kw: object):  # type: ignore[no-untyped-def]
        path = f"/{tenant}/oauth2/v2.0/token" if version == 2 else f"/{tenant}/oauth2/token"
        return self.client.post(path, data=data, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def signing_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir (one signing key) for the whole session: key generation is slow-ish."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def harness(signing_dir: Path, tmp_path: Path) -> Harness:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("signing-key.pem", "signing-cert.pem"):
        src = signing_dir / name
        if src.exists():
            (data / name).write_bytes(src.read_bytes())
    h = Harness(data, [DEMO_SEED])
    for name in ("signing-key.pem", "signing-cert.pem"):
        if not (signing_dir / name).exists():
            (signing_dir / name).write_bytes((data / name).read_bytes())
    return h


def make_harness(tmp_path: Path, seed_text: str, signing_dir: Path) -> Harness:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    for name in ("signing-key.pem", "signing-cert.pem"):
        src = signing_dir / name
        if src.exists():
            (data / name).write_bytes(src.read_bytes())
    seed = tmp_path / "seed.yaml"
    seed.write_text(seed_text)
    return Harness(data, [seed])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadedServer:
    """A uvicorn server over TLS in a thread of the test process: running inside `with`, stopped after it."""

    port: int
    server: uvicorn.Server
    thread: threading.Thread
    sockets: Sequence[socket.socket] = ()  # sockets bound for the server, closed after it

    @property
    def origin(self) -> str:
        return f"https://localhost:{self.port}"

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("mockidp did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        for sock in self.sockets:
            sock.close()


class LiveServer(ThreadedServer):
    """A real uvicorn server over TLS in a thread; extra keyword arguments are Settings fields."""

    def __init__(self, data_dir: Path, seeds: list[Path], **settings: object) -> None:
        self.port = _free_port()
        self.settings = Settings(seed=seeds, data_dir=data_dir, port=self.port, tls=True, **settings)  # type: ignore[arg-type]
        tls = ensure_server_certificate(data_dir, [])
        self.ca = str(tls.ca_path)
        app = create_app(self.settings)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, ssl_certfile=str(tls.cert_path),
                                ssl_keyfile=str(tls.key_path), log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)



@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("live"), [DEMO_SEED]) as server:
        yield server


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """One Playwright driver for every browser test (a second sync_playwright cannot start beside it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole run (initdb costs seconds); each module takes a database."""
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="module")
def pg(postgres: PostgresServer, request: pytest.FixtureRequest) -> PostgresDatabase:
    """A fresh database on the shared server for this test module (its replicas share it)."""
    return postgres.database(request.module.__name__.rsplit(".", 1)[-1].lower())


def seed_problems(tmp_path: Path, text: str) -> list[str]:
    """The problems load_seed reports for one seed file (s.yaml), in its order, the file named relatively."""
    seed = tmp_path / "s.yaml"
    seed.write_text(text)
    with pytest.raises(SeedError) as info:
        load_seed([seed])
    return [str(p).replace(str(seed), "s.yaml") for p in info.value.problems]
