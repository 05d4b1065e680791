"""The authorize endpoint's decisions (docs/entra-behaviour.md#authorize), framework-free.

Errors before the client and its redirect URI are known render Entra's error page (PageError);
every later error goes back to the client (ClientError) with error, error_description, error_uri
and state. A signed-in user then gets a code (and/or tokens), a consent page, or an error.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from mockidp.directory.model import ApplicationRecord, UserRecord
from mockidp.errors import AadstsError, catalogue
from mockidp.oauth import trace
from mockidp.oauth.client_auth import Client, registered_client, require_multi_tenant
from mockidp.oauth.context import Services
from mockidp.oauth.delegated import DelegatedGrant, decide, identity, requested_resource
from mockidp.oauth.grants.authorization_code import CODE_LIFETIME
from mockidp.oauth.payloads import CodePayload
from mockidp.oauth.pkce import check_challenge
from mockidp.oauth.redirects import ClientResponse, all_redirect_uris, registered_type
from mockidp.oauth.tenants import ResolvedTenant, TenantRef, resolve_tenant
from mockidp.oauth.user_tokens import SignIn, client_info, new_secret_value, user_access_token
from mockidp.oauth.users import signed_in_client
from mockidp.tokens.claims import IdTokenInput

RESPONSE_TYPES = frozenset({"code", "id_token", "token"})
RESPONSE_MODES = frozenset({"query", "fragment", "form_post"})
PROMPTS = frozenset({"login", "none", "consent", "select_account", "create"})
_MAX_AGE = re.compile(r"^[0-9]{1,9}$")


class PageError(Exception):
    """Shown on mockidp's error page: never redirected (the redirect URI is not trusted yet)."""

    def __init__(self, err: AadstsError) -> None:
        self.err = err
        super().__init__(err.message)


