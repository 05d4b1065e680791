"""The read-only snapshot of the directory each worker builds once at start-up: the token hot path
reads only these dictionaries (no YAML, no database)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from mockidp.directory.builtin import (
    FIRST_PARTY,
    GRAPH_APP,
    GRAPH_APP_ID,
    first_party_service_principal,
    graph_service_principal,
)
from mockidp.directory.ids import derived_id
from mockidp.directory.model import (
    ApplicationRecord,
    AssignmentRecord,
    AzureResourceRecord,
    DirectoryContent,
    FederatedCredentialRecord,
    GrantRecord,
    GroupRecord,
    ServicePrincipalRecord,
    TenantRecord,
    UserRecord,
)


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
    users: dict[str, UserRecord] = field(default_factory=dict)
    groups: dict[str, GroupRecord] = field(default_factory=dict)
    grants: dict[tuple[str, str], tuple[GrantRecord, ...]] = field(default_factory=dict)
    assignments: dict[tuple[str, str], tuple[AssignmentRecord, ...]] = field(default_factory=dict)
    azure_resources: dict[str, AzureResourceRecord] = field(default_factory=dict)
    principals: dict[str, ServicePrincipalRecord] = field(default_factory=dict)  # by object id
    # owner's client id (an application's appId; a user-assigned identity's clientId) -> its credentials
    federated_credentials: dict[str, tuple[FederatedCredentialRecord, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, content: DirectoryContent) -> Directory:
        d = cls(content)
        for t in content.tenants:
            d.tenants[t.id] = t
            for domain in t.domains:
                d.tenants_by_domain[domain.lower()] = t
        for app in content.applications:
            d.applications[app.app_id] = app
            if app.federated_credentials:
                d.federated_credentials[app.app_id] = app.federated_credentials
        sps = list(content.service_principals)
        if GRAPH_APP_ID not in d.applications:  # every Entra tenant has Microsoft Graph
            d.applications[GRAPH_APP_ID] = GRAPH_APP
            sps += [graph_service_principal(t.id, derived_id(t.id, "sp", GRAPH_APP_ID)) for t in content.tenants]
        for builtin in FIRST_PARTY:  # and the Azure resources managed identities ask for (directory/builtin.py)
            if builtin.app_id not in d.applications:
                d.applications[builtin.app_id] = builtin
                sps += [first_party_service_principal(builtin, t.id, derived_id(t.id, "sp", builtin.app_id))
                        for t in content.tenants]
        for sp in sps:
            d.service_principals[(sp.tenant_id, sp.app_id)] = sp
            d.principals[sp.id] = sp
            if sp.is_managed_identity:  # a principal only: no token is ever issued for it as the resource
                continue
            app = d.applications[sp.app_id]
            d.resources[(sp.tenant_id, sp.app_id)] = sp
            for uri in app.identifier_uris:
                d.resources[(sp.tenant_id, uri)] = sp
                d.resources_folded[(sp.tenant_id, uri.lower())] = sp
        for u in content.users:
            d.users_by_upn[(u.tenant_id, u.user_principal_name.lower())] = u
            d.users[u.id] = u
        for g in content.groups:
            d.groups[g.id] = g
        by_pair: dict[tuple[str, str], list[GrantRecord]] = defaultdict(list)
        for gr in content.grants:
            by_pair[(gr.client_sp_id, gr.resource_sp_id)].append(gr)
        d.grants = {k: tuple(v) for k, v in by_pair.items()}
        grouped: dict[tuple[str, str], list[AssignmentRecord]] = defaultdict(list)
        for a in content.assignments:
            grouped[(a.resource_sp_id, a.principal_id)].append(a)
        d.assignments = {k: tuple(v) for k, v in grouped.items()}
        d.azure_resources = {r.name: r for r in content.azure_resources}
        return d

    def tenant_by_domain(self, domain: str) -> TenantRecord | None:
        return self.tenants_by_domain.get(domain.lower())

    def service_principal(self, tenant_id: str, app_id: str) -> ServicePrincipalRecord | None:
        return self.service_principals.get((tenant_id, app_id))

    def resource(self, tenant_id: str, identifier: str) -> ServicePrincipalRecord | None:
        """A resource SP by appId (any case) or identifierUri (exact, then case-insensitive)."""
        sp = self.resources.get((tenant_id, identifier)) or self.resources.get((tenant_id, identifier.lower()))
        return sp or self.resources_folded.get((tenant_id, identifier.lower()))

    def grants_of(self, client_sp_id: str, resource_sp_id: str) -> tuple[GrantRecord, ...]:
        return self.grants.get((client_sp_id, resource_sp_id), ())

    def user_by_upn(self, tenant_id: str, upn: str) -> UserRecord | None:
        return self.users_by_upn.get((tenant_id, upn.lower()))

    def federated_credentials_of(self, owner_id: str) -> tuple[FederatedCredentialRecord, ...]:
        """The federated identity credentials of the application or user-assigned identity whose client id
        is `owner_id` (what a token request's client_id names)."""
        return self.federated_credentials.get(owner_id, ())

    def assignments_of(self, resource_sp_id: str, principal_id: str) -> tuple[AssignmentRecord, ...]:
        return self.assignments.get((resource_sp_id, principal_id), ())
