"""refresh_token: Entra's rules (docs/entra-behaviour.md#refresh_token). Multi-resource; rotated on every use while the
old token stays valid; 90 days of inactivity (700082), 24 h fixed for SPAs (700084); refused after an
admin revoke (50173)."""

from __future__ import annotations

from mockidp.clock import entra_instant
from mockidp.directory.artefacts import REFRESH_IDLE_LIFETIME, SPA_REFRESH_LIFETIME, RefreshRecord
from mockidp.directory.model import ApplicationRecord
from mockidp.errors import AadstsError, catalogue
from mockidp.oauth import trace
from mockidp.oauth.context import Services, TokenRequest
from mockidp.oauth.grants.authorization_code import check_origin
from mockidp.oauth.grants.base import Grant, GrantInput, Located, UserRequest
from mockidp.oauth.payloads import RefreshPayload
from mockidp.oauth.tenants import ResolvedTenant, TenantRef
from mockidp.oauth.users import check_enabled, issued_to

INACTIVITY_LIMIT = REFRESH_IDLE_LIFETIME  # the purge deletes by the same lifetimes
SPA_LIFETIME = SPA_REFRESH_LIFETIME


def locate(req: TokenRequest, tenant: TenantRef, services: Services) -> Located:
    record = services.artefacts.refresh_token(req.params["refresh_token"])
    if record is None:
        raise AadstsError(catalogue.MALFORMED_REQUEST, error="invalid_grant")
    home = services.directory.tenants.get(record.tenant_id)
    if home is None or (tenant.tenant is not None and tenant.tenant.id != home.id):
        raise AadstsError(catalogue.MALFORMED_REQUEST, error="invalid_grant")  # not a token of this tenant
    return Located(ResolvedTenant(home), record)


def public_allowed(app: ApplicationRecord, located: Located) -> bool:
    record: RefreshRecord = located.artefact
    return RefreshPayload.from_data(record.data).public


def authorize(g: GrantInput) -> UserRequest:
    record: RefreshRecord = g.artefact
    services, params = g.services, g.req.params
    now = services.clock.now()
    if record.client_id != g.client.app.app_id:
        raise AadstsError(catalogue.MALFORMED_REQUEST, error="invalid_grant")
    if record.spa and now - record.issued_at > SPA_LIFETIME:
        raise AadstsError(catalogue.SPA_REFRESH_TOKEN_EXPIRED, issued=entra_instant(record.issued_at))
    if now - record.last_used_at > INACTIVITY_LIMIT:
        raise AadstsError(catalogue.REFRESH_TOKEN_INACTIVE, suberror="bad_token",
                          issued=entra_instant(record.issued_at))
    valid_from = services.artefacts.tokens_valid_from(record.user_id)
    if valid_from is not None and record.issued_at < valid_from:
        raise AadstsError(catalogue.GRANT_REVOKED, issued=entra_instant(record.issued_at),
                          valid_from=entra_instant(valid_from))
    check_origin(g.req, record.spa)
    user = issued_to(services.directory, record.user_id)  # the user may have left the seed or been deleted
    check_enabled(user)
    trace.step("refresh token", user=user.user_principal_name, spa=record.spa,
               note="issued to this client in this tenant, used within 90 days (24 hours for a SPA), not revoked")
    payload = RefreshPayload.from_data(record.data)
    return UserRequest(user, params.get("scope") or payload.scope, params.get("resource"), payload.sign_in,
                       redeem=lambda: services.artefacts.touch_refresh_token(params["refresh_token"], now=now),
                       spa=record.spa, chain_issued_at=record.issued_at)


GRANT = Grant(
    grant_type="refresh_token",
    parameters_v1=("refresh_token",),
    parameters_v2=("refresh_token",),
    missing_credential=catalogue.CREDENTIAL_REQUIRED,
    authorize=authorize,
    locate=locate,
    public_allowed=public_allowed,
)
