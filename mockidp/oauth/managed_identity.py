"""Managed identities: the token endpoints Azure gives a resource (docs/managed-identities.md).

Two shapes, one decision:
- App Service / Functions: GET {IDENTITY_ENDPOINT}?resource=..&api-version=2019-08-01 with X-IDENTITY-HEADER;
  the header's secret says which simulated resource is calling (one secret per resource: `header_secret`).
- IMDS: GET /metadata/identity/oauth2/token?resource=..&api-version=2018-02-01 with `Metadata: true`; the
  calling resource is named by the path prefix /_mockidp/imds/{resource} (what AZURE_POD_IDENTITY_AUTHORITY_HOST
  points at), or is the directory's only resource at the bare path.

Then: the identity (the resource's system-assigned one, or the user-assigned one a selector names among those
attached to it), the resource asked for (as any app-only request: lookup_resource), Entra's assignment rule
(app_only_roles: 501051, roles) and the token, minted by the one issuer with the managed identity's claims
(appid/azp its client id, oid = sub its service principal, appidacr/azpacr "2", xms_mirid, xms_az_rid for a
user-assigned identity) and Azure's lifetime. Framework-free: the web edge is web/routes/managed_identity.py.

`idtyp` follows the resource's optional claims as for any app-only token (claims.py): the captured
Key Vault token has none, Resource Manager's tokens have it. A choice where no capture decides: the App
Service answer to a missing or wrong header (catalogue MI_APP_SERVICE_BAD_HEADER).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from mockidp.directory.model import AzureResourceRecord, ServicePrincipalRecord
from mockidp.directory.snapshot import Directory
from mockidp.errors import AadstsError, catalogue
from mockidp.errors.exceptions import IdentityEndpointRefused
from mockidp.oauth import claim_reasons, trace
from mockidp.oauth.assignments import app_only_roles
from mockidp.oauth.context import Services
from mockidp.oauth.scopes import DEFAULT, Resource, lookup_resource
from mockidp.oauth.tenants import ResolvedTenant
from mockidp.tokens.model import Authorization

APP_SERVICE = "app_service"
IMDS = "imds"
# exp = issuance + 24 h; with iat back-dated 5 minutes, exp - iat = 86 700 s as in the captured IMDS token (B.5)
LIFETIME = 86_400
CERTIFICATE_ACR = "2"  # appidacr/azpacr of a managed identity's token (captured: "2")
# The selectors each shape takes (App Service docs: principal_id, object_id its alias; IMDS: msi_res_id).
SELECTORS = {APP_SERVICE: ("client_id", "principal_id", "object_id", "mi_res_id"),
             IMDS: ("client_id", "object_id", "principal_id", "msi_res_id", "mi_res_id")}
_RESOURCE_ID_SELECTORS = ("mi_res_id", "msi_res_id")
_LIMIT = 1024  # characters of a parameter looked at: ids and URIs, not documents


def header_secret(key: bytes, resource_name: str) -> str:
    """The IDENTITY_HEADER of one simulated resource: a GUID-looking HMAC of its name under the data dir's
    secret, so every worker (and `mockidp identities`) derives the same one and nobody else can."""
    digest = hmac.new(key, b"identity-header\0" + resource_name.encode(), hashlib.sha256).digest()
    return str(uuid.UUID(bytes=digest[:16]))


def caller_by_secret(directory: Directory, key: bytes, secret: str | None) -> AzureResourceRecord | None:
    if not secret:
        return None
    given = secret.strip()[:64].encode("utf-8", "replace")  # bytes: compare_digest refuses non-ASCII text
    for resource in directory.azure_resources.values():
        if hmac.compare_digest(header_secret(key, resource.name).encode(), given):
            return resource
    return None


def imds_caller(directory: Directory, name: str | None) -> AzureResourceRecord | None:
    """The resource an IMDS request comes from: the one its path names, else the directory's only one."""
    if name is not None:
        return directory.azure_resources.get(name)
    if len(directory.azure_resources) == 1:
        return next(iter(directory.azure_resources.values()))
    return None


@dataclass(frozen=True, slots=True)
class IdentityRequest:
    shape: str  # APP_SERVICE or IMDS
    caller: AzureResourceRecord | None  # None: no resource is calling (refused)
    params: Mapping[str, str]
    origin: str  # for a v2 token's issuer


def _not_found(shape: str) -> IdentityEndpointRefused:
    return IdentityEndpointRefused(catalogue.MI_APP_SERVICE_NOT_FOUND if shape == APP_SERVICE
                                   else catalogue.MI_IMDS_NOT_FOUND)


def _bad_request(shape: str, detail: str) -> IdentityEndpointRefused:
    spec = catalogue.MI_APP_SERVICE_BAD_REQUEST if shape == APP_SERVICE else catalogue.MI_IMDS_BAD_REQUEST
    return IdentityEndpointRefused(spec, detail=detail)


