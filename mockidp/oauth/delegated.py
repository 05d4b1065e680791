"""Delegated access: which scopes (`scp`) and roles a user's token for a resource carries, and when
consent is missing (docs/entra-behaviour.md#scopes-and-consent)."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from mockidp.directory.artefacts import Artefacts
from mockidp.directory.builtin import GRAPH_APP_ID, GRAPH_URI, IMPLICITLY_CONSENTED
from mockidp.directory.model import ApplicationRecord, ServicePrincipalRecord, UserRecord
from mockidp.directory.snapshot import Directory
from mockidp.errors import AadstsError, catalogue
from mockidp.oauth.scopes import DEFAULT, OIDC_SCOPES, Resource, lookup_resource, split_scope
from mockidp.oauth.tenants import ResolvedTenant
from mockidp.tokens.model import UserIdentity

OIDC_ORDER = ("openid", "profile", "email", "offline_access")
# How a scope names its resource: a URI with a scheme (api://x, https://host) or a GUID (catalogue INVALID_SCOPE).
_RESOURCE_FORM = re.compile(
    r"^([A-Za-z][A-Za-z0-9+.-]*://[^/]+.*|urn:.+|[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})$")


@dataclass(frozen=True, slots=True)
class DelegatedGrant:
    resource: Resource
    scp: tuple[str, ...]
    roles: tuple[str, ...]
    oidc: frozenset[str]
    missing: tuple[str, ...]  # delegated scopes without consent: empty when the user may have the token

    @property
    def response_scope(self) -> str:
        """v2 `scope`: full scope strings; OIDC scopes are echoed only for Microsoft Graph (as Entra does)."""
        if self.resource.app.app_id == GRAPH_APP_ID:
            extra = [s for s in OIDC_ORDER if s in self.oidc and s not in self.scp]
            return " ".join([*self.scp, *extra])
        return " ".join(f"{self.resource.identifier}/{value}" for value in self.scp)


def requested_resource(directory: Directory, tenant: ResolvedTenant, scopes: list[str], resource_param: str | None,
                       *, asked_by: ApplicationRecord | None = None) -> tuple[Resource, frozenset[str]]:
    """One resource per request (700022); OIDC-only requests are Microsoft Graph's (as in Entra).
    asked_by: the client at /authorize, where an unknown scope value is 650053 (70011 elsewhere)."""
    oidc = frozenset(s for s in scopes if s in OIDC_SCOPES)
    if resource_param is not None:  # v1 endpoints name the resource
        sp, app, matched = lookup_resource(directory, tenant, resource_param)
        return Resource(matched, sp, app, (DEFAULT,)), oidc
    others = [s for s in scopes if s not in OIDC_SCOPES]
    if not others:
        sp, app, matched = lookup_resource(directory, tenant, GRAPH_URI)
        perms = tuple(s for s in OIDC_ORDER if s in oidc and s != "offline_access")
        return Resource(GRAPH_URI, sp, app, perms), oidc
    split = [split_scope(s) for s in others]
    if any(not _RESOURCE_FORM.match(i) for i, _ in split):
        raise AadstsError(catalogue.INVALID_SCOPE, scope=" ".join(scopes)[:512], lead=catalogue.SCOPE_FORMAT[0],
                          reason=catalogue.SCOPE_FORMAT[1])
    identifiers = list(dict.fromkeys(i for i, _ in split))
    if len(identifiers) > 1:
        raise AadstsError(catalogue.MULTIPLE_RESOURCES)
    sp, app, matched = lookup_resource(directory, tenant, identifiers[0])
    perms = tuple(dict.fromkeys(p for _, p in split))
    if DEFAULT in perms and len(perms) > 1:
        raise AadstsError(catalogue.INVALID_SCOPE, scope=" ".join(others)[:512], lead="", reason="")
    known = {s.value for s in app.scopes if s.is_enabled}
    for perm, original in zip((p for _, p in split), others, strict=True):
        if perm != DEFAULT and perm not in known:
            if asked_by is not None:
                raise AadstsError(catalogue.UNKNOWN_SCOPE, app_name=asked_by.display_name, scope=perm[:512],
                                  resource=app.app_id)
            raise AadstsError(catalogue.INVALID_SCOPE, scope=original[:512], lead="", reason="")
    return Resource(matched, sp, app, perms), oidc


def consented_scopes(directory: Directory, artefacts: Artefacts, *, client: ApplicationRecord,
                     client_sp: ServicePrincipalRecord, resource: Resource, user: UserRecord) -> set[str]:
    """AllPrincipals grants, the user's own grants (seeded or given on the consent page) and
    preAuthorizedApplications of the resource."""
    granted: set[str] = set()
    for grant in directory.grants_of(client_sp.id, resource.sp.id):
        if grant.consent_type == "AllPrincipals" or grant.principal_id == user.id:
            granted.update(grant.scopes)
    granted |= artefacts.user_consented_scopes(client_sp_id=client_sp.id, resource_sp_id=resource.sp.id,
                                               user_id=user.id)
    ids_to_values = {s.id: s.value for s in resource.app.scopes}
    for app_id, permission_ids in resource.app.pre_authorized:
        if app_id == client.app_id:
            granted.update(ids_to_values[i] for i in permission_ids if i in ids_to_values)
    if resource.app.app_id == GRAPH_APP_ID:
        granted |= IMPLICITLY_CONSENTED
    return granted


def user_roles(directory: Directory, resource: Resource, user: UserRecord) -> tuple[str, ...]:
    """App roles assigned to the user or one of their groups on the resource (User-type roles)."""
    role_ids = {a.app_role_id for p in (user.id, *user.group_ids) for a in directory.assignments_of(resource.sp.id, p)}
    return tuple(r.value for r in resource.app.app_roles
                 if r.id in role_ids and r.is_enabled and "User" in r.allowed_member_types)


def decide(directory: Directory, artefacts: Artefacts, *, tenant: ResolvedTenant, client: ApplicationRecord,
           client_sp: ServicePrincipalRecord, user: UserRecord, scopes: list[str],
           resource_param: str | None = None, interactive: bool = False) -> DelegatedGrant:
    resource, oidc = requested_resource(directory, tenant, scopes, resource_param,
                                        asked_by=client if interactive else None)
    consented = consented_scopes(directory, artefacts, client=client, client_sp=client_sp, resource=resource,
                                 user=user)
    defined = [s.value for s in resource.app.scopes if s.is_enabled]
    if DEFAULT in resource.permissions:
        # `.default` in a user flow: every consented scope; nothing consented -> consent is missing.
        scp = tuple(v for v in defined if v in consented)
        missing = () if scp else tuple(v for v in defined if v not in consented)
        if not scp and not missing:
            missing = (DEFAULT,)
    else:
        scp = resource.permissions
        missing = tuple(p for p in scp if p not in consented)
    return DelegatedGrant(resource, scp, user_roles(directory, resource, user), oidc, missing)


@dataclass(frozen=True, slots=True)
class GivenConsent:
    """What accepting the consent page records: a Principal grant for this user, client and resource."""

    tenant_id: str
    client_sp_id: str
    resource_sp_id: str
    scopes: tuple[str, ...]


def given_consent(directory: Directory, user: UserRecord, *, client_id: str, requested: list[str],
                  resource_param: str | None, asked: tuple[str, ...]) -> GivenConsent:
    """The scopes the page asked for (`asked`), or every scope of the resource when it asked for `.default`;
    in the user's home tenant, where the client's service principal was found at sign-in."""
    home = directory.tenants[user.tenant_id]
    found, _ = requested_resource(directory, ResolvedTenant(home), requested, resource_param)
    client_sp = directory.service_principal(home.id, client_id)
    if client_sp is None:  # checked at sign-in already (the snapshot does not change); kept explicit
        raise AadstsError(catalogue.APP_NOT_FOUND, client_id=client_id, tenant_name=home.display_name)
    granted = tuple(s for s in asked if s != DEFAULT) or tuple(s.value for s in found.app.scopes)
    return GivenConsent(home.id, client_sp.id, found.sp.id, granted)


def require_consent(grant: DelegatedGrant, client: ApplicationRecord) -> None:
    """Non-interactive grants cannot ask: 65001 (invalid_grant, suberror consent_required)."""
    if grant.missing:
        raise AadstsError(catalogue.CONSENT_REQUIRED, suberror="consent_required", client_id=client.app_id,
                          client_name=client.display_name)


def pairwise_sub(user_id: str, client_id: str) -> str:
    """`sub` is pairwise per user and client (43 characters, as Entra's)."""
    return base64.urlsafe_b64encode(hashlib.sha256(f"{user_id}|{client_id}".encode()).digest()).rstrip(b"=").decode()


def identity(directory: Directory, user: UserRecord, *, client_id: str, resource_app: ApplicationRecord,
             sid: str | None, amr: tuple[str, ...], ipaddr: str | None) -> UserIdentity:
    """The user as tokens show them; `groups` follows the resource app's groupMembershipClaims."""
    claims = resource_app.group_membership_claims
    groups: tuple[str, ...] | None = None
    if claims in ("SecurityGroup", "All", "ApplicationGroup"):
        # An empty list is left out, not sent as [] (a choice: Entra sends no claim for no membership).
        groups = tuple(g for g in user.group_ids if directory.groups[g].security_enabled or claims == "All") or None
    return UserIdentity(
        oid=user.id, upn=user.user_principal_name, name=user.display_name,
        pairwise_sub=pairwise_sub(user.id, client_id),
        given_name=user.given_name, family_name=user.surname, email=user.mail, groups=groups,
        wids=user.directory_role_ids or None, amr=amr, ipaddr=ipaddr, sid=sid,
    )
