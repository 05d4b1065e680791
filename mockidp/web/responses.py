"""Entra's response headers (docs/entra-behaviour.md#response-headers) and JSON rendering."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mockidp.directory.ids import GUID
from mockidp.errors import AadstsError, ErrorContext, render_envelope
from mockidp.oauth import trace
from mockidp.web.runtime import Runtime, dump

JSON = "application/json; charset=utf-8"
_COMMON = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "P3P": 'CP="DSP CUR OTPi IND OTRi ONL FIN"',
    "x-ms-ests-server": "2.1.0 - mockidp",
    "X-XSS-Protection": "0",
}
NO_STORE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "Expires": "-1", **_COMMON}
CACHEABLE = {
    "Cache-Control": "max-age=86400, private",
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, OPTIONS",
    **_COMMON,
}


def json_response(content: bytes, *, request_id: str, headers: dict[str, str], status: int = 200,
                  extra: dict[str, str] | None = None) -> Response:
    h = {**headers, "x-ms-request-id": request_id}
    if extra:
        h.update(extra)
    return Response(content, status_code=status, media_type=JSON, headers=h)


def token_success(runtime: Runtime, body: dict[str, Any], *, cors: dict[str, str] | None = None) -> Response:
    return json_response(dump(body), request_id=trace.response_id(runtime.services.ids.guid), headers=NO_STORE,
                         extra={"x-ms-clitelem": "1,0,0,,", **(cors or {})})


def correlation_id(request: Request, runtime: Runtime) -> str:
    """The client's client-request-id (header, or form field as MSAL Node sends it) when it is a GUID."""
    candidates = [request.headers.get("client-request-id"), request.query_params.get("client-request-id")]
    params = getattr(request.state, "params", None)
    if params:
        candidates.append(params.get("client-request-id"))
    for value in candidates:
        if value and GUID.match(value):
            return value.lower()
    return runtime.services.ids.guid()


def error_response(request: Request, runtime: Runtime, err: AadstsError, *, at_token_endpoint: bool,
                   status: int | None = None, headers: dict[str, str] | None = None) -> Response:
    """Entra's envelope for `err`; `status` and `headers` only for a fault a test injected (web/faulting.py)."""
    trace.refused(err)
    trace_id = trace.response_id(runtime.services.ids.guid)
    ctx = ErrorContext(trace_id, correlation_id(request, runtime), runtime.services.clock.now(), at_token_endpoint)
    body = render_envelope(err, ctx)
    cors = getattr(request.state, "cors", None) or {}  # set by a route that answers browsers (the token route)
    return json_response(dump(body), request_id=trace_id, headers=NO_STORE, status=status or err.spec.status,
                         extra={"x-ms-clitelem": f"1,{err.spec.code},0,,", **cors, **(headers or {})})
