"""authorization_code (+PKCE): redeem a code from /authorize (docs/entra-behaviour.md#authorization_code).

Single use (54005) by one conditional UPDATE; 10-minute lifetime (70008); bound to the client
(70000), the tenant (700005), the redirect URI (70002/50011) and the PKCE challenge (501481).
"""

from __future__ import annotations

from mockidp.directory.artefacts import CodeRecord
from mockidp.directory.model import ApplicationRecord
from mockidp.errors import AadstsError, catalogue
from mockidp.oauth import trace
from mockidp.oauth.context import Services, TokenRequest
from mockidp.oauth.grants.base import Grant, GrantInput, Located, UserRequest
from mockidp.oauth.payloads import CodePayload
from mockidp.oauth.pkce import verifier_matches
from mockidp.oauth.tenants import ResolvedTenant, TenantRef
from mockidp.oauth.users import check_enabled, issued_to

CODE_LIFETIME = 600


def locate(req: TokenRequest, tenant: TenantRef, services: Services) -> Located:
    record = services.artefacts.code(req.params["code"])
    if record is None:
        raise AadstsError(catalogue.MALFORMED_REQUEST, error="invalid_grant")
    if tenant.tenant is not None and tenant.tenant.id != record.tenant_id:
        raise AadstsError(catalogue.CODE_OTHER_TENANT)
    home = services.directory.tenants[record.tenant_id]
    return Located(ResolvedTenant(home), record)


def public_allowed(app: ApplicationRecord, located: Located) -> bool:
    """Public clients redeem codes of their public and SPA redirect URIs; web URIs need a credential."""
    record: CodeRecord = located.artefact
    return CodePayload.from_data(record.data).redirect_type in ("public", "spa")


def check_origin(req: TokenRequest, spa: bool) -> None:
    if spa and not req.origin_header:
        raise AadstsError(catalogue.SPA_NEEDS_CROSS_ORIGIN)
    if req.origin_header and not spa:
        raise AadstsError(catalogue.CROSS_ORIGIN_REDEMPTION, origin=req.origin_header[:256])


def authorize(g: GrantInput) -> UserRequest:
    record: CodeRecord = g.artefact
    params, services = g.req.params, g.services
    now = services.clock.now()
    if record.client_id != g.client.app.app_id:
        raise AadstsError(catalogue.INVALID_CODE)
    if record.consumed_at is not None:
        raise AadstsError(catalogue.CODE_REDEEMED)
    if now >= record.expires_at:
        raise AadstsError(catalogue.CODE_EXPIRED)
    if params["redirect_uri"] != record.redirect_uri:
        detail = catalogue.REDIRECT_URI_CHANGED_DETAIL.format(token_uri=params["redirect_uri"][:512],
                                                              authorize_uri=record.redirect_uri)
        raise AadstsError(catalogue.CREDENTIALS_NOT_VALIDATED, detail=detail, extra_codes=(50011,))
    payload = CodePayload.from_data(record.data)
    challenge = payload.code_challenge
    # check_challenge stored a method with every challenge; plain is PKCE's default all the same.
    method = payload.code_challenge_method or "plain"
    if challenge and not verifier_matches(params.get("code_verifier"), challenge, method):
        raise AadstsError(catalogue.PKCE_MISMATCH)
    spa = payload.redirect_type == "spa"
    check_origin(g.req, spa)
    user = issued_to(services.directory, record.user_id)
    check_enabled(user)
    trace.step("authorization code", user=user.user_principal_name, redirect_uri=record.redirect_uri,
               pkce=method if challenge else "none",
               note="issued to this client, unused, within 10 minutes, the same redirect_uri, the PKCE verifier")

    def redeem() -> None:
        if not services.artefacts.consume_code(params["code"], now=now):
            raise AadstsError(catalogue.CODE_REDEEMED)  # lost the race to a parallel redemption

    return UserRequest(user, params.get("scope") or payload.scope, params.get("resource") or payload.resource,
                       payload.sign_in, redeem=redeem, nonce=payload.nonce, spa=spa)


GRANT = Grant(
    grant_type="authorization_code",
    parameters_v1=("code", "redirect_uri"),
    parameters_v2=("code", "redirect_uri", "scope"),
    missing_credential=catalogue.CREDENTIAL_REQUIRED,
    authorize=authorize,
    locate=locate,
    public_allowed=public_allowed,
)
