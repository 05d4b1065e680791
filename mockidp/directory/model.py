"""The directory as frozen values: what the seed says, with ids resolved and secrets hashed.

`Directory` is the read-only snapshot every worker builds once at start-up; the token hot path
reads only these dictionaries.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

DEFAULT_ACCESS_ROLE_ID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True, slots=True)
class TenantRecord:
    id: str
    display_name: str
    domains: tuple[str, ...]
    region: str


@dataclass(frozen=True, slots=True)
class AppRoleRecord:
    id: str
    value: str
    allowed_member_types: tuple[str, ...]
    display_name: str
    is_enabled: bool = True


@dataclass(frozen=True, slots=True)
class ScopeRecord:
    id: str
    value: str
    type: str
    admin_consent_display_name: str
    user_consent_display_name: str
    is_enabled: bool = True


@dataclass(frozen=True, slots=True)
class SecretRecord:
    key_id: str
    sha256: str  # hex digest of the secret text: the secret itself is never stored
    start: float | None
    end: float | None


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    key_id: str
    sha1: str  # hex thumbprints of the certificate DER
    sha256: str
    public_key_pem: str
    start: float | None
    end: float | None


@dataclass(frozen=True, slots=True)
class ApplicationRecord:
    app_id: str
    object_id: str
    tenant_id: str
    display_name: str
    identifier_uris: tuple[str, ...]
    sign_in_audience: str
    access_token_version: int  # 1 or 2, from api.requestedAccessTokenVersion (null -> 1)
    scopes: tuple[ScopeRecord, ...]
    app_roles: tuple[AppRoleRecord, ...]
    group_membership_claims: str | None
    secrets: tuple[SecretRecord, ...]
    certificates: tuple[CertificateRecord, ...]
    web_redirect_uris: tuple[str, ...]
    spa_redirect_uris: tuple[str, ...]
    public_redirect_uris: tuple[str, ...]
    implicit_id_token: bool
    implicit_access_token: bool
    is_fallback_public_client: bool
    pre_authorized: tuple[tuple[str, tuple[str, ...]], ...]
    logout_url: str | None

    @property
    def is_public(self) -> bool:
        """Public (no credential may be presented): a public-fallback app with no credential registered.

        A choice: Entra's exact rule is not documented; this is what makes 700025 reachable without
        refusing confidential apps that also allow public flows.
        """
        return self.is_fallback_public_client and not self.secrets and not self.certificates

    @property
    def is_multi_tenant(self) -> bool:
        return self.sign_in_audience != "AzureADMyOrg"


@dataclass(frozen=True, slots=True)
class ServicePrincipalRecord:
    id: str
    tenant_id: str
    app_id: str
    display_name: str
    app_role_assignment_required: bool
    account_enabled: bool


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    tenant_id: str
    user_principal_name: str
    display_name: str
    given_name: str | None
    surname: str | None
    mail: str | None
    password_hash: str | None
    account_enabled: bool
    group_ids: tuple[str, ...]
    directory_role_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GroupRecord:
    id: str
    tenant_id: str
    display_name: str
    security_enabled: bool


@dataclass(frozen=True, slots=True)
class AssignmentRecord:
    id: str
    tenant_id: str
    principal_id: str
    principal_type: str  # User | Group | ServicePrincipal
    resource_sp_id: str
    app_role_id: str


@dataclass(frozen=True, slots=True)
class GrantRecord:
    id: str
    tenant_id: str
    client_sp_id: str
    resource_sp_id: str
    consent_type: str  # AllPrincipals | Principal
    principal_id: str | None
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DirectoryContent:
    """Everything the seed defines, ready to be stored or indexed."""

    tenants: tuple[TenantRecord, ...] = ()
    applications: tuple[ApplicationRecord, ...] = ()
    service_principals: tuple[ServicePrincipalRecord, ...] = ()
    users: tuple[UserRecord, ...] = ()
    groups: tuple[GroupRecord, ...] = ()
    assignments: tuple[AssignmentRecord, ...] = ()
    grants: tuple[GrantRecord, ...] = ()


@dataclass(slots=True)
class Directory:
    """Indexed, read-only view of a DirectoryContent."""

    content: DirectoryContent
    tenants: dict[str, TenantRecord] = field(default_factory=dict)
    tenants_by_domain: dict[str, TenantRecord] = field(default_factory=dict)
    applications: dict[str, ApplicationRecord] = field(default_factory=dict)
    service_principals: dict[tuple[str, str], ServicePrincipalRecord] = field(default_factory=dict)
    resources: dict[tuple[str, str], ServicePrincipalRecord] = field(default_factory=dict)
    resources_folded: dict[tuple[str, str], ServicePrincipalRecord] = field(default_factory=dict)
    users_by_upn: dict[tuple[str, str], UserRecord] = field(default_factory=dict)
    assignments: dict[tuple[str, str], tuple[AssignmentRecord, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, content: DirectoryContent) -> Directory:
        d = cls(content)
        for t in content.tenants:
            d.tenants[t.id] = t
            for domain in t.domains:
                d.tenants_by_domain[domain.lower()] = t
        for app in content.applications:
            d.applications[app.app_id] = app
        for sp in content.service_principals:
            d.service_principals[(sp.tenant_id, sp.app_id)] = sp
            app = d.applications[sp.app_id]
            d.resources[(sp.tenant_id, sp.app_id)] = sp
            for uri in app.identifier_uris:
                d.resources[(sp.tenant_id, uri)] = sp
                d.resources_folded[(sp.tenant_id, uri.lower())] = sp
        for u in content.users:
            d.users_by_upn[(u.tenant_id, u.user_principal_name.lower())] = u
        grouped: dict[tuple[str, str], list[AssignmentRecord]] = defaultdict(list)
        for a in content.assignments:
            grouped[(a.resource_sp_id, a.principal_id)].append(a)
        d.assignments = {k: tuple(v) for k, v in grouped.items()}
        return d

    def tenant_by_domain(self, domain: str) -> TenantRecord | None:
        return self.tenants_by_domain.get(domain.lower())

    def service_principal(self, tenant_id: str, app_id: str) -> ServicePrincipalRecord | None:
        return self.service_principals.get((tenant_id, app_id))

    def resource(self, tenant_id: str, identifier: str) -> ServicePrincipalRecord | None:
        """A resource SP by appId (any case) or identifierUri (exact, then case-insensitive)."""
        sp = self.resources.get((tenant_id, identifier)) or self.resources.get((tenant_id, identifier.lower()))
        return sp or self.resources_folded.get((tenant_id, identifier.lower()))

    def assignments_of(self, resource_sp_id: str, principal_id: str) -> tuple[AssignmentRecord, ...]:
        return self.assignments.get((resource_sp_id, principal_id), ())
