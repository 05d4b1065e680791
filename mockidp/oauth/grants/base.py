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
from mockidp.oauth.payloads import SignIn
from mockidp.oauth.scopes import Resource
from mockidp.oauth.tenants import ResolvedTenant, TenantRef


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


@dataclass(frozen=True, slots=True)
class AppRequest:
    """What an app-only grant asks for: a token for `resource`, as the client itself. The pipeline runs the
    assignment rule (501051, `roles`) and mints."""

    resource: Resource


@dataclass(frozen=True, slots=True)
class UserRequest:
    """What a user grant asks for: a token for `user`, for the scopes (v2) or resource (v1) named. The
    pipeline then runs, for every user grant alike, the user's assignment to the client (50105), consent
    (65001), `redeem`, and minting."""

    user: UserRecord
    scope: str  # as asked (kept with the refresh token)
    resource_param: str | None
    sign_in: SignIn
    # Consumes the grant's single-use artefact (code, device code) or touches it (refresh token), once every
    # rule has passed: a refused request leaves it usable. Raises the grant's own error on a lost race.
    redeem: Callable[[], None] | None = None
    nonce: str | None = None
    spa: bool = False
    chain_issued_at: float | None = None  # first sign-in of a refresh-token chain
    with_refresh_token: bool = True
    with_id_token: bool = True


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
    authorize: Callable[[GrantInput], AppRequest | UserRequest]
    locate: Callable[[TokenRequest, TenantRef, Services], Located] = specific_tenant
    public_allowed: Callable[[ApplicationRecord, Located], bool] = never_public
    for_user: bool = True  # a user grant (client_credentials is the one that is not)

    def required(self, version: int) -> tuple[str, ...]:
        return self.parameters_v2 if version == 2 else self.parameters_v1
