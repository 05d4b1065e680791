"""Graph's oauth2PermissionGrants (delegated consent), as a handler of the edge: list ($filter clientId,
resourceId, consentType or principalId eq), get, create, update the scope, delete. Each write is checked with the
seed's rules (directory/writes.py), and the next consent decision of every worker follows it."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from mockidp.directory import model as m
from mockidp.directory import writes as w
from mockidp.graph import errors as e
from mockidp.web.graph.call import Call, Refused

GRANTS = "DelegatedPermissionGrant.ReadWrite.All"
WHAT = "oauth2PermissionGrants"


def grant(g: m.GrantRecord) -> dict[str, Any]:
    """Field order as Graph's v1.0."""
    return {"clientId": g.client_sp_id, "consentType": g.consent_type, "id": g.id, "principalId": g.principal_id,
            "resourceId": g.resource_sp_id, "scope": " ".join(g.scopes)}


async def oauth2_permission_grants(call: Call, method: str, rest: list[str]) -> Response:
    call.allow(GRANTS)
    mine = [g for g in call.directory().content.grants if g.tenant_id == call.tenant]
    if not rest:
        if method == "GET":
            return call.page([grant(g) for g in mine], WHAT)
        if method == "POST":
            body = await call.body()
            fallback = call.rt.services.ids.guid()
            before = {g.id for g in mine}
            directory = await call.write(w.add_grant(body, call.tenant, fallback_id=fallback))
            made = next(g for g in directory.content.grants if g.tenant_id == call.tenant and g.id not in before)
            return call.one(grant(made), WHAT, 201)
    elif len(rest) == 1:
        found = next((g for g in mine if g.id == rest[0]), None)
        if found is None:
            raise Refused(e.NOT_FOUND, id=rest[0])
        if method == "GET":
            return call.one(grant(found), WHAT)
        if method == "PATCH":
            await call.write(w.update_grant(found.id, await call.body()))
            return Response(status_code=204)
        if method == "DELETE":
            await call.write(w.remove_grant(found.id))
            return Response(status_code=204)
    raise Refused(e.NOT_SERVED, what=f"{method} {call.request.url.path}")
