"""The hot endpoints (OIDC discovery and JWKS by GET, the token endpoint) answered in front of FastAPI.

FastAPI's per-request machinery (routing, dependency resolution, the exception middleware) costs several
times what these pre-rendered bodies cost (issue 11), so a GET of one of the four paths is answered here,
through the same rendering as the routes (routes/discovery.answer). Anything else, and any request this
layer cannot answer as the route would (an unknown tenant: an AADSTS error), falls through to the
framework path unchanged, where the one error renderer (web/errors.py) answers it. The token endpoint
runs the route's own handler (routes/token.answer) without the router and its dependency machinery; its
AADSTS errors go to the same handler the framework would call (errors.on_aadsts), anything unexpected to
the framework's server-error handler (errors.on_unexpected), then up, as the framework's layer does it.
Both sit in front of FastAPI's entry and middleware stack (FrontedApp), not inside it."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from mockidp.errors import AadstsError
from mockidp.web import errors
from mockidp.web.responses import CACHEABLE, json_response
from mockidp.web.routes import discovery, token
from mockidp.web.runtime import Runtime

Scope = dict[str, Any]
# path suffix after "/{tenant}" -> the kind routes/discovery renders
_KINDS = {
    "/v2.0/.well-known/openid-configuration": "oidc2",
    "/.well-known/openid-configuration": "oidc1",
    "/discovery/v2.0/keys": "keys2",
    "/discovery/keys": "keys1",
}

# The routes' headers, in their order, taken from the routes' own json_response once: only the request id
# and the length differ from one answer to the next.
_VARYING = (b"x-ms-request-id", b"content-length", b"content-type")
_TEMPLATE = json_response(b"", request_id="", headers=CACHEABLE).raw_headers
_FIXED = [(k, v) for k, v in _TEMPLATE if k not in _VARYING]
_TYPE = next((k, v) for k, v in _TEMPLATE if k == b"content-type")
# The same as HTTP/1.1 header lines, for the protocol to write as they are (names lowercase, as uvicorn's send
# writes them): joined once here instead of on every request.
_FIXED_LINES = b"".join(k + b": " + v + b"\r\n" for k, v in _FIXED)
_TYPE_LINE = _TYPE[0] + b": " + _TYPE[1] + b"\r\n"


def _host(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"host":
            return str(value.decode("latin-1"))
    return ""


def route(path: str) -> tuple[str, str] | None:
    """(kind, tenant) when `path` is one of the four, with a tenant segment as the router's {tenant}
    matches it (one non-empty segment)."""
    if not path.startswith("/"):
        return None
    slash = path.find("/", 1)
    if slash <= 1:
        return None
    kind = _KINDS.get(path[slash:])
    return (kind, path[1:slash]) if kind else None


_TOKEN = {"/oauth2/v2.0/token": 2, "/oauth2/token": 1}
_TOKEN_METHODS = frozenset(token.METHODS)  # any other method: the framework's 405 rule (web/errors.py)


def token_route(path: str) -> tuple[str, int] | None:
    """(tenant, version) when `path` is a token endpoint under one tenant segment."""
    slash = path.find("/", 1) if path.startswith("/") else -1
    if slash <= 1:
        return None
    version = _TOKEN.get(path[slash:])
    return (path[1:slash], version) if version else None


class FrontedApp(FastAPI):
    """FastAPI with a front: HTTP requests meet the decision trace and FastPaths (app.py sets `front`)
    before FastAPI's own entry and middleware stack (its telemetry checks, server-error, exception-telemetry
    and body-limit layers, each a call and a wrapped `send` per request: about a fifth of a JWKS answer's
    CPU, issue 11). What the front does not answer goes to `framework`, FastAPI as it is."""

    front: Any = None

    async def framework(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        await super().__call__(scope, receive, send)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if self.front is not None and scope["type"] == "http":
            scope["app"] = self  # as Starlette sets it: runtime_of(request) reads the app's state
            await self.front(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class FastPaths:
    """Plain ASGI, in front of the framework inside the decision trace (FrontedApp, app.py)."""

    def __init__(self, app: Any, *, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            method = scope["method"]
            found = route(scope["path"]) if method == "GET" else None
            if found is not None and await self._discovery(scope, send, *found):
                return
            endpoint = token_route(scope["path"]) if method in _TOKEN_METHODS else None
            if endpoint is not None:
                await self._token(scope, receive, send, *endpoint)
                return
        await self.app(scope, receive, send)

    async def _discovery(self, scope: Scope, send: Any, kind: str, tenant: str) -> bool:
        """Answered (True), or an unknown tenant left to the framework path and its error handler (False)."""
        answer = document(self.runtime, scope, kind, tenant)
        if answer is None:
            return False
        headers, body = answer
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True

    async def _token(self, scope: Scope, receive: Any, send: Any, tenant: str, version: int) -> None:
        request = Request(scope, receive, send)
        response: Response
        try:
            response = await token.answer(request, tenant, version)
        except AadstsError as exc:
            response = await errors.on_aadsts(request, exc)
        except ClientDisconnect as exc:
            response = await errors.on_disconnect(request, exc)
        except Exception as exc:  # as the framework's server-error layer: Entra's 500, then the exception goes up
            await (await errors.on_unexpected(request, exc))(scope, receive, send)
            raise
        await response(scope, receive, send)


def _body(rt: Runtime, scope: Scope, kind: str, tenant: str) -> bytes | None:
    try:
        return discovery.body_for(rt, scope.get("scheme", "http"), _host(scope), kind, tenant)
    except Exception:  # an AADSTS error, or anything else: the route renders it as the framework does
        return None


def document(rt: Runtime, scope: Scope, kind: str, tenant: str) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
    """A 200's headers and body for one of the four documents, or None: an unknown tenant, which the route
    renders as the framework does (an AADSTS error)."""
    body = _body(rt, scope, kind, tenant)
    if body is None:
        return None
    return [*_FIXED, (b"x-ms-request-id", rt.services.ids.guid().encode()),
            (b"content-length", str(len(body)).encode()), _TYPE], body


def document_lines(rt: Runtime, scope: Scope, kind: str, tenant: str) -> tuple[bytes, bytes] | None:
    """document's headers as the header lines of the answer, and its body: for the HTTP protocol itself,
    before any ASGI task (serving.BoundedHttpProtocol, through app.Served.in_place)."""
    body = _body(rt, scope, kind, tenant)
    if body is None:
        return None
    return b"".join((_FIXED_LINES, b"x-ms-request-id: ", rt.services.ids.guid().encode(), b"\r\ncontent-length: ",
                     str(len(body)).encode(), b"\r\n", _TYPE_LINE)), body
