"""Why an issued access token says what it says: the claim reasons of a successful request's trace.

Worked out only while a trace is open (trace.active()), from the same directory the decision used, so
the reasons are the rules of docs/entra-behaviour.md read back: the version is the resource's
requestedAccessTokenVersion; `roles` are the app role assignments of the subject (and, for a user,
their groups); `scp` the consented scopes and where each consent comes from; `groups` follows the
resource's groupMembershipClaims.
"""

from __future__ import annotations

from mockidp.directory.builtin import GRAPH_APP_ID, IMPLICITLY_CONSENTED
from mockidp.directory.model import ApplicationRecord, ServicePrincipalRecord
from mockidp.directory.snapshot import Directory
from mockidp.oauth import trace
from mockidp.tokens.claims import GROUPS_OVERAGE
from mockidp.tokens.model import Authorization


def _name(app: ApplicationRecord | None, app_id: str) -> str:
    return f"{app.display_name} ({app_id})" if app else app_id


# App-only reasons depend on nothing but the directory and these fields: worked out once per worker and
# directory (client credentials repeat the same request), then reused.
_APP_ONLY: dict[tuple[int, str, str, str, int, tuple[str, ...]], tuple[Directory, list[trace.ClaimReason]]] = {}
_APP_ONLY_LIMIT = 1024


def record(directory: Directory, auth: Authorization) -> None:
    """Adds the reasons of `auth`'s access token to the open trace (nothing when none is open)."""
    current = trace.current()
    if current is None:
        return
    if auth.user is None:
        key = (id(directory), auth.client_app_id, auth.resource_app_id, auth.audience, auth.version, auth.roles)
        cached = _APP_ONLY.get(key)
        if cached is None or cached[0] is not directory:
            start = len(current.claims)
            _record(directory, auth)
            if len(_APP_ONLY) >= _APP_ONLY_LIMIT:
                _APP_ONLY.clear()
            _APP_ONLY[key] = (directory, current.claims[start:])
        else:
            current.claims.extend(cached[1])
        return
    _record(directory, auth)


def _record(directory: Directory, auth: Authorization) -> None:
    resource_app = directory.applications.get(auth.resource_app_id)
    client_app = directory.applications.get(auth.client_app_id)
    resource_sp = directory.service_principal(auth.tenant_id, auth.resource_app_id)
    resource = _name(resource_app, auth.resource_app_id)
    client = _name(client_app, auth.client_app_id)
    setting = "2" if auth.version == 2 else "null (or 1)"
    trace.claim("ver", f"{auth.version}.0",
                f"the resource {resource} has api.requestedAccessTokenVersion {setting}: the resource decides the "
                "access token's version, not the endpoint it was asked at")
    trace.claim("aud", auth.audience if auth.version == 1 else auth.resource_app_id,
                "v2 access tokens carry the resource's appId" if auth.version == 2
                else "v1 access tokens carry the resource's identifier as the request named it")
    if auth.user is None:
        _app_roles(directory, auth, resource_sp, resource, client)
        if "idtyp" in auth.optional_claims:
            trace.claim("idtyp", "app", f"the resource {resource} lists idtyp in optionalClaims.accessToken (Microsoft "
                                        "Graph and Resource Manager always do): its app-only tokens say they are")
    else:
        _user_roles(directory, auth, resource_sp, resource)
        _scopes(directory, auth, resource_sp, resource_app)
        _groups(auth, resource_app, resource)


def _role_values(resource_app: ApplicationRecord | None, role_ids: dict[str, str]) -> dict[str, str]:
    """role value -> the assignment (id) that gives it."""
    if resource_app is None:
        return {}
    return {r.value: role_ids[r.id] for r in resource_app.app_roles if r.id in role_ids}


