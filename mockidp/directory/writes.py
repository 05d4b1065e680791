"""Graph writes as change functions over the directory (issue 9).

Each write is a function DirectoryContent -> DirectoryContent, run by Store.change_directory inside one
transaction: the changed directory is checked as a whole (every reference resolves, ids stay unique)
before it is written, and a refused write raises WriteError, so nothing is half-applied.
An application body goes through the seed's own schema and rules (seed.resolve_application). That module
(the seed's pydantic schema and the YAML parser with it) is imported by the first write that needs it, not
by every worker: `mockidp serve` prepares the seed in a child process and its workers never load it
otherwise (issue 11: about 4 MB and 70 ms a worker).
"""

from __future__ import annotations

import base64
import dataclasses
import uuid
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mockidp.directory import model as m
from mockidp.directory.federated_credentials import Owner, resolve_credentials
from mockidp.directory.passwords import secret_digest
from mockidp.directory.snapshot import Directory
from mockidp.directory.store import Store

if TYPE_CHECKING:
    from mockidp.directory.seed import SeedError

Change = Callable[[m.DirectoryContent], m.DirectoryContent]


class WriteError(Exception):
    """A refused write. `kind` names the reason for the surface's error catalogue (mockidp/graph/errors.py):
    'invalid' (a bad body), 'not_found' (a referenced object is missing), 'conflict' (it exists already),
    'duplicate' (an alternate key taken: Graph's 409), 'fic_value' (a federated credential's value refused),
    'entitlement' (an enabled app role or scope removed or changed)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    @classmethod
    def not_found(cls, object_id: str) -> WriteError:
        """Graph's Request_ResourceNotFound message, for any object a write names that is not there."""
        return cls("not_found", f"Resource '{object_id}' does not exist or one of its queried reference-property "
                                "objects are not present.")


def _seed() -> ModuleType:
    from mockidp.directory import seed

    return seed


def apply(store: Store, change: Change, *, now: float) -> m.DirectoryContent:
    """Run one write: the change, then the whole-directory check, in the store's one transaction."""
    return store.change_directory(lambda content: check(change(content)), now=now)


def check(content: m.DirectoryContent) -> m.DirectoryContent:
    """The cross-reference rules the seed enforces, over the whole changed directory."""
    problems: list[str] = []
    grant_scope_problems = _seed().grant_scope_problems
    _unique(problems, "application appId", [a.app_id for a in content.applications])
    _unique(problems, "application id", [a.object_id for a in content.applications])
    _unique(problems, "servicePrincipal id", [sp.id for sp in content.service_principals])
    _unique(problems, "servicePrincipal appId", [sp.app_id for sp in content.service_principals])
    _unique(problems, "appRoleAssignment id", [x.id for x in content.assignments])
    _unique(problems, "oauth2PermissionGrant id", [g.id for g in content.grants])
    built = Directory.build(content)  # with the built-in principals (Microsoft Graph, first-party resources)
    apps = built.applications
    sps = built.principals
    principals = {**{sp.id: "ServicePrincipal" for sp in sps.values()},
                  **{u.id: "User" for u in content.users}, **{g.id: "Group" for g in content.groups}}
    for sp in sps.values():
        if sp.app_id not in apps:
            problems.append(f"servicePrincipal {sp.id}: no application with appId {sp.app_id}")
    for x in content.assignments:
        resource = sps.get(x.resource_sp_id)
        if resource is None:
            problems.append(f"appRoleAssignment {x.id}: no servicePrincipal {x.resource_sp_id}")
        elif resource.app_id in apps and x.app_role_id != m.DEFAULT_ACCESS_ROLE_ID and x.app_role_id not in {
                r.id for r in apps[resource.app_id].app_roles}:
            problems.append(f"appRoleAssignment {x.id}: {x.app_role_id} is not an app role of the resource")
        if principals.get(x.principal_id) != x.principal_type:
            problems.append(f"appRoleAssignment {x.id}: no {x.principal_type} {x.principal_id}")
    users = {u.id for u in content.users}
    for g in content.grants:
        for ref in (g.client_sp_id, g.resource_sp_id):
            if ref not in sps:
                problems.append(f"oauth2PermissionGrant {g.id}: no servicePrincipal {ref}")
        if g.resource_sp_id in sps and sps[g.resource_sp_id].app_id in apps:
            problems += [f"oauth2PermissionGrant {g.id}: {why}" for why in grant_scope_problems(
                apps[sps[g.resource_sp_id].app_id], g.scopes)]
        if (g.consent_type == "Principal") != (g.principal_id is not None) or (
                g.principal_id is not None and g.principal_id not in users):
            problems.append(f"oauth2PermissionGrant {g.id}: consentType Principal names the user (principalId) it "
                            "is for; AllPrincipals names none")
    if problems:
        raise WriteError("invalid", "; ".join(problems))
    return content


