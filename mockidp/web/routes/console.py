"""The console: `/` and `/_mockidp/console/...`, mockidp's own read-only pages (README, "The console").

Every page is a GET over the worker's directory snapshot, except the token decoder's POST, which
changes nothing either: the token is decoded in memory and answered, never stored or logged (the
access log writes no bodies, and this route writes no log line of its own).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mockidp.clock import entra_timestamp
from mockidp.errors import catalogue
from mockidp.tokens.explain import MAX_TOKEN_CHARS, Explanation, explain_token
from mockidp.ui.console import Console
from mockidp.web import browser
from mockidp.web.routes.traces import find_trace
from mockidp.web.runtime import Runtime, runtime_of
from mockidp.web.tracing import TRACE_PAGE

router = APIRouter(tags=["console"])
PREFIX = "/_mockidp/console"
DECODER_BODY_CAP = MAX_TOKEN_CHARS * 3 + 1024  # a form-encoded token of the largest size explained


@dataclass(frozen=True, slots=True)
class RecentRequest:
    """One row of "Recent requests"."""

    when: str
    endpoint: str
    client_id: str
    outcome: str  # "success" or "AADSTS501051"
    link: str  # the trace page


def recent_requests(runtime: Runtime, *, client_id: str = "", outcome: str = "",
                    limit: int = 50) -> list[RecentRequest] | None:
    """The console's one read of the decision trace (newest first); None with --no-traces. An outcome
    given as a bare code (501051) means AADSTS501051."""
    store = runtime.traces
    if store is None:
        return None
    if limit == 0:
        return []
    if outcome.isdigit():
        outcome = f"AADSTS{outcome}"
    store.flush()
    return [RecentRequest(entra_timestamp(r.created_at), r.endpoint, r.client_id, r.outcome,
                          f"{TRACE_PAGE}/{r.trace_id}")
            for r in store.recent(client_id=client_id.lower(), outcome=outcome, limit=limit)]


def _console(request: Request) -> tuple[Runtime, Console]:
    rt = runtime_of(request)
    return rt, Console(rt.services.directory, rt.origin(request), rt.services.clock.now())


def _page(request: Request, template: str, title: str, *, status: int = 200, section: str = "",
          crumbs: tuple[tuple[str, str], ...] = (), **context: Any) -> Response:
    rt = runtime_of(request)
    return browser.page(request, f"console/{template}", status=status, title=title, section=section, crumbs=crumbs,
                        nav_tenants=rt.services.directory.content.tenants,
                        traces_available=rt.traces is not None, **context)


def _not_found(request: Request, what: str) -> Response:
    return _page(request, "not_found.html", "Not found", status=404, what=what)


@router.get("/")
async def home(request: Request) -> Response:
    _, console = _console(request)
    return _page(request, "home.html", "mockidp console", section="home", tenants=console.tenants())


@router.get(PREFIX)
async def console_root(request: Request) -> Response:
    return await home(request)


@router.get(PREFIX + "/tenants/{tenant_id}")
async def tenant(request: Request, tenant_id: str) -> Response:
    _, console = _console(request)
    t = console.tenant(tenant_id.lower())
    if t is None:
        return _not_found(request, "This tenant")
    return _page(request, "tenant.html", t.display_name, section=t.id, tenant=t, origin=console.origin,
                 registrations=console.registrations(t.id), enterprise=console.enterprise_apps(t.id),
                 crumbs=(("Overview", "/"),))


def _crumbs(tenant_id: str, name: str) -> tuple[tuple[str, str], ...]:
    return (("Overview", "/"), (name, f"{PREFIX}/tenants/{tenant_id}"))


@router.get(PREFIX + "/tenants/{tenant_id}/app-registrations/{app_id}")
async def registration(request: Request, tenant_id: str, app_id: str) -> Response:
    _, console = _console(request)
    t = console.tenant(tenant_id.lower())
    app = console.registration(t.id, app_id) if t else None
    if t is None or app is None:
        return _not_found(request, "This app registration")
    return _page(request, "registration.html", app.display_name, section=t.id, tenant=t, app=app,
                 rows=console.registration_rows(app), redirect_uris=console.redirect_uris(app),
                 credentials=console.credentials(app), pre_authorized=console.pre_authorized(app),
                 unregistered_code=catalogue.UNREGISTERED_REDIRECT_URI.code,
                 expired_code=catalogue.EXPIRED_CLIENT_SECRET.code,
                 crumbs=(*_crumbs(t.id, t.display_name),
                         ("App registrations", f"{PREFIX}/tenants/{t.id}#app-registrations")))


@router.get(PREFIX + "/tenants/{tenant_id}/enterprise-applications/{app_id}")
async def enterprise(request: Request, tenant_id: str, app_id: str) -> Response:
    _, console = _console(request)
    t = console.tenant(tenant_id.lower())
    sp = console.enterprise_app(t.id, app_id) if t else None
    if t is None or sp is None:
        return _not_found(request, "This enterprise application")
    home_app = console.d.applications.get(sp.app_id)
    # Microsoft Graph's registration is Microsoft's, in no seeded tenant
    registered = home_app is not None and home_app.tenant_id in console.d.tenants and not sp.is_managed_identity
    permissions = [c for c in console.consents(t.id) if c.client == sp.display_name]
    return _page(request, "enterprise.html", sp.display_name, section=t.id, tenant=t, sp=sp,
                 rows=console.enterprise_rows(sp), assigned=console.assigned(sp), permissions=permissions,
                 registered=registered, registered_tenant=home_app.tenant_id if home_app else "",
                 crumbs=(*_crumbs(t.id, t.display_name),
                         ("Enterprise applications", f"{PREFIX}/tenants/{t.id}#enterprise-applications")))


@router.get(PREFIX + "/tenants/{tenant_id}/users-and-groups")
async def users(request: Request, tenant_id: str) -> Response:
    _, console = _console(request)
    t = console.tenant(tenant_id.lower())
    if t is None:
        return _not_found(request, "This tenant")
    return _page(request, "users.html", "Users and groups", section=t.id, tenant=t, users=console.users(t.id),
                 groups=console.groups(t.id), disabled_code=catalogue.USER_DISABLED.code,
                 crumbs=_crumbs(t.id, t.display_name))


@router.get(PREFIX + "/tenants/{tenant_id}/consent")
async def consent(request: Request, tenant_id: str) -> Response:
    _, console = _console(request)
    t = console.tenant(tenant_id.lower())
    if t is None:
        return _not_found(request, "This tenant")
    return _page(request, "consent.html", "Consent and permissions", section=t.id, tenant=t,
                 consents=console.consents(t.id), consent_code=catalogue.CONSENT_REQUIRED.code,
                 crumbs=_crumbs(t.id, t.display_name))


@router.get(PREFIX + "/requests")
async def requests(request: Request) -> Response:
    rt = runtime_of(request)
    client_id = request.query_params.get("client_id", "")[:64]
    outcome = request.query_params.get("outcome", "")[:64]
    rows = await run_in_threadpool(lambda: recent_requests(rt, client_id=client_id, outcome=outcome))
    return _page(request, "requests.html", "Recent requests", section="requests", rows=rows, client_id=client_id,
                 outcome=outcome)


def _decoder(request: Request, token: str, e: Explanation | None) -> Response:
    dumped: dict[str, Any] = {"header_json": json.dumps(e.header, indent=2, ensure_ascii=False),
              "payload_json": json.dumps(e.payload, indent=2, ensure_ascii=False)} if e and not e.problem else {}
    return _page(request, "decoder.html", "Token decoder", section="decoder", token=token, e=e, **dumped)


@router.get(PREFIX + "/decoder")
async def decoder(request: Request) -> Response:
    return _decoder(request, "", None)


@router.post(PREFIX + "/decoder")
async def decode(request: Request) -> Response:
    """The pasted token is read from the body (never a query: URLs reach logs and history), explained,
    and answered on a no-store page; no log line is written and nothing is kept."""
    rt, console = _console(request)
    body = b""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > DECODER_BODY_CAP:
            return _decoder(request, "", Explanation(problem=f"Longer than {MAX_TOKEN_CHARS} characters: "
                                                             "no Entra token is."))
        body += chunk
    try:
        fields = dict(parse_qsl(body.decode("utf-8"), max_num_fields=10))
    except (UnicodeDecodeError, ValueError):
        fields = {}
    token = fields.get("token", "")
    e = explain_token(token, keys=rt.keys.published(), now=rt.services.clock.now(), origin=console.origin,
                      name_of=console.name_of)
    return _decoder(request, token[:MAX_TOKEN_CHARS], e)


@router.get(TRACE_PAGE + "/{trace_id}")
async def trace_page(request: Request, trace_id: str) -> Response:
    """One request's decision trace: its steps, the outcome, the claims' reasons, and the fix."""
    rt = runtime_of(request)
    found = await find_trace(rt, rt.traces, trace_id) if rt.traces is not None else None
    if found is None:
        return _not_found(request, "This trace (it may be older than a day, or mockidp runs with --no-traces)")
    return _page(request, "trace.html", f"Trace {found['id']}", section="requests", t=found,
                 when=entra_timestamp(float(found["startedAt"])),
                 crumbs=(("Overview", "/"), ("Recent requests", f"{PREFIX}/requests")))
