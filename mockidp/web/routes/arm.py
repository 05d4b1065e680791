"""Azure Resource Manager's edge for user-assigned identities' federated identity credentials (issue 10):
/arm/subscriptions/... and, when the Host is management.azure.com, /subscriptions/...

    {identity}/federatedIdentityCredentials            GET (a list)
    {identity}/federatedIdentityCredentials/{name}     GET, PUT (create or replace), DELETE

where {identity} is /subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.ManagedIdentity/
userAssignedIdentities/{name}, the identity's ARM id. Each write goes through the seed's rules
(directory/federated_credentials.py, in ARM's words for a Managed Identity) and the next jwt-bearer request of
every worker matches with it. Every refusal is ARM's error body (mockidp/arm/errors.py).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from mockidp.arm import errors as e
from mockidp.arm.identities import authorize, credential, identity
from mockidp.directory import writes as w
from mockidp.directory.snapshot import Directory
from mockidp.web.body import JsonBodyRefused, read_json_object
from mockidp.web.directory_writes import NoLiveDirectory, apply_write
from mockidp.web.runtime import Runtime, dump, runtime_of

router = APIRouter(tags=["arm"])
ARM_HOST = "management.azure.com"
_PATH = re.compile(r"^(/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ManagedIdentity/"
                   r"userAssignedIdentities/[^/]+)/federatedIdentityCredentials(?:/([^/]+))?/?$", re.I)


class ArmRefused(Exception):
    def __init__(self, error: e.ArmError, **fields: str) -> None:
        super().__init__(error.code)
        self.error, self.fields = error, fields


def _json(status: int, body: Any, request_id: str) -> Response:
    return Response(dump(body), status, media_type="application/json; charset=utf-8",
                    headers={"x-ms-request-id": request_id, "x-ms-correlation-request-id": request_id})


async def serve(request: Request, path: str) -> Response:
    rt = runtime_of(request)
    request_id = rt.services.ids.guid()
    try:
        return await _answer(request, rt, "/subscriptions/" + path, request_id)
    except ArmRefused as refused:
        return _json(refused.error.status, e.body(refused.error, **refused.fields), request_id)


async def _answer(request: Request, rt: Runtime, path: str, request_id: str) -> Response:
    method = request.method
    found = _PATH.match(path)
    if found is None or method not in ("GET", "PUT", "DELETE") or (found.group(2) is None and method != "GET"):
        raise ArmRefused(e.NOT_SERVED, what=f"{method} {request.url.path}")
    if not request.query_params.get("api-version"):
        raise ArmRefused(e.NO_API_VERSION)
    claims = authorize(request.headers.get("authorization"), signer_of=rt.keys.verifier, now=rt.services.clock.now())
    if isinstance(claims, e.ArmError):  # ARM answers 401 before it looks the resource up
        raise ArmRefused(claims)
    directory = rt.services.directory
    sp = identity(list(directory.principals.values()), found.group(1))
    if sp is None:
        raise ArmRefused(e.NO_IDENTITY)
    if claims.get("tid") != sp.tenant_id:
        raise ArmRefused(e.OTHER_TENANT)
    owner = directory.applications[sp.app_id]
    identity_id, name = sp.mi_resource_id, found.group(2)
    if name is None:
        return _json(200, {"value": [credential(identity_id, c) for c in owner.federated_credentials]}, request_id)
    present = next((c for c in owner.federated_credentials if c.name == name), None)
    if method == "GET":
        if present is None:
            raise ArmRefused(e.NO_CREDENTIAL, name=name)
        return _json(200, credential(identity_id, present), request_id)
    if method == "DELETE":
        if present is None:
            return Response(status_code=204)  # ARM: deleting what is not there is 204
        await _write(rt, w.remove_federated_credential(owner.object_id, present.id))
        return Response(status_code=200, headers={"x-ms-request-id": request_id})
    properties = await _properties(request, rt)
    if present is None:
        change = w.add_federated_credential(owner.object_id, {"name": name, **properties},
                                            credential_id=rt.services.ids.guid(), owner="managedIdentity")
    else:
        change = w.update_federated_credential(owner.object_id, present.id, properties, owner="managedIdentity")
    directory = await _write(rt, change)
    written = next(c for a in directory.content.applications if a.object_id == owner.object_id
                   for c in a.federated_credentials if c.name == name)
    return _json(201 if present is None else 200, credential(identity_id, written), request_id)


async def _properties(request: Request, rt: Runtime) -> dict[str, Any]:
    """The PUT body's properties: issuer, subject, audiences (the seed's reader takes them from here)."""
    cap = rt.settings.max_body_bytes
    try:
        body = await read_json_object(request, cap)
    except JsonBodyRefused as refused:
        raise (ArmRefused(e.TOO_LARGE, limit=str(cap)) if refused.kind == "too_large" else
               ArmRefused(e.BAD_JSON)) from None
    properties = body.get("properties")
    if not isinstance(properties, dict) or not properties:
        raise ArmRefused(e.EMPTY)
    unknown = sorted(set(properties) - {"issuer", "subject", "audiences"})
    if unknown:
        raise ArmRefused(e.BAD_REQUEST, reason=f"Unknown property '{unknown[0][:64]}' of a federated identity "
                                               "credential: it has issuer, subject and audiences.")
    return properties


async def _write(rt: Runtime, change: w.Change) -> Directory:
    try:
        return await apply_write(rt, change)
    except w.WriteError as exc:
        raise ArmRefused(e.BAD_REQUEST, reason=exc.message) from None
    except NoLiveDirectory:
        raise ArmRefused(e.NOT_SERVED, what="writes without a live directory") from None


@router.api_route("/arm/subscriptions/{path:path}", methods=["GET", "PUT", "DELETE", "POST", "PATCH"],
                  include_in_schema=False)
async def arm_prefixed(request: Request, path: str) -> Response:
    return await serve(request, path)


@router.api_route("/subscriptions/{path:path}", methods=["GET", "PUT", "DELETE", "POST", "PATCH"],
                  include_in_schema=False)
async def arm_host(request: Request, path: str) -> Response:
    """ARM's own path, only for a client that reaches mockidp under management.azure.com (hosts file)."""
    host = request.headers.get("host", "").lower().partition(":")[0]
    if host != ARM_HOST:
        raise HTTPException(404)  # any other host: the server's ordinary 404 (web/errors.py)
    return await serve(request, path)
