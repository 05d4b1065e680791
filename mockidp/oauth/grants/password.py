"""password (ROPC): the user's name and password posted by the app (docs/entra-behaviour.md#password).

Tenant-specific or /organizations only (9001023 on /common and /consumers); public clients need
isFallbackPublicClient, confidential ones their credential (7000218)."""

from __future__ import annotations

from mockidp.directory.model import ApplicationRecord
from mockidp.errors import AadstsError, catalogue
from mockidp.oauth import trace
from mockidp.oauth.context import Services, TokenRequest
from mockidp.oauth.grants.base import Grant, GrantInput, Located, UserRequest
from mockidp.oauth.payloads import SignIn
from mockidp.oauth.tenants import ResolvedTenant, TenantRef
from mockidp.oauth.users import check_password, find_user


def locate(req: TokenRequest, tenant: TenantRef, services: Services) -> Located:
    if tenant.kind in ("common", "consumers"):
        raise AadstsError(catalogue.GRANT_NOT_ON_COMMON)
    if (known := tenant.resolved()) is not None:
        return Located(known)
    user, home = find_user(services.directory, tenant, req.params["username"])  # /organizations
    return Located(ResolvedTenant(home), user)


def public_allowed(app: ApplicationRecord, located: Located) -> bool:
    return app.is_fallback_public_client


def authorize(g: GrantInput) -> UserRequest:
    services, params = g.services, g.req.params
    user, _ = find_user(services.directory, g.tenant, params["username"], client=g.client.app)
    trace.step("user", user=user.user_principal_name, object_id=user.id, tenant=user.tenant_id)
    check_password(services.artefacts, user, params["password"], now=services.clock.now())
    trace.step("password", note="not locked out, the password matches, the account is enabled")
    return UserRequest(user, params.get("scope", ""), params.get("resource"),
                       SignIn(None, ("pwd",), services.clock.now()))


GRANT = Grant(
    grant_type="password",
    parameters_v1=("username", "password"),
    parameters_v2=("username", "password", "scope"),
    missing_credential=catalogue.CREDENTIAL_REQUIRED,
    authorize=authorize,
    locate=locate,
    public_allowed=public_allowed,
)
