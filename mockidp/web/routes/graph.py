"""Microsoft Graph's edge (issue 9): /graph/v1.0/... and, when the Host is graph.microsoft.com, /v1.0/...

One catch-all route dispatches by method and path itself, so no framework validation can answer a 422:
every refusal is a Graph error body (mockidp/graph/errors.py). Each write runs as a change function
(directory/writes.py) in one transaction, then bumps the stamp, so the next token decision of every
worker sees it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, HTTPException, Request, Response

from mockidp.graph import errors as e
from mockidp.web.graph.applications import applications, service_principals
from mockidp.web.graph.call import Call, Refused, json_response
from mockidp.web.graph.grants import oauth2_permission_grants
from mockidp.web.graph.people import groups, me, users
from mockidp.web.runtime import runtime_of

router = APIRouter(tags=["graph"])
ALTERNATE_KEY = re.compile(r"^(\w+)(\(appId='[^'/]*'\))$")
GRAPH_HOST = "graph.microsoft.com"
METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"]  # any other: the framework's 405

# One handler per collection: a new family of resources is a module of mockidp/web/graph/ and one line here.
COLLECTIONS: dict[str, Callable[[Call, str, list[str]], Awaitable[Response]]] = {
    "applications": applications, "servicePrincipals": service_principals,
    "oauth2PermissionGrants": oauth2_permission_grants, "users": users, "groups": groups, "me": me}


async def serve(request: Request, path: str, base_path: str) -> Response:
    rt = runtime_of(request)
    base = f"{rt.origin(request)}{base_path}"
    segments = [s for s in path.split("/") if s]
    call = Call(request, rt, base)
    try:
        # Graph's alternate key, applications(appId='...'): the collection, then the key as the item's segment.
        keyed = ALTERNATE_KEY.match(segments[0]) if segments else None
        if keyed is not None:
            segments = [keyed.group(1), keyed.group(2), *segments[1:]]
        handler = COLLECTIONS.get(segments[0]) if segments else None
        if handler is None:
            raise Refused(e.NOT_SERVED, what=f"{request.method} {request.url.path}")
        return await handler(call, request.method, segments[1:])
    except Refused as refused:
        ids = rt.services.ids
        request_id = ids.guid()
        out = json_response(refused.error.status, e.body(
            refused.error, now=rt.services.clock.now(), request_id=request_id,
            client_request_id=request.headers.get("client-request-id"), **refused.fields))
        out.headers["request-id"] = request_id
        if refused.error.status == 401:
            out.headers["WWW-Authenticate"] = 'Bearer realm="", authorization_uri=' \
                                              '"https://login.microsoftonline.com/common/oauth2/authorize"'
        return out


@router.api_route("/graph/v1.0/{path:path}", methods=METHODS, include_in_schema=False)
async def graph_prefixed(request: Request, path: str) -> Response:
    return await serve(request, path, "/graph/v1.0")


@router.api_route("/v1.0/{path:path}", methods=METHODS, include_in_schema=False)
async def graph_host(request: Request, path: str) -> Response:
    """Graph's own path, only for a client that reaches mockidp under graph.microsoft.com (hosts file)."""
    host = request.headers.get("host", "").lower().partition(":")[0]
    if host != GRAPH_HOST:
        raise HTTPException(404)  # any other host: the server's ordinary 404 (web/errors.py)
    return await serve(request, path, "/v1.0")
