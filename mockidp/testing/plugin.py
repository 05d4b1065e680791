"""The pytest plugin: a served mockidp for the test session, and a fixture to drive it (README, "pytest").

Installed with the package (entry point `pytest11`), active in any project that has mockidp installed;
it starts nothing until a test asks for `mockidp` or `mockidp_server`.

    [pytest]                       # pytest.ini, or [tool.pytest.ini_options] in pyproject.toml
    mockidp_seed = seed/contoso.yaml          # files or folders, relative to the rootdir (one a line)
    mockidp_workers = 1

    def test_expired_token_is_refused(mockidp, my_api):
        token = mockidp.token(CLIENT_ID, SECRET, "api://my-api/.default")["access_token"]
        mockidp.advance(2 * 3600)
        assert my_api.get("/orders", token=token).status_code == 401

`mockidp_server` (session) is `mockidp serve` in a subprocess on a free loopback port, TLS on with a CA
of its own data dir; `mockidp` (per test) is a `Mockidp` on it, and after the test it resets the server
(the control API's reset: clock, codes, sessions, consents, lockouts, traces), so tests do not see each
other's state. The seed is loaded once per session. Like the rest of this package it speaks to mockidp
over HTTP only, as a test's own clients do.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

__all__ = ["Mockidp", "MockidpServer"]

START_TIMEOUT = 30.0


class MockidpError(RuntimeError):
    """mockidp answered a helper's request with an error (its JSON body is `body`)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MockidpServer:
    """`mockidp serve` on 127.0.0.1 for as long as the session lasts."""

    def __init__(self, seeds: Sequence[Path], *, workers: int = 1, extra: Sequence[str] = ()) -> None:
        self.port = _free_port()
        self.gateway_port = _free_port()  # a seed with apiManagement serves its gateway here, never a fixed port
        self._home = Path(tempfile.mkdtemp(prefix="mockidp-pytest-"))
        self.data_dir = self._home / "data"
        self.origin = f"https://localhost:{self.port}"
        self.gateway_origin = f"https://localhost:{self.gateway_port}"
        self.log_path = self._home / "serve.log"
        command = [sys.executable, "-m", "mockidp", "serve", "--port", str(self.port), "--gateway-port",
                   str(self.gateway_port), "--data-dir", str(self.data_dir), "--workers", str(workers),
                   "--no-access-log", *extra]
        for seed in seeds:
            command += ["--seed", str(seed)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKIDP_")}
        self._log = self.log_path.open("w")
        # output to a file: a pipe nobody reads fills up and blocks the server
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self._context: ssl.SSLContext | None = None

    @property
    def ca_path(self) -> Path:
        """The CA that signed the server's certificate: what every client of the test must trust."""
        return self.data_dir / "ca.pem"

    def ssl_context(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = ssl.create_default_context(cafile=str(self.ca_path))
        return self._context

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> float:
        """Seconds it took; raises with the server's output when it exits or does not become healthy."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mockidp serve exited ({self.proc.returncode}):\n{self.output()}")
            # not listening yet, or its certificate not written yet: the next round asks again
            with contextlib.suppress(OSError, ssl.SSLError):
                if self.ca_path.exists() and self.request("GET", "/_mockidp/health")[0] == 200:
                    return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(f"mockidp serve was not healthy after {timeout:.0f} s:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(self, method: str, path: str, *, json_body: object = None, form: dict[str, str] | None = None,
                ) -> tuple[int, dict[str, Any]]:
        data: bytes | None = None
        headers = {}
        if json_body is not None:
            data, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(self.origin + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.ssl_context()) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"raw": raw.decode(errors="replace")}
            return exc.code, body

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self._home, ignore_errors=True)


class Mockidp:
    """What a test does with mockidp: where it is, tokens, and the control API (clock, reset)."""

    def __init__(self, server: MockidpServer) -> None:
        self.server = server

    @property
    def origin(self) -> str:
        return self.server.origin

    @property
    def ca_path(self) -> Path:
        return self.server.ca_path

    def authority(self, tenant: str = "organizations") -> str:
        """The authority MSAL and azure-identity take (`https://localhost:PORT/{tenant}`)."""
        return f"{self.server.origin}/{tenant}"

    def token(self, client_id: str, client_secret: str, scope: str, *, tenant: str = "organizations",
              **form: str) -> dict[str, Any]:
        """A client-credentials token response (other grants: pass grant_type and its fields in `form`);
        raises MockidpError with Entra's error body on a refusal."""
        body = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret,
                "scope": scope, **form}
        return self._ok(*self.server.request("POST", f"/{tenant}/oauth2/v2.0/token", form=body))

    def msal_app(self, client_id: str, client_credential: Any = None, *, tenant: str = "organizations",
                 **kwargs: Any) -> Any:
        """An MSAL Python app on this mockidp (Confidential with a credential, Public without), trusting its CA."""
        import msal
        import requests

        session = requests.Session()
        session.trust_env = False  # else REQUESTS_CA_BUNDLE would win over the CA set here
        session.verify = str(self.ca_path)
        common: dict[str, Any] = {"authority": self.authority(tenant), "instance_discovery": False,
                                  "http_client": session, **kwargs}
        if client_credential is None:
            return msal.PublicClientApplication(client_id, **common)
        return msal.ConfidentialClientApplication(client_id, client_credential=client_credential, **common)

    def credential(self, tenant_id: str, client_id: str, client_secret: str, **kwargs: Any) -> Any:
        """An azure-identity ClientSecretCredential on this mockidp, trusting its CA."""
        from azure.identity import ClientSecretCredential

        return ClientSecretCredential(tenant_id, client_id, client_secret, authority=self.server.origin,
                                      disable_instance_discovery=True, connection_verify=str(self.ca_path),
                                      **kwargs)

    def graph(self, tenant_id: str, client_id: str, client_secret: str) -> contextlib.AbstractAsyncContextManager[Any]:
        """msgraph-sdk's GraphServiceClient on this mockidp's Graph ({origin}/graph/v1.0), signed in as the
        app (it needs Graph's app roles in the seed, e.g. Application.ReadWrite.All); closed on exit."""
        return graph_client(self.origin, self.ca_path, tenant_id, client_id, client_secret)

    # --- the control API ----------------------------------------------------------------------------

    def clock(self) -> dict[str, Any]:
        return self._ok(*self.server.request("GET", "/_mockidp/control/clock"))

    def freeze(self, at: float | None = None) -> float:
        """Stop mockidp's clock (now, or at `at` seconds since 1970); returns the time it stands at."""
        body: dict[str, object] = {"freeze": True} if at is None else {"freeze": True, "at": at}
        return float(self._ok(*self.server.request("POST", "/_mockidp/control/clock", json_body=body))["now"])

    def advance(self, seconds: float) -> float:
        """Move mockidp's clock (frozen or not) by `seconds`; returns the new time."""
        return float(self._ok(*self.server.request("POST", "/_mockidp/control/clock",
                                                    json_body={"advance": seconds}))["now"])

    def real_time(self) -> None:
        self._ok(*self.server.request("POST", "/_mockidp/control/clock", json_body={"real": True}))

    def fault(self, **what: object) -> dict[str, Any]:
        """Arm a failure for the next matching requests: the body of POST /_mockidp/control/faults, e.g.
        fault(error=50196, count=2) or fault(status=503, retryAfter=5, clientId=...)."""
        status, body = self.server.request("POST", "/_mockidp/control/faults", json_body=what)
        if status != 201:
            raise MockidpError(status, body)
        return body

    def forge(self, **what: object) -> str:
        """A token as a test needs it (the body of POST /_mockidp/control/tokens), e.g. forge(clientId=...,
        resource="api://...", roles=["Reader"], expired=True)."""
        return str(self._ok(*self.server.request("POST", "/_mockidp/control/tokens", json_body=what))["access_token"])

    def rotate_keys(self, overlap_seconds: int = 86400, *, announce: bool = False) -> list[dict[str, Any]]:
        """A new signing key (or, with announce, a next key published first); the old one stays published
        for overlap_seconds. Returns the keys: kid, role (active, next, retired), publishedUntil."""
        body = {"overlapSeconds": overlap_seconds, "announce": announce}
        return list(self._ok(*self.server.request("POST", "/_mockidp/control/keys/rotate", json_body=body))["value"])

    def federation_token(self, subject: str, *, issuer: str = "github", audience: str | None = None,
                         lifetime: int | None = None) -> str:
        """A token of mockidp's built-in GitHub Actions-like (or "kubernetes") issuer for `subject`, to match an
        app's federatedIdentityCredentials (POST /_mockidp/control/federation/tokens)."""
        body: dict[str, object] = {"issuer": issuer, "subject": subject}
        if audience is not None:
            body["audience"] = audience
        if lifetime is not None:
            body["lifetimeSeconds"] = lifetime
        return str(self._ok(*self.server.request("POST", "/_mockidp/control/federation/tokens", json_body=body))[
            "token"])

    def workload_credential(self, tenant_id: str, client_id: str, token_file: str | Path, **kwargs: Any) -> Any:
        """An azure-identity WorkloadIdentityCredential on this mockidp (trusting its CA) that reads its
        assertion from `token_file`, e.g. one written with federation_token()."""
        from azure.identity import WorkloadIdentityCredential

        return WorkloadIdentityCredential(tenant_id=tenant_id, client_id=client_id, token_file_path=str(token_file),
                                          authority=self.server.origin, disable_instance_discovery=True,
                                          connection_verify=str(self.ca_path), **kwargs)

    def faults(self) -> list[dict[str, Any]]:
        return list(self._ok(*self.server.request("GET", "/_mockidp/control/faults"))["value"])

    def reset(self) -> None:
        """Back to the seed: directory (Graph writes undone), clock, codes, refresh tokens, sessions, consents,
        lockouts, faults, traces."""
        self._ok(*self.server.request("POST", "/_mockidp/control/reset", json_body={}))

    def trace(self, trace_id: str) -> dict[str, Any]:
        """The decision trace of a response (its x-ms-request-id, or an error's trace_id)."""
        return self._ok(*self.server.request("GET", f"/_mockidp/traces/{urllib.parse.quote(trace_id)}"))

    @staticmethod
    def _ok(status: int, body: dict[str, Any]) -> dict[str, Any]:
        if status != 200:
            raise MockidpError(status, body)
        return body


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("mockidp_seed", "seed files or folders for the mockidp fixtures (relative to the rootdir)",
                  type="linelist", default=[])
    parser.addini("mockidp_workers", "worker processes of the mockidp fixtures' server", default="1")
    parser.addoption("--mockidp-seed", action="append", default=None,
                     help="seed file or folder for the mockidp fixtures (repeatable; overrides mockidp_seed)")


def _seeds(config: pytest.Config) -> list[Path]:
    given = config.getoption("--mockidp-seed") or []
    if given:
        return [Path(p).resolve() for p in given]
    root = Path(str(config.rootpath))
    return [(root / p).resolve() for p in config.getini("mockidp_seed")]


@pytest.fixture(scope="session")
def mockidp_server(pytestconfig: pytest.Config) -> Iterator[MockidpServer]:
    seeds = _seeds(pytestconfig)
    if not seeds:
        raise pytest.UsageError("the mockidp fixtures need a seed: set mockidp_seed in the pytest ini file, or "
                                "pass --mockidp-seed PATH")
    server = MockidpServer(seeds, workers=int(pytestconfig.getini("mockidp_workers")))
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


@pytest.fixture
def mockidp(mockidp_server: MockidpServer) -> Iterator[Mockidp]:
    yield Mockidp(mockidp_server)
    status, body = mockidp_server.request("POST", "/_mockidp/control/reset", json_body={})
    if status != 200:
        raise MockidpError(status, body)


@contextlib.asynccontextmanager
async def graph_client(origin: str, ca_path: Path, tenant_id: str, client_id: str,
                       client_secret: str) -> AsyncIterator[Any]:
    """msgraph-sdk's GraphServiceClient on the Graph of the mockidp at `origin`, through azure-identity's
    async ClientSecretCredential with mockidp as the authority and its CA trusted; closed on exit."""
    from azure.identity.aio import ClientSecretCredential

    credential = ClientSecretCredential(tenant_id, client_id, client_secret, authority=origin,
                                        disable_instance_discovery=True, connection_verify=str(ca_path))
    try:
        async with graph_client_for(origin, ca_path, credential) as graph:
            yield graph
    finally:
        await credential.close()


@contextlib.asynccontextmanager
async def graph_client_for(origin: str, ca_path: Path, credential: Any,
                           scopes: tuple[str, ...] = ("https://graph.microsoft.com/.default",)) -> AsyncIterator[Any]:
    """GraphServiceClient on mockidp's Graph with any azure-identity credential (sync or async), for example a
    user's for `/me`; the caller closes the credential."""
    import httpx
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.graph_request_adapter import options
    from msgraph_core import GraphClientFactory

    auth = AzureIdentityAuthenticationProvider(credential, scopes=list(scopes),
                                               allowed_hosts=[urllib.parse.urlsplit(origin).hostname or ""])
    transport = httpx.AsyncHTTPTransport(verify=ssl.create_default_context(cafile=str(ca_path)))
    # the SDK's own middleware options: among them the one that turns its /users/me-token-to-replace into /me
    http = GraphClientFactory.create_with_default_middleware(client=httpx.AsyncClient(transport=transport),
                                                             options=options)
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{origin}/graph/v1.0"
    try:
        yield GraphServiceClient(request_adapter=adapter)
    finally:
        await http.aclose()
        await transport.aclose()  # the SDK's middleware transport does not close the one it wraps
