"""Microsoft Graph, present in every tenant as it is in Entra: the resource of OIDC-only requests
('openid profile' gives a Graph token) and of bare scopes such as 'User.Read'.

A choice, recorded here: its low-privilege delegated scopes (User.Read and the OIDC ones) count as
consented for every app and user, as they are in most real tenants after the first sign-in.
Graph issues v1 tokens.
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
    pre_authorized=(), logout_url=None,
)


def graph_service_principal(tenant_id: str, sp_id: str) -> ServicePrincipalRecord:
    return ServicePrincipalRecord(sp_id, tenant_id, GRAPH_APP_ID, "Microsoft Graph", False, True)