def _app_roles(directory: Directory, auth: Authorization, resource_sp: ServicePrincipalRecord | None,
               resource: str, client: str) -> None:
    assigned = directory.assignments_of(resource_sp.id, auth.subject_id) if resource_sp else ()
    if auth.roles:
        by_value = _role_values(directory.applications.get(auth.resource_app_id),
                                {a.app_role_id: a.id for a in assigned})
        trace.claim("roles", auth.roles, "; ".join(
            f"{v}: app role assignment {by_value.get(v, '?')} of {client} on {resource} (admin consent to an "
            "application permission)" for v in auth.roles))
        return
    required = resource_sp.app_role_assignment_required if resource_sp else False
    trace.claim("roles", None,
                f"no roles claim: no application permission of {resource} is assigned to {client}, and "
                f"{resource} {'requires' if required else 'does not require'} assignment "
                f"(appRoleAssignmentRequired: {'true' if required else 'false'}), so any app of the tenant may "
                "have a token without roles")


def _user_roles(directory: Directory, auth: Authorization, resource_sp: ServicePrincipalRecord | None,
                resource: str) -> None:
    user = directory.users.get(auth.subject_id)
    if resource_sp is None or user is None:
        return
    via: dict[str, str] = {}
    for principal in (user.id, *user.group_ids):
        for a in directory.assignments_of(resource_sp.id, principal):
            group = directory.groups.get(principal)
            via[a.app_role_id] = f"assignment {a.id}" + (f" through group {group.display_name}" if group else "")
    if auth.roles:
        by_value = _role_values(directory.applications.get(auth.resource_app_id), via)
        trace.claim("roles", auth.roles, "; ".join(
            f"{v}: {by_value.get(v, '?')} of {user.user_principal_name} on {resource}" for v in auth.roles))
    else:
        trace.claim("roles", None, f"no roles claim: no app role of {resource} is assigned to "
                                   f"{user.user_principal_name} or their groups")


def _scopes(directory: Directory, auth: Authorization, resource_sp: ServicePrincipalRecord | None,
            resource_app: ApplicationRecord | None) -> None:
    if not auth.scopes:
        return
    client_sp = directory.service_principal(auth.tenant_id, auth.client_app_id)
    sources: dict[str, str] = {}
    if client_sp is not None and resource_sp is not None:
        for g in directory.grants_of(client_sp.id, resource_sp.id):
            if g.consent_type == "AllPrincipals":
                label = f"admin consent (oauth2PermissionGrant {g.id}, AllPrincipals)"
            elif g.principal_id == auth.subject_id:
                label = f"the user's consent (oauth2PermissionGrant {g.id})"
            else:
                continue
            for s in g.scopes:
                sources.setdefault(s, label)
    if resource_app is not None:
        ids = {s.id: s.value for s in resource_app.scopes}
        for app_id, permission_ids in resource_app.pre_authorized:
            if app_id == auth.client_app_id:
                for i in permission_ids:
                    if i in ids:
                        sources.setdefault(ids[i], "preAuthorizedApplications of the resource")
    for s in auth.scopes:
        if s not in sources:
            implicit = auth.resource_app_id == GRAPH_APP_ID and s in IMPLICITLY_CONSENTED
            sources[s] = "consented implicitly (Microsoft Graph's sign-in scopes)" if implicit \
                else "the user's consent, given on the consent page"
    trace.claim("scp", " ".join(auth.scopes), "; ".join(f"{s}: {sources[s]}" for s in auth.scopes))


def _groups(auth: Authorization, resource_app: ApplicationRecord | None, resource: str) -> None:
    setting = resource_app.group_membership_claims if resource_app else None
    groups = auth.user.groups if auth.user else None
    if groups and len(groups) > GROUPS_OVERAGE:
        trace.claim("groups", None, f"{resource} has groupMembershipClaims {setting} and the user is in "
                                    f"{len(groups)} such groups, more than a token lists ({GROUPS_OVERAGE}): "
                                    "Entra sends _claim_names and _claim_sources instead")
    elif groups:
        trace.claim("groups", groups, f"{resource} has groupMembershipClaims {setting}: the user's "
                                      f"{'groups' if setting == 'All' else 'security groups'} are listed")
    elif setting:
        trace.claim("groups", None, f"{resource} has groupMembershipClaims {setting}, and the user is in no such "
                                    "group: Entra leaves the claim out")
    else:
        trace.claim("groups", None, f"no groups claim: {resource} has no groupMembershipClaims")
