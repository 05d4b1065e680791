"""/authorize (v2 and v1, GET and POST), and the sign-in and consent pages behind it."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mockidp.directory.artefacts import digest
from mockidp.directory.model import UserRecord
from mockidp.errors import AadstsError, catalogue
from mockidp.oauth import device as device_flow
from mockidp.oauth import trace
from mockidp.oauth.authorize import (
    AuthorizeRequest,
    ClientError,
    NeedsConsent,
    PageError,
    complete,
    parse_authorize,
    silent_failure,
)
from mockidp.oauth.delegated import given_consent
from mockidp.oauth.device import DeviceConsent
from mockidp.oauth.form import parse_form
from mockidp.oauth.payloads import DevicePayload
from mockidp.oauth.sessions import SessionAnswers, session_decision
from mockidp.oauth.tenants import resolve_tenant
from mockidp.oauth.user_tokens import SignIn
from mockidp.oauth.users import check_password, find_user
from mockidp.web import browser, faulting
from mockidp.web.body import read_capped_body
from mockidp.web.flows import AuthorizeFlow, BrowserFlow, asking_consent, flow_from_data, signed_in
from mockidp.web.runtime import Runtime, runtime_of

router = APIRouter(tags=["sign-in"])
LOGIN = "/_mockidp/login"
CONSENT = "/_mockidp/consent"
FLOW_LIFETIME = 600  # seconds a sign-in or consent form stays usable (catalogue FLOW_STATE_EXPIRED)


async def _params(request: Request, runtime: Runtime) -> dict[str, str]:
    if request.method == "POST":
        body = await read_capped_body(request, runtime.settings.max_body_bytes)
        return parse_form(body, request.headers.get("content-type"))
    pairs = parse_qsl(request.url.query, keep_blank_values=True)
    if len({k for k, _ in pairs}) != len(pairs) or any("\x00" in k + v for k, v in pairs):
        raise AadstsError(catalogue.MALFORMED_REQUEST)  # a repeated parameter (state twice, ...)
    return {k: v for k, v in pairs if v != ""}


def _users_for(runtime: Runtime, tenant_segment: str) -> list[UserRecord]:
    tenant = resolve_tenant(runtime.services.directory, tenant_segment)
    users = runtime.services.directory.content.users
    return [u for u in users if tenant.tenant is None or u.tenant_id == tenant.tenant.id][:50]


def _seal(request: Request, runtime: Runtime, ctx: BrowserFlow, form: str) -> str:
    """A form's ctx, bound to this browser (its CSRF token; for consent also its session), with an
    expiry and an id that makes it single use (_open_flow)."""
    flow: dict[str, Any] = {"form": form, "id": runtime.sealer.new_token(), "csrf": digest(browser.csrf_token(request)),
                            "exp": runtime.services.clock.now() + FLOW_LIFETIME}
    if form == "consent":
        session = browser.session_value(request)
        flow["session"] = digest(session) if session else None
    return runtime.sealer.seal({**ctx.to_data(), "flow": flow})


def _open_flow(request: Request, rt: Runtime, form_name: str, form: dict[str, str]) -> BrowserFlow:
    """The ctx of a posted form if this browser may use it, now, for the first time: a foreign CSRF
    token is 9002313 (login CSRF); expired, used, or its session signed out or revoked is 50089."""
    submitted = form.get("csrf")
    if not browser.csrf_ok(request, submitted):
        raise AadstsError(catalogue.MALFORMED_REQUEST)  # login CSRF: no form token, no sign-in
    sealed = rt.sealer.open(form.get("ctx"))
    flow = sealed.pop("flow", None) if sealed is not None else None
    if sealed is None or not isinstance(flow, dict) or flow.get("form") != form_name \
            or not hmac.compare_digest(str(flow.get("csrf")), digest(submitted or "")):
        raise AadstsError(catalogue.MALFORMED_REQUEST)
    try:
        ctx = flow_from_data(sealed)
    except ValueError:
        raise AadstsError(catalogue.MALFORMED_REQUEST) from None
    now = rt.services.clock.now()
    if now >= float(flow["exp"]):
        raise AadstsError(catalogue.FLOW_STATE_EXPIRED)
    if form_name == "consent":
        value = browser.session_value(request)
        session = browser.current_session(request, rt)
        if value is None or flow.get("session") != digest(value) or session is None \
                or session.user_id != ctx.user:
            raise AadstsError(catalogue.FLOW_STATE_EXPIRED)  # signed out, revoked, or another browser
    if not rt.services.artefacts.use_flow_state(str(flow["id"]), expires_at=float(flow["exp"]), now=now):
        raise AadstsError(catalogue.FLOW_STATE_EXPIRED)  # posted before: a replay
    return ctx


def _login_page(request: Request, runtime: Runtime, ctx: BrowserFlow, *, username: str | None = None,
                error: str | None = None, login_hint: str | None = None) -> Response:
    app = runtime.services.directory.applications.get(ctx.client_id)
    return browser.page(request, "login.html", redirect_uri=ctx.redirect_uri, action=LOGIN,
                        ctx=_seal(request, runtime, ctx, "login"), csrf=browser.csrf_token(request),
                        accounts=_users_for(runtime, ctx.tenant_segment), username=username,
                        error=error, login_hint=login_hint, app_name=app.display_name if app else None)


def _consent_page(request: Request, runtime: Runtime, ctx: BrowserFlow, need: NeedsConsent | DeviceConsent
                  ) -> Response:
    scopes = need.grant.missing or need.grant.scp
    names = {s.value: s.user_consent_display_name for s in need.grant.resource.app.scopes}
    permissions = [f"{names.get(s, s)} ({need.grant.resource.app.display_name})" for s in scopes]
    if "offline_access" in need.grant.oidc:
        permissions.append("Maintain access to data you have given it access to")
    sealed = _seal(request, runtime, asking_consent(ctx, tuple(scopes)), "consent")
    return browser.page(request, "consent.html", redirect_uri=ctx.redirect_uri, action=CONSENT, ctx=sealed,
                        csrf=browser.csrf_token(request),
                        app_name=need.client.display_name, permissions=permissions,
                        username=need.user.user_principal_name)


def _answer(request: Request, runtime: Runtime, req: AuthorizeRequest, *, user_id: str, sign_in: SignIn,
            consent_given: bool = False) -> Response:
    try:
        result = complete(runtime.services, req, user_id=user_id, sign_in=sign_in, origin=runtime.origin(request),
                          consent_given=consent_given)
    except PageError as exc:
        return browser.error_page(request, runtime, exc.err)
    except ClientError as exc:
        return browser.client_error(request, runtime, exc.err, exc.target, req.state)
    if isinstance(result, NeedsConsent):
        return _consent_page(request, runtime, AuthorizeFlow(req, user_id, sign_in), result)
    return browser.to_client(result)


async def _authorize(request: Request, tenant: str, version: int) -> Response:
    rt = runtime_of(request)
    try:
        params = await _params(request, rt)
    except AadstsError as err:
        return browser.error_page(request, rt, err)
    injected = await faulting.authorize(request, rt, tenant=tenant, version=version, params=params)
    if injected is not None:
        return injected
    return await run_in_threadpool(_authorize_sync, request, rt, tenant, version, params)


def _authorize_sync(request: Request, rt: Runtime, tenant: str, version: int, params: dict[str, str]) -> Response:
    """The database and password work of the pages runs in the thread pool, off the event loop."""
    try:
        req = parse_authorize(rt.services, tenant, version, params)
    except AadstsError as err:
        return browser.error_page(request, rt, err)
    except PageError as exc:
        return browser.error_page(request, rt, exc.err)
    except ClientError as exc:
        return browser.client_error(request, rt, exc.err, exc.target, params.get("state"))
    decision = session_decision(rt.services.directory, req, browser.current_session(request, rt),
                                now=rt.services.clock.now())
    if decision == "login_required":
        silent = silent_failure(req)
        return browser.client_error(request, rt, silent.err, silent.target, req.state)
    if isinstance(decision, SessionAnswers):
        return _answer(request, rt, req, user_id=decision.user_id, sign_in=decision.sign_in)
    return _login_page(request, rt, AuthorizeFlow(req), login_hint=req.login_hint)


@router.api_route("/{tenant}/oauth2/v2.0/authorize", methods=["GET", "POST"])
async def authorize_v2(request: Request, tenant: str) -> Response:
    return await _authorize(request, tenant, 2)


@router.api_route("/{tenant}/oauth2/authorize", methods=["GET", "POST"])
async def authorize_v1(request: Request, tenant: str) -> Response:
    return await _authorize(request, tenant, 1)


async def _posted(request: Request, handle: Callable[[Request, Runtime, dict[str, str]], Response]) -> Response:
    """A posted page form, read within the body limit, handled in the thread pool (the handlers hash
    passwords and touch the database); a form that cannot be read is the page's error."""
    rt = runtime_of(request)
    try:
        body = await read_capped_body(request, rt.settings.max_body_bytes)
        form = parse_form(body, request.headers.get("content-type"))
    except AadstsError as err:
        return browser.error_page(request, rt, err)
    return await run_in_threadpool(handle, request, rt, form)


