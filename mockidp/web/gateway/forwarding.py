"""forward-request's HTTP side: the runtime's Backend on one httpx.AsyncClient per worker (BackendClient).

The client trusts the system's CAs and mockidp's own (so a backend on this machine served with mockidp's
certificate, the built-in echo function included, verifies). To each request it adds `X-Forwarded-For` with
the caller's address, as APIM does (docs/apim.md#the-gateway); a backend entity's credentials (a Function
App's `x-functions-key`) are the runtime's to add (apim/runtime.py BackendService).
"""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx

from mockidp.apim.runtime import BackendError, GatewayResponse, OutgoingRequest

# The backend's response headers that are its connection's, not the message's.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                         "upgrade", "content-length"})
MAX_BACKEND_BODY = 16 * 1024 * 1024  # mockidp's bound on a backend answer held in memory


class BackendClient:
    """The worker's one HTTP client to its backends. Its TLS context trusts mockidp's CA from the start and
    the system's CAs (as ssl.create_default_context loads them) from the first call that may reach an https
    backend: the system bundle parsed whole is some 1.6 MB in every worker (issue 11), which a gateway in
    front of plain-HTTP backends never needs."""

    __slots__ = ("_system_trusted", "context", "http")

    def __init__(self, ca_path: Path | None) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # hostname checked, certificate required
        if ca_path is not None and ca_path.exists():
            self.context.load_verify_locations(cafile=str(ca_path))
        self._system_trusted = False
        # No pool timeout: forward-request's own timeout bounds each call. trust_env off: a proxy variable of
        # the machine must not send loopback traffic elsewhere.
        self.http = httpx.AsyncClient(verify=self.context, trust_env=False, timeout=None,
                                      limits=httpx.Limits(max_connections=512, max_keepalive_connections=64))

    def for_request(self, request: OutgoingRequest) -> httpx.AsyncClient:
        """The client, trusting the system's CAs before any https call (a redirect may lead to one too)."""
        if not self._system_trusted and (request.url[:6].lower() == "https:" or request.follow_redirects):
            self.context.load_default_certs()
            self._system_trusted = True
        return self.http

    @property
    def system_trusted(self) -> bool:
        return self._system_trusted

    async def aclose(self) -> None:
        await self.http.aclose()


class Forwarder:
    """One request's Backend: the worker's client and the caller's address."""

    __slots__ = ("client", "client_ip")

    def __init__(self, client: BackendClient, client_ip: str) -> None:
        self.client, self.client_ip = client, client_ip

    async def __call__(self, request: OutgoingRequest) -> GatewayResponse:
        headers = [(k, v) for k, v in request.headers if k.lower() not in _HOP_BY_HOP and k.lower() != "host"]
        url = request.url
        forwarded = [v for k, v in headers if k.lower() == "x-forwarded-for"]
        headers = [(k, v) for k, v in headers if k.lower() != "x-forwarded-for"]
        headers.append(("X-Forwarded-For", ", ".join([*forwarded, self.client_ip]) if forwarded else self.client_ip))
        timeout = httpx.Timeout(request.timeout if request.timeout > 0 else None)
        client = self.client.for_request(request)
        try:
            sent = client.build_request(request.method, url, headers=headers, content=request.body, timeout=timeout)
            response = await client.send(sent, stream=True, follow_redirects=request.follow_redirects)
            try:
                body = bytearray()
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) > MAX_BACKEND_BODY:
                        raise BackendError(f"the backend's answer is larger than {MAX_BACKEND_BODY} bytes")
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            raise BackendError(f"the backend did not answer within {request.timeout:g} seconds",
                               timeout=True) from None
        except (httpx.HTTPError, ssl.SSLError, OSError, ValueError) as exc:
            raise BackendError(f"cannot reach the backend: {type(exc).__name__}: {str(exc)[:200]}") from None
        out = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _HOP_BY_HOP]
        return GatewayResponse(out, bytes(body), response.status_code, response.reason_phrase)
