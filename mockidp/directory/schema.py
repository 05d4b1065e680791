"""The seed format as pydantic models.

Property names follow Microsoft Graph's application and servicePrincipal objects so that a manifest
can be pasted in; the legacy (AAD Graph) manifest names are accepted as aliases and folded into the
Graph names before validation. Unknown keys are errors, except manifest properties that have no
effect on tokens (listed in IGNORED_MANIFEST_KEYS).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mockidp.directory.apim_schema import Service as ApimService
from mockidp.directory.federated_credentials import DEFAULT_AUDIENCE
from mockidp.directory.seed_base import SeedModel

# Graph/AAD manifest properties a pasted manifest carries that change nothing here.
IGNORED_MANIFEST_KEYS = frozenset({
    "id", "objectId", "deletedDateTime", "createdDateTime", "publisherDomain", "description", "notes",
    "tags", "info", "certification", "disabledByMicrosoftStatus", "applicationTemplateId",
    "isDeviceOnlyAuthSupported", "defaultRedirectUri", "parentalControlSettings", "addIns",
    "verifiedPublisher", "samlMetadataUrl", "serviceManagementReference", "tokenEncryptionKeyId",
    "uniqueName", "servicePrincipalLockConfiguration", "requestSignatureVerification",
    "nativeAuthenticationApisEnabled", "authenticationBehaviors", "oauth2RequirePostResponse",
    "logoUrl", "informationalUrls", "signInUrl", "homepage", "oauth2RequiredPostResponse",
    "orgRestrictions",
})


def _check_guid(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise ValueError(f"'{value}' is not a GUID") from None


class PermissionScope(SeedModel):
    value: str = Field(min_length=1, max_length=120)
    id: str | None = None
    type: Literal["User", "Admin"] = "User"
    is_enabled: bool = True
    admin_consent_display_name: str | None = None
    admin_consent_description: str | None = None
    user_consent_display_name: str | None = None
    user_consent_description: str | None = None
    lang: Any = None
    origin: Any = None

    _guid = field_validator("id")(_check_guid)

    @field_validator("value")
    @classmethod
    def _no_spaces(cls, v: str) -> str:
        if any(c.isspace() for c in v) or v.startswith(".") or "/" in v:
            raise ValueError("a scope value has no spaces or '/', and does not start with '.'")
        return v


_USERS: tuple[Literal["User", "Application"], ...] = ("User",)


class AppRole(SeedModel):
    value: str = Field(min_length=1, max_length=120)
    id: str | None = None
    allowed_member_types: list[Literal["User", "Application"]] = Field(default_factory=lambda: list(_USERS))
    display_name: str | None = None
    description: str | None = None
    is_enabled: bool = True
    origin: Any = None

    _guid = field_validator("id")(_check_guid)


class PreAuthorizedApplication(SeedModel):
    app_id: str
    delegated_permission_ids: list[str] = Field(default_factory=list)

    _guid = field_validator("app_id")(_check_guid)

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        if isinstance(data, dict) and "permissionIds" in data:
            data = dict(data)
            data.setdefault("delegatedPermissionIds", data.pop("permissionIds"))
        return data


class Api(SeedModel):
    requested_access_token_version: Literal[1, 2] | None = None
    oauth2_permission_scopes: list[PermissionScope] = Field(default_factory=list)
    pre_authorized_applications: list[PreAuthorizedApplication] = Field(default_factory=list)
    known_client_applications: list[str] = Field(default_factory=list)
    accept_mapped_claims: bool | None = None


class PasswordCredential(SeedModel):
    secret_text: str = Field(min_length=16, max_length=1024)
    end_date_time: str | None = None
    start_date_time: str | None = None
    key_id: str | None = None
    display_name: str | None = None
    hint: str | None = None
    custom_key_identifier: Any = None

    _guid = field_validator("key_id")(_check_guid)


class KeyCredential(SeedModel):
    type: Literal["AsymmetricX509Cert"] = "AsymmetricX509Cert"
    usage: Literal["Verify"] = "Verify"
    key: str | None = None
    key_file: str | None = None
    end_date_time: str | None = None
    start_date_time: str | None = None
    key_id: str | None = None
    display_name: str | None = None
    custom_key_identifier: Any = None

    _guid = field_validator("key_id")(_check_guid)

    @model_validator(mode="after")
    def _one_source(self) -> KeyCredential:
        if (self.key is None) == (self.key_file is None):
            raise ValueError("give exactly one of 'key' (inline PEM or base64 DER) and 'keyFile'")
        return self


class FederatedIdentityCredential(SeedModel):
    """Graph's federatedIdentityCredential; Entra's rules on it are in directory/federated_credentials.py."""

    name: str
    issuer: str
    subject: str
    audiences: list[str] = Field(default_factory=lambda: [DEFAULT_AUDIENCE])
    description: str | None = None


class ImplicitGrantSettings(SeedModel):
    enable_id_token_issuance: bool = False
    enable_access_token_issuance: bool = False


class WebPlatform(SeedModel):
    redirect_uris: list[str] = Field(default_factory=list)
    logout_url: str | None = None
    home_page_url: str | None = None
    implicit_grant_settings: ImplicitGrantSettings = Field(default_factory=ImplicitGrantSettings)
    redirect_uri_settings: Any = None


class RedirectPlatform(SeedModel):
    redirect_uris: list[str] = Field(default_factory=list)


class ServicePrincipalSettings(SeedModel):
    """The enterprise application of an app in its home tenant."""

    id: str | None = None
    display_name: str | None = None
    app_role_assignment_required: bool = False
    account_enabled: bool = True
    service_principal_type: str = "Application"
    tags: list[str] = Field(default_factory=list)

    _guid = field_validator("id")(_check_guid)


class OptionalClaim(SeedModel):
    name: str = Field(min_length=1, max_length=256)
    source: str | None = None
    essential: bool = False
    additional_properties: list[str] = Field(default_factory=list)


class OptionalClaims(SeedModel):
    """The manifest's optionalClaims. Of the access token's, mockidp honours `idtyp`; the others are accepted
    and add nothing (docs/entra-behaviour.md, "Access tokens")."""

    id_token: list[OptionalClaim] = Field(default_factory=list)
    access_token: list[OptionalClaim] = Field(default_factory=list)
    saml2_token: list[OptionalClaim] = Field(default_factory=list)


class ResourceAccess(SeedModel):
    """One permission an app asks for (kept and shown; consent and tokens are decided by grants and assignments)."""

    id: str
    type: Literal["Scope", "Role"]

    _guid = field_validator("id")(_check_guid)


class RequiredResourceAccess(SeedModel):
    resource_app_id: str
    resource_access: list[ResourceAccess] = Field(default_factory=list)

    _guid = field_validator("resource_app_id")(_check_guid)


class Application(SeedModel):
    display_name: str = Field(min_length=1, max_length=256)
    app_id: str | None = None
    identifier_uris: list[str] = Field(default_factory=list)
    sign_in_audience: Literal[
        "AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount"
    ] = "AzureADMyOrg"
    api: Api = Field(default_factory=Api)
    app_roles: list[AppRole] = Field(default_factory=list)
    group_membership_claims: Literal["None", "SecurityGroup", "DirectoryRole", "ApplicationGroup", "All"] | None = (
        None
    )
    password_credentials: list[PasswordCredential] = Field(default_factory=list)
    key_credentials: list[KeyCredential] = Field(default_factory=list)
    federated_identity_credentials: list[FederatedIdentityCredential] = Field(default_factory=list)
    web: WebPlatform = Field(default_factory=WebPlatform)
    spa: RedirectPlatform = Field(default_factory=RedirectPlatform)
    public_client: RedirectPlatform = Field(default_factory=RedirectPlatform)
    is_fallback_public_client: bool = False
    required_resource_access: list[RequiredResourceAccess] = Field(default_factory=list)
    optional_claims: OptionalClaims = Field(default_factory=OptionalClaims)
    service_principal: ServicePrincipalSettings = Field(default_factory=ServicePrincipalSettings)

    _guid = field_validator("app_id")(_check_guid)

    @model_validator(mode="before")
    @classmethod
    def _fold_legacy_manifest(cls, data: Any) -> Any:
        """Accept the AAD Graph manifest names by moving them to their Graph places."""
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if k not in IGNORED_MANIFEST_KEYS}
        # A platform that is no object is left as it is: its field's validation names it at its path.
        if any(data.get(k) is not None and not isinstance(data.get(k), dict) for k in ("api", "web", "spa",
                                                                                         "publicClient")):
            return data
        api = dict(data.get("api") or {})
        moves = {
            "accessTokenAcceptedVersion": "requestedAccessTokenVersion",
            "oauth2Permissions": "oauth2PermissionScopes",
            "preAuthorizedApplications": "preAuthorizedApplications",
            "knownClientApplications": "knownClientApplications",
        }
        for legacy, graph in moves.items():
            if legacy in data:
                value = data.pop(legacy)
                if graph in api and api[graph] != value:
                    raise ValueError(f"'{legacy}' and 'api.{graph}' disagree; give one")
                api[graph] = value
        if api:
            data["api"] = api
        if "allowPublicClient" in data:
            data.setdefault("isFallbackPublicClient", data.pop("allowPublicClient"))
        if "replyUrlsWithType" in data:
            web = dict(data.get("web") or {})
            spa = dict(data.get("spa") or {})
            public = dict(data.get("publicClient") or {})
            for entry in data.pop("replyUrlsWithType") or []:
                if not isinstance(entry, dict):
                    raise ValueError("replyUrlsWithType entries are {url, type}")
                target = {"Web": web, "Spa": spa, "InstalledClient": public}.get(entry.get("type", "Web"))
                if target is None:
                    raise ValueError(f"unknown replyUrlsWithType type '{entry.get('type')}'")
                target.setdefault("redirectUris", []).append(entry.get("url"))
            data["web"], data["spa"], data["publicClient"] = web, spa, public
        implicit = {}
        if "oauth2AllowImplicitFlow" in data:
            implicit["enableAccessTokenIssuance"] = data.pop("oauth2AllowImplicitFlow")
        if "oauth2AllowIdTokenImplicitFlow" in data:
            implicit["enableIdTokenIssuance"] = data.pop("oauth2AllowIdTokenImplicitFlow")
        if implicit:
            web = dict(data.get("web") or {})
            web["implicitGrantSettings"] = {**(web.get("implicitGrantSettings") or {}), **implicit}
            data["web"] = web
        return data

    @model_validator(mode="after")
    def _personal_accounts_need_v2(self) -> Application:
        personal = self.sign_in_audience in ("AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount")
        if personal and self.api.requested_access_token_version != 2:
            raise ValueError(
                f"signInAudience {self.sign_in_audience} requires api.requestedAccessTokenVersion: 2"
            )
        return self


class ForeignServicePrincipal(SeedModel):
    """A service principal in this tenant for an application registered in another tenant."""

    app_id: str
    id: str | None = None
    display_name: str | None = None
    app_role_assignment_required: bool = False
    account_enabled: bool = True
    tags: list[str] = Field(default_factory=list)

    _guid = field_validator("app_id", "id")(_check_guid)


class User(SeedModel):
    user_principal_name: str = Field(min_length=3, max_length=256)
    id: str | None = None
    display_name: str | None = None
    given_name: str | None = None
    surname: str | None = None
    mail: str | None = None
    password: str | None = Field(default=None, max_length=256)
    account_enabled: bool = True
    member_of: list[str] = Field(default_factory=list)
    directory_roles: list[str] = Field(default_factory=list)

    _guid = field_validator("id")(_check_guid)

    @field_validator("user_principal_name")
    @classmethod
    def _upn(cls, v: str) -> str:
        if v.count("@") != 1 or any(c.isspace() for c in v):
            raise ValueError("a userPrincipalName is name@domain")
        return v


class Group(SeedModel):
    display_name: str = Field(min_length=1, max_length=256)
    id: str | None = None
    security_enabled: bool = True
    description: str | None = None

    _guid = field_validator("id")(_check_guid)


class AppRoleAssignment(SeedModel):
    principal: str = Field(min_length=1)
    resource: str = Field(min_length=1)
    app_role: str | None = None


class PermissionGrant(SeedModel):
    client: str = Field(min_length=1)
    resource: str = Field(min_length=1)
    scope: str | list[str]
    consent_type: Literal["AllPrincipals", "Principal"] = "AllPrincipals"
    principal: str | None = None

    @model_validator(mode="after")
    def _principal(self) -> PermissionGrant:
        if (self.consent_type == "Principal") != (self.principal is not None):
            raise ValueError("consentType Principal needs 'principal' (a user); AllPrincipals takes none")
        return self

    @property
    def scopes(self) -> list[str]:
        return self.scope.split() if isinstance(self.scope, str) else list(self.scope)


_RESOURCE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # an Azure resource name, usable as a URL path segment


class ManagedIdentity(SeedModel):
    """A managed identity: a service principal of type ManagedIdentity (mockidp/oauth/managed_identity.py).

    SystemAssigned: the identity of one Azure resource (`resource`, e.g. a Function App), named after it as
    in Entra. UserAssigned: its own resource (`name`), attached to the resources listed in `assignedTo`.
    Omitted ids are derived from the tenant and the name, as for apps."""

    type: Literal["SystemAssigned", "UserAssigned"]
    name: str | None = Field(default=None, pattern=_RESOURCE_NAME)  # UserAssigned: the identity's name
    resource: str | None = Field(default=None, pattern=_RESOURCE_NAME)  # SystemAssigned: the resource's name
    resource_id: str | None = Field(default=None, max_length=1024)  # its ARM id: the token's xms_mirid
    client_id: str | None = None
    principal_id: str | None = None
    assigned_to: list[str] = Field(default_factory=list, max_length=64)  # UserAssigned: resources that use it
    account_enabled: bool = True
    # UserAssigned only, as in Azure: a workload outside Azure signs in as this identity (docs/federation.md).
    federated_identity_credentials: list[FederatedIdentityCredential] = Field(default_factory=list)

    _guid = field_validator("client_id", "principal_id")(_check_guid)

    @model_validator(mode="after")
    def _kind(self) -> ManagedIdentity:
        if self.type == "SystemAssigned" and (self.resource is None or self.name is not None or self.assigned_to):
            raise ValueError("a SystemAssigned identity names its 'resource' (no 'name' or 'assignedTo')")
        if self.type == "UserAssigned" and (self.name is None or self.resource is not None):
            raise ValueError("a UserAssigned identity has a 'name' (and 'assignedTo' resources, no 'resource')")
        if self.type == "SystemAssigned" and self.federated_identity_credentials:
            raise ValueError("only a UserAssigned identity holds federatedIdentityCredentials (as in Azure)")
        return self

    @field_validator("resource_id")
    @classmethod
    def _arm_id(cls, v: str | None) -> str | None:
        if v is not None and (not v.lower().startswith("/subscriptions/") or any(c.isspace() for c in v)):
            raise ValueError("resourceId is an ARM id: /subscriptions/<id>/resourcegroups/<group>/providers/...")
        return v


class Tenant(SeedModel):
    display_name: str = Field(min_length=1, max_length=256)
    tenant_id: str | None = None
    domains: list[str] = Field(default_factory=list)
    region: Literal["WW", "NA", "EU", "AS", "OC", "AF", "SA"] = "WW"
    applications: list[Application] = Field(default_factory=list)
    service_principals: list[ForeignServicePrincipal] = Field(default_factory=list)
    users: list[User] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)
    app_role_assignments: list[AppRoleAssignment] = Field(default_factory=list)
    oauth2_permission_grants: list[PermissionGrant] = Field(default_factory=list)
    managed_identities: list[ManagedIdentity] = Field(default_factory=list)

    _guid = field_validator("tenant_id")(_check_guid)


class SeedDocument(SeedModel):
    tenants: list[Tenant] = Field(default_factory=list)
    api_management: list[ApimService] = Field(default_factory=list)  # apim_schema.py; checked by apim_seed.py
