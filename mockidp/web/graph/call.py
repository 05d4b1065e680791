"""One Microsoft Graph request at the edge: the caller's claims, its body read within limits, a write applied
and followed, and Graph's answers (one entity, a page). Handlers raise Refused; the route renders Graph's error."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response

from mockidp.directory import model as m
from mockidp.directory import writes as w
from mockidp.directory.snapshot import Directory
from mockidp.graph import errors as e
from mockidp.graph import resources as r
from mockidp.graph.authorization import authorize
from mockidp.web.body import JsonBodyRefused, read_json_object
from mockidp.web.directory_writes import NoLiveDirectory, apply_write
from mockidp.web.runtime import Runtime, dump


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
        try:
            return await read_json_object(self.request, cap)
        except JsonBodyRefused as refused:
            raise (Refused(e.TOO_LARGE, limit=str(cap)) if refused.kind == "too_large" else
                   Refused(e.INVALID_JSON)) from None

    async def write(self, change: w.Change) -> Directory:
        try:
            return await apply_write(self.rt, change)
        except w.WriteError as exc:
            raise Refused(e.FOR_WRITE.get(exc.kind, e.BAD_REQUEST), reason=exc.message) from None
        except NoLiveDirectory:
            raise Refused(e.NOT_SERVED, what="writes without a live directory") from None

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


def apps(call: Call) -> list[m.ApplicationRecord]:
    return [a for a in call.directory().content.applications if a.tenant_id == call.tenant]


def sps(call: Call) -> list[m.ServicePrincipalRecord]:
    """The tenant's service principals as Graph lists them: the written ones, then the built-in Microsoft ones
    every tenant has (Microsoft Graph and the first-party resources, directory/builtin.py)."""
    return [sp for sp in call.directory().principals.values() if sp.tenant_id == call.tenant]


def _by_app_id(segment: str) -> str | None:
    """The appId of Graph's alternate key segment "(appId='...')" (routes/graph.py puts it there), else None."""
    return segment[8:-2] if segment.startswith("(appId='") and segment.endswith("')") else None


def app(call: Call, object_id: str) -> m.ApplicationRecord:
    app_id = _by_app_id(object_id)
    found = next((a for a in apps(call) if (a.app_id == app_id if app_id is not None else a.object_id == object_id)),
                 None)
    if found is None:
        raise Refused(e.NOT_FOUND, id=object_id)
    return found


def sp(call: Call, sp_id: str) -> m.ServicePrincipalRecord:
    app_id = _by_app_id(sp_id)
    found = next((sp for sp in sps(call) if (sp.app_id == app_id if app_id is not None else sp.id == sp_id)), None)
    if found is None:
        raise Refused(e.NOT_FOUND, id=sp_id)
    return found


def text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise Refused(e.BAD_REQUEST, reason=f"The property '{name}' is required and must be a string.")
    return value


