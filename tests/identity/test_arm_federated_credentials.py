"""A user-assigned identity's federated identity credentials through Azure Resource Manager's API (issue 10:
Azure keeps them in ARM, not Graph) over a real TLS server: PUT, GET, list, DELETE with ARM's bodies and the seed's
rules in Azure's words for a Managed Identity; the next federated request as the identity follows each write."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
import yaml

from tests.conftest import LiveServer

TENANT, OTHER = "5c1e7a90-0000-4000-8000-0000000000f1", "5c1e7a90-0000-4000-8000-0000000000f2"
DEPLOYER = "3c4d5e6f-7081-4c9d-8eaf-2a3b4c5d6ef1"
CALLER, CALLER_SECRET = "3c4d5e6f-7081-4c9d-8eaf-2a3b4c5d6ef2", "arm-caller-secret-1"
STRANGER, STRANGER_SECRET = "3c4d5e6f-7081-4c9d-8eaf-2a3b4c5d6ef3", "arm-stranger-secret-1"
IDENTITY = ("/subscriptions/0b1c2d3e-0000-4000-8000-0000000000f1/resourceGroups/ci/providers/"
            "Microsoft.ManagedIdentity/userAssignedIdentities/deployer")
GITHUB = "https://token.actions.githubusercontent.com"
MAIN = "repo:fabrikam/infra:ref:refs/heads/main"
SCOPE = "api://deploy-arm/.default"
SEED = {"tenants": [
    {"tenantId": TENANT, "displayName": "Infra", "applications": [
        {"appId": "5e6f7081-92a3-4ebf-a0c1-4c5d6e7f80f1", "displayName": "deploy-api",
         "identifierUris": ["api://deploy-arm"],
         "appRoles": [{"value": "Deploy.Run", "allowedMemberTypes": ["Application"]}],
         "servicePrincipal": {"appRoleAssignmentRequired": True}},
        {"appId": CALLER, "displayName": "arm-caller",
         "passwordCredentials": [{"secretText": CALLER_SECRET, "endDateTime": "2099-01-01T00:00:00Z"}]}],
     "managedIdentities": [{"type": "UserAssigned", "name": "deployer", "clientId": DEPLOYER, "resourceId": IDENTITY}],
     "appRoleAssignments": [{"principal": "deployer", "resource": "deploy-api", "appRole": "Deploy.Run"}]},
    {"tenantId": OTHER, "displayName": "Elsewhere", "applications": [
        {"appId": STRANGER, "displayName": "stranger",
         "passwordCredentials": [{"secretText": STRANGER_SECRET, "endDateTime": "2099-01-01T00:00:00Z"}]}]},
]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("arm-fic")
    seed = tmp / "seed.yaml"
    seed.write_text(yaml.safe_dump(SEED))
    with LiveServer(tmp / "data", [seed]) as live:
        yield live


def tls(server: LiveServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.ca)


def token(server: LiveServer, tenant: str, **form: str) -> httpx.Response:
    return httpx.post(f"{server.origin}/{tenant}/oauth2/v2.0/token", verify=tls(server), data=form)


def bearer(server: LiveServer, tenant: str, client: str, secret: str, scope: str) -> str:
    got = token(server, tenant, grant_type="client_credentials", client_id=client, client_secret=secret, scope=scope)
    assert got.status_code == 200, got.text
    return str(got.json()["access_token"])


@pytest.fixture(scope="module")
def arm(server: LiveServer) -> Iterator[httpx.Client]:
    access = bearer(server, TENANT, CALLER, CALLER_SECRET, "https://management.azure.com/.default")
    with httpx.Client(base_url=f"{server.origin}/arm{IDENTITY}", verify=tls(server), params={
            "api-version": "2023-01-31"}, headers={"Authorization": f"Bearer {access}"}) as client:
        yield client


def federated(server: LiveServer, subject: str = MAIN) -> httpx.Response:
    minted = httpx.post(f"{server.origin}/_mockidp/control/federation/tokens", verify=tls(server),
                        json={"issuer": "github", "subject": subject})
    return token(server, TENANT, grant_type="client_credentials", client_id=DEPLOYER, scope=SCOPE,
                 client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                 client_assertion=minted.json()["token"])


def arm_error(response: httpx.Response) -> tuple[int, str, str]:
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return response.status_code, body["error"]["code"], body["error"]["message"]


def properties(subject: str = MAIN, **more: Any) -> dict[str, Any]:
    return {"properties": {"issuer": GITHUB, "subject": subject, "audiences": ["api://AzureADTokenExchange"], **more}}


def test_a_credential_put_through_arm_signs_the_identity_in(server: LiveServer, arm: httpx.Client) -> None:
    assert federated(server).json()["error_codes"] == [70021]
    made = arm.put("/federatedIdentityCredentials/github-main", json=properties())
    assert made.status_code == 201, made.text
    assert made.json() == {
        "id": f"{IDENTITY}/federatedIdentityCredentials/github-main", "name": "github-main",
        "type": "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
        "properties": {"issuer": GITHUB, "subject": MAIN, "audiences": ["api://AzureADTokenExchange"]}}
    got = federated(server)
    assert got.status_code == 200, got.text
    claims = jwt.decode(got.json()["access_token"], options={"verify_signature": False})
    assert (claims["appid"], claims["roles"]) == (DEPLOYER, ["Deploy.Run"])
    assert [c["name"] for c in arm.get("/federatedIdentityCredentials").json()["value"]] == ["github-main"]
    other = "repo:fabrikam/infra:environment:prod"
    replaced = arm.put("/federatedIdentityCredentials/github-main", json=properties(other))
    assert replaced.status_code == 200 and replaced.json()["properties"]["subject"] == other
    assert federated(server).json()["error_codes"] == [700213]
    assert federated(server, other).status_code == 200
    assert arm.delete("/federatedIdentityCredentials/github-main").status_code == 200
    assert arm.delete("/federatedIdentityCredentials/github-main").status_code == 204
    assert federated(server, other).json()["error_codes"] == [70021]
    assert arm_error(arm.get("/federatedIdentityCredentials/github-main"))[:2] == (404, "NotFound")


def test_arms_refusals(server: LiveServer, arm: httpx.Client) -> None:
    assert arm.put("/federatedIdentityCredentials/main", json=properties()).status_code == 201
    for name, body, words in (
            ("again", properties(), "Issuer and subject combination already exists for this Managed Identity."),
            ("two", properties("s2", audiences=["api://AzureADTokenExchange", "api://x"]), "exactly one audience"),
            ("a b", properties("s3"), "Federated Identity Credential name 'a b' is invalid."),
            ("empty", {"properties": {}}, "Federated Identity Credential from HTTP body has empty properties"),
            ("odd", properties("s4", claimsMatchingExpression="x"), "Unknown property")):
        status, code, message = arm_error(arm.put(f"/federatedIdentityCredentials/{name}", json=body))
        assert (status, code) == (400, "BadRequest") and words in message, (name, message)
    url = f"{server.origin}/arm{IDENTITY}/federatedIdentityCredentials"
    assert arm_error(arm.get(url, params={"api-version": ""}))[:2] == (400, "MissingApiVersionParameter")
    anonymous = httpx.get(url, params={"api-version": "2023-01-31"}, verify=tls(server))
    assert arm_error(anonymous)[:2] == (401, "AuthenticationFailed")
    graph = bearer(server, TENANT, CALLER, CALLER_SECRET, "https://graph.microsoft.com/.default")
    wrong_audience = httpx.get(url, params={"api-version": "2023-01-31"}, verify=tls(server),
                               headers={"Authorization": f"Bearer {graph}"})
    assert arm_error(wrong_audience)[:2] == (401, "InvalidAuthenticationToken")
    stranger = bearer(server, OTHER, STRANGER, STRANGER_SECRET, "https://management.azure.com/.default")
    elsewhere = httpx.get(url, params={"api-version": "2023-01-31"}, verify=tls(server),
                          headers={"Authorization": f"Bearer {stranger}"})
    assert arm_error(elsewhere)[:2] == (401, "InvalidAuthenticationTokenTenant")
    missing = arm.get(url.replace("/deployer/", "/nobody/"))
    assert arm_error(missing) == (404, "ParentResourceNotFound", "The parent user-assigned identity doesn't exist.")
    plain = httpx.get(f"{server.origin}{IDENTITY}/federatedIdentityCredentials", params={"api-version": "1"},
                      verify=tls(server), headers={"Authorization": arm.headers["Authorization"]})
    assert plain.status_code == 404  # ARM's own path only under the Host management.azure.com
    hosted = httpx.get(f"{server.origin}{IDENTITY}/federatedIdentityCredentials", params={"api-version": "1"},
                       verify=tls(server), headers={"Authorization": arm.headers["Authorization"],
                                                    "Host": "management.azure.com"})
    assert [c["name"] for c in hosted.json()["value"]] == ["main"]
