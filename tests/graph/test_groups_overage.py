"""The groups overage: a user in more than 200 groups gets, instead of `groups`, Entra's `_claim_names` and
`_claim_sources` (mockidp/tokens/claims.py); one membership added or removed over Graph crosses the line."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mockidp.directory.ids import derived_id
from mockidp.tokens.explain import explain_token
from tests.conftest import LiveServer
from tests.graph.live import served_seed, tls
from tests.graph.test_graph_people import claims

TENANT = "72f988bf-0000-4000-8000-0000000000cc"
ADMIN, ADMIN_SECRET = "0a0a0a0a-0000-4000-8000-0000000000c1", "overage-admin-secret-1"
CLI, API = "0d0d0d0d-0000-4000-8000-0000000000c4", "0b0b0b0b-0000-4000-8000-0000000000c2"
USER, PASSWORD = "many@overage.onmicrosoft.com", "Many-password-1"
LIMIT = 200
NAMES = [f"team-{i:03}" for i in range(LIMIT + 1)]
SEED = f"""
tenants:
  - tenantId: {TENANT}
    displayName: Overage
    domains: [overage.onmicrosoft.com]
    applications:
      - appId: {API}
        displayName: overage-api
        identifierUris: ["api://{API}"]
        api: {{requestedAccessTokenVersion: 2, oauth2PermissionScopes: [{{value: access_as_user, type: User}}]}}
        groupMembershipClaims: SecurityGroup
      - {{appId: {CLI}, displayName: overage-cli, isFallbackPublicClient: true}}
      - appId: {ADMIN}
        displayName: overage-admin
        passwordCredentials: [{{secretText: "{ADMIN_SECRET}", endDateTime: "2099-01-01T00:00:00Z"}}]
    users:
      - {{userPrincipalName: "{USER}", password: "{PASSWORD}", memberOf: [{", ".join(NAMES[:LIMIT])}]}}
    groups: [{", ".join("{displayName: " + n + "}" for n in NAMES)}]
    appRoleAssignments:
      - {{principal: overage-admin, resource: Microsoft Graph, appRole: Group.ReadWrite.All}}
    oauth2PermissionGrants:
      - {{client: overage-cli, resource: overage-api, scope: access_as_user, consentType: AllPrincipals}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from served_seed(tmp_path_factory, "overage", SEED)


def token_response(server: LiveServer) -> httpx.Response:
    got = httpx.post(f"{server.origin}/{TENANT}/oauth2/v2.0/token", verify=tls(server), data={
        "grant_type": "password", "client_id": CLI, "username": USER, "password": PASSWORD,
        "scope": f"api://{API}/access_as_user"})
    assert got.status_code == 200, got.text
    return got


def token_claims(server: LiveServer) -> dict[str, object]:
    return claims(token_response(server).json()["access_token"])


def test_the_201st_group_turns_the_groups_claim_into_the_overage_claims(server: LiveServer) -> None:
    user_id = derived_id(TENANT, "user", USER)
    at_limit = token_claims(server)
    assert isinstance(at_limit["groups"], list) and len(at_limit["groups"]) == LIMIT
    assert "_claim_names" not in at_limit
    admin = httpx.post(f"{server.origin}/{TENANT}/oauth2/v2.0/token", verify=tls(server), data={
        "grant_type": "client_credentials", "client_id": ADMIN, "client_secret": ADMIN_SECRET,
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
    last = derived_id(TENANT, "group", NAMES[-1])
    with httpx.Client(base_url=f"{server.origin}/graph/v1.0", verify=tls(server),
                      headers={"Authorization": f"Bearer {admin}"}) as graph:
        added = graph.post(f"/groups/{last}/members/$ref",
                           json={"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user_id}"})
        assert added.status_code == 204, added.text
        answer = token_response(server)
        over = claims(answer.json()["access_token"])
        assert "groups" not in over
        assert over["_claim_names"] == {"groups": "src1"}
        assert over["_claim_sources"] == {"src1": {
            "endpoint": f"https://graph.windows.net/{TENANT}/users/{user_id}/getMemberObjects"}}
        traced = httpx.get(f"{server.origin}/_mockidp/traces/{answer.headers['x-ms-request-id']}", verify=tls(server))
        why = {c["claim"]: c["why"] for c in traced.json()["claims"]}["groups"]
        assert f"in {LIMIT + 1} such groups" in why and "_claim_names" in why
        meanings = {i.name: i.meaning for i in explain_token(answer.json()["access_token"], keys=[], now=0).claim_items}
        assert "more groups than a token lists" in meanings["_claim_names"]
        assert graph.delete(f"/groups/{last}/members/{user_id}/$ref").status_code == 204
    back = token_claims(server)
    assert isinstance(back["groups"], list) and len(back["groups"]) == LIMIT and "_claim_sources" not in back
