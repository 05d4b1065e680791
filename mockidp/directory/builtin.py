"""Microsoft Graph, present in every tenant as it is in Entra: the resource of OIDC-only requests
('openid profile' gives a Graph token) and of bare scopes such as 'User.Read'.

A choice, recorded here: its low-privilege delegated scopes (User.Read and the OIDC ones) count as
consented for every app and user, as they are in most real tenants after the first sign-in.
Graph issues v1 tokens.

The Azure resources a managed identity most often asks for are built in the same way (FIRST_PARTY):
Key Vault, Storage, Resource Manager and SQL Database, with their real appIds. Each issues v1 tokens, as
Entra does for them (a captured Key Vault token from a managed identity is v1); `aud` is the
resource as requested, with or without its trailing slash.
"""

from __future__ import annotations

from mockidp.directory.model import ApplicationRecord, AppRoleRecord, ScopeRecord, ServicePrincipalRecord

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_URI = "https://graph.microsoft.com"
GRAPH_SCOPES = {
    "openid": "37f7f235-527c-4136-accd-4a02d197296e",
    "profile": "14dad69e-099b-42c9-810b-d002981feec1",
    "email": "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0",
    "offline_access": "7427e0e9-2fba-42fe-b0c0-848c9e6a8182",
    "User.Read": "e1fe6dd8-ba31-4d61-89e7-88639da4683d",
}
IMPLICITLY_CONSENTED = frozenset(GRAPH_SCOPES)
# The permissions mockidp's own Graph (mockidp/graph/) checks, with Microsoft's ids: the application role
# and the delegated scope of each. Assigned and consented like any other app's (the seed names the resource
# "Microsoft Graph", its appId or https://graph.microsoft.com); never implicitly consented.
GRAPH_PERMISSIONS = {
    "Application.ReadWrite.All": ("1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", "bdfbf15f-ee85-4955-8675-146e8e5296b5"),
    "AppRoleAssignment.ReadWrite.All": ("06b708a9-e830-4db3-a914-8e69da51d44f",
                                        "84bccea3-f856-4a8a-967b-dbe0a3d53a64"),
    "User.ReadWrite.All": ("741f803b-c850-494e-b5df-cde7c675a1ca", "204e0828-b5ca-4ad8-b9f3-f32a958e7cc4"),
    "Group.ReadWrite.All": ("62a82d76-70ea-41e2-9197-370581804d09", "4e46008b-f24c-477d-8fff-7bb4ec7aafe0"),
    "DelegatedPermissionGrant.ReadWrite.All": ("8e8e4742-1d95-4f68-9d56-6ee75648c72a",
                                               "41ce6ca6-6826-4807-84f1-1c82854f7ee5"),
    # what reading users and groups, or only changing memberships, takes (web/graph/people.py)
    "User.Read.All": ("df021288-bdef-4463-88db-98f22de89214", "a154be20-db9c-4678-8ab7-66f6cc099a59"),
    "Group.Read.All": ("5b567255-7703-4780-807c-7be8301ae99b", "5f8c59db-677d-491f-a6b8-5f174b11ec1d"),
    "GroupMember.Read.All": ("98830695-27a2-44f7-8c18-0c3ebc9698f6", "bc024368-1153-4739-b217-4326f2e966d0"),
    "GroupMember.ReadWrite.All": ("dbaae8cf-10b5-4b86-a4a1-f871c94c6695", "f81125ac-d3b7-4573-a3b2-7099cc39df9e"),
    "Directory.Read.All": ("7ab1d382-f21e-4acd-a863-ba3e13f7da61", "06da0dbc-49e2-44d2-8312-53f166ab848a"),
}

GRAPH_APP = ApplicationRecord(
    app_id=GRAPH_APP_ID, object_id=GRAPH_APP_ID, tenant_id="f8cdef31-a31e-4b4a-93e4-5f571e91255a",
    display_name="Microsoft Graph", identifier_uris=(GRAPH_URI, GRAPH_URI + "/", "https://graph.microsoft.com/"),
    sign_in_audience="AzureADMultipleOrgs", access_token_version=1,
    scopes=(*(ScopeRecord(i, v, "User", v, v) for v, i in GRAPH_SCOPES.items()),
            *(ScopeRecord(scope, v, "Admin", v, v) for v, (_, scope) in GRAPH_PERMISSIONS.items())),
    app_roles=tuple(AppRoleRecord(role, v, ("Application",), v) for v, (role, _) in GRAPH_PERMISSIONS.items()),
    group_membership_claims=None, secrets=(), certificates=(), web_redirect_uris=(), spa_redirect_uris=(),
    public_redirect_uris=(), implicit_id_token=False, implicit_access_token=False, is_fallback_public_client=False,
    pre_authorized=(), logout_url=None, access_token_claims=("idtyp",),
)


def graph_service_principal(tenant_id: str, sp_id: str) -> ServicePrincipalRecord:
    return ServicePrincipalRecord(sp_id, tenant_id, GRAPH_APP_ID, "Microsoft Graph", False, True)


_MICROSOFT_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"  # Microsoft Services: where first-party apps live


def _first_party(app_id: str, name: str, *uris: str, claims: tuple[str, ...] = ()) -> ApplicationRecord:
    """A Microsoft resource app: no scopes or roles of its own here, v1 tokens; each URI with and without '/'.
    `claims`: the optional claims its tokens carry (Resource Manager's always carry idtyp, as captured)."""
    forms = tuple(dict.fromkeys(f for u in uris for f in (u.rstrip("/"), u.rstrip("/") + "/")))
    return ApplicationRecord(
        app_id=app_id, object_id=app_id, tenant_id=_MICROSOFT_TENANT, display_name=name, identifier_uris=forms,
        sign_in_audience="AzureADMultipleOrgs", access_token_version=1, scopes=(), app_roles=(),
        group_membership_claims=None, secrets=(), certificates=(), web_redirect_uris=(), spa_redirect_uris=(),
        public_redirect_uris=(), implicit_id_token=False, implicit_access_token=False,
        is_fallback_public_client=False, pre_authorized=(), logout_url=None, access_token_claims=claims,
    )


FIRST_PARTY = (
    _first_party("cfa8b339-82a2-471a-a3c9-0fc0be7a4093", "Azure Key Vault", "https://vault.azure.net"),
    _first_party("e406a681-f3d4-42a8-90b6-c2b029497af1", "Azure Storage", "https://storage.azure.com"),
    _first_party("797f4846-ba00-4fd7-ba43-dac1f8f63013", "Windows Azure Service Management API",
                 "https://management.azure.com", "https://management.core.windows.net", claims=("idtyp",)),
    _first_party("022907d3-0f1b-48f7-badc-1ba6abab6d66", "Azure SQL Database", "https://database.windows.net"),
)


def first_party_service_principal(app: ApplicationRecord, tenant_id: str, sp_id: str) -> ServicePrincipalRecord:
    return ServicePrincipalRecord(sp_id, tenant_id, app.app_id, app.display_name, False, True)

