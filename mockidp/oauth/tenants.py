"""The {tenant} path segment: a GUID, a verified domain, or common / organizations / consumers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mockidp.directory.ids import GUID
from mockidp.directory.model import TenantRecord
from mockidp.directory.snapshot import Directory
from mockidp.errors import AadstsError, catalogue

MSA_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
MULTI_TENANT = frozenset({"common", "organizations", "consumers"})
_DNS = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
# Discovery looks any word of these characters up as a tenant name (90002 'secrets', 'tenant_id');
# the protocol endpoints call a segment that is no GUID nor dotted DNS name malformed (900023 'token',
# 'authorize', 'undefined'). Characters outside this set give 900023 at discovery too (a choice).
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,256}$")


@dataclass(frozen=True, slots=True)
class TenantRef:
    segment: str  # what URLs and issuers carry: the tenant GUID, or the literal multi-tenant name
    kind: str  # "tenant" | "common" | "organizations" | "consumers"
    tenant: TenantRecord | None

    def resolved(self) -> ResolvedTenant | None:
        """The tenant itself, or None for common / organizations / consumers."""
        return None if self.tenant is None else ResolvedTenant(self.tenant)


@dataclass(frozen=True, slots=True)
class ResolvedTenant:
    """The one tenant a request acts in: what every rule after tenant resolution receives, so none of
    them has to handle the multi-tenant names."""

    tenant: TenantRecord

    @property
    def segment(self) -> str:
        return self.tenant.id

    @property
    def kind(self) -> str:
        return "tenant"


def resolve_tenant(directory: Directory, segment: str, *, discovery: bool = False) -> TenantRef:
    """Discovery for a domain carries the GUID in every URL, as Entra's does. `discovery`: the
    metadata and key documents, whose syntax rule is looser (catalogue TENANT_NOT_FOUND)."""
    lowered = segment.lower()
    if lowered in MULTI_TENANT:
        return TenantRef(lowered, lowered, None)
    if GUID.match(segment):
        tenant = directory.tenants.get(lowered)
    elif _DNS.match(segment) or (discovery and _NAME.match(segment)):
        tenant = directory.tenant_by_domain(lowered)
    else:
        raise AadstsError(catalogue.INVALID_TENANT_IDENTIFIER, tenant=_shown(segment))
    if tenant is None:
        raise AadstsError(catalogue.TENANT_NOT_FOUND, tenant=segment)
    return TenantRef(tenant.id, "tenant", tenant)


def _shown(segment: str) -> str:
    # Entra echoes the segment; keep an echo of hostile input short.
    return segment if len(segment) <= 256 else segment[:256] + "..."
