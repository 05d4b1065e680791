"""What a grant declares: its parameters, where it may be used, whether public clients may use it,
and its decision hook. The pipeline (token_endpoint.py) runs the shared steps around them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mockidp.directory.model import ApplicationRecord, UserRecord
from mockidp.errors import AadstsError, catalogue
from mockidp.errors.catalogue import ErrorSpec
from mockidp.oauth.client_auth import Client
from mockidp.oauth.context import Services, TokenRequest
from mockidp.oauth.delegated import DelegatedGrant, decide, require_consent
from mockidp.oauth.tenants import ResolvedTenant, TenantRef
from mockidp.oauth.user_tokens import UserOutcome
from mockidp.tokens.model import Authorization


@dataclass(frozen=True, slots=True)
class Located:
    """The tenant a grant acts in, and the artefact (code, refresh token, ...) it found there."""

    tenant: ResolvedTenant
    artefact: Any = None


@dataclass(frozen=True, slots=True)
class GrantInput:
    req: TokenRequest
    tenant: ResolvedTenant
    client: Client
    services: Services
    artefact: Any = None


def consented(g: GrantInput, user: UserRecord, scope: str, resource: str | None) -> DelegatedGrant:
    """The delegated decision of a grant that cannot ask the user: missing consent is AADSTS65001."""
    services = g.services
    grant = decide(services.directory, services.artefacts, tenant=g.tenant, client=g.client.app,
                   client_sp=g.client.sp, user=user, scopes=scope.split(), resource_param=resource)
    require_consent(grant, g.client.app)
    return grant


def specific_tenant(req: TokenRequest, tenant: TenantRef, services: Services) -> Located:
    """App-only and password grants need a tenant the request names (9001023 / 50059)."""
    known = tenant.resolved()
    if known is not None:
        return Located(known)
    raise AadstsError(catalogue.NO_TENANT_INFORMATION if tenant.kind == "organizations"
                      else catalogue.GRANT_NOT_ON_COMMON)


def never_public(app: ApplicationRecord, located: Located) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Grant:
    grant_type: str
    parameters_v1: tuple[str, ...]  # required besides grant_type and client_id
    parameters_v2: tuple[str, ...]
    missing_credential: ErrorSpec
    authorize: Callable[[GrantInput], Authorization | UserOutcome]
    locate: Callable[[TokenRequest, TenantRef, Services], Located] = specific_tenant
    public_allowed: Callable[[ApplicationRecord, Located], bool] = never_public
    for_user: bool = True  # a user grant (client_credentials is the one that is not)

    def required(self, version: int) -> tuple[str, ...]:
        return self.parameters_v2 if version == 2 else self.parameters_v1