def _unique(problems: list[str], what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            problems.append(f"{what} {v} is used twice")
        seen.add(v)


def create_application(body: Mapping[str, Any], tenant_id: str, *, object_id: str | None = None) -> Change:
    """POST /applications. Graph assigns appId and id; a body's appId is kept (the seed allows it)."""
    data = {k: v for k, v in body.items() if k not in ("id", "@odata.type")}
    data.setdefault("appId", str(uuid.uuid4()))
    new_object_id = object_id or str(uuid.uuid4())

    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        seed = _seed()
        try:
            record = seed.resolve_application(data, tenant_id)
        except seed.SeedError as exc:
            raise WriteError("invalid", _seed_problems(exc)) from None
        record = dataclasses.replace(record, object_id=new_object_id)
        if any(a.app_id == record.app_id for a in content.applications):
            raise WriteError("conflict", f"An application with appId {record.app_id} already exists.")
        return dataclasses.replace(content, applications=(*content.applications, record))
    return change


def _application(content: m.DirectoryContent, object_id: str) -> m.ApplicationRecord:
    for a in content.applications:
        if a.object_id == object_id:
            return a
    raise WriteError.not_found(object_id)


def _principal(content: m.DirectoryContent, sp_id: str) -> m.ServicePrincipalRecord:
    for sp in content.service_principals:
        if sp.id == sp_id:
            return sp
    raise WriteError.not_found(sp_id)


def delete_application(object_id: str) -> Change:
    """DELETE /applications/{id}: its service principal and what references that go with it."""
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        app = _application(content, object_id)
        gone = {sp.id for sp in content.service_principals if sp.app_id == app.app_id}
        return _without_principals(dataclasses.replace(
            content, applications=tuple(a for a in content.applications if a is not app)), gone)
    return change


def _without_principals(content: m.DirectoryContent, gone: set[str]) -> m.DirectoryContent:
    return dataclasses.replace(
        content,
        service_principals=tuple(sp for sp in content.service_principals if sp.id not in gone),
        assignments=tuple(x for x in content.assignments
                          if x.resource_sp_id not in gone and x.principal_id not in gone),
        grants=tuple(g for g in content.grants if g.client_sp_id not in gone and g.resource_sp_id not in gone))


def add_password(object_id: str, secret_text: str, *, key_id: str, start: float | None,
                 end: float | None) -> Change:
    """POST /applications/{id}/addPassword: only the digest is stored; Graph returns the text once."""
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        app = _application(content, object_id)
        secret = m.SecretRecord(key_id=key_id, sha256=secret_digest(secret_text), start=start, end=end)
        return _replace_app(content, app, dataclasses.replace(app, secrets=(*app.secrets, secret)))
    return change


def remove_password(object_id: str, key_id: str) -> Change:
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        app = _application(content, object_id)
        if all(s.key_id != key_id for s in app.secrets):
            raise WriteError("invalid", f"No password credential with keyId {key_id}.")
        return _replace_app(content, app, dataclasses.replace(
            app, secrets=tuple(s for s in app.secrets if s.key_id != key_id)))
    return change


# What PATCH /applications/{id} changes; anything else is refused by name, never ignored.
PATCHABLE = ("displayName", "identifierUris", "signInAudience", "api", "appRoles", "web", "spa", "publicClient",
             "isFallbackPublicClient", "groupMembershipClaims", "requiredResourceAccess", "keyCredentials",
             "optionalClaims")
# The ApplicationRecord fields those properties decide (the rest of a record is never changed by a PATCH).
_PATCHED_FIELDS = ("display_name", "identifier_uris", "sign_in_audience", "access_token_version", "scopes",
                   "app_roles", "group_membership_claims", "web_redirect_uris", "spa_redirect_uris",
                   "public_redirect_uris", "implicit_id_token", "implicit_access_token", "is_fallback_public_client",
                   "pre_authorized", "logout_url", "required_resource_access", "access_token_claims")
ENTITLEMENT_ENABLED = "Permission (scope or role) cannot be deleted or updated unless disabled first."  # Graph's


def seed_form(app: m.ApplicationRecord) -> dict[str, Any]:
    """The application as a seed entry (without its credentials), so that a PATCH merged into it is read by
    the seed's own schema and rules (resolve_application)."""
    return {
        "displayName": app.display_name, "appId": app.app_id, "identifierUris": list(app.identifier_uris),
        "signInAudience": app.sign_in_audience,
        "api": {"requestedAccessTokenVersion": app.access_token_version, "oauth2PermissionScopes": [
            {"id": sc.id, "value": sc.value, "type": sc.type, "isEnabled": sc.is_enabled,
             "adminConsentDisplayName": sc.admin_consent_display_name,
             "userConsentDisplayName": sc.user_consent_display_name} for sc in app.scopes],
            "preAuthorizedApplications": [{"appId": a, "delegatedPermissionIds": list(ids)}
                                          for a, ids in app.pre_authorized]},
        "appRoles": [{"id": r.id, "value": r.value, "allowedMemberTypes": list(r.allowed_member_types),
                      "displayName": r.display_name, "isEnabled": r.is_enabled} for r in app.app_roles],
        "groupMembershipClaims": app.group_membership_claims,
        "web": {"redirectUris": list(app.web_redirect_uris), "logoutUrl": app.logout_url, "implicitGrantSettings": {
            "enableIdTokenIssuance": app.implicit_id_token,
            "enableAccessTokenIssuance": app.implicit_access_token}},
        "spa": {"redirectUris": list(app.spa_redirect_uris)},
        "publicClient": {"redirectUris": list(app.public_redirect_uris)},
        "isFallbackPublicClient": app.is_fallback_public_client,
        "requiredResourceAccess": [{"resourceAppId": a, "resourceAccess": [{"id": i, "type": k} for i, k in access]}
                                   for a, access in app.required_resource_access],
        "optionalClaims": {"accessToken": [{"name": name} for name in app.access_token_claims]},
    }


def _merged(current: Any, change: Any) -> Any:
    """OData PATCH: a complex value is merged property by property; a collection or a primitive replaces."""
    if isinstance(current, dict) and isinstance(change, dict):
        return {**current, **{k: _merged(current.get(k), v) for k, v in change.items()}}
    return change


def _same_entitlement(x: m.AppRoleRecord | m.ScopeRecord, after: m.AppRoleRecord | m.ScopeRecord | None) -> bool:
    """Graph's rule: an enabled app role or scope is disabled (isEnabled false) before it is removed or its value
    (or member types, or type) changes. A choice: its display names may change while it is enabled."""
    if after is None:
        return False
    if isinstance(x, m.AppRoleRecord) and isinstance(after, m.AppRoleRecord):
        return (x.value, x.allowed_member_types) == (after.value, after.allowed_member_types)
    if isinstance(x, m.ScopeRecord) and isinstance(after, m.ScopeRecord):
        return (x.value, x.type) == (after.value, after.type)
    return False


def update_application(object_id: str, body: Mapping[str, Any]) -> Change:
    """PATCH /applications/{id}: the PATCHABLE properties, merged into the app's seed form and read again with
    the seed's schema and rules; credentials stay (keyCredentials, when given, replaces the certificates: an
    entry with `key` is a new certificate, one with only the keyId of a present one keeps it)."""
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        app = _application(content, object_id)
        data = {k: v for k, v in body.items() if k != "@odata.type"}
        unknown = sorted(set(data) - set(PATCHABLE))
        if unknown:
            raise WriteError("invalid", f"mockidp does not update {', '.join(unknown)} of an application; it updates "
                                        f"{', '.join(PATCHABLE)}.")
        given_keys = data.pop("keyCredentials", None)
        merged = _merged(seed_form(app), data)
        kept, new_keys = _key_credentials(app, given_keys)
        if new_keys:
            merged["keyCredentials"] = new_keys
        seed = _seed()
        try:
            record = seed.resolve_application(merged, app.tenant_id)
        except seed.SeedError as exc:
            raise WriteError("invalid", _seed_problems(exc)) from None
        for old, new in ((app.app_roles, record.app_roles), (app.scopes, record.scopes)):
            by_id = {x.id: x for x in new}
            if any(x.is_enabled and not _same_entitlement(x, by_id.get(x.id)) for x in old):
                raise WriteError("entitlement", ENTITLEMENT_ENABLED)
        # Only what the PATCHABLE properties say changes: every other field (ids, secrets, federated credentials,
        # and any the seed form does not carry) stays the app's own.
        record = dataclasses.replace(app, **{f: getattr(record, f) for f in _PATCHED_FIELDS}, certificates=(
            app.certificates if given_keys is None else (*kept, *record.certificates)))
        _unique_identifier_uris(content, app, record)
        gone_roles = {r.id for r in app.app_roles} - {r.id for r in record.app_roles}
        gone_scopes = {sc.value for sc in app.scopes} - {sc.value for sc in record.scopes}
        resources = {sp.id for sp in content.service_principals if sp.app_id == app.app_id}
        changed = _replace_app(content, app, record)
        # A removed (so disabled) role's assignments and scope's consents go with it.
        return dataclasses.replace(
            changed,
            assignments=tuple(x for x in changed.assignments
                              if not (x.resource_sp_id in resources and x.app_role_id in gone_roles)),
            grants=tuple(dataclasses.replace(g, scopes=tuple(v for v in g.scopes if v not in gone_scopes))
                         if g.resource_sp_id in resources else g for g in changed.grants))
    return change


def _key_credentials(app: m.ApplicationRecord, given: Any) -> tuple[list[m.CertificateRecord], list[Any]]:
    """keyCredentials of a PATCH: (present certificates kept by keyId, new entries for the seed's reader)."""
    if given is None:
        return [], []
    if not isinstance(given, list):
        raise WriteError("invalid", "keyCredentials: a list of keyCredential objects")
    kept: list[m.CertificateRecord] = []
    new: list[Any] = []
    for entry in given:
        present = next((c for c in app.certificates if isinstance(entry, dict) and entry.get("key") is None
                        and entry.get("keyId") == c.key_id), None)
        if present is not None:
            kept.append(present)
        elif isinstance(entry, dict):
            new.append({k: v for k, v in entry.items() if k not in ("@odata.type",)})
        else:
            new.append(entry)
    return kept, new


def _unique_identifier_uris(content: m.DirectoryContent, app: m.ApplicationRecord, new: m.ApplicationRecord) -> None:
    taken = {u for a in content.applications if a.tenant_id == app.tenant_id and a is not app
             for u in a.identifier_uris}
    if taken & set(new.identifier_uris):
        raise WriteError("invalid", "Another object with the same value for property identifierUris already exists.")


def _replace_app(content: m.DirectoryContent, old: m.ApplicationRecord,
                 new: m.ApplicationRecord) -> m.DirectoryContent:
    return dataclasses.replace(content, applications=tuple(new if a is old else a for a in content.applications))


def create_service_principal(app_id: str, tenant_id: str, *, sp_id: str | None = None) -> Change:
    """POST /servicePrincipals {"appId": ...}: the application must exist, one principal per app."""
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        app = next((a for a in content.applications if a.app_id == app_id), None)
        if app is None:
            raise WriteError("invalid", f"The appId '{app_id}' of the service principal does not reference a "
                                        "valid application object.")
        if any(sp.app_id == app_id for sp in content.service_principals):
            raise WriteError("conflict", "The service principal cannot be created, updated, or restored because "
                                         "the service principal name is already in use.")
        sp = m.ServicePrincipalRecord(id=sp_id or str(uuid.uuid4()), tenant_id=tenant_id, app_id=app_id,
                                      display_name=app.display_name, app_role_assignment_required=False,
                                      account_enabled=True)
        return dataclasses.replace(content, service_principals=(*content.service_principals, sp))
    return change


def update_service_principal(sp_id: str, *, app_role_assignment_required: bool | None = None,
                             account_enabled: bool | None = None) -> Change:
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        sp = _principal(content, sp_id)
        new = dataclasses.replace(
            sp,
            app_role_assignment_required=sp.app_role_assignment_required if app_role_assignment_required is None
            else app_role_assignment_required,
            account_enabled=sp.account_enabled if account_enabled is None else account_enabled)
        return dataclasses.replace(content, service_principals=tuple(
            new if x is sp else x for x in content.service_principals))
    return change


def delete_service_principal(sp_id: str) -> Change:
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        return _without_principals(content, {_principal(content, sp_id).id})
    return change


def add_assignment(principal_id: str, resource_sp_id: str, app_role_id: str, *,
                   assignment_id: str | None = None) -> Change:
    """POST appRoleAssignedTo / appRoleAssignments: the principal's type is read from the directory."""
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        kinds = {**{sp.id: "ServicePrincipal" for sp in content.service_principals},
                 **{u.id: "User" for u in content.users}, **{g.id: "Group" for g in content.groups}}
        kind = kinds.get(principal_id)
        if kind is None:
            raise WriteError.not_found(principal_id)
        resource = Directory.build(content).principals.get(resource_sp_id)  # built-in ones too (Microsoft Graph)
        if resource is None:
            raise WriteError.not_found(resource_sp_id)
        if any(x.principal_id == principal_id and x.resource_sp_id == resource_sp_id and x.app_role_id == app_role_id
               for x in content.assignments):
            raise WriteError("conflict", "Permission being assigned already exists on the object")
        x = m.AssignmentRecord(id=assignment_id or str(uuid.uuid4()), tenant_id=resource.tenant_id,
                               principal_id=principal_id, principal_type=kind, resource_sp_id=resource_sp_id,
                               app_role_id=app_role_id)
        return dataclasses.replace(content, assignments=(*content.assignments, x))
    return change


def remove_assignment(assignment_id: str) -> Change:
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        if all(x.id != assignment_id for x in content.assignments):
            raise WriteError.not_found(assignment_id)
        return dataclasses.replace(content, assignments=tuple(x for x in content.assignments if x.id != assignment_id))
    return change


# Which federated_credentials.Problem kinds are which WriteError kinds (the rest: 'invalid').
_FIC_KINDS = {"name_taken": "duplicate", "pair_taken": "fic_value"}


def _seed_problems(exc: SeedError) -> str:
    return "; ".join(f"{p.path}: {p.message}" if p.path else p.message for p in exc.problems)


def federated_credential(app: m.ApplicationRecord, key: str) -> m.FederatedCredentialRecord | None:
    """A credential of the app by its id or its name (Graph addresses it by either)."""
    return next((c for c in app.federated_credentials if key in (c.id, c.name)), None)


def _with_credentials(content: m.DirectoryContent, app: m.ApplicationRecord,
                      wanted: list[m.FederatedCredentialRecord], owner: Owner) -> m.DirectoryContent:
    """The app with `wanted` as its credentials, checked as a seed's list is (resolve_credentials): the
    first problem refuses the write; each record keeps its id."""
    _, problems = resolve_credentials(app.app_id, wanted, owner=owner)
    if problems:
        first = problems[0]
        raise WriteError(_FIC_KINDS.get(first.kind, "invalid"), first.message)
    return _replace_app(content, app, dataclasses.replace(app, federated_credentials=tuple(wanted)))


def _credential_body(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("id", "@odata.type")}


def add_federated_credential(object_id: str, body: Mapping[str, Any], *, credential_id: str,
                             owner: Owner = "application") -> Change:
    """POST /applications/{id}/federatedIdentityCredentials (audiences default to api://AzureADTokenExchange);
    `owner` managedIdentity: a user-assigned identity's (its application record), in ARM's words."""
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        app = _application(content, object_id)
        seed = _seed()
        try:
            given = seed.read_federated_credential(_credential_body(body))
        except seed.SeedError as exc:
            raise WriteError("invalid", _seed_problems(exc)) from None
        new = m.FederatedCredentialRecord(credential_id, given.name, given.issuer, given.subject,
                                          tuple(given.audiences), given.description)
        return _with_credentials(content, app, [*app.federated_credentials, new], owner)
    return change


def update_federated_credential(object_id: str, key: str, body: Mapping[str, Any], *,
                                owner: Owner = "application") -> Change:
    """PATCH .../federatedIdentityCredentials/{id or name}: issuer, subject, audiences, description; the name
    is the alternate key and stays (Graph: immutable)."""
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        app = _application(content, object_id)
        old = federated_credential(app, key)
        if old is None:
            raise WriteError.not_found(key)
        data = _credential_body(body)
        if data.get("name", old.name) != old.name:
            raise WriteError("invalid", "The property 'name' of a federatedIdentityCredential cannot be changed.")
        merged = {"name": old.name, "issuer": old.issuer, "subject": old.subject, "audiences": list(old.audiences),
                  "description": old.description, **data}
        seed = _seed()
        try:
            given = seed.read_federated_credential(merged)
        except seed.SeedError as exc:
            raise WriteError("invalid", _seed_problems(exc)) from None
        new = m.FederatedCredentialRecord(old.id, old.name, given.issuer, given.subject, tuple(given.audiences),
                                          given.description)
        return _with_credentials(content, app, [new if c is old else c for c in app.federated_credentials], owner)
    return change


def remove_federated_credential(object_id: str, key: str) -> Change:
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        app = _application(content, object_id)
        old = federated_credential(app, key)
        if old is None:
            raise WriteError.not_found(key)
        return _replace_app(content, app, dataclasses.replace(
            app, federated_credentials=tuple(c for c in app.federated_credentials if c is not old)))
    return change


def add_key(object_id: str, credential: Mapping[str, Any], *, key_id: str) -> Change:
    """POST /applications/{id}/addKey (its proof checked at the edge, mockidp/graph/proof.py): one certificate
    more, read as PATCH keyCredentials reads one (the seed's reader)."""
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        app = _application(content, object_id)
        entry = {k: v for k, v in credential.items() if k != "@odata.type"}
        if not isinstance(entry.get("key"), str) or not entry["key"]:
            raise WriteError("invalid", "keyCredential.key: the certificate (base64 DER) is required.")
        kept = [{"keyId": c.key_id} for c in app.certificates]
        return update_application(object_id, {"keyCredentials": [*kept, {**entry, "keyId": key_id}]})(content)
    return change


def remove_key(object_id: str, key_id: str) -> Change:
    """POST /applications/{id}/removeKey: the certificate with that keyId goes."""
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        app = _application(content, object_id)
        if all(c.key_id != key_id for c in app.certificates):
            raise WriteError("invalid", f"No key credential with keyId {key_id}.")
        kept = [{"keyId": c.key_id} for c in app.certificates if c.key_id != key_id]
        return update_application(object_id, {"keyCredentials": kept})(content)
    return change


CONSENT_TYPES = ("AllPrincipals", "Principal")


def grant_id(client_sp_id: str, resource_sp_id: str, principal_id: str | None) -> str | None:
    """Graph's id of a grant: base64url (unpadded) of the client's, the resource's and, for one user's consent,
    the user's object ids as little-endian GUID bytes (as real ids decode); None when one is no GUID."""
    try:
        raw = b"".join(uuid.UUID(x).bytes_le for x in (client_sp_id, resource_sp_id, principal_id) if x is not None)
    except ValueError:
        return None
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _scopes(value: Any) -> tuple[str, ...]:
    if not isinstance(value, str) or len(value) > MAX_GRANT_SCOPE:
        raise WriteError("invalid", f"scope: a space-separated list of scope values, at most {MAX_GRANT_SCOPE} "
                                    "characters.")
    return tuple(dict.fromkeys(value.split()))


MAX_GRANT_SCOPE = 3850  # Graph's limit on oAuth2PermissionGrant.scope


def add_grant(body: Mapping[str, Any], tenant_id: str, *, fallback_id: str) -> Change:
    """POST /oauth2PermissionGrants: one per client, resource and (AllPrincipals | the user); the whole-directory
    check (check) holds its references, scopes and principal to the seed's rules."""
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        client, resource = body.get("clientId"), body.get("resourceId")
        consent, principal = body.get("consentType"), body.get("principalId")
        if not isinstance(client, str) or not isinstance(resource, str):
            raise WriteError("invalid", "clientId and resourceId (the service principals' ids) are required.")
        if consent not in CONSENT_TYPES:
            raise WriteError("invalid", "consentType is AllPrincipals or Principal.")
        if principal is not None and not isinstance(principal, str):
            raise WriteError("invalid", "principalId is a user's id, or null.")
        unknown = sorted(set(body) - {"clientId", "resourceId", "consentType", "principalId", "scope", "@odata.type",
                                      "id", "startTime", "expiryTime"})
        if unknown:
            raise WriteError("invalid", f"mockidp does not set {', '.join(unknown)} of an oAuth2PermissionGrant.")
        if any((g.client_sp_id, g.resource_sp_id, g.consent_type, g.principal_id) == (client, resource, consent,
                                                                                        principal)
               for g in content.grants):
            raise WriteError("duplicate", "Permission entry already exists.")  # Graph's 409
        g = m.GrantRecord(grant_id(client, resource, principal) or fallback_id, tenant_id, client, resource,
                          str(consent), principal, _scopes(body.get("scope", "")))
        return dataclasses.replace(content, grants=(*content.grants, g))
    return change


def _grant(content: m.DirectoryContent, grant_id_: str) -> m.GrantRecord:
    for g in content.grants:
        if g.id == grant_id_:
            return g
    raise WriteError.not_found(grant_id_)


def update_grant(grant_id_: str, body: Mapping[str, Any]) -> Change:
    """PATCH /oauth2PermissionGrants/{id}: the scope is what changes (Graph's only updatable property)."""
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        g = _grant(content, grant_id_)
        if set(body) - {"scope", "@odata.type"} or "scope" not in body:
            raise WriteError("invalid", "An oAuth2PermissionGrant's scope is what PATCH updates.")
        new = dataclasses.replace(g, scopes=_scopes(body["scope"]))
        return dataclasses.replace(content, grants=tuple(new if x is g else x for x in content.grants))
    return change


def remove_grant(grant_id_: str) -> Change:
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        g = _grant(content, grant_id_)
        return dataclasses.replace(content, grants=tuple(x for x in content.grants if x is not g))
    return change
