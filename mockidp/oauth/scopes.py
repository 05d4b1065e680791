"""Step 4: from `scope` (v2) or `resource` (v1) to the one resource a token is for
(docs/entra-behaviour.md#scopes-and-consent)."""

from __future__ import annotations

from dataclasses import dataclass

from mockidp.directory.model import ApplicationRecord, ServicePrincipalRecord
from mockidp.directory.snapshot import Directory
from mockidp.errors import AadstsError, catalogue
from mockidp.oauth.tenants import ResolvedTenant

OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
GRAPH = "https://graph.microsoft.com"
DEFAULT = ".default"


@dataclass(frozen=True, slots=True)
class Resource:
    identifier: str  # as requested: the v1 `aud`
    sp: ServicePrincipalRecord
    app: ApplicationRecord
    permissions: tuple[str, ...]  # e.g. (".default",) or ("access_as_user",)


def split_scope(scope: str) -> tuple[str, str]:
    """'api://x/read' -> ('api://x', 'read'); 'https://h//.default' -> ('https://h/', '.default');
    a bare 'User.Read' is Microsoft Graph's."""
    identifier, slash, permission = scope.rpartition("/")
    return (identifier, permission) if slash else (GRAPH, scope)


def lookup_resource(
    directory: Directory, tenant: ResolvedTenant, identifier: str,
) -> tuple[ServicePrincipalRecord, ApplicationRecord, str]:
    """The resource SP by appId or identifierUri; 'https://h' also finds 'https://h/' (500011 otherwise)."""
    tid = tenant.tenant.id
    sp = directory.resource(tid, identifier)
    matched = identifier
    if sp is None and not identifier.endswith("/"):
        sp = directory.resource(tid, identifier + "/")
        matched = identifier + "/"
    if sp is None:
        raise AadstsError(catalogue.RESOURCE_NOT_FOUND, resource=identifier[:512],
                          tenant_name=tenant.tenant.display_name)
    app = directory.applications[sp.app_id]
    if not sp.account_enabled:
        raise AadstsError(catalogue.APP_DISABLED, app_id=app.app_id, app_name=app.display_name)
    return sp, app, matched


def app_only_resource(directory: Directory, tenant: ResolvedTenant, scope: str) -> Resource:
    """client_credentials: exactly one resource, asked for with /.default (700022, 1002012, 500011)."""
    requested = [s for s in scope.split() if s not in OIDC_SCOPES]
    if not requested:
        raise AadstsError(catalogue.DEFAULT_SCOPE_REQUIRED, scope=scope[:512])
    split = [split_scope(s) for s in requested]
    identifiers = list(dict.fromkeys(identifier for identifier, _ in split))
    if len(identifiers) > 1:
        raise AadstsError(catalogue.MULTIPLE_RESOURCES)
    for (identifier, permission), original in zip(split, requested, strict=True):
        if permission != DEFAULT or not identifier:
            raise AadstsError(catalogue.DEFAULT_SCOPE_REQUIRED, scope=original[:512])
    sp, app, matched = lookup_resource(directory, tenant, identifiers[0])
    return Resource(matched, sp, app, (DEFAULT,))


def v1_resource(directory: Directory, tenant: ResolvedTenant, resource: str) -> Resource:
    """The v1 endpoint names the resource directly; its `aud` is that string as given."""
    sp, app, matched = lookup_resource(directory, tenant, resource)
    return Resource(matched, sp, app, (DEFAULT,))
