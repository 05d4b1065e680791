"""OIDC discovery (v2, v1) and signing keys (v2, v1), rendered once per tenant and origin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from mockidp.oauth import discovery
from mockidp.oauth.tenants import resolve_tenant
from mockidp.web.responses import CACHEABLE, json_response
from mockidp.web.runtime import Runtime, dump, runtime_of

router = APIRouter(tags=["discovery"])
# The handlers are async: they only read pre-rendered bodies, and a sync handler would cost a
# thread-pool hand-off per request (a fifth of the time under load, and the p99).


def _serve(request: Request, kind: str, tenant: str) -> Response:
    return answer(runtime_of(request), request, kind, tenant)


def answer(rt: Runtime, request: Request, kind: str, tenant: str) -> Response:
    body = body_for(rt, request.scope.get("scheme", "http"), request.headers.get("host", ""), kind, tenant)
    return json_response(body, request_id=rt.services.ids.guid(), headers=CACHEABLE)


def body_for(rt: Runtime, scheme: str, host: str, kind: str, tenant: str) -> bytes:
    """The one rendering of these four endpoints, for the routes below and the fast path (web/fast.py), for
    a request's scheme and Host header and remembered for them (Runtime.document: rendered anew after a
    rotation, a retired key's overlap ending, a directory change). An unknown tenant raises AadstsError
    (rendered by web/errors.py)."""
    def render() -> bytes:
        return dump(_document(rt, rt.origin_for(scheme, host), kind, tenant))

    return rt.document((kind, tenant, scheme, host), render)


def _document(rt: Runtime, origin: str, kind: str, tenant: str) -> dict[str, Any]:
    ref = resolve_tenant(rt.services.directory, tenant, discovery=True)
    if kind == "oidc2":
        return discovery.openid_configuration_v2(ref, origin)
    if kind == "oidc1":
        return discovery.openid_configuration_v1(ref, origin)
    jwks = rt.keys.published()
    return discovery.jwks_v2(jwks, ref, origin) if kind == "keys2" else discovery.jwks_v1(jwks)


@router.get("/{tenant}/v2.0/.well-known/openid-configuration")
async def openid_configuration_v2(request: Request, tenant: str) -> Response:
    return _serve(request, "oidc2", tenant)


@router.get("/{tenant}/.well-known/openid-configuration")
async def openid_configuration_v1(request: Request, tenant: str) -> Response:
    return _serve(request, "oidc1", tenant)


@router.get("/{tenant}/discovery/v2.0/keys")
async def keys_v2(request: Request, tenant: str) -> Response:
    return _serve(request, "keys2", tenant)


@router.get("/{tenant}/discovery/keys")
async def keys_v1(request: Request, tenant: str) -> Response:
    return _serve(request, "keys1", tenant)
