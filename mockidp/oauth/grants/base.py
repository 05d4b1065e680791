"""What a grant declares: its parameters, where it may be used, and its decision hook."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mockidp.errors import AadstsError, catalogue
from mockidp.errors.catalogue import ErrorSpec
from mockidp.oauth.client_auth import Client
from mockidp.oauth.context import Services, TokenRequest
from mockidp.oauth.tenants import TenantRef
from mockidp.tokens.model import Authorization


@dataclass(frozen=True, slots=True)
class GrantInput:
    req: TokenRequest
    tenant: TenantRef
    client: Client
    services: Services


@dataclass(frozen=True, slots=True)
class Grant:
    grant_type: str
    parameters_v1: tuple[str, ...]  # required besides grant_type and client_id
    parameters_v2: tuple[str, ...]
    missing_credential: ErrorSpec
    authorize: Callable[[GrantInput], Authorization]

    def required(self, version: int) -> tuple[str, ...]:
        return self.parameters_v2 if version == 2 else self.parameters_v1

    def check_tenant(self, tenant: TenantRef) -> None:
        """App-only and password grants need a tenant the request names (9001023 / 50059)."""
        if tenant.kind in ("common", "consumers"):
            raise AadstsError(catalogue.GRANT_NOT_ON_COMMON)
        if tenant.kind == "organizations":
            raise AadstsError(catalogue.NO_TENANT_INFORMATION)
