"""Microsoft Graph, present in every tenant as it is in Entra: the resource of OIDC-only requests
('openid profile' gives a Graph token) and of bare scopes such as 'User.Read'.

A choice, recorded here: its low-privilege delegated scopes (User.Read and the OIDC ones) count as
consented for every app and user, as they are in most real tenants after the first sign-in.
Graph issues v1 tokens.
"""

from __future__ import annotations

from mockidp.directory.model import ApplicationRecord, ScopeRecord, ServicePrincipalRecord

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

GRAPH_APP = ApplicationRecord(
    app_id=GRAPH_APP_ID, object_id=GRAPH_APP_ID, tenant_id="f8cdef31-a31e-4b4a-93e4-5f571e91255a",
    display_name="Microsoft Graph", identifier_uris=(GRAPH_URI, GRAPH_URI + "/", "https://graph.microsoft.com/"),
    sign_in_audience="AzureADMultipleOrgs", access_token_version=1,
    scopes=tuple(ScopeRecord(i, v, "User", v, v) for v, i in GRAPH_SCOPES.items()), app_roles=(),
    group_membership_claims=None, secrets=(), certificates=(), web_redirect_uris=(), spa_redirect_uris=(),
    public_redirect_uris=(), implicit_id_token=False, implicit_access_token=False, is_fallback_public_client=False,
    pre_authorized=(), logout_url=None,
)


def graph_service_principal(tenant_id: str, sp_id: str) -> ServicePrincipalRecord:
    return ServicePrincipalRecord(sp_id, tenant_id, GRAPH_APP_ID, "Microsoft Graph", False, True)
