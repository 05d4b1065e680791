"""oauth2PermissionGrants over a real TLS server: list with $filter, get, create, patch the scope, delete, with
Graph's shapes and errors; each consent decision follows at once (a password and a refresh request needing a
scope answer AADSTS65001 without the grant, as an unconsented seed does)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from mockidp.directory.ids import derived_id
from tests.conftest import LiveServer
from tests.graph.live import graph_session, served_seed, tls

TENANT = "72f988bf-0000-4000-8000-0000000000bb"
ADMIN, ADMIN_SECRET = "0a0a0a0a-0000-4000-8000-0000000000b1", "grants-admin-secret-1"
API, CLI = "0b0b0b0b-0000-4000-8000-0000000000b2", "0c0c0c0c-0000-4000-8000-0000000000b3"
ALICE, PASSWORD = "alice@grants.onmicrosoft.com", "alice-password-1"
SEED = f"""
tenants:
  - tenantId: {TENANT}
    displayName: Grants
    domains: [grants.onmicrosoft.com]
    applications:
      - appId: {API}
        displayName: orders-api
        identifierUris: ["api://orders-grants"]
        api:
          oauth2PermissionScopes:
            - {{value: Orders.Read, type: User}}
            - {{value: Orders.Write, type: User}}
      - appId: {CLI}
        displayName: orders-cli
        isFallbackPublicClient: true
        publicClient: {{redirectUris: ["http://localhost"]}}
      - appId: {ADMIN}
        displayName: grants-admin
        passwordCredentials:
          - {{secretText: "{ADMIN_SECRET}", endDateTime: "2099-01-01T00:00:00Z"}}
    users:
      - {{userPrincipalName: "{ALICE}", password: "{PASSWORD}"}}
    appRoleAssignments:
      - {{principal: grants-admin, resource: Microsoft Graph, appRole: DelegatedPermissionGrant.ReadWrite.All}}
      - {{principal: grants-admin, resource: Microsoft Graph, appRole: Application.ReadWrite.All}}
