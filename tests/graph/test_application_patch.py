"""PATCH /applications/{id} beyond displayName over a real TLS server: each property goes through the seed's own
schema and rules (a bad value is Graph's 400 with the reason and nothing changes), Graph's rule on enabled app
roles and scopes, and the next decision follows at once (/authorize, the token's version, its roles)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest

from tests.conftest import LiveServer, seed_problems
from tests.graph.graph_seed import ADMIN, ADMIN_SECRET, API, SEED, TENANT
from tests.graph.live import client_token, graph_session, served_seed, tls


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from served_seed(tmp_path_factory, "graph-patch", SEED)


def token_for(server: LiveServer, client_id: str, secret: str, scope: str) -> httpx.Response:
    return client_token(server, TENANT, client_id, secret, scope)


@pytest.fixture(scope="module")
def graph(server: LiveServer) -> Iterator[httpx.Client]:
    with graph_session(server, TENANT, ADMIN, ADMIN_SECRET) as client:
        yield client


def made(graph: httpx.Client, name: str) -> dict[str, Any]:
    app = graph.post("/applications", json={"displayName": name})
    assert app.status_code == 201, app.text
    assert graph.post("/servicePrincipals", json={"appId": app.json()["appId"]}).status_code == 201
    return dict(app.json())


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]


def authorize(server: LiveServer, client_id: str, redirect_uri: str) -> httpx.Response:
    query = urlencode({"client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri,
                       "scope": "openid"})
    return httpx.get(f"{server.origin}/{TENANT}/oauth2/v2.0/authorize?{query}", verify=tls(server),
                     follow_redirects=False)


def test_a_new_redirect_uri_is_accepted_at_once_and_a_removed_one_is_50011(server: LiveServer,
                                                                           graph: httpx.Client) -> None:
    app = made(graph, "web-app")
    uri = "https://app.example.com/signin-oidc"
    before = authorize(server, app["appId"], uri)
    assert before.status_code == 400 and "AADSTS50011" in before.text
    patched = graph.patch(f"/applications/{app['id']}", json={"web": {"redirectUris": [uri], "logoutUrl":
                                                                      "https://app.example.com/signout"}})
    assert patched.status_code == 204, patched.text
    accepted = authorize(server, app["appId"], uri)
    assert accepted.status_code == 200 and "AADSTS50011" not in accepted.text
    web = graph.get(f"/applications/{app['id']}").json()["web"]
    assert (web["redirectUris"], web["logoutUrl"], web["implicitGrantSettings"]["enableIdTokenIssuance"]) == (
        [uri], "https://app.example.com/signout", False)
    assert graph.patch(f"/applications/{app['id']}", json={"web": {"implicitGrantSettings": {
        "enableIdTokenIssuance": True}}}).status_code == 204
    web = graph.get(f"/applications/{app['id']}").json()["web"]
    assert web["redirectUris"] == [uri] and web["implicitGrantSettings"]["enableIdTokenIssuance"] is True  # merged
    assert graph.patch(f"/applications/{app['id']}", json={"web": {"redirectUris": []}, "spa": {
        "redirectUris": ["http://localhost:3000"]}, "publicClient": {"redirectUris": ["myapp://auth"]},
        "isFallbackPublicClient": True}).status_code == 204
    removed = authorize(server, app["appId"], uri)
    assert removed.status_code == 400 and "AADSTS50011" in removed.text
    got = graph.get(f"/applications/{app['id']}").json()
    assert (got["spa"], got["publicClient"], got["isFallbackPublicClient"]) == (
        {"redirectUris": ["http://localhost:3000"]}, {"redirectUris": ["myapp://auth"]}, True)


def test_the_token_version_and_identifier_uris_switch_the_next_token(server: LiveServer,
                                                                     graph: httpx.Client) -> None:
    api, client = made(graph, "patched-api"), made(graph, "patched-client")
    secret = graph.post(f"/applications/{client['id']}/addPassword", json={}).json()["secretText"]
    uri = f"api://{api['appId']}"
    assert graph.patch(f"/applications/{api['id']}", json={"identifierUris": [uri]}).status_code == 204
    v1 = token_for(server, client["appId"], secret, f"{uri}/.default")
    assert v1.status_code == 200, v1.text
    assert jwt.decode(v1.json()["access_token"], options={"verify_signature": False})["ver"] == "1.0"
    switched = graph.patch(f"/applications/{api['id']}", json={"api": {"requestedAccessTokenVersion": 2},
                                                                "signInAudience": "AzureADMultipleOrgs",
                                                                "groupMembershipClaims": "SecurityGroup"})
    assert switched.status_code == 204, switched.text
    v2 = token_for(server, client["appId"], secret, f"{uri}/.default")
    assert jwt.decode(v2.json()["access_token"], options={"verify_signature": False})["ver"] == "2.0"
    got = graph.get(f"/applications/{api['id']}").json()
    assert (got["signInAudience"], got["groupMembershipClaims"], got["identifierUris"]) == (
        "AzureADMultipleOrgs", "SecurityGroup", [uri])
    other = made(graph, "uri-thief")
    taken = graph.patch(f"/applications/{other['id']}", json={"identifierUris": [uri]})
    assert error_of(taken) == (400, "Request_BadRequest",
                               "Another object with the same value for property identifierUris already exists.")


def test_optional_claims_idtyp_is_patched_shown_kept_and_removed(server: LiveServer, graph: httpx.Client) -> None:
    api, client = made(graph, "idtyp-api"), made(graph, "idtyp-client")
    secret = graph.post(f"/applications/{client['id']}/addPassword", json={}).json()["secretText"]
    assert graph.get(f"/applications/{api['id']}").json()["optionalClaims"] is None

    def idtyp() -> object:
        got = token_for(server, client["appId"], secret, f"{api['appId']}/.default")
        assert got.status_code == 200, got.text
        return jwt.decode(got.json()["access_token"], options={"verify_signature": False}).get("idtyp")
    assert idtyp() is None
    asked = graph.patch(f"/applications/{api['id']}", json={"optionalClaims": {"accessToken": [{"name": "idtyp"}]}})
    assert asked.status_code == 204, asked.text
    assert idtyp() == "app"
    assert graph.get(f"/applications/{api['id']}").json()["optionalClaims"]["accessToken"][0]["name"] == "idtyp"
    assert graph.patch(f"/applications/{api['id']}", json={"displayName": "idtyp-api-2"}).status_code == 204
    assert idtyp() == "app"  # a PATCH of something else keeps it
    assert graph.patch(f"/applications/{api['id']}", json={"optionalClaims": {"accessToken": []}}).status_code == 204
    assert idtyp() is None


def test_an_enabled_role_is_disabled_before_it_goes_and_roles_follow(server: LiveServer, graph: httpx.Client) -> None:
    api, client = made(graph, "roles-api"), made(graph, "roles-client")
    secret = graph.post(f"/applications/{client['id']}/addPassword", json={}).json()["secretText"]
    uri = f"api://{api['appId']}"
    role = {"id": "5b1d5e4a-0000-4000-8000-00000000a001", "value": "Jobs.Run", "displayName": "Run jobs",
            "allowedMemberTypes": ["Application"], "isEnabled": True}
    scope = {"id": "5b1d5e4a-0000-4000-8000-00000000b001", "value": "jobs.read", "type": "User", "isEnabled": True,
             "adminConsentDisplayName": "Read jobs", "userConsentDisplayName": "Read jobs"}
    assert graph.patch(f"/applications/{api['id']}", json={"identifierUris": [uri], "appRoles": [role], "api": {
        "oauth2PermissionScopes": [scope]}}).status_code == 204
    sps = graph.get("/servicePrincipals", params={"$filter": f"appId eq '{api['appId']}'"}).json()["value"]
    client_sp = graph.get("/servicePrincipals", params={"$filter": f"appId eq '{client['appId']}'"}).json()["value"]
    assigned = graph.post(f"/servicePrincipals/{sps[0]['id']}/appRoleAssignedTo", json={
        "principalId": client_sp[0]["id"], "resourceId": sps[0]["id"], "appRoleId": role["id"]})
    assert assigned.status_code == 201, assigned.text
    claims = jwt.decode(token_for(server, client["appId"], secret, f"{uri}/.default").json()["access_token"],
                        options={"verify_signature": False})
    assert claims["roles"] == ["Jobs.Run"]
    for change in ({"appRoles": []}, {"appRoles": [{**role, "value": "Jobs.Renamed"}]},
                   {"api": {"oauth2PermissionScopes": []}}):
        refused = graph.patch(f"/applications/{api['id']}", json=change)
        assert error_of(refused) == (400, "CannotDeleteOrUpdateEnabledEntitlement",
                                     "Permission (scope or role) cannot be deleted or updated unless disabled first.")
    assert graph.patch(f"/applications/{api['id']}", json={"appRoles": [{**role, "isEnabled": False}]}).status_code \
        == 204
    claims = jwt.decode(token_for(server, client["appId"], secret, f"{uri}/.default").json()["access_token"],
                        options={"verify_signature": False})
    assert "roles" not in claims  # a disabled role is no longer issued
    assert graph.patch(f"/applications/{api['id']}", json={"appRoles": []}).status_code == 204
    assert graph.get(f"/servicePrincipals/{sps[0]['id']}/appRoleAssignedTo").json()["value"] == []


def test_a_bad_value_is_graphs_400_with_the_reason_and_nothing_changes(graph: httpx.Client) -> None:
    app = made(graph, "unchanged")
    before = graph.get(f"/applications/{app['id']}").json()
    for change, words in (
            ({"displayName": "renamed", "web": {"redirectUris": ["http://example.com/cb"]}}, "http is only allowed"),
            ({"signInAudience": "PersonalMicrosoftAccount"}, "requires api.requestedAccessTokenVersion: 2"),
            ({"api": {"requestedAccessTokenVersion": 3}}, "api.requestedAccessTokenVersion"),
            ({"identifierUris": ["api://a b"]}, "is not a valid App ID URI"),
            ({"requiredResourceAccess": [{"resourceAppId": API, "resourceAccess": [{"id": "x", "type": "Scope"}]}]},
             "is not a GUID"),
            ({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": "bm90IGEgY2VydA=="}]},
             "keyCredentials"),
            ({"passwordCredentials": []}, "mockidp does not update passwordCredentials"),
            ({"api": 1}, "api"), ({"web": "x"}, "web"), ({"spa": [1]}, "spa")):
        refused = graph.patch(f"/applications/{app['id']}", json=change)
        status, code, message = error_of(refused)
        assert (status, code) == (400, "Request_BadRequest") and words in message, (change, message)
    assert graph.get(f"/applications/{app['id']}").json() == before


def test_required_resource_access_is_kept_and_shown(graph: httpx.Client) -> None:
    app = made(graph, "asks-for-graph")
    wanted = [{"resourceAppId": "00000003-0000-0000-c000-000000000000", "resourceAccess": [
        {"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]}]
    assert graph.patch(f"/applications/{app['id']}", json={"requiredResourceAccess": wanted}).status_code == 204
    assert graph.get(f"/applications/{app['id']}").json()["requiredResourceAccess"] == wanted


def test_a_patch_keeps_what_it_does_not_name(server: LiveServer, graph: httpx.Client) -> None:
    app = made(graph, "keeps-its-credentials")
    secret = graph.post(f"/applications/{app['id']}/addPassword", json={}).json()["secretText"]
    fic = {"name": "github-main", "issuer": "https://token.actions.githubusercontent.com", "subject": "repo:o/r:ref:x"}
    assert graph.post(f"/applications/{app['id']}/federatedIdentityCredentials", json=fic).status_code == 201
    assert graph.patch(f"/applications/{app['id']}", json={"displayName": "renamed", "web": {
        "redirectUris": ["https://renamed.example.com/cb"]}}).status_code == 204
    got = graph.get(f"/applications/{app['id']}").json()
    assert (got["id"], got["appId"], got["displayName"], len(got["passwordCredentials"])) == (
        app["id"], app["appId"], "renamed", 1)
    assert token_for(server, app["appId"], secret, "https://graph.microsoft.com/.default").status_code == 200
    listed = graph.get(f"/applications/{app['id']}/federatedIdentityCredentials").json()["value"]
    assert [c["name"] for c in listed] == ["github-main"]


@pytest.mark.parametrize("platform", ["api: 1", "web: x", "spa: [1]", "publicClient: 7"])
def test_a_platform_that_is_no_object_is_a_seed_problem_not_a_crash(tmp_path: Path, platform: str) -> None:
    """The manifest-alias folding (schema.Application) read these as objects; they are problems at their path."""
    problems = seed_problems(tmp_path, f"tenants:\n  - displayName: T\n    applications:\n"
                                       f"      - displayName: a\n        {platform}\n")
    assert any(f"tenants[0].applications[0].{platform.split(':')[0]}" in p for p in problems), problems