@router.post(LOGIN)
async def login(request: Request) -> Response:
    return await _posted(request, _sign_in)


def _sign_in(request: Request, rt: Runtime, form: dict[str, str]) -> Response:
    try:
        ctx = _open_flow(request, rt, "login", form)
    except AadstsError as err:
        return browser.error_page(request, rt, err)
    trace.about(client_id=ctx.client_id)
    trace.step("form", form="sign-in", note="posted by the browser it was made for, within 10 minutes, once")
    username, password = form.get("username"), form.get("password")
    if not username:
        return _login_page(request, rt, ctx)
    if password is None:
        return _login_page(request, rt, ctx, username=username)
    directory = rt.services.directory
    try:
        user, home = find_user(directory, resolve_tenant(directory, ctx.tenant_segment), username)
        trace.step("user", user=user.user_principal_name, object_id=user.id, tenant=home.id)
        check_password(rt.services.artefacts, user, password, now=rt.services.clock.now())
        trace.step("password", note="not locked out, the password matches, the account is enabled")
    except AadstsError as err:
        trace.refused(err)  # answered on the sign-in page itself, as Entra does
        return _login_page(request, rt, ctx, username=username if err.spec.code != 50034 else None,
                           error=err.message)
    sid = rt.services.ids.guid()
    sign_in = SignIn(sid, ("pwd",), rt.services.clock.now())
    session = browser.new_session(request, rt, tenant_id=home.id, user_id=user.id, sid=sid)  # before the
    response = _after_sign_in(request, rt, ctx, user, sign_in)  # consent page, which is bound to it
    browser.set_session_cookie(request, response, session)
    return response