"""
SCOPE = "api://orders-grants/Orders.Read"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from served_seed(tmp_path_factory, "graph-grants", SEED)


def token(server: LiveServer, **form: str) -> httpx.Response:
    return httpx.post(f"{server.origin}/{TENANT}/oauth2/v2.0/token", verify=tls(server), data=form)


@pytest.fixture(scope="module")
def graph(server: LiveServer) -> Iterator[httpx.Client]:
    with graph_session(server, TENANT, ADMIN, ADMIN_SECRET) as client:
        yield client


def password(server: LiveServer, scope: str = SCOPE) -> httpx.Response:
    return token(server, grant_type="password", client_id=CLI, username=ALICE, password=PASSWORD,
                 scope=f"{scope} offline_access")


def sp_of(graph: httpx.Client, app_id: str) -> str:
    return str(graph.get("/servicePrincipals", params={"$filter": f"appId eq '{app_id}'"}).json()["value"][0]["id"])


def codes(response: httpx.Response) -> list[int]:
    return list(response.json().get("error_codes", []))


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]


def test_a_grant_written_through_graph_decides_the_next_consent(server: LiveServer, graph: httpx.Client) -> None:
    assert codes(password(server)) == [65001]
    client, resource = sp_of(graph, CLI), sp_of(graph, API)
    made = graph.post("/oauth2PermissionGrants", json={"clientId": client, "consentType": "AllPrincipals",
                                                       "resourceId": resource, "scope": "Orders.Read Orders.Write"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert list(body) == ["@odata.context", "clientId", "consentType", "id", "principalId", "resourceId", "scope"]
    assert body["@odata.context"].endswith("$metadata#oauth2PermissionGrants/$entity")
    assert base64.urlsafe_b64decode(body["id"] + "==") == uuid.UUID(client).bytes_le + uuid.UUID(resource).bytes_le
    assert (body["principalId"], body["scope"]) == (None, "Orders.Read Orders.Write")
    got = password(server)
    assert got.status_code == 200, got.text
    assert jwt.decode(got.json()["access_token"], options={"verify_signature": False})["scp"] == "Orders.Read"
    refresh = got.json()["refresh_token"]
    listed = graph.get("/oauth2PermissionGrants", params={"$filter": f"clientId eq '{client}'"}).json()["value"]
    assert [g["id"] for g in listed] == [body["id"]]
    assert graph.get("/oauth2PermissionGrants", params={"$filter": "consentType eq 'Principal'"}).json()[
        "value"] == []
    assert graph.get(f"/oauth2PermissionGrants/{body['id']}").json()["scope"] == "Orders.Read Orders.Write"
    assert graph.patch(f"/oauth2PermissionGrants/{body['id']}", json={"scope": "Orders.Write"}).status_code == 204
    assert codes(password(server)) == [65001]
    assert password(server, "api://orders-grants/Orders.Write").status_code == 200
    again = token(server, grant_type="refresh_token", client_id=CLI, refresh_token=refresh, scope=SCOPE)
    assert codes(again) == [65001]
    assert graph.delete(f"/oauth2PermissionGrants/{body['id']}").status_code == 204
    assert codes(password(server, "api://orders-grants/Orders.Write")) == [65001]
    gone = graph.get(f"/oauth2PermissionGrants/{body['id']}")
    assert error_of(gone)[:2] == (404, "Request_ResourceNotFound")


def test_one_users_consent_and_graphs_refusals(server: LiveServer, graph: httpx.Client) -> None:
    client, resource = sp_of(graph, CLI), sp_of(graph, API)
    alice = derived_id(TENANT, "user", ALICE)  # the seed's id of a user given without one
    grant: dict[str, Any] = {"clientId": client, "consentType": "Principal", "principalId": alice,
                             "resourceId": resource, "scope": "Orders.Read"}
    made = graph.post("/oauth2PermissionGrants", json=grant)
    assert made.status_code == 201 and made.json()["principalId"] == alice
    assert password(server).status_code == 200
    twice = graph.post("/oauth2PermissionGrants", json=grant)
    assert error_of(twice) == (409, "Request_MultipleObjectsWithSameKeyValue", "Permission entry already exists.")
    for bad, words in (({"scope": "Orders.Delete"}, "orders-api has no scope 'Orders.Delete'"),
                       ({"consentType": "Principal"}, "consentType Principal names the user"),
                       ({"principalId": alice}, "consentType Principal names the user"),
                       ({"consentType": "Everyone"}, "consentType is AllPrincipals or Principal"),
                       ({"resourceId": str(uuid.uuid4())}, "no servicePrincipal"),
                       ({"clientId": None}, "clientId and resourceId")):
        refused = graph.post("/oauth2PermissionGrants", json={**grant, "consentType": "AllPrincipals",
                                                              "principalId": None, **bad})
        status, code, message = error_of(refused)
        assert (status, code) == (400, "Request_BadRequest") and words in message, (bad, message)
    patched = graph.patch(f"/oauth2PermissionGrants/{made.json()['id']}", json={"consentType": "AllPrincipals"})
    assert error_of(patched)[:2] == (400, "Request_BadRequest")
    assert graph.delete(f"/oauth2PermissionGrants/{made.json()['id']}").status_code == 204
    assert codes(password(server)) == [65001]


def test_a_scope_removed_from_the_api_leaves_its_grants(server: LiveServer, graph: httpx.Client) -> None:
    client, resource = sp_of(graph, CLI), sp_of(graph, API)
    made = graph.post("/oauth2PermissionGrants", json={"clientId": client, "consentType": "AllPrincipals",
                                                       "resourceId": resource, "scope": "Orders.Read Orders.Write"})
    assert made.status_code == 201, made.text
    api = graph.get("/applications", params={"$filter": f"appId eq '{API}'"}).json()["value"][0]
    scopes = api["api"]["oauth2PermissionScopes"]
    write = next(sc for sc in scopes if sc["value"] == "Orders.Write")
    keep = [sc for sc in scopes if sc is not write]
    refused = graph.patch(f"/applications/{api['id']}", json={"api": {"oauth2PermissionScopes": keep}})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "CannotDeleteOrUpdateEnabledEntitlement"
    disabled = graph.patch(f"/applications/{api['id']}", json={"api": {"oauth2PermissionScopes": [
        *keep, {**write, "isEnabled": False}]}})
    assert disabled.status_code == 204, disabled.text
    assert graph.patch(f"/applications/{api['id']}", json={"api": {"oauth2PermissionScopes": keep}}).status_code \
        == 204
    assert graph.get(f"/oauth2PermissionGrants/{made.json()['id']}").json()["scope"] == "Orders.Read"
    assert password(server).status_code == 200
    assert graph.delete(f"/oauth2PermissionGrants/{made.json()['id']}").status_code == 204
