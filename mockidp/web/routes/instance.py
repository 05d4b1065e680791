"""Instance discovery and user-realm discovery, the two calls MSAL makes before the tenant's own."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from mockidp.errors import AadstsError, catalogue
from mockidp.oauth import discovery
from mockidp.web.responses import CACHEABLE, json_response
from mockidp.web.runtime import dump, runtime_of

router = APIRouter(tags=["discovery"])


@router.get("/common/discovery/instance")
async def instance(request: Request) -> Response:
    rt = runtime_of(request)
    endpoint = request.query_params.get("authorization_endpoint")
    api_version = request.query_params.get("api-version", "1.1")
    if not endpoint or api_version not in ("1.0", "1.1"):
        raise AadstsError(catalogue.MALFORMED_INSTANCE_REQUEST)
    origin = rt.origin(request)
    hosts = rt.served_hosts | {(request.url.hostname or "").lower()}
    body = discovery.instance_discovery(endpoint, hosts, origin, api_version)
    if body is None:
        raise AadstsError(catalogue.UNKNOWN_INSTANCE)
    return json_response(dump(body), request_id=rt.services.ids.guid(), headers=CACHEABLE)


@router.get("/common/userrealm/{username}")
async def user_realm(request: Request, username: str) -> Response:
    rt = runtime_of(request)
    body = discovery.user_realm(rt.services.directory, username[:320])
    return json_response(dump(body), request_id=rt.services.ids.guid(), headers=CACHEABLE)
