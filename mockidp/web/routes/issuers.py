"""/_mockidp/issuers/{github|kubernetes}/: the built-in workload issuers' discovery documents and JWKS
(oauth/workload_issuers.py). Their tokens name the real issuers' ids; these documents are where a reader on
this machine finds their keys (mockidp itself answers them in-process)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from mockidp.oauth.workload_issuers import ISSUERS, WorkloadIssuers
from mockidp.web.responses import CACHEABLE, json_response
from mockidp.web.runtime import dump, runtime_of

router = APIRouter(tags=["issuers"])


def _unknown(request: Request, name: str) -> Response:
    message = f"No built-in issuer '{name[:40]}': {', '.join(ISSUERS)}."
    return json_response(dump({"error": "not_found", "message": message}),
                         request_id=runtime_of(request).services.ids.guid(), headers=CACHEABLE, status=404)


@router.get("/_mockidp/issuers/{name}/.well-known/openid-configuration")
async def issuer_discovery(request: Request, name: str) -> Response:
    if name not in ISSUERS:
        return _unknown(request, name)
    rt = runtime_of(request)
    issuers: WorkloadIssuers = request.app.state.workload_issuers
    return json_response(dump(issuers.discovery(name, rt.origin(request))), request_id=rt.services.ids.guid(),
                         headers=CACHEABLE)


@router.get("/_mockidp/issuers/{name}/keys")
async def issuer_keys(request: Request, name: str) -> Response:
    if name not in ISSUERS:
        return _unknown(request, name)
    issuers: WorkloadIssuers = request.app.state.workload_issuers
    return json_response(dump(issuers.jwks()), request_id=runtime_of(request).services.ids.guid(), headers=CACHEABLE)
