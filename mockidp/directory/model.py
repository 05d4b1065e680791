"""The directory as frozen values: what the seed says, with ids resolved and secrets hashed.
The indexed, read-only view every worker builds at start-up is `snapshot.Directory`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mockidp.directory.apim_model import ApimServiceRecord

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
class FederatedCredentialRecord:
    """A federatedIdentityCredential (Graph's object): the external token whose iss, sub and aud match it
    exactly stands for its owner (an application, or a user-assigned identity) at the token endpoint."""

    id: str
    name: str
    issuer: str
    subject: str
    audiences: tuple[str, ...]
    description: str | None = None


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
    federated_credentials: tuple[FederatedCredentialRecord, ...] = ()
    access_token_claims: tuple[str, ...] = ()  # the optional claims its access tokens carry (optionalClaims)
    # requiredResourceAccess: (resourceAppId, ((permission id, "Scope" | "Role"), ...)); kept and shown only
    required_resource_access: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

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
    # Graph's servicePrincipalType: "Application", or "ManagedIdentity" for a managed identity, whose
    # alternativeNames are then Graph's ("isExplicit=False" system-assigned / "=True" user-assigned, then
    # its ARM resource id: the token's xms_mirid).
    service_principal_type: str = "Application"
    alternative_names: tuple[str, ...] = ()

    @property
    def is_managed_identity(self) -> bool:
        return self.service_principal_type == "ManagedIdentity"

    @property
    def mi_resource_id(self) -> str:
        return self.alternative_names[1] if len(self.alternative_names) > 1 else ""

    @property
    def user_assigned(self) -> bool:
        return "isExplicit=True" in self.alternative_names


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
    mail_nickname: str | None = None  # Graph's mailNickname, given when a user is created over Graph


@dataclass(frozen=True, slots=True)
class GroupRecord:
    id: str
    tenant_id: str
    display_name: str
    security_enabled: bool
    mail_nickname: str | None = None  # Graph's group properties, given when a group is created over Graph
    mail_enabled: bool = False
    description: str | None = None


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
class AzureResourceRecord:
    """A simulated Azure resource that calls the managed-identity endpoints (a Function App, a VM): its
    system-assigned identity and the user-assigned ones attached to it, as service principal ids."""

    name: str  # unique in the directory: the IMDS path selector and the identity header's subject
    tenant_id: str
    resource_id: str  # ARM id: xms_mirid of its system-assigned identity, xms_az_rid of the others
    system_identity: str | None
    user_identities: tuple[str, ...]


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
    api_management: tuple[ApimServiceRecord, ...] = ()  # the gateway's services (apim_model.py)
    azure_resources: tuple[AzureResourceRecord, ...] = ()  # callers of the managed-identity endpoints
