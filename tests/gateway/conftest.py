"""A served mockidp with its gateway (two listening sockets of one uvicorn server, as `mockidp serve` runs
them) in a thread, with a clock the tests move; a real HTTP backend that records what reached it; a key
server for openid-config that the tests rotate."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa

from mockidp.app import create_app, served
from mockidp.clock import FrozenClock
from mockidp.local_ca import ensure_server_certificate
from mockidp.settings import Settings
from mockidp.web.serving import Limits, ServingConfig, bind_port
from tests.conftest import DEMO_SEED, ThreadedServer, _free_port

LIMITS = Limits(max_header_bytes=32 * 1024, max_headers=100, header_timeout=10, body_timeout=10,
                keep_alive_timeout=5, tls_handshake_timeout=5)


class RecordingBackend:
    """A real HTTP server standing for the Azure Function: answers 200 JSON and keeps every request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append({"method": self.command, "path": self.path,
                                       "headers": [(k.lower(), v) for k, v in self.headers.items()],
                                       "body": body})
                data = json.dumps({"function": "ok", "path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Function", "backend")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def header(self, index: int, name: str) -> list[str]:
        return [v for k, v in self.requests[index]["headers"] if k == name.lower()]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class KeyServer:
    """An OpenID provider on 127.0.0.1 (not mockidp) whose signing key the test rotates: discovery and JWKS
    over plain HTTP, counting the fetches."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.served_kids: list[str] = []
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    outer.fetches += 1
                    body = {"issuer": outer.issuer, "jwks_uri": f"{outer.origin}/keys"}
                else:
                    numbers = {kid: k.public_key().public_numbers() for kid, k in outer.keys.items()}
                    body = {"keys": [{"kty": "RSA", "use": "sig", "kid": kid, "n": _b64(numbers[kid].n),
                                      "e": _b64(numbers[kid].e)} for kid in outer.served_kids if kid in numbers]}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.issuer = f"{self.origin}/issuer"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def key(self, kid: str) -> rsa.RSAPrivateKey:
        if kid not in self.keys:
            self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self.keys[kid]

    def token(self, kid: str, claims: dict[str, Any]) -> str:
        import jwt

        return jwt.encode({"iss": self.issuer, **claims}, self.key(kid), algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class GatewayServer(ThreadedServer):
    """mockidp with its gateway over TLS: the app as `mockidp serve` runs it in a worker (app.served), on two
    sockets of one uvicorn server with serving.py's limits. Its clock only moves when a test moves it."""

    def __init__(self, data_dir: Path, seeds: list[Path], **settings: Any) -> None:
        self.port, self.gateway_port = _free_port(), _free_port()
        self.clock = FrozenClock(time.time())
        self.settings = Settings(seed=seeds, data_dir=data_dir, port=self.port, gateway_port=self.gateway_port,
                                 tls=True, access_log=False, **settings)
        tls = ensure_server_certificate(data_dir, [])
        self.ca = str(tls.ca_path)
        app = served(create_app(self.settings, clock=self.clock), self.settings)
        config = ServingConfig(app, limits=LIMITS, host="127.0.0.1", port=self.port,  # type: ignore[arg-type]
                               ssl_certfile=str(tls.cert_path), ssl_keyfile=str(tls.key_path), log_level="warning",
                               access_log=False)
        self.sockets = [config.bind_socket(), bind_port("127.0.0.1", self.gateway_port)]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": self.sockets}, daemon=True)

    @property
    def gateway(self) -> str:
        return f"https://localhost:{self.gateway_port}"


@pytest.fixture(scope="session")
def backend() -> Iterator[RecordingBackend]:
    server = RecordingBackend()
    yield server
    server.close()


@pytest.fixture(scope="session")
def key_server() -> Iterator[KeyServer]:
    server = KeyServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def gateway_seed(tmp_path_factory: pytest.TempPathFactory, backend: RecordingBackend, key_server: KeyServer) -> Path:
    from tests.gateway.seeds import gateway_seed_text

    folder = tmp_path_factory.mktemp("gateway-seed")
    path = folder / "gateway.yaml"
    path.write_text(gateway_seed_text(backend.url, key_server.origin))
    return path


@pytest.fixture(scope="session")
def gw(tmp_path_factory: pytest.TempPathFactory, gateway_seed: Path) -> Iterator[GatewayServer]:
    """The demo seed (its tenant, apps and contoso-apim) plus the tests' service in a second seed file."""
    with GatewayServer(tmp_path_factory.mktemp("gw"), [DEMO_SEED, gateway_seed]) as server:
        yield server
