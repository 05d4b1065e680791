"""password (ROPC): the user's name and password posted by the app (docs/entra-behaviour.md#password).

Tenant-specific or /organizations only (9001023 on /common and /consumers); public clients need
isFallbackPublicClient, confidential ones their credential (7000218)."""

from __future__ import annotations

from mockidp.directory.model import ApplicationRecord
from mockidp.errors import AadstsError, catalogue
from mockidp.oauth.context import Services, TokenRequest
from mockidp.oauth.grants.base import Grant, GrantInput, Located, consented
from mockidp.oauth.tenants import ResolvedTenant, TenantRef
from mockidp.oauth.user_tokens import SignIn, UserOutcome
from mockidp.oauth.users import check_assignment, check_password, find_user


def locate(req: TokenRequest, tenant: TenantRef, services: Services) -> Located:
    if tenant.kind in ("common", "consumers"):
        raise AadstsError(catalogue.GRANT_NOT_ON_COMMON)
    if (known := tenant.resolved()) is not None:
        return Located(known)
    user, home = find_user(services.directory, tenant, req.params["username"])  # /organizations
    return Located(ResolvedTenant(home), user)


def public_allowed(app: ApplicationRecord, located: Located) -> bool:
    return app.is_fallback_public_client


def authorize(g: GrantInput) -> UserOutcome:
    services, params = g.services, g.req.params
    user, _ = find_user(services.directory, g.tenant, params["username"], client=g.client.app)
    check_password(services.artefacts, user, params["password"], now=services.clock.now())
    check_assignment(services.directory, g.client.app, g.client.sp, user)
    scope = params.get("scope", "")
    grant = consented(g, user, scope, params.get("resource"))
    return UserOutcome(user, grant, SignIn(None, ("pwd",), services.clock.now()), scope)


GRANT = Grant(
    grant_type="password",
    parameters_v1=("username", "password"),
    parameters_v2=("username", "password", "scope"),
    missing_credential=catalogue.CREDENTIAL_REQUIRED,
    authorize=authorize,
    locate=locate,
    public_allowed=public_allowed,
)
