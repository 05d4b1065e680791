"""What the pages share: security headers, the CSRF cookie, the sign-in session cookie, the error
page, and sending an authorize response back to the client (302 or form_post)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mockidp.clock import entra_timestamp
from mockidp.directory.artefacts import SessionRecord
from mockidp.errors import AadstsError
from mockidp.oauth import trace
from mockidp.oauth.authorize import error_fields
from mockidp.oauth.redirects import ClientResponse
from mockidp.ui.pages import render
from mockidp.web.responses import correlation_id
from mockidp.web.runtime import Runtime
from mockidp.web.tracing import TRACE_PAGE

SESSION_COOKIE = "mockidp_session"
CSRF_COOKIE = "mockidp_csrf"
SESSION_LIFETIME = 24 * 3600


def _headers(nonce: str, form_action: str = "'self'") -> dict[str, str]:
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; img-src 'self' data:; "
            f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store, no-cache",
        "Pragma": "no-cache",
    }


def csrf_token(request: Request) -> str:
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and 20 <= len(existing) <= 64:
        return existing
    token = getattr(request.state, "new_csrf", None) or request.app.state.runtime.sealer.new_token()
    request.state.new_csrf = token
    return str(token)


def csrf_ok(request: Request, submitted: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    return bool(cookie and submitted and cookie == submitted)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


# CSP's host-source grammar: letters, digits and '-' between dots (no '_', IP v6 literals or userinfo).
_CSP_HOST = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")


def origin_of(uri: str) -> str:
    """A CSP source browsers parse for a redirect URI: scheme://host[:port] rebuilt from its parts, or
    the scheme alone (`https:`) for custom schemes (msal...://) and hosts that CSP's grammar cannot
    name: an invalid source is dropped by the browser, which then blocks the form entirely."""
    parts = urlsplit(uri)
    if not parts.scheme:
        return "'none'"
    if parts.scheme not in ("http", "https"):
        return f"{parts.scheme}:"
    try:
        port = parts.port
    except ValueError:
        return f"{parts.scheme}:"
    host = parts.hostname or ""
    if not _CSP_HOST.fullmatch(host) or "@" in parts.netloc:
        return f"{parts.scheme}:"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def page(request: Request, template: str, *, status: int = 200, redirect_uri: str | None = None,
         **context: Any) -> HTMLResponse:
    """redirect_uri: where the page's form may end up. Browsers apply form-action to the redirects that
    follow a form POST too, so the sign-in and consent pages must allow the client's redirect URI."""
    rendered = render(template, **context)
    form_action = "'self'" if redirect_uri is None else f"'self' {origin_of(redirect_uri)}"
    response = HTMLResponse(rendered.html, status_code=status, headers=_headers(rendered.nonce, form_action))
    new_csrf = getattr(request.state, "new_csrf", None)
    if new_csrf:
        response.set_cookie(CSRF_COOKIE, new_csrf, httponly=True, secure=_secure(request), samesite="lax", path="/")
    return response


def error_page(request: Request, runtime: Runtime, err: AadstsError) -> HTMLResponse:
    """Entra's error page: Request Id, Correlation Id, Timestamp and the AADSTS message."""
    trace.refused(err)
    trace_id = trace.response_id(runtime.services.ids.guid)
    return page(request, "error.html", status=400, message=err.page_message, trace_id=trace_id,
                trace_link=f"{TRACE_PAGE}/{trace_id}" if trace.active() else "",
                correlation_id=correlation_id(request, runtime),
                timestamp=entra_timestamp(runtime.services.clock.now()).replace(" ", "T"))


def to_client(target: ClientResponse) -> Response:
    """302 for query/fragment (never 307: the browser must not re-POST credentials); form_post page otherwise."""
    if target.mode == "form_post":
        rendered = render("form_post.html", action=target.redirect_uri, fields=target.fields)
        return HTMLResponse(rendered.html, headers=_headers(rendered.nonce, form_action=origin_of(target.redirect_uri)))
    return RedirectResponse(target.location(), status_code=302, headers={"Cache-Control": "no-store"})


def client_error(request: Request, runtime: Runtime, err: AadstsError, target: ClientResponse,
                 state: str | None) -> Response:
    trace.refused(err)
    trace_id = trace.response_id(runtime.services.ids.guid)
    description = (f"{err.message} Trace ID: {trace_id} Correlation ID: {correlation_id(request, runtime)} "
                   f"Timestamp: {entra_timestamp(runtime.services.clock.now())}")
    return to_client(ClientResponse(target.redirect_uri, target.mode, error_fields(err, description, state)))


def current_session(request: Request, runtime: Runtime) -> SessionRecord | None:
    value = request.cookies.get(SESSION_COOKIE)
    if not value or len(value) > 128:
        return None
    return runtime.services.artefacts.session(value, now=runtime.services.clock.now())


def session_value(request: Request) -> str | None:
    """The browser's session cookie: the one this request starts, else the one it sent."""
    started = getattr(request.state, "new_session", None)
    return str(started) if started else request.cookies.get(SESSION_COOKIE)


def new_session(request: Request, runtime: Runtime, *, tenant_id: str, user_id: str, sid: str) -> str:
    """Stores a session; the page answered next binds its forms to it (session_value), then
    set_session_cookie hands it to the browser."""
    value = runtime.sealer.new_token()
    previous = request.cookies.get(SESSION_COOKIE)  # this browser's earlier session ends with this sign-in
    runtime.services.artefacts.save_session(value, tenant_id=tenant_id, user_id=user_id, sid=sid,
                                            now=runtime.services.clock.now(), lifetime=SESSION_LIFETIME,
                                            replaces=previous if previous and len(previous) <= 128 else None)
    request.state.new_session = value
    return value


def set_session_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(SESSION_COOKIE, value, httponly=True, secure=_secure(request), samesite="lax", path="/")


def start_session(request: Request, runtime: Runtime, response: Response, *, tenant_id: str, user_id: str,
                  sid: str) -> None:
    set_session_cookie(request, response, new_session(request, runtime, tenant_id=tenant_id, user_id=user_id,
                                                      sid=sid))


def end_session(request: Request, runtime: Runtime, response: Response) -> None:
    value = request.cookies.get(SESSION_COOKIE)
    if value:
        runtime.services.artefacts.end_session(value)
    response.delete_cookie(SESSION_COOKIE, path="/")
