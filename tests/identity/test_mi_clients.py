"""Managed identities through the real, unmodified clients (issue 10): azure-identity's ManagedIdentityCredential
(both endpoint shapes, system- and user-assigned), DefaultAzureCredential in a subprocess with only environment
variables, MSAL Python's ManagedIdentityClient, @azure/identity in Node (tests/node/mi/managed-identity.mjs;
Node trusts the mock's CA through NODE_EXTRA_CA_CERTS only; needs `npm ci` in tests/node, a missing install
fails rather than skips); Entra's and Azure's refusals as those clients surface them.

The clients find the endpoints only through the environment (IDENTITY_ENDPOINT + IDENTITY_HEADER, or
AZURE_POD_IDENTITY_AUTHORITY_HOST), as on Azure; each test sets it with monkeypatch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import msal
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError, ManagedIdentityCredential

from mockidp.oauth.managed_identity import header_secret
from tests.conftest import DEMO_SEED, ROOT, LiveServer
from tests.identity.test_managed_identities import (
    FUNC_CLIENT,
    FUNC_ID,
    FUNC_PRINCIPAL,
    IDENTITIES_SEED,
    ORDERS_API,
    REPORTING_CLIENT,
    REPORTING_ID,
    REPORTING_PRINCIPAL,
    TENANT,
    UNASSIGNED_CLIENT,
)

pytestmark = pytest.mark.clients

ORDERS_SCOPE = "api://orders-api/.default"
VAULT_SCOPE = "https://vault.azure.net/.default"
ENDPOINT_VARS = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT",
                 "MSI_ENDPOINT", "MSI_SECRET", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "AZURE_FEDERATED_TOKEN_FILE",
                 "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("mi-live"), [DEMO_SEED, IDENTITIES_SEED]) as server:
        yield server


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No managed-identity variable of the machine running the tests leaks in."""
    for name in ENDPOINT_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def secret(live: LiveServer, resource: str) -> str:
    return header_secret((live.settings.data_dir / "session-secret").read_bytes(), resource)


def as_app_service(env: pytest.MonkeyPatch, live: LiveServer, resource: str) -> None:
    env.setenv("IDENTITY_ENDPOINT", f"{live.origin}/msi/token")
    env.setenv("IDENTITY_HEADER", secret(live, resource))


def as_vm(env: pytest.MonkeyPatch, live: LiveServer, resource: str) -> None:
    env.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", f"{live.origin}/_mockidp/imds/{resource}")


def session(live: LiveServer) -> requests.Session:
    s = requests.Session()
    s.verify = live.ca
    s.trust_env = False  # the ambient REQUESTS_CA_BUNDLE must not win over the mock's CA
    return s


