"""Workload identity federation against an external issuer on this machine (issue 10): the unmodified
WorkloadIdentityCredential gets a token for a credential-less app, and every refusal is Entra's code and
message, as the raw envelope and as the client surfaces it."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import WorkloadIdentityCredential

from tests.conftest import LiveServer
from tests.federation.issuer_support import AUDIENCE, ExternalIssuer, new_key

TENANT = "6b1c2d3e-0000-4000-8000-0000000f1d01"
ORDERS = "0c2a4e6f-1111-4a2b-8c3d-4e5f6a7b8c01"
CI_JOB = "0c2a4e6f-2222-4a2b-8c3d-4e5f6a7b8c02"
LONELY = "0c2a4e6f-3333-4a2b-8c3d-4e5f6a7b8c03"
SUBJECT = "repo:org/app:ref:refs/heads/main"
SCOPE = "api://orders-test/.default"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


DEAD_ISSUER = f"http://127.0.0.1:{_closed_port()}"
# A server that takes connections (the kernel's backlog) and never answers: only the timeout ends a read.
_SILENT = socket.create_server(("127.0.0.1", 0), backlog=16)
SILENT_ISSUER = f"http://127.0.0.1:{_SILENT.getsockname()[1]}"


def seed(issuer: str) -> dict[str, Any]:
    return {"tenants": [{"tenantId": TENANT, "displayName": "Federation tests", "applications": [
        {"appId": ORDERS, "displayName": "orders", "identifierUris": ["api://orders-test"],
         "api": {"requestedAccessTokenVersion": 2},
         "appRoles": [{"value": "Orders.Write", "allowedMemberTypes": ["Application"]}],
         "servicePrincipal": {"appRoleAssignmentRequired": True}},
        {"appId": CI_JOB, "displayName": "ciJob", "federatedIdentityCredentials": [
            {"name": "main", "issuer": issuer, "subject": SUBJECT},
            {"name": "dead-issuer", "issuer": DEAD_ISSUER, "subject": SUBJECT},
            {"name": "silent-issuer", "issuer": SILENT_ISSUER, "subject": SUBJECT},
        ]},
        {"appId": LONELY, "displayName": "lonelyJob"},
    ], "appRoleAssignments": [{"principal": "ciJob", "resource": "orders", "appRole": "Orders.Write"}]}]}


@pytest.fixture(scope="module")
def issuer() -> Iterator[ExternalIssuer]:
    with _SILENT, ExternalIssuer() as running:  # the silent server closes with the module
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, issuer: ExternalIssuer) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("federation")
    seed_file = home / "seed.yaml"
    seed_file.write_text(yaml.safe_dump(seed(issuer.url)))
    with LiveServer(home / "data", [seed_file], federation_fetch_timeout=2) as live:
        yield live


@pytest.fixture(autouse=True)
def fresh_issuer(issuer: ExternalIssuer) -> Iterator[None]:
    """A test may rotate or break the issuer: the next one sees its first key and documents again."""
    first, documents = (issuer.key, issuer.kid), dict(issuer.documents)
    yield
    if (issuer.key, issuer.kid) != first or issuer.documents != documents:
        issuer.key, issuer.kid = first
        issuer.publish()
        time.sleep(1.1)  # mockidp's cached JWKS may be the changed one: the next unknown kid re-reads it


def post(server: LiveServer, assertion: str, client_id: str = CI_JOB) -> httpx.Response:
    return httpx.post(f"{server.origin}/{TENANT}/oauth2/v2.0/token", verify=ssl.create_default_context(
        cafile=server.ca), data={
        "grant_type": "client_credentials", "client_id": client_id, "scope": SCOPE,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion}, timeout=30)


def refused(response: httpx.Response, code: int, error: str, status: int) -> str:
    body = response.json()
    assert (response.status_code, body["error"], body["error_codes"]) == (status, error, [code]), body
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    return str(body["error_description"])


def credential(server: LiveServer, token_file: Path, client_id: str = CI_JOB) -> WorkloadIdentityCredential:
    return WorkloadIdentityCredential(tenant_id=TENANT, client_id=client_id, token_file_path=str(token_file),
                                      authority=server.origin, disable_instance_discovery=True,
                                      connection_verify=server.ca)


def test_workload_identity_credential_gets_the_apps_token(server: LiveServer, issuer: ExternalIssuer,
                                                          tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(issuer.token(SUBJECT))
    with credential(server, token_file) as cred:  # closed: no idle connection keeps the server's shutdown waiting
        access = cred.get_token(SCOPE)
    claims = jwt.decode(access.token, options={"verify_signature": False})
    assert (claims["aud"], claims["azp"], claims["azpacr"], claims["ver"]) == (ORDERS, CI_JOB, "2", "2.0")
    assert claims["roles"] == ["Orders.Write"]
    assert claims["iss"] == f"{server.origin}/{TENANT}/v2.0"
    assert access.expires_on > time.time() + 3000


def test_a_refusal_reaches_the_client_as_its_error(server: LiveServer, issuer: ExternalIssuer,
                                                   tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(issuer.token("repo:Org/App:ref:refs/heads/main"))
    with credential(server, token_file) as cred, pytest.raises(ClientAuthenticationError) as caught:
        cred.get_token(SCOPE)
    assert "AADSTS700213: No matching federated identity record found for presented assertion subject " \
           "'repo:Org/App:ref:refs/heads/main'. Please note that the matching is done using a case-sensitive " \
           "comparison." in str(caught.value)


def test_subject_is_compared_exactly(server: LiveServer, issuer: ExternalIssuer) -> None:
    text = refused(post(server, issuer.token(SUBJECT + " ")), 700213, "invalid_client", 401)
    assert f"subject '{SUBJECT} '" in text


def test_audience_must_be_the_credentials(server: LiveServer, issuer: ExternalIssuer) -> None:
    text = refused(post(server, issuer.token(SUBJECT, audience="my.audience")), 700212, "invalid_client", 401)
    assert text.startswith("AADSTS700212: No matching federated identity record found for presented assertion "
                           "audience 'my.audience'. Please check your federated identity credential Subject, "
                           "Audience and Issuer against the presented assertion.")


def test_one_of_several_audiences_is_enough(server: LiveServer, issuer: ExternalIssuer) -> None:
    response = post(server, issuer.token(SUBJECT, audience=["other", AUDIENCE]))
    assert response.status_code == 200, response.text


def test_an_issuer_no_credential_names(server: LiveServer) -> None:
    with ExternalIssuer() as other:
        text = refused(post(server, other.token(SUBJECT)), 700211, "invalid_client", 401)
    assert f"presented assertion issuer '{other.url}'." in text


def test_an_app_without_credentials_gets_70021_with_all_three_values(server: LiveServer,
                                                                      issuer: ExternalIssuer) -> None:
    text = refused(post(server, issuer.token(SUBJECT), LONELY), 70021, "invalid_request", 400)
    assert text.startswith(f"AADSTS70021: No matching federated identity record found for presented assertion. "
                           f"Assertion Issuer: '{issuer.url}'. Assertion Subject: '{SUBJECT}'. "
                           f"Assertion Audience: '{AUDIENCE}'. ")


def test_an_expired_token(server: LiveServer, issuer: ExternalIssuer) -> None:
    now = int(time.time())
    token = issuer.token(SUBJECT, iat=now - 7200, nbf=now - 7200, exp=now - 3600)
    text = refused(post(server, token), 700024, "invalid_client", 401)
    assert "Client assertion is not within its valid time range." in text


def test_a_token_not_yet_valid(server: LiveServer, issuer: ExternalIssuer) -> None:
    now = int(time.time())
    refused(post(server, issuer.token(SUBJECT, nbf=now + 3600, exp=now + 7200)), 700024, "invalid_client", 401)


def test_a_key_the_issuer_does_not_publish(server: LiveServer, issuer: ExternalIssuer) -> None:
    text = refused(post(server, issuer.token(SUBJECT, key=new_key())), 7000272, "invalid_client", 401)
    assert text.startswith(f"AADSTS7000272: The certificate with identifier {issuer.kid} used to sign the federated "
                           f"credential could not be found in the metadata of identity provider {issuer.url}.")
    unknown = issuer.token(SUBJECT, headers={"kid": "no-such-kid"})
    assert "identifier no-such-kid used" in refused(post(server, unknown), 7000272, "invalid_client", 401)


def test_a_rotated_key_is_read_again(server: LiveServer, issuer: ExternalIssuer) -> None:
    assert post(server, issuer.token(SUBJECT)).status_code == 200  # the JWKS is cached now
    issuer.key, issuer.kid = new_key(), "issuer-key-2"
    issuer.publish()
    time.sleep(1.1)  # an unknown kid re-reads the JWKS, at most once a second
    response = post(server, issuer.token(SUBJECT))
    assert response.status_code == 200, response.text


def test_an_unreachable_issuer(server: LiveServer, issuer: ExternalIssuer) -> None:
    token = issuer.token(SUBJECT, iss=DEAD_ISSUER)
    text = refused(post(server, token), 501661, "invalid_request", 400)
    assert text.startswith("AADSTS501661: Request to External OIDC endpoint failed.")


def test_a_silent_issuer_times_out_without_blocking_the_server(server: LiveServer, issuer: ExternalIssuer) -> None:
    """--federation-fetch-timeout (2 s here) ends the read; meanwhile the event loop serves everyone else."""
    result: dict[str, httpx.Response] = {}
    started = time.monotonic()
    waiting = threading.Thread(target=lambda: result.update(r=post(server, issuer.token(SUBJECT, iss=SILENT_ISSUER))))
    waiting.start()
    time.sleep(0.3)
    with httpx.Client(verify=ssl.create_default_context(cafile=server.ca)) as c:
        asked = time.monotonic()
        assert c.get(f"{server.origin}/{TENANT}/v2.0/.well-known/openid-configuration").status_code == 200
        assert time.monotonic() - asked < 1.0
    assert waiting.is_alive()  # still waiting on the silent issuer
    waiting.join(30)
    assert 1.9 < time.monotonic() - started < 10
    refused(result["r"], 501661, "invalid_request", 400)


def test_a_discovery_document_of_another_issuer(server: LiveServer, issuer: ExternalIssuer) -> None:
    assert post(server, issuer.token(SUBJECT)).status_code == 200
    issuer.publish(issuer="https://elsewhere.example")
    time.sleep(1.1)  # past the re-read guard of the cache
    token = issuer.token(SUBJECT, headers={"kid": "brand-new"})  # an unknown kid forces a read
    refused(post(server, token), 501661, "invalid_request", 400)


def test_a_broken_jwks(server: LiveServer, issuer: ExternalIssuer) -> None:
    issuer.documents["/keys"] = (500, b"oops")
    token = issuer.token(SUBJECT, headers={"kid": "brand-new"})  # an unknown kid forces a read
    time.sleep(1.1)  # past the re-read guard of the cache
    refused(post(server, token), 501661, "invalid_request", 400)


@pytest.mark.parametrize(("iss", "code"), [
    pytest.param(f"https://login.microsoftonline.com/{TENANT}/v2.0", 700222, id="entra-v2"),
    pytest.param(f"https://sts.windows.net/{TENANT}/", 700222, id="entra-v1"),
])
def test_entra_issued_tokens_are_no_federated_credential(server: LiveServer, issuer: ExternalIssuer, iss: str,
                                                         code: int) -> None:
    text = refused(post(server, issuer.token(SUBJECT, iss=iss)), code, "invalid_client", 401)
    assert text.startswith("AADSTS700222: AAD-issued tokens may not be used for federated identity flows.")


def test_mockidps_own_access_token_is_no_federated_credential(server: LiveServer, issuer: ExternalIssuer,
                                                               tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(issuer.token(SUBJECT))
    with credential(server, token_file) as cred:
        own = cred.get_token(SCOPE).token
    refused(post(server, own), 700222, "invalid_client", 401)


def test_header_type_and_algorithm(server: LiveServer, issuer: ExternalIssuer) -> None:
    text = refused(post(server, issuer.token(SUBJECT, headers={"typ": "at+jwt"})), 5002727, "invalid_request", 400)
    assert "Invalid JWT header type specified, must be 'JWT' or 'http://openid.net/specs/jwt/1.0'." in text
    hs = jwt.encode({"iss": issuer.url, "sub": SUBJECT, "aud": AUDIENCE, "exp": int(time.time()) + 600},
                    "k" * 32, algorithm="HS256")
    assert "'HS256' is not a supported" in refused(post(server, hs), 5002738, "invalid_client", 401)


def test_a_token_without_subject_is_malformed(server: LiveServer, issuer: ExternalIssuer) -> None:
    token = jwt.encode({"iss": issuer.url, "aud": AUDIENCE, "exp": int(time.time()) + 600}, issuer.key,
                       algorithm="RS256", headers={"kid": issuer.kid})
    refused(post(server, token), 50027, "invalid_client", 401)