class ClientError(Exception):
    """Sent back to the client's redirect URI."""

    def __init__(self, err: AadstsError, target: ClientResponse) -> None:
        self.err = err
        self.target = target
        super().__init__(err.message)


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    tenant_segment: str
    version: int
    client_id: str
    redirect_uri: str
    redirect_type: str
    response_type: str
    response_mode: str
    scope: str
    state: str | None = None
    nonce: str | None = None
    prompt: str | None = None
    login_hint: str | None = None
    domain_hint: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    client_info: bool = False
    resource: str | None = None
    max_age: int | None = None  # seconds since the last sign-in beyond which the user signs in again

    @property
    def types(self) -> frozenset[str]:
        return frozenset(self.response_type.split())

    def to_data(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> AuthorizeRequest:
        return cls(**data)

    def target(self) -> ClientResponse:
        return ClientResponse(self.redirect_uri, self.response_mode, ())

    def fail(self, err: AadstsError) -> ClientError:
        return ClientError(err, self.target())


@dataclass(frozen=True, slots=True)
class NeedsConsent:
    request: AuthorizeRequest
    user: UserRecord
    client: ApplicationRecord
    grant: DelegatedGrant


def _client_app(services: Services, tenant: TenantRef, client_id: str) -> ApplicationRecord:
    try:
        app, _ = registered_client(services.directory, tenant, client_id, without_sp="allowed")
    except AadstsError as err:
        raise PageError(err) from None
    if tenant.tenant is not None:
        try:
            require_multi_tenant(tenant, app)
        except AadstsError as err:
            raise PageError(err) from None
    return app


def parse_authorize(services: Services, tenant_segment: str, version: int,
                    params: dict[str, str]) -> AuthorizeRequest:
    try:
        tenant = resolve_tenant(services.directory, tenant_segment)
    except AadstsError as err:
        raise PageError(err) from None
    client_id = params.get("client_id")
    if client_id is None:
        raise PageError(AadstsError(catalogue.MISSING_PARAMETER, name="client_id"))
    trace.step("tenant", segment=tenant_segment[:128], tenant=tenant.tenant.id if tenant.tenant else None,
               kind=tenant.kind)
    app = _client_app(services, tenant, client_id)
    trace.about(client_id=app.app_id)
    trace.step("client", client_id=app.app_id, name=app.display_name)
    redirect_uri = params.get("redirect_uri")
    registered = all_redirect_uris(app)
    if redirect_uri is None:
        if not registered:
            raise PageError(AadstsError(catalogue.NO_REPLY_ADDRESS))
        if len(registered) > 1:
            raise PageError(AadstsError(catalogue.MISSING_PARAMETER, name="redirect_uri"))
        redirect_uri = registered[0]
    kind = registered_type(app, redirect_uri)
    if kind is None:
        raise PageError(AadstsError(catalogue.UNREGISTERED_REDIRECT_URI, uri=redirect_uri[:512], app_id=app.app_id))
    trace.step("redirect URI", redirect_uri=redirect_uri[:512], platform=kind,
               note="registered by the client, character for character (the port of http://localhost aside)")
    # From here on the redirect URI is the client's own: errors go back to it, with the state.
    state = params.get("state")
    types = frozenset((params.get("response_type") or "").split())
    default_mode = "query" if types <= {"code"} else "fragment"
    mode = params.get("response_mode") or default_mode
    target = ClientResponse(redirect_uri, mode if mode in RESPONSE_MODES else default_mode,
                            (("state", state),) if state is not None else ())

    def fail(spec: catalogue.ErrorSpec, **kw: Any) -> ClientError:
        return ClientError(AadstsError(spec, **kw), target)

    if not types:
        raise fail(catalogue.MISSING_PARAMETER, name="response_type")
    if not types <= RESPONSE_TYPES:
        raise fail(catalogue.UNSUPPORTED_RESPONSE_TYPE, response_type=params["response_type"][:64])
    if mode not in RESPONSE_MODES or (mode == "query" and types - {"code"}):
        raise fail(catalogue.UNSUPPORTED_RESPONSE_MODE)
    if "id_token" in types and not app.implicit_id_token:
        raise fail(catalogue.ID_TOKEN_NOT_ENABLED)
    if "token" in types and not app.implicit_access_token:
        raise fail(catalogue.TOKEN_NOT_ENABLED)
    scope = params.get("scope", "")
    if version == 2 and not scope:
        raise fail(catalogue.MISSING_PARAMETER, name="scope")
    if "id_token" in types and "nonce" not in params:
        raise fail(catalogue.MISSING_PARAMETER, name="nonce")
    prompt = params.get("prompt")
    if prompt is not None and prompt not in PROMPTS:
        raise fail(catalogue.MALFORMED_REQUEST)
    if "max_age" in params and not _MAX_AGE.match(params["max_age"]):
        raise fail(catalogue.MALFORMED_REQUEST)
    try:
        challenge, method = check_challenge(params.get("code_challenge"), params.get("code_challenge_method"))
        if kind == "spa" and "code" in types and challenge is None:
            raise AadstsError(catalogue.PKCE_REQUIRED)
        if (known := tenant.resolved()) is not None:  # scope errors are known now (on /common: after sign-in)
            requested_resource(services.directory, known, scope.split(), params.get("resource"), asked_by=app)
    except AadstsError as err:
        raise ClientError(err, target) from None
    trace.step("request", response_type=" ".join(sorted(types)), response_mode=mode, scope=scope[:512],
               prompt=prompt, pkce=method if challenge else "none")
    return AuthorizeRequest(
        tenant_segment=tenant.segment, version=version, client_id=app.app_id, redirect_uri=redirect_uri,
        redirect_type=kind, response_type=" ".join(sorted(types)), response_mode=mode, scope=scope, state=state,
        nonce=params.get("nonce"), prompt=prompt, login_hint=params.get("login_hint"),
        domain_hint=params.get("domain_hint"), code_challenge=challenge, code_challenge_method=method,
        client_info=params.get("client_info") == "1", resource=params.get("resource"),
        max_age=int(params["max_age"]) if "max_age" in params else None,
    )


def _signed_in_client(services: Services, req: AuthorizeRequest, user: UserRecord) -> Client:
    try:
        return signed_in_client(services.directory, req.tenant_segment, user, req.client_id)
    except AadstsError as err:
        raise PageError(err) from None


def complete(services: Services, req: AuthorizeRequest, *, user_id: str, sign_in: SignIn, origin: str,
             consent_given: bool = False) -> ClientResponse | NeedsConsent:
    """The user is signed in: check them, then answer with a code/tokens, or ask for consent."""
    directory = services.directory
    user = directory.users[user_id]
    client = _signed_in_client(services, req, user)
    home = directory.tenants[user.tenant_id]
    tenant = ResolvedTenant(home)
    try:
        grant = decide(directory, services.artefacts, tenant=tenant, client=client.app, client_sp=client.sp,
                       user=user, scopes=req.scope.split(), resource_param=req.resource, interactive=True)
    except AadstsError as err:
        raise req.fail(err) from None
    trace.step("resource", resource=grant.resource.identifier, name=grant.resource.app.display_name)
    if grant.missing or (req.prompt == "consent" and not consent_given):
        trace.step("consent", trace.NOT_APPLICABLE, missing=grant.missing, prompt=req.prompt,
                   note="not given yet: the consent page asks the user (with prompt=none: refused)")
        if req.prompt == "none":
            raise req.fail(AadstsError(catalogue.CONSENT_REQUIRED, client_id=client.app.app_id,
                                       client_name=client.app.display_name))
        return NeedsConsent(req, user, client.app, grant)
    trace.step("consent", scopes=grant.scp)
    response = _respond(services, req, user, client, tenant, grant, sign_in, origin)
    trace.step("response", response_type=req.response_type, response_mode=req.response_mode,
               redirect_uri=req.redirect_uri, note="back to the client's redirect URI")
    return response


def _respond(services: Services, req: AuthorizeRequest, user: UserRecord, client: Client, tenant: ResolvedTenant,
             grant: DelegatedGrant, sign_in: SignIn, origin: str) -> ClientResponse:
    fields: list[tuple[str, str]] = []
    issuer = services.issuer
    code = access = None
    if "code" in req.types:
        code = new_secret_value(services)
        data = CodePayload(sign_in, req.scope, req.nonce, req.redirect_type, req.code_challenge,
                           req.code_challenge_method, req.resource, req.version).to_data()
        services.artefacts.save_code(code, tenant_id=tenant.segment, client_id=client.app.app_id, user_id=user.id,
                                     redirect_uri=req.redirect_uri, now=services.clock.now(), lifetime=CODE_LIFETIME,
                                     data=data)
        fields.append(("code", code))
    if "token" in req.types:
        issued = user_access_token(services, user=user, grant=grant, client=client, tenant_id=tenant.segment,
                                   sign_in=sign_in, origin=origin, ipaddr=None)
        access = issued.jwt
        fields += [("access_token", access), ("token_type", "Bearer"), ("expires_in", str(issued.expires_in)),
                   ("scope", grant.response_scope)]
    if "id_token" in req.types:
        who = identity(services.directory, user, client_id=client.app.app_id, resource_app=client.app,
                       sid=sign_in.sid, amr=sign_in.amr, ipaddr=None)
        idt = IdTokenInput(tenant.segment, client.app.app_id, who, client.app.app_id, nonce=req.nonce,
                           email="email" in grant.oidc, c_hash=issuer.half_hash(code) if code else None,
                           at_hash=issuer.half_hash(access) if access else None)
        fields.append(("id_token", issuer.id_token(idt, version=req.version, origin=origin)))
    if req.client_info:
        fields.append(("client_info", client_info(user)))
    if req.state is not None:
        fields.append(("state", req.state))
    if sign_in.sid:
        fields.append(("session_state", sign_in.sid))
    return ClientResponse(req.redirect_uri, req.response_mode, tuple(fields))


def silent_failure(req: AuthorizeRequest) -> ClientError:
    """prompt=none and nobody is signed in: AADSTS50058 login_required."""
    return req.fail(AadstsError(catalogue.LOGIN_REQUIRED))


def error_fields(err: AadstsError, description: str, state: str | None) -> tuple[tuple[str, str], ...]:
    fields = [("error", err.error or err.spec.error), ("error_description", description),
              ("error_uri", f"https://login.microsoftonline.com/error?code={err.spec.code}")]
    if state is not None:
        fields.append(("state", state))
    return tuple(fields)
