"""POST /{tenant}/oauth2/v2.0/token and /{tenant}/oauth2/token: one handler, version from the path."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mockidp.errors import AadstsError, catalogue
from mockidp.oauth import cors
from mockidp.oauth.context import BasicCredentials, TokenRequest
from mockidp.oauth.form import parse_basic_authorization, parse_form
from mockidp.oauth.token_endpoint import token
from mockidp.web import faulting
from mockidp.web.body import read_capped_body
from mockidp.web.responses import NO_STORE, token_success
from mockidp.web.runtime import runtime_of

router = APIRouter(tags=["token"])
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]


async def answer(request: Request, tenant: str, version: int) -> Response:
    """The token endpoint, for the routes below and the fast path (web/fast.py); errors raise AadstsError."""
    rt = runtime_of(request)
    origin = request.headers.get("origin")
    if request.method == "OPTIONS":
        preflight = cors.preflight_headers(origin, request.headers.get("access-control-request-headers"))
        return Response(status_code=200, headers={**NO_STORE, **preflight})
    answer_cors = request.state.cors = cors.answer_headers(origin)  # errors too: the error renderer adds them
    if request.method != "POST":
        raise AadstsError(catalogue.POST_ONLY, method=request.method)
    body = await read_capped_body(request, rt.settings.max_body_bytes)
    params = parse_form(body, request.headers.get("content-type"))
    request.state.params = params
    basic = parse_basic_authorization(request.headers.get("authorization"))
    client_id = params.get("client_id") or (basic[0] if basic else "")
    injected = await faulting.answer(request, rt, "token", client_id=client_id,
                                     grant_type=params.get("grant_type", ""), tenant=tenant)
    if injected is not None:
        return injected
    req = TokenRequest(
        tenant_segment=tenant, version=version, origin=rt.origin(request), params=params,
        basic=BasicCredentials(*basic) if basic else None, origin_header=origin,
        client_ip=request.client.host if request.client else None,
    )
    if params.get("grant_type") == "client_credentials" and "client_assertion" not in params:
        return token_success(rt, token(req, rt.services), cors=answer_cors)  # hot path: no thread hop
    # User grants read and write the database (codes, refresh tokens) and hash passwords; an assertion may
    # be another issuer's, whose keys are fetched over HTTP (oauth/federation.py): thread pool.
    return token_success(rt, await run_in_threadpool(token, req, rt.services), cors=answer_cors)


@router.api_route("/{tenant}/oauth2/v2.0/token", methods=METHODS)
async def token_v2(request: Request, tenant: str) -> Response:
    return await answer(request, tenant, 2)


@router.api_route("/{tenant}/oauth2/token", methods=METHODS)
async def token_v1(request: Request, tenant: str) -> Response:
    return await answer(request, tenant, 1)