def _after_sign_in(request: Request, rt: Runtime, ctx: BrowserFlow, user: UserRecord, sign_in: SignIn,
                   *, consent_given: bool = False) -> Response:
    if isinstance(ctx, AuthorizeFlow):
        return _answer(request, rt, ctx.req, user_id=user.id, sign_in=sign_in, consent_given=consent_given)
    record = rt.services.artefacts.device_by_code_hash(ctx.device)
    try:
        if record is None or record.status != "pending":
            raise AadstsError(catalogue.DEVICE_CODE_DECIDED)
        need = device_flow.approve(rt.services, record, user=user, sign_in=sign_in, consent_given=consent_given)
    except AadstsError as err:
        return browser.error_page(request, rt, err)
    if need is not None:
        return _consent_page(request, rt, signed_in(ctx, user.id, sign_in), need)
    app = rt.services.directory.applications[record.client_id]
    return browser.page(request, "device.html", done=f"You have signed in to {app.display_name} on your device.")


@router.post(CONSENT)
async def consent(request: Request) -> Response:
    return await _posted(request, _consent)


def _consent(request: Request, rt: Runtime, form: dict[str, str]) -> Response:
    try:
        ctx = _open_flow(request, rt, "consent", form)
    except AadstsError as err:
        return browser.error_page(request, rt, err)
    trace.about(client_id=ctx.client_id)
    trace.step("form", form="consent", decision=form.get("decision"),
               note="posted by the signed-in browser it was made for, within 10 minutes, once")
    user = rt.services.directory.users.get(ctx.user) if ctx.user is not None else None
    sign_in = ctx.sign_in
    if user is None or sign_in is None:  # a consent form is sealed after the sign-in
        return browser.error_page(request, rt, AadstsError(catalogue.MALFORMED_REQUEST))
    declined = form.get("decision") != "accept"
    if isinstance(ctx, AuthorizeFlow):
        req = ctx.req
        if declined:
            return browser.client_error(request, rt, AadstsError(catalogue.CONSENT_DECLINED), req.target(), req.state)
        _record_consent(rt, ctx, user, req.client_id, req.scope.split(), req.resource)
        return _after_sign_in(request, rt, ctx, user, sign_in, consent_given=True)
    record = rt.services.artefacts.device_by_code_hash(ctx.device)
    if record is None or record.status != "pending":
        return browser.error_page(request, rt, AadstsError(catalogue.DEVICE_CODE_DECIDED))
    if declined:
        device_flow.decline(rt.services, record)
        return browser.page(request, "device.html", done="You declined to sign in on the other device.")
    payload = DevicePayload.from_data(record.data)
    _record_consent(rt, ctx, user, record.client_id, payload.scope.split(), payload.resource)
    return _after_sign_in(request, rt, ctx, user, sign_in, consent_given=True)


def _record_consent(rt: Runtime, ctx: BrowserFlow, user: UserRecord, client_id: str, scopes: list[str],
                    resource: str | None) -> None:
    """Accepting records a Principal grant for this user, client and resource (oauth/delegated.py decides)."""
    given = given_consent(rt.services.directory, user, client_id=client_id, requested=scopes, resource_param=resource,
                          asked=ctx.consent)
    trace.step("consent given", user=user.user_principal_name, client_id=client_id, scopes=given.scopes)
    rt.services.artefacts.record_consent(tenant_id=given.tenant_id, client_sp_id=given.client_sp_id,
                                         resource_sp_id=given.resource_sp_id, user_id=user.id,
                                         scopes=list(given.scopes))
