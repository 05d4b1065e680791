"""Directory records as Graph JSON (field order as Graph's v1.0) and the collection queries served:
$filter (`appId eq`, `displayName eq`, `id eq`, `userPrincipalName eq`; a grant's `clientId`, `resourceId`,
`consentType`, `principalId eq`; a federated credential's `name`, `subject`, `issuer eq`), $select,
$top with @odata.nextLink."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mockidp.directory import model as m

Json = dict[str, Any]
MAX_TOP = 999  # Graph's largest page for directory objects
DEFAULT_TOP = 100


class QueryError(Exception):
    """A query option that is not served: the edge answers graph/errors.py's UNSUPPORTED_QUERY."""


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def application(a: m.ApplicationRecord) -> Json:
    return {
        "id": a.object_id, "appId": a.app_id, "displayName": a.display_name,
        "identifierUris": list(a.identifier_uris), "signInAudience": a.sign_in_audience,
        "isFallbackPublicClient": a.is_fallback_public_client,
        "groupMembershipClaims": a.group_membership_claims,
        "api": {"requestedAccessTokenVersion": a.access_token_version, "oauth2PermissionScopes": [
            {"adminConsentDisplayName": s.admin_consent_display_name, "id": s.id, "isEnabled": s.is_enabled,
             "type": s.type, "userConsentDisplayName": s.user_consent_display_name, "value": s.value}
            for s in a.scopes]},
        "appRoles": [{"allowedMemberTypes": list(r.allowed_member_types), "displayName": r.display_name,
                      "id": r.id, "isEnabled": r.is_enabled, "value": r.value} for r in a.app_roles],
        "passwordCredentials": [{"displayName": None, "endDateTime": iso(s.end), "hint": None,
                                 "keyId": s.key_id, "secretText": None, "startDateTime": iso(s.start)}
                                for s in a.secrets],
        "keyCredentials": [{"endDateTime": iso(c.end), "keyId": c.key_id, "startDateTime": iso(c.start),
                            "type": "AsymmetricX509Cert", "usage": "Verify"} for c in a.certificates],
        "optionalClaims": {"accessToken": [
            {"additionalProperties": [], "essential": False, "name": name, "source": None}
            for name in a.access_token_claims], "idToken": [], "saml2Token": []}
        if a.access_token_claims else None,  # Graph's null when none is configured
        "publicClient": {"redirectUris": list(a.public_redirect_uris)},
        "requiredResourceAccess": [{"resourceAppId": app_id, "resourceAccess": [
            {"id": i, "type": kind} for i, kind in access]} for app_id, access in a.required_resource_access],
        "spa": {"redirectUris": list(a.spa_redirect_uris)},
        "web": {"logoutUrl": a.logout_url, "redirectUris": list(a.web_redirect_uris), "implicitGrantSettings": {
            "enableAccessTokenIssuance": a.implicit_access_token,
            "enableIdTokenIssuance": a.implicit_id_token}},
    }


def federated_credential(c: m.FederatedCredentialRecord) -> Json:
    """Field order as Graph's documented responses."""
    return {"id": c.id, "name": c.name, "issuer": c.issuer, "subject": c.subject, "description": c.description,
            "audiences": list(c.audiences)}


def service_principal(sp: m.ServicePrincipalRecord, app: m.ApplicationRecord | None = None) -> Json:
    """With its application: appDisplayName, the app's home tenant, servicePrincipalNames, and the app roles and
    scopes it publishes (tools read Graph's app role ids here)."""
    out: Json = {"id": sp.id, "accountEnabled": sp.account_enabled, "alternativeNames": list(sp.alternative_names)}
    if app is not None:
        out["appDisplayName"] = app.display_name
    out |= {"appId": sp.app_id, "appOwnerOrganizationId": app.tenant_id if app is not None else sp.tenant_id,
            "appRoleAssignmentRequired": sp.app_role_assignment_required, "displayName": sp.display_name}
    if app is not None:
        out["servicePrincipalNames"] = list(dict.fromkeys((app.app_id, *app.identifier_uris)))
    out["servicePrincipalType"] = sp.service_principal_type
    if app is not None:
        out["appRoles"] = [{"allowedMemberTypes": list(r.allowed_member_types), "description": None,
                            "displayName": r.display_name, "id": r.id, "isEnabled": r.is_enabled, "origin":
                            "Application", "value": r.value} for r in app.app_roles]
        out["oauth2PermissionScopes"] = [
            {"adminConsentDescription": None, "adminConsentDisplayName": s.admin_consent_display_name, "id": s.id,
             "isEnabled": s.is_enabled, "type": s.type, "userConsentDescription": None,
             "userConsentDisplayName": s.user_consent_display_name, "value": s.value} for s in app.scopes]
    return out


_FILTERED = "appId|displayName|id|clientId|userPrincipalName|resourceId|consentType|principalId|name|subject|issuer"
_FILTER = re.compile(rf"^\s*({_FILTERED})\s+eq\s+'((?:[^']|'')*)'\s*$")


def page(items: Sequence[Json], query: Mapping[str, str], *, context: str,
         link: Callable[[int], str]) -> Json:
    """One page of a collection: `link(skip)` makes the @odata.nextLink of the rest. The skip token is an
    offset (a choice: Graph's is opaque; clients only follow it)."""
    for option in query:
        if option in ("$orderby", "$count", "$expand", "$search"):
            raise QueryError(option)
    chosen = list(items)
    if "$filter" in query:
        found = _FILTER.match(query["$filter"])
        if found is None:
            raise QueryError(f"$filter={query['$filter']}")
        name, value = found.group(1), found.group(2).replace("''", "'")
        folded = name == "userPrincipalName"  # Graph compares a UPN without regard to case
        chosen = [x for x in chosen if x.get(name) == value
                  or (folded and str(x.get(name, "")).lower() == value.lower())]
    try:
        top = int(query.get("$top", DEFAULT_TOP))
        skip = int(query.get("$skiptoken", "0"))
    except ValueError:
        raise QueryError("$top") from None
    if not 1 <= top <= MAX_TOP or skip < 0:
        raise QueryError("$top")
    shown = chosen[skip:skip + top]
    if "$select" in query:
        keep = [f.strip() for f in query["$select"].split(",") if f.strip()]
        shown = [{k: x[k] for k in x if k in keep or k in ("id", "@odata.type")} for x in shown]  # Graph keeps both
    out: Json = {"@odata.context": context}
    if skip + top < len(chosen):  # Graph writes the next link before the values
        out["@odata.nextLink"] = link(skip + top)
    out["value"] = shown
    return out
