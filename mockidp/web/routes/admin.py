"""mockidp's own endpoints, all under /_mockidp/ so they never collide with Microsoft's paths."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from mockidp.web.responses import NO_STORE, json_response
from mockidp.web.runtime import dump, runtime_of

router = APIRouter(prefix="/_mockidp", tags=["mockidp"])


@router.get("/health")
async def health(request: Request) -> Response:
    """200 once the seed is loaded and the keys are ready."""
    rt = runtime_of(request)
    content = rt.services.directory.content
    body = {"status": "ok", "tenants": len(content.tenants), "applications": len(content.applications)}
    return json_response(dump(body), request_id=rt.services.ids.guid(), headers=NO_STORE)


@router.get("/ca.pem")
def ca_certificate(request: Request) -> Response:
    rt = runtime_of(request)
    if rt.ca_path is None or not rt.ca_path.exists():
        return HTMLResponse("<!DOCTYPE html><title>Not Found</title><h1>No local CA: TLS is off</h1>", 404)
    return Response(rt.ca_path.read_bytes(), media_type="application/x-pem-file")