def select_identity(directory: Directory, req: IdentityRequest) -> ServicePrincipalRecord:
    """The calling resource's system-assigned identity, or the one identity attached to it that the selector
    names: client_id (its appId), principal_id/object_id (its service principal), mi_res_id/msi_res_id (its ARM
    id, case-insensitive as ARM ids are)."""
    caller = req.caller
    if caller is None:
        trace.step("caller", trace.FAILED, shape=req.shape, note="no simulated resource is calling")
        raise _not_found(req.shape)
    given = [(name, req.params[name][:_LIMIT]) for name in SELECTORS[req.shape] if req.params.get(name)]
    if len(given) > 1:
        raise _bad_request(req.shape, "Only one of " + ", ".join(SELECTORS[req.shape]) + " may be given.")
    trace.step("caller", shape=req.shape, resource=caller.name, resource_id=caller.resource_id,
               system_assigned=caller.system_identity is not None, user_assigned=len(caller.user_identities))
    candidates = [directory.principals[i] for i in (caller.system_identity, *caller.user_identities)
                  if i is not None and i in directory.principals]
    if not given:
        found = next((sp for sp in candidates if sp.id == caller.system_identity), None)
        how = "the resource's system-assigned identity (no selector given)"
    else:
        name, value = given[0]
        wanted = value.strip().lower()
        found = next((sp for sp in candidates if wanted == (
            sp.app_id if name == "client_id" else sp.mi_resource_id.lower() if name in _RESOURCE_ID_SELECTORS
            else sp.id).lower()), None)
        how = f"the identity whose {name} is {value[:128]}"
    if found is None or not found.account_enabled:
        trace.step("identity", trace.FAILED, selected=how,
                   note="no identity of this kind is assigned to the calling resource")
        raise _not_found(req.shape)
    trace.step("identity", selected=how, client_id=found.app_id, principal_id=found.id, name=found.display_name,
               kind="user-assigned" if found.user_assigned else "system-assigned")
    return found


def refused(err: IdentityEndpointRefused) -> None:
    """The trace's last step for a refusal in an endpoint's own envelope (Entra's own: trace.refused)."""
    if err.aadsts is not None:
        trace.refused(err.aadsts)
        return
    current = trace.current()
    if current is None or err.spec is None:
        return
    current.steps.append(trace.Step(err.spec.name, trace.FAILED, dict(err.params), err.spec.when))
    current.outcome = err.spec.name


def token(req: IdentityRequest, services: Services) -> dict[str, str]:
    """The endpoint's success body (its fields in Azure's order, every value a string), or raises
    IdentityEndpointRefused."""
    directory = services.directory
    for name in ("api-version", "resource"):
        if not req.params.get(name):
            raise _bad_request(req.shape, f"The request is missing the required '{name}' parameter.")
    identity = select_identity(directory, req)
    tenant = ResolvedTenant(directory.tenants[identity.tenant_id])
    trace.about(client_id=identity.app_id, tenant=tenant.tenant.id, grant_type="managed_identity")
    asked = req.params["resource"][:_LIMIT]
    identifier = asked.removesuffix("/.default") or asked  # the resource echoes as sent; the lookup has no .default
    try:
        sp, app, matched = lookup_resource(directory, tenant, identifier)
        trace.step("resource", resource=matched, name=app.display_name,
                   requested_access_token_version=app.access_token_version)
        resource = Resource(matched, sp, app, (DEFAULT,))
        roles = app_only_roles(directory, identity, identity.display_name, resource)
    except AadstsError as err:
        raise IdentityEndpointRefused(None, aadsts=err) from None
    trace.step("assignment", trace.PASSED if sp.app_role_assignment_required else trace.NOT_APPLICABLE,
               required=sp.app_role_assignment_required, roles=roles,
               note="app role assignments to a managed identity follow the rules of any service principal")
    auth = Authorization(
        tenant_id=tenant.tenant.id, client_app_id=identity.app_id, client_acr=CERTIFICATE_ACR,
        resource_app_id=app.app_id, audience=matched, version=app.access_token_version, subject_id=identity.id,
        roles=roles, mi_resource_id=identity.mi_resource_id or None,
        calling_resource_id=req.caller.resource_id if req.caller and identity.user_assigned else None,
        optional_claims=app.access_token_claims,
    )
    claim_reasons.record(directory, auth)
    issued = services.issuer.access_token(auth, origin=req.origin, lifetime=LIFETIME)
    trace.step("token", version=f"{auth.version}.0", response=req.shape, lifetime=str(LIFETIME),
               note="a managed identity's token lives 24 hours; the resource decides its version")
    if req.shape == APP_SERVICE:
        return {"access_token": issued.jwt, "expires_on": str(issued.expires), "resource": asked,
                "token_type": "Bearer", "client_id": identity.app_id}
    return {"access_token": issued.jwt, "client_id": identity.app_id, "expires_in": str(issued.expires_in),
            "expires_on": str(issued.expires), "ext_expires_in": str(issued.expires_in),
            "not_before": str(issued.not_before), "resource": asked, "token_type": "Bearer"}
