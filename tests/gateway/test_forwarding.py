"""forward-request's client (web/gateway/forwarding.py) over real sockets: plain HTTP backends, https
backends with mockidp's certificate and with the system's CAs, which the client loads only when a call
may reach an https backend (issue 11: the bundle parsed whole is some 1.6 MB in every worker)."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mockidp.apim.runtime import BackendError, OutgoingRequest
from mockidp.local_ca import ensure_server_certificate
from mockidp.web.gateway.forwarding import BackendClient, Forwarder
from tests.own_thread import in_own_loop


class _Backend:
    """A real HTTP(S) server answering 200 "ok"; over TLS with the certificate of `tls_dir`'s CA."""

    def __init__(self, tls_dir: Path | None = None) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls_dir is not None:
            tls = ensure_server_certificate(tls_dir, [])
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls.cert_path), str(tls.key_path))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.ca_path = tls.ca_path
            scheme = "https"
        self.url = f"{scheme}://localhost:{self.server.server_address[1]}/api"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backends(tmp_path: Path) -> Iterator[dict[str, _Backend]]:
    made = {"plain": _Backend(), "mockidp": _Backend(tmp_path / "mockidp"), "other": _Backend(tmp_path / "other")}
    yield made
    for b in made.values():
        b.close()


def _get(client: BackendClient, url: str) -> tuple[int, bytes]:
    async def call() -> tuple[int, bytes]:
        try:
            answer = await Forwarder(client, "127.0.0.1")(OutgoingRequest("GET", url, [], b"", 5.0, False))
            return answer.status, answer.body
        finally:
            await client.aclose()
    return in_own_loop(call())


def _cas(client: BackendClient) -> int:
    return int(client.context.cert_store_stats()["x509_ca"])


def test_a_plain_http_backend_never_loads_the_systems_cas(backends: dict[str, _Backend]) -> None:
    client = BackendClient(backends["mockidp"].ca_path)
    assert _get(client, backends["plain"].url) == (200, b"ok")
    assert not client.system_trusted
    assert _cas(client) == 1  # mockidp's CA alone


def test_an_https_backend_with_mockidps_certificate_verifies_and_the_system_cas_join(
        backends: dict[str, _Backend]) -> None:
    client = BackendClient(backends["mockidp"].ca_path)
    assert _get(client, backends["mockidp"].url) == (200, b"ok")
    assert client.system_trusted
    assert _cas(client) == 1 + len(ssl.create_default_context().get_ca_certs())


def test_the_systems_cas_are_the_ones_ssl_trusts_and_no_others(backends: dict[str, _Backend], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The system's trust, as OpenSSL reads it when the first https call comes (SSL_CERT_FILE here, naming
    the other backend's CA): that backend verifies with no CA of mockidp's; mockidp's certificate does not."""
    empty = tmp_path / "no-ca-dir"
    empty.mkdir()
    monkeypatch.setenv("SSL_CERT_FILE", str(backends["other"].ca_path))
    monkeypatch.setenv("SSL_CERT_DIR", str(empty))
    assert _get(BackendClient(None), backends["other"].url) == (200, b"ok")
    with pytest.raises(BackendError, match="CERTIFICATE_VERIFY_FAILED"):
        _get(BackendClient(None), backends["mockidp"].url)
