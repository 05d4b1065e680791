"""The hot read-only endpoints (OIDC discovery and JWKS by GET) answered in front of FastAPI.

FastAPI's per-request machinery (routing, dependency resolution, the exception middleware) costs several
times what these pre-rendered bodies cost (issue 11), so a GET of one of the four paths is answered here,
through the same rendering as the routes (routes/discovery.answer). Anything else, and any request this
layer cannot answer as the route would (an unknown tenant: an AADSTS error), falls through to the
framework path unchanged, where the one error renderer (web/errors.py) answers it."""

from __future__ import annotations

import contextlib
from typing import Any

from mockidp.errors import AadstsError
from mockidp.web.responses import CACHEABLE, json_response
from mockidp.web.routes import discovery
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


class FastPaths:
    """Plain ASGI: the outermost middleware of the app (app.py)."""

    def __init__(self, app: Any, *, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            found = route(scope["path"])
            if found is not None:
                rt = self.runtime
                body = None
                with contextlib.suppress(AadstsError):  # the framework path renders it, with its error handler
                    body = discovery.body_of(rt, rt.origin_for(scope.get("scheme", "http"), _host(scope)), *found)
                if body is not None:
                    headers = [*_FIXED, (b"x-ms-request-id", rt.services.ids.guid().encode()),
                               (b"content-length", str(len(body)).encode()), _TYPE]
                    await send({"type": "http.response.start", "status": 200, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)