def verified(live: LiveServer, token: str) -> dict[str, Any]:
    """The token's claims once PyJWT has checked its signature against mockidp's published keys."""
    keys = session(live).get(f"{live.origin}/{TENANT}/discovery/v2.0/keys").json()["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWK(next(k for k in keys if k["kid"] == kid))
    return jwt.decode(token, key.key, algorithms=["RS256"], options={"verify_aud": False})


# --------------------------------------------------------------------------------- azure-identity


def test_azure_identity_app_service_system_assigned(env: pytest.MonkeyPatch, live: LiveServer) -> None:
    as_app_service(env, live, "orders-func")
    with ManagedIdentityCredential(connection_verify=live.ca) as credential:
        token = credential.get_token(ORDERS_SCOPE)
    c = verified(live, token.token)
    assert c["aud"] == ORDERS_API and c["azp"] == FUNC_CLIENT and c["azpacr"] == "2"
    assert c["oid"] == c["sub"] == FUNC_PRINCIPAL and c["roles"] == ["Orders.Read"]
    assert c["xms_mirid"] == FUNC_ID
    assert token.expires_on == c["exp"]


@pytest.mark.parametrize("selector", [{"client_id": REPORTING_CLIENT},
                                      {"identity_config": {"object_id": REPORTING_PRINCIPAL}},
                                      {"identity_config": {"resource_id": REPORTING_ID}}],
                         ids=["client_id", "object_id", "resource_id"])
def test_azure_identity_app_service_user_assigned(env: pytest.MonkeyPatch, live: LiveServer,
                                                  selector: dict[str, Any]) -> None:
    as_app_service(env, live, "orders-func")
    with ManagedIdentityCredential(connection_verify=live.ca, **selector) as credential:
        token = credential.get_token(VAULT_SCOPE)
    c = verified(live, token.token)
    assert c["aud"] == "https://vault.azure.net" and c["ver"] == "1.0"
    assert c["appid"] == REPORTING_CLIENT and c["appidacr"] == "2" and c["oid"] == REPORTING_PRINCIPAL
    assert c["xms_mirid"] == REPORTING_ID and c["xms_az_rid"] == FUNC_ID


def test_azure_identity_imds_system_and_user_assigned(env: pytest.MonkeyPatch, live: LiveServer) -> None:
    as_vm(env, live, "orders-func")  # the same resource, reached the VM way
    with ManagedIdentityCredential(connection_verify=live.ca) as credential:
        system = verified(live, credential.get_token(ORDERS_SCOPE).token)
    assert system["azp"] == FUNC_CLIENT and system["roles"] == ["Orders.Read"]
    as_vm(env, live, "batch-vm")
    with ManagedIdentityCredential(client_id=REPORTING_CLIENT, connection_verify=live.ca) as credential:
        user = verified(live, credential.get_token(ORDERS_SCOPE).token)
    assert user["azp"] == REPORTING_CLIENT and user["roles"] == ["Reports.Write"]
    assert user["xms_az_rid"].endswith("/Microsoft.Web/sites/batch-vm")


def test_azure_identity_probes_imds_first_and_takes_the_answer_as_there(env: pytest.MonkeyPatch,
                                                                         live: LiveServer) -> None:
    """The probe (no Metadata header, no retry) runs when the credential was made before the variable was set
    (with it set at construction azure-identity skips the probe); our 400 bad_request_102 counts as "IMDS is
    there", and the token request follows."""
    credential = ManagedIdentityCredential(client_id=REPORTING_CLIENT, connection_verify=live.ca,
                                           _enable_imds_probe=True)
    as_vm(env, live, "batch-vm")
    before = probes(live)
    with credential:
        token = credential.get_token(ORDERS_SCOPE)
    assert verified(live, token.token)["azp"] == REPORTING_CLIENT
    assert probes(live) == before + 1  # the probe, answered as IMDS answers a request without Metadata


def probes(live: LiveServer) -> int:
    """Requests refused for want of the Metadata header, as their traces say."""
    listed = session(live).get(f"{live.origin}/_mockidp/traces", params={
        "outcome": "MI_IMDS_NO_METADATA", "client_id": REPORTING_CLIENT, "limit": "100"})
    assert listed.status_code == 200, listed.text
    return len(listed.json()["value"])


def test_azure_identity_surfaces_the_refusals(env: pytest.MonkeyPatch, live: LiveServer) -> None:
    as_app_service(env, live, "orders-func")
    with ManagedIdentityCredential(client_id=UNASSIGNED_CLIENT, connection_verify=live.ca) as credential, \
            pytest.raises(CredentialUnavailableError) as unknown:
        credential.get_token(ORDERS_SCOPE)
    assert "400, Unable to load the proper Managed Identity." in unknown.value.message
    env.setenv("IDENTITY_HEADER", "00000000-0000-0000-0000-000000000000")
    with ManagedIdentityCredential(connection_verify=live.ca) as credential, \
            pytest.raises(ClientAuthenticationError) as wrong_header:
        credential.get_token(ORDERS_SCOPE)
    assert "The X-IDENTITY-HEADER header is missing or invalid." in wrong_header.value.message
    env.delenv("IDENTITY_ENDPOINT")
    env.delenv("IDENTITY_HEADER")
    as_vm(env, live, "batch-vm")
    with ManagedIdentityCredential(client_id=UNASSIGNED_CLIENT, connection_verify=live.ca) as credential, \
            pytest.raises(CredentialUnavailableError) as unassigned:
        credential.get_token(ORDERS_SCOPE)
    assert f"AADSTS501051: Application '{UNASSIGNED_CLIENT}'(unassigned-identity) is not assigned to a role " \
           "for the application 'api://orders-api'(orders-api)." in unassigned.value.message
    with ManagedIdentityCredential(connection_verify=live.ca) as credential, \
            pytest.raises(CredentialUnavailableError) as none:
        credential.get_token(ORDERS_SCOPE)
    assert "(invalid_request) Identity not found" in none.value.message


# --------------------------------------------------------------------------------- MSAL Python


def test_msal_managed_identity_client_app_service(env: pytest.MonkeyPatch, live: LiveServer) -> None:
    as_app_service(env, live, "orders-func")
    system = msal.ManagedIdentityClient(msal.SystemAssignedManagedIdentity(), http_client=session(live),
                                        token_cache=msal.TokenCache())
    result = system.acquire_token_for_client(resource="api://orders-api")
    assert "access_token" in result, result
    assert result["token_source"] == "identity_provider" and 86_000 < result["expires_in"] <= 86_400
    assert verified(live, result["access_token"])["azp"] == FUNC_CLIENT
    again = system.acquire_token_for_client(resource="api://orders-api")
    assert again["token_source"] == "cache"  # expires_on parsed as Azure writes it: MSAL can cache it
    user = msal.ManagedIdentityClient(msal.UserAssignedManagedIdentity(object_id=REPORTING_PRINCIPAL),
                                      http_client=session(live), token_cache=msal.TokenCache())
    c = verified(live, user.acquire_token_for_client(resource="https://vault.azure.net")["access_token"])
    assert c["appid"] == REPORTING_CLIENT and c["xms_mirid"] == REPORTING_ID
    refused = msal.ManagedIdentityClient(msal.UserAssignedManagedIdentity(client_id=UNASSIGNED_CLIENT),
                                         http_client=session(live), token_cache=msal.TokenCache())
    assert refused.acquire_token_for_client(resource="api://orders-api") == {
        "error": "invalid_scope", "error_description": "400, Unable to load the proper Managed Identity."}


def test_msal_managed_identity_client_imds(env: pytest.MonkeyPatch, live: LiveServer) -> None:
    as_vm(env, live, "batch-vm")
    user = msal.ManagedIdentityClient(msal.UserAssignedManagedIdentity(resource_id=REPORTING_ID),
                                      http_client=session(live), token_cache=msal.TokenCache())
    result = user.acquire_token_for_client(resource="api://orders-api")
    assert "access_token" in result, result
    assert verified(live, result["access_token"])["roles"] == ["Reports.Write"]
    system = msal.ManagedIdentityClient(msal.SystemAssignedManagedIdentity(), http_client=session(live),
                                        token_cache=msal.TokenCache())
    assert system.acquire_token_for_client(resource="api://orders-api") == {
        "error": "invalid_request", "error_description": "Identity not found"}
    unassigned = msal.ManagedIdentityClient(msal.UserAssignedManagedIdentity(client_id=UNASSIGNED_CLIENT),
                                            http_client=session(live), token_cache=msal.TokenCache())
    refused = unassigned.acquire_token_for_client(resource="api://orders-api")
    assert refused["error"] == "invalid_grant" and refused["error_description"].startswith("AADSTS501051: ")


# --------------------------------------------------------------------------------- DefaultAzureCredential

_DEFAULT_CREDENTIAL = """
import json, sys
from azure.identity import DefaultAzureCredential
token = DefaultAzureCredential().get_token(sys.argv[1])
print(json.dumps({"token": token.token, "expires_on": token.expires_on}))
"""


def _run_default_credential(live: LiveServer, scope: str, variables: dict[str, str], tmp: Path) -> dict[str, Any]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp), "REQUESTS_CA_BUNDLE": live.ca, **variables}
    done = subprocess.run([sys.executable, "-c", _DEFAULT_CREDENTIAL, scope], env=env, capture_output=True,
                          text=True, timeout=120, cwd=tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_default_azure_credential_with_only_environment_variables(live: LiveServer, tmp_path: Path) -> None:
    function = _run_default_credential(live, ORDERS_SCOPE, {
        "IDENTITY_ENDPOINT": f"{live.origin}/msi/token", "IDENTITY_HEADER": secret(live, "orders-func")}, tmp_path)
    assert verified(live, function["token"])["azp"] == FUNC_CLIENT
    vm = _run_default_credential(live, ORDERS_SCOPE, {
        "AZURE_POD_IDENTITY_AUTHORITY_HOST": f"{live.origin}/_mockidp/imds/batch-vm",
        "AZURE_CLIENT_ID": REPORTING_CLIENT}, tmp_path)  # DefaultAzureCredential's user-assigned identity
    assert verified(live, vm["token"])["oid"] == REPORTING_PRINCIPAL


# --------------------------------------------------------------------------------- @azure/identity (Node)

NODE_DIR = ROOT / "tests" / "node"
SCRIPT = NODE_DIR / "mi" / "managed-identity.mjs"


def run_node(live: LiveServer, variables: dict[str, str], *args: str) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: install Node.js 20+ and run `npm ci` in tests/node")
    if not (NODE_DIR / "node_modules" / "@azure" / "identity").is_dir():
        pytest.fail("@azure/identity is not installed: run `npm ci` in tests/node")
    env = {k: v for k, v in os.environ.items()
           if k not in ("NODE_TLS_REJECT_UNAUTHORIZED", "NODE_OPTIONS", *ENDPOINT_VARS)}
    env.update({"NODE_EXTRA_CA_CERTS": live.ca, "NO_COLOR": "1", **variables})
    done = subprocess.run([node, str(SCRIPT), *args], cwd=NODE_DIR, env=env, capture_output=True, text=True,
                          timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_node_azure_identity_app_service_and_imds(live: LiveServer) -> None:
    function = {"IDENTITY_ENDPOINT": f"{live.origin}/msi/token", "IDENTITY_HEADER": secret(live, "orders-func")}
    system = run_node(live, function, "api://orders-api/.default")
    assert "token" in system, system
    claims = jwt.decode(system["token"], options={"verify_signature": False})
    assert claims["azp"] == FUNC_CLIENT and claims["roles"] == ["Orders.Read"]
    assert system["expiresOnTimestamp"] == claims["exp"] * 1000  # expires_on read as Azure writes it
    vm = {"AZURE_POD_IDENTITY_AUTHORITY_HOST": f"{live.origin}/_mockidp/imds/batch-vm"}
    user = run_node(live, vm, "https://vault.azure.net/.default", REPORTING_CLIENT)
    assert "token" in user, user
    assert jwt.decode(user["token"], options={"verify_signature": False})["appid"] == REPORTING_CLIENT
    refused = run_node(live, function, "api://orders-api/.default", UNASSIGNED_CLIENT)
    assert refused["error"] in ("CredentialUnavailableError", "AuthenticationError"), refused
    assert "Unable to load the proper Managed Identity." in refused["message"], refused
