"""The gateway's web edge: `https://localhost:8444/{api path}/{operation}` as API Management answers it.

Plain ASGI, not FastAPI: it is a hot path (bench/run.py --scenario gateway). Per request: the API by path,
the operation by method and URL template (404 `Resource not found` otherwise), the subscription-key gate
(APIM's 401s and WWW-Authenticate), then the composed policy through mockidp/apim/runtime.py, whose
answer is written as it is. Each request is traced into the decision-trace store (trace.py); with
`Ocp-Apim-Trace: true` and a subscription that allows tracing the answer says where that trace is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from mockidp.apim.runtime import (
    Api,
    BackendService,
    Context,
    GatewayRequest,
    GatewayResponse,
    Operation,
    RateLimiter,
    Subscription,
    run,
)
from mockidp.apim.validate_jwt import DiscoverySource, apim_body
from mockidp.clock import Clock, IdFactory
from mockidp.directory.traces import TraceStore
from mockidp.web.gateway import trace as gateway_trace
from mockidp.web.gateway.forwarding import BackendClient, Forwarder
from mockidp.web.gateway.routing import CompiledService

log = logging.getLogger("mockidp.gateway")

NOT_FOUND = "Resource not found"
MISSING_KEY = ("Access denied due to missing subscription key. Make sure to include subscription key when making "
               "requests to an API.")
INVALID_KEY = ("Access denied due to invalid subscription key. Make sure to provide a valid key for an active "
               "subscription.")
TOO_LARGE = "Request entity too large"
INTERNAL = "Internal server error"


def _answer(status: int, message: str, *extra: tuple[str, str]) -> GatewayResponse:
    return GatewayResponse([("Content-Type", "application/json"), *extra], apim_body(status, message).encode(),
                           status)


class Gateway:
    def __init__(self, services: list[CompiledService], *, clock: Clock, ids: IdFactory,
                 discovery: DiscoverySource, rate_limiter: RateLimiter, client: Callable[[], BackendClient],
                 backend_urls: Callable[[CompiledService], dict[str, str]], traces: TraceStore | None,
                 wake: asyncio.Event, trace_location: Callable[[str, str], str], max_body_bytes: int) -> None:
        self.services = services
        self.clock = clock
        self.ids = ids
        self.discovery = discovery
        self.rate_limiter = rate_limiter
        self.client = client
        self.traces = traces
        self.wake = wake
        self.trace_location = trace_location
        self.max_body_bytes = max_body_bytes
        # Per service: backend-id -> the entity (URL, builtin echo resolved to this server, and the credentials
        # the runtime adds when it forwards there), and the certificates validate-jwt's certificate-id names.
        self.backends: dict[int, dict[str, BackendService]] = {}
        for s in services:
            urls = backend_urls(s)
            self.backends[id(s)] = {b.id: BackendService(urls[b.id], _flat(b.headers), _flat(b.query))
                                    for b in s.record.backends}
        self.certificates = {id(s): {c.id: c.pem.encode() for c in s.record.certificates} for s in services}

    def service_for(self, host: str, path: str) -> CompiledService | None:
        """`{name}.azure-api.net` picks its service; any other name (localhost) the one serving the path."""
        name = host.partition(":")[0].lower()
        if name.endswith(".azure-api.net"):
            wanted = name[: -len(".azure-api.net")]
            return next((s for s in self.services if s.record.name == wanted), None)
        return next((s for s in self.services if s.api(path) is not None), None)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        body = await self._body(receive)
        host = next((v for k, v in headers if k == "host"), "localhost")
        path = scope["path"]
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        request = GatewayRequest(headers, body or b"", scope["method"], scope.get("scheme", "https"), host, path,
                                 query, (scope.get("client") or ("", 0))[0])
        recorder = gateway_trace.Recorder(self.clock.now(), request) if self.traces is not None else None
        try:
            response, location = await self._handle(request, body, recorder)
        except Exception:  # a bug must still answer as APIM does, never with a stack trace
            log.exception("the gateway failed on %s %s", request.method, path[:200])
            response, location = _answer(500, INTERNAL), None
            if recorder is not None:
                recorder.outcome = "server_error"
        if recorder is not None and self.traces is not None:
            trace_id = self.ids.guid()
            if location is not None:
                response.headers.append(("Ocp-Apim-Trace-Location", location(trace_id)))
            recorder.finish(trace_id, response.status, time.perf_counter() - started)
            if self.traces.add(recorder):
                self.wake.set()
        await _send(send, response)

    async def _body(self, receive: Any) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None  # answered 413; the rest of the body is not read
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _handle(self, request: GatewayRequest, body: bytes | None,
                      rec: gateway_trace.Recorder | None) -> tuple[GatewayResponse, Callable[[str], str] | None]:
        if body is None:
            if rec is not None:
                rec.gateway_step("request", "failed", f"the body is larger than {self.max_body_bytes} bytes",
                                 "send a smaller body (mockidp's --max-body-bytes)")
                rec.outcome = "RequestEntityTooLarge"
            return _answer(413, TOO_LARGE), None
        service = self.service_for(request.host, request.path)
        found = service.api(request.path) if service is not None else None
        route = found[0].operation(request.method, found[1]) if found is not None else None
        if service is None or found is None or route is None:
            if rec is not None:
                what = ("no API of this gateway has a path that starts this URL" if found is None
                        else f"API {found[0].record.name} has no operation {request.method} {found[1] or '/'}")
                rec.gateway_step("operation", "failed", f"Unable to match incoming request to an operation: {what}",
                                 "check the API path and the operation's method and urlTemplate in the seed")
                rec.outcome = "OperationNotFound"
            return _answer(404, NOT_FOUND), None
        api = found[0]
        if rec is not None:
            rec.gateway_step("operation", "passed", f"API {api.record.name}, operation {route.operation.name} "
                             f"({route.operation.method} {route.operation.url_template})", "")
        gate = service.gate(api.record, request.headers, request.query)
        tracing = (gate.subscription is not None and gate.subscription.allow_tracing
                   and any(k == "ocp-apim-trace" and v.strip().lower() == "true" for k, v in request.headers))
        location = (lambda trace_id: self.trace_location(request.host, trace_id)) if tracing else None
        if rec is not None:
            rec.service, rec.api, rec.operation = service, route.api, route.operation
            rec.product, rec.subscription = gate.product, gate.subscription
        if gate.refused:
            realm = f"https://{service.record.name}.azure-api.net/{api.record.path}"
            challenge = (f'AzureApiManagementKey realm="{realm}",name="{api.record.key_header}",type="header"')
            message = MISSING_KEY if gate.refused == "missing" else INVALID_KEY
            if rec is not None:
                rec.gateway_step("subscription key", "failed", message, _key_fix(gate.refused, api.record.key_header,
                                                                                   api.record.key_query))
                rec.outcome = "SubscriptionKeyNotFound" if gate.refused == "missing" else "SubscriptionKeyInvalid"
            return _answer(401, message, ("WWW-Authenticate", challenge)), None
        if rec is not None:
            rec.gateway_step("subscription key", "passed" if gate.subscription else "not applicable",
                             f"subscription {gate.subscription.name}" if gate.subscription else
                             "the API requires no subscription", "")
        sub = gate.subscription
        entity = self.backends[id(service)].get(api.record.backend_id or "")
        ctx = Context(
            request,
            Api(api.record.name, api.record.name, api.record.path, self._service_url(service, api.record)),
            Operation(route.operation.name, route.operation.name, route.operation.method,
                      route.operation.url_template),
            Subscription(sub.name, sub.name, gate.key, sub.primary_key, sub.secondary_key or "", sub.allow_tracing)
            if sub is not None else None,
            self._service_url(service, api.record))
        if entity is not None:  # the API's backend is an entity: its credentials go along (set-backend-service
            ctx.backend_headers = list(entity.headers)  # backend-id replaces them)
            ctx.backend_query = list(entity.query)
        forwarder = Forwarder(self.client(), request.ip)
        response = await run(service.policy(route, gate.product), ctx, backend=forwarder, now=self.clock.now(),
                             discovery=self.discovery, rate_limiter=self.rate_limiter,
                             certificates=self.certificates[id(service)],
                             backends=self.backends[id(service)])
        if rec is not None:
            rec.policy_steps(ctx)
        return response, location

    def _service_url(self, service: CompiledService, api: Any) -> str:
        if api.backend_id:
            entity = self.backends[id(service)].get(api.backend_id)
            return entity.url if entity is not None else ""
        return str(api.service_url or "")


def _flat(pairs: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((name, value) for name, values in pairs for value in values)


def _key_fix(refused: str, header: str, query: str) -> str:
    if refused == "missing":
        return (f"send the key of an active subscription in the {header} header (or the {query} query parameter); "
                "subscriptions are in the seed's apiManagement.subscriptions")
    return (f"the {header} value is no key of an active subscription whose scope covers this API: use its "
            "primaryKey or secondaryKey, and a scope of all, the API, or a product holding the API")


async def _send(send: Any, response: GatewayResponse) -> None:
    # The server writes its own Date (a backend's would repeat it) and no Server header.
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers
           if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server")]
    raw.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": raw})
    await send({"type": "http.response.body", "body": response.body})


async def NOT_FOUND_RESPONSE(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The gateway port when no API Management service is seeded: APIM's 404 for every URL."""
    await _send(send, _answer(404, NOT_FOUND))
