"""Microsoft Graph's edge (issue 9): /graph/v1.0/... and, when the Host is graph.microsoft.com, /v1.0/...

One catch-all route dispatches by method and path itself, so no framework validation can answer a 422:
every refusal is a Graph error body (mockidp/graph/errors.py). Each write runs as a change function
(directory/writes.py) in one transaction, then bumps the stamp, so the next token decision of every
worker sees it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request, Response

from mockidp.directory import model as m
from mockidp.directory import writes as w
from mockidp.directory.snapshot import Directory
from mockidp.graph import errors as e
from mockidp.graph import resources as r
from mockidp.graph.authorization import authorize
from mockidp.web.runtime import Runtime, dump, runtime_of

router = APIRouter(tags=["graph"])
GRAPH_HOST = "graph.microsoft.com"
APPS = "Application.ReadWrite.All"
ASSIGN = "AppRoleAssignment.ReadWrite.All"
SECRET_LIFETIME = 2 * 365 * 24 * 3600  # Graph's default password lifetime when endDateTime is not given
METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"]  # any other: the framework's 405


class Refused(Exception):
    def __init__(self, error: e.GraphError, **fields: str) -> None:
        super().__init__(error.code)
        self.error, self.fields = error, fields


class Call:
    """One Graph request: runtime, caller's claims, tenant, path segments, query and (lazily) body."""

    def __init__(self, request: Request, rt: Runtime, base: str) -> None:
        self.request, self.rt, self.base = request, rt, base
        self.query = dict(request.query_params)
        self.claims: dict[str, Any] = {}

    @property
    def tenant(self) -> str:
        return str(self.claims.get("tid", ""))

    def directory(self) -> Directory:
        return self.rt.services.directory

    def allow(self, *permissions: str) -> None:
        now = self.rt.services.clock.now()
        outcome: dict[str, Any] | e.GraphError = e.NO_TOKEN
        for permission in permissions:
            outcome = authorize(self.request.headers.get("authorization"), permission,
                                signer_of=self.rt.keys.verifier, now=now)
            if isinstance(outcome, dict):
                self.claims = outcome
                return
        raise Refused(outcome)  # type: ignore[arg-type]  # the loop leaves a GraphError when none allowed

    async def body(self) -> dict[str, Any]:
        cap = self.rt.settings.max_body_bytes
        declared = self.request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > cap):
            raise Refused(e.TOO_LARGE, limit=str(cap))
        chunks, size = [], 0
        async for chunk in self.request.stream():
            size += len(chunk)
            if size > cap:
                raise Refused(e.TOO_LARGE, limit=str(cap))
            chunks.append(chunk)
        try:
            parsed = json.loads(b"".join(chunks) or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise Refused(e.INVALID_JSON) from None
        if not isinstance(parsed, dict):
            raise Refused(e.INVALID_JSON)
        return parsed

    async def write(self, change: w.Change) -> Directory:
        live = self.rt.live
        if live is None:
            raise Refused(e.NOT_SERVED, what="writes without a live directory")
        try:
            await asyncio.to_thread(w.apply, live.store, change, now=self.rt.services.clock.now())
        except w.WriteError as exc:
            raise Refused(e.FOR_WRITE.get(exc.kind, e.BAD_REQUEST), reason=exc.message) from None
        live.stamp.bump()  # every worker of this machine follows at its next decision; replicas by their poll
        return live.refresh()

    def context(self, what: str) -> str:
        return f"{self.base}/$metadata#{what}"

    def page(self, items: list[dict[str, Any]], what: str) -> Response:
        url = str(self.request.url).split("?")[0]
        kept = {k: v for k, v in self.query.items() if k != "$skiptoken"}

        def link(skip: int) -> str:
            return f"{url}?{urlencode({**kept, '$skiptoken': str(skip)})}"
        try:
            return json_response(200, r.page(items, self.query, context=self.context(what), link=link))
        except r.QueryError as exc:
            raise Refused(e.UNSUPPORTED_QUERY, what=str(exc)) from None

    def one(self, item: dict[str, Any], what: str, status: int = 200) -> Response:
        if "$select" in self.query:
            keep = {f.strip() for f in self.query["$select"].split(",")}
            item = {k: v for k, v in item.items() if k in keep or k == "id"}
        return json_response(status, {"@odata.context": self.context(what + "/$entity"), **item})


def json_response(status: int, body: Any) -> Response:
    return Response(dump(body), status, media_type="application/json;odata.metadata=minimal;odata.streaming=true;"
                                                   "IEEE754Compatible=false;charset=utf-8")


def _apps(call: Call) -> list[m.ApplicationRecord]:
    return [a for a in call.directory().content.applications if a.tenant_id == call.tenant]


def _sps(call: Call) -> list[m.ServicePrincipalRecord]:
    return [sp for sp in call.directory().content.service_principals if sp.tenant_id == call.tenant]


def _app(call: Call, object_id: str) -> m.ApplicationRecord:
    found = next((a for a in _apps(call) if a.object_id == object_id), None)
    if found is None:
        raise Refused(e.NOT_FOUND, id=object_id)
    return found


def _sp(call: Call, sp_id: str) -> m.ServicePrincipalRecord:
    found = next((sp for sp in _sps(call) if sp.id == sp_id), None)
    if found is None:
        raise Refused(e.NOT_FOUND, id=sp_id)
    return found


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise Refused(e.BAD_REQUEST, reason=f"The property '{name}' is required and must be a string.")
    return value


def assignment(x: m.AssignmentRecord, directory: Directory, when: str | None = None) -> dict[str, Any]:
    names = {**{sp.id: sp.display_name for sp in directory.content.service_principals},
             **{u.id: u.display_name for u in directory.content.users},
             **{g.id: g.display_name for g in directory.content.groups}}
    return {"id": x.id, "deletedDateTime": None, "appRoleId": x.app_role_id, "createdDateTime": when,
            "principalDisplayName": names.get(x.principal_id), "principalId": x.principal_id,
            "principalType": x.principal_type, "resourceDisplayName": names.get(x.resource_sp_id),
            "resourceId": x.resource_sp_id}


async def applications(call: Call, method: str, rest: list[str]) -> Response:
    call.allow(APPS)
    if not rest:
        if method == "GET":
            return call.page([r.application(a) for a in _apps(call)], "applications")
        if method == "POST":
            body = await call.body()
            object_id = call.rt.services.ids.guid()
            directory = await call.write(w.create_application(body, call.tenant, object_id=object_id))
            made = next(a for a in directory.content.applications if a.object_id == object_id)
            return call.one(r.application(made), "applications", 201)
    elif len(rest) == 1:
        app = _app(call, rest[0])
        if method == "GET":
            return call.one(r.application(app), "applications")
        if method == "DELETE":
            await call.write(w.delete_application(app.object_id))
            return Response(status_code=204)
        if method == "PATCH":
            body = await call.body()
            await call.write(w.update_application(app.object_id, body))
            return Response(status_code=204)
    elif len(rest) == 2 and method == "POST" and rest[1] in ("addPassword", "removePassword"):
        app = _app(call, rest[0])
        body = await call.body()
        if rest[1] == "removePassword":
            await call.write(w.remove_password(app.object_id, _text(body, "keyId")))
            return Response(status_code=204)
        return await _add_password(call, app, body)
    raise Refused(e.NOT_SERVED, what=f"{method} {call.request.url.path}")


async def _add_password(call: Call, app: m.ApplicationRecord, body: dict[str, Any]) -> Response:
    credential = body.get("passwordCredential") or {}
    if not isinstance(credential, dict):
        raise Refused(e.BAD_REQUEST, reason="passwordCredential must be an object.")
    now = call.rt.services.clock.now()
    text = secrets.token_urlsafe(30)[:40]  # Graph's secrets are 40 characters; the text is shown once
    key_id = call.rt.services.ids.guid()
    start, end = now, now + SECRET_LIFETIME
    await call.write(w.add_password(app.object_id, text, key_id=key_id, start=start, end=end))
    display = credential.get("displayName")
    return json_response(200, {
        "@odata.context": call.context("microsoft.graph.passwordCredential"),
        "customKeyIdentifier": None, "displayName": display if isinstance(display, str) else None,
        "endDateTime": r.iso(end), "hint": text[:3], "keyId": key_id, "secretText": text,
        "startDateTime": r.iso(start)})


async def service_principals(call: Call, method: str, rest: list[str]) -> Response:
    if len(rest) >= 2 and rest[1] in ("appRoleAssignedTo", "appRoleAssignments"):
        return await _assignments(call, method, rest)
    call.allow(APPS)
    if not rest:
        if method == "GET":
            return call.page([r.service_principal(sp) for sp in _sps(call)], "servicePrincipals")
        if method == "POST":
            body = await call.body()
            sp_id = call.rt.services.ids.guid()
            directory = await call.write(w.create_service_principal(_text(body, "appId"), call.tenant, sp_id=sp_id))
            made = next(sp for sp in directory.content.service_principals if sp.id == sp_id)
            if isinstance(body.get("appRoleAssignmentRequired"), bool):
                directory = await call.write(w.update_service_principal(
                    sp_id, app_role_assignment_required=body["appRoleAssignmentRequired"]))
                made = next(sp for sp in directory.content.service_principals if sp.id == sp_id)
            return call.one(r.service_principal(made), "servicePrincipals", 201)
    elif len(rest) == 1:
        sp = _sp(call, rest[0])
        if method == "GET":
            return call.one(r.service_principal(sp), "servicePrincipals")
        if method == "DELETE":
            await call.write(w.delete_service_principal(sp.id))
            return Response(status_code=204)
        if method == "PATCH":
            body = await call.body()
            flags = {k: body[k] for k in ("appRoleAssignmentRequired", "accountEnabled") if k in body}
            if any(not isinstance(v, bool) for v in flags.values()) or set(body) - set(flags):
                raise Refused(e.BAD_REQUEST, reason="mockidp updates appRoleAssignmentRequired and "
                                                    "accountEnabled (booleans) of a service principal.")
            await call.write(w.update_service_principal(
                sp.id, app_role_assignment_required=flags.get("appRoleAssignmentRequired"),
                account_enabled=flags.get("accountEnabled")))
            return Response(status_code=204)
    raise Refused(e.NOT_SERVED, what=f"{method} {call.request.url.path}")


async def _assignments(call: Call, method: str, rest: list[str]) -> Response:
    """appRoleAssignedTo: assignments of the resource {id}; appRoleAssignments: those {id} holds."""
    call.allow(ASSIGN, APPS) if method == "GET" else call.allow(ASSIGN)
    sp, kind = _sp(call, rest[0]), rest[1]
    directory = call.directory()
    mine = [x for x in directory.content.assignments
            if (x.resource_sp_id if kind == "appRoleAssignedTo" else x.principal_id) == sp.id]
    what = f"servicePrincipals('{sp.id}')/{kind}"
    if len(rest) == 2 and method == "GET":
        return call.page([assignment(x, directory) for x in mine], what)
    if len(rest) == 2 and method == "POST":
        body = await call.body()
        principal, resource, role = _text(body, "principalId"), _text(body, "resourceId"), _text(body, "appRoleId")
        if (resource if kind == "appRoleAssignedTo" else principal) != sp.id:
            raise Refused(e.BAD_REQUEST, reason=f"The {'resourceId' if kind == 'appRoleAssignedTo' else 'principalId'}"
                                                f" must be the service principal in the path ({sp.id}).")
        new_id = call.rt.services.ids.guid()
        directory = await call.write(w.add_assignment(principal, resource, role, assignment_id=new_id))
        made = next(x for x in directory.content.assignments if x.id == new_id)
        when = r.iso(call.rt.services.clock.now())
        return call.one(assignment(made, directory, when), what, 201)
    if len(rest) == 3 and method == "DELETE":
        if all(x.id != rest[2] for x in mine):
            raise Refused(e.NOT_FOUND, id=rest[2])
        await call.write(w.remove_assignment(rest[2]))
        return Response(status_code=204)
    raise Refused(e.NOT_SERVED, what=f"{method} {call.request.url.path}")


COLLECTIONS: dict[str, Callable[[Call, str, list[str]], Awaitable[Response]]] = {
    "applications": applications, "servicePrincipals": service_principals}


async def serve(request: Request, path: str, base_path: str) -> Response:
    rt = runtime_of(request)
    base = f"{rt.origin(request)}{base_path}"
    segments = [s for s in path.split("/") if s]
    call = Call(request, rt, base)
    try:
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
