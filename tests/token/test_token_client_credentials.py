"""client_credentials over HTTP, in-process: Entra's decisions, exact bodies and claims."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from mockidp.testing import forms
from mockidp.testing.entra import assert_entra_error
from mockidp.testing.jwts import claims_of, header_of
from mockidp.web.routes.token import runs_inline
from tests.conftest import (
    BACKEND1_URI,
    BACKEND2,
    CLIENT,
    CLIENT_SECRET,
    FROZEN_AT,
    REPORTING,
    REPORTING_SECRET,
    TENANT,
    Harness,
    make_harness,
)

SCOPE2 = f"api://{BACKEND2}/.default"
V2_ISS = f"https://localhost:8443/{TENANT}/v2.0"
V1_ISS = f"https://sts.windows.net/{TENANT}/"


def cc(client: str = CLIENT, secret: str = CLIENT_SECRET, **extra: str) -> dict[str, str]:
    return forms.client_credentials(client, secret, **extra)


def decoded(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return header_of(token), claims_of(token)


def sp_id(h: Harness, app_id: str) -> str:
    sp = h.app.state.runtime.services.directory.service_principal(TENANT, app_id)
    return sp.id


def assert_opaque(claims: dict[str, Any], version: int, resource: str) -> None:
    assert len(claims.pop("uti")) == 22
    assert len(base64.b64decode(claims.pop("aio"))) == 51
    prefix, body, end = claims.pop("rh").split(".")
    assert (prefix, end) == (str(version - 1), "")
    raw = base64.urlsafe_b64decode(body + "==")
    assert raw[1:17] == uuid.UUID(TENANT).bytes_le and raw[17:33] == uuid.UUID(resource).bytes_le


def test_v2_token_for_an_assigned_client_carries_its_application_roles(harness: Harness) -> None:
    r = harness.token(cc(scope=SCOPE2))
    assert r.status_code == 200
    body = r.json()
    assert list(body) == ["token_type", "expires_in", "ext_expires_in", "access_token"]
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599 and body["ext_expires_in"] == 3599
    header, claims = decoded(body["access_token"])
    kid = harness.app.state.runtime.jwk["kid"]
    assert header == {"typ": "JWT", "alg": "RS256", "kid": kid}
    assert_opaque(claims, 2, BACKEND2)
    oid = sp_id(harness, CLIENT)
    assert claims == {
        "aud": BACKEND2, "iss": V2_ISS, "iat": FROZEN_AT - 300, "nbf": FROZEN_AT - 300, "exp": FROZEN_AT + 3600,
        "azp": CLIENT, "azpacr": "1", "oid": oid, "roles": ["Provisioning.ReadWrite", "Data.Read"],
        "sub": oid, "tid": TENANT, "ver": "2.0",
    }
    assert list(decoded(body["access_token"])[1])[:5] == ["aud", "iss", "iat", "nbf", "exp"]
    assert r.headers["cache-control"] == "no-store, no-cache" and r.headers["pragma"] == "no-cache"


def test_token_version_comes_from_the_resource_not_the_endpoint(harness: Harness) -> None:
    """v1 endpoint + v2 resource -> v2 token; v2 endpoint + v1 resource -> v1 token: the resource decides
    (docs/entra-behaviour.md#access-tokens)."""
    r1 = harness.token(cc(resource=f"api://{BACKEND2}"), version=1)
    assert decoded(r1.json()["access_token"])[1]["iss"] == V2_ISS
    r2 = harness.token(cc(scope=f"{BACKEND1_URI}/.default"))
    header, claims = decoded(r2.json()["access_token"])
    assert claims["iss"] == V1_ISS and claims["ver"] == "1.0" and "x5t" in header


def test_v1_endpoint_answers_with_strings_and_echoes_the_resource(harness: Harness) -> None:
    r = harness.token(cc(client=REPORTING, secret=REPORTING_SECRET, resource=BACKEND1_URI), version=1)
    body = r.json()
    assert list(body) == ["token_type", "expires_in", "ext_expires_in", "expires_on", "not_before", "resource",
                          "access_token"]
    assert body["expires_in"] == "3599" and body["ext_expires_in"] == "3599"
    assert body["expires_on"] == str(FROZEN_AT + 3600) and body["not_before"] == str(FROZEN_AT - 300)
    assert body["resource"] == BACKEND1_URI
    header, claims = decoded(body["access_token"])
    kid = harness.app.state.runtime.jwk["kid"]
    assert header == {"typ": "JWT", "alg": "RS256", "x5t": kid, "kid": kid}
    backend1 = harness.app.state.runtime.services.directory.resource(TENANT, BACKEND1_URI).app_id
    assert_opaque(claims, 1, backend1)
    oid = sp_id(harness, REPORTING)
    assert claims == {
        "aud": BACKEND1_URI, "iss": V1_ISS, "iat": FROZEN_AT - 300, "nbf": FROZEN_AT - 300, "exp": FROZEN_AT + 3600,
        "appid": REPORTING, "appidacr": "1", "idp": V1_ISS, "oid": oid, "sub": oid, "tid": TENANT, "ver": "1.0",
    }


def test_v1_aud_is_the_identifier_as_requested_guid_or_uri(harness: Harness) -> None:
    backend1 = harness.app.state.runtime.services.directory.resource(TENANT, BACKEND1_URI).app_id
    r = harness.token(cc(client=REPORTING, secret=REPORTING_SECRET, scope=f"{backend1}/.default"))
    assert decoded(r.json()["access_token"])[1]["aud"] == backend1


def test_unassigned_client_is_refused_when_the_resource_requires_assignment(harness: Harness) -> None:
    r = harness.token(cc(client=REPORTING, secret=REPORTING_SECRET, scope=SCOPE2))
    assert r.status_code == 400
    assert r.text == json.dumps({
        "error": "invalid_grant",
        "error_description": f"AADSTS501051: Application '{REPORTING}'(reportingJob) is not assigned to a role for "
                             f"the application 'api://{BACKEND2}'(testBackend2). Trace ID: "
                             "00000000-0000-4000-8000-000000000001 Correlation ID: "
                             "00000000-0000-4000-8000-000000000002 Timestamp: 2026-01-01 00:00:00Z",
        "error_codes": [501051],
        "timestamp": "2026-01-01 00:00:00Z",
        "trace_id": "00000000-0000-4000-8000-000000000001",
        "correlation_id": "00000000-0000-4000-8000-000000000002",
        "error_uri": "https://login.microsoftonline.com/error?code=501051",
    }, separators=(",", ":"))
    assert r.headers["x-ms-request-id"] == "00000000-0000-4000-8000-000000000001"
    assert r.headers["x-ms-clitelem"] == "1,501051,0,,"


def test_the_resource_is_named_as_the_client_asked_for_it_in_501051(harness: Harness) -> None:
    r = harness.token(cc(client=REPORTING, secret=REPORTING_SECRET, scope=f"{BACKEND2}/.default"))
    assert f"for the application '{BACKEND2}'(testBackend2)." in r.json()["error_description"]


def test_without_assignment_required_any_app_of_the_tenant_gets_a_token_without_roles(harness: Harness) -> None:
    r = harness.token(cc(client=REPORTING, secret=REPORTING_SECRET, scope=f"{BACKEND1_URI}/.default"))
    assert r.status_code == 200
    assert "roles" not in decoded(r.json()["access_token"])[1]


def test_client_request_id_is_echoed_as_correlation_id(harness: Harness) -> None:
    cid = "5F0C1234-ABCD-4EF0-9876-0123456789AB"
    r = harness.token(cc(secret="wrong-secret-value-123", scope=SCOPE2), headers={"client-request-id": cid})
    assert_entra_error(r, 7000215, status=401, error="invalid_client", correlation_id=cid.lower(), message=(
        f"Invalid client secret provided. Ensure the secret being sent in the request is the client "
        f"secret value, not the client secret ID, for a secret added to app '{CLIENT}'."))


def test_client_request_id_in_the_form_body_is_echoed_too(harness: Harness) -> None:
    cid = "11111111-2222-4333-8444-555555555555"
    r = harness.token(cc(secret="wrong-secret-value-123", scope=SCOPE2, **{"client-request-id": cid}))
    assert_entra_error(r, 7000215, status=401, error="invalid_client", correlation_id=cid)


def test_client_secret_basic_is_accepted(harness: Harness) -> None:
    r = harness.token({"grant_type": "client_credentials", "scope": SCOPE2}, auth=(CLIENT, CLIENT_SECRET))
    assert r.status_code == 200


def test_domain_tenant_issues_tokens_with_the_tenant_guid(harness: Harness) -> None:
    r = harness.token(cc(scope=SCOPE2), tenant="CONTOSO.onmicrosoft.com")
    claims = decoded(r.json()["access_token"])[1]
    assert claims["tid"] == TENANT and claims["iss"] == V2_ISS


def test_public_url_setting_sets_the_v2_issuer(tmp_path, signing_dir) -> None:  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from mockidp.app import create_app
    from mockidp.settings import Settings
    from tests.conftest import DEMO_SEED

    app = create_app(Settings(seed=[DEMO_SEED], data_dir=tmp_path, tls=False, public_url="https://idp.example:9443/"))
    c = TestClient(app, base_url="http://127.0.0.1:1234")
    r = c.post(f"/{TENANT}/oauth2/v2.0/token", data=cc(scope=SCOPE2))
    assert decoded(r.json()["access_token"])[1]["iss"] == f"https://idp.example:9443/{TENANT}/v2.0"


SEED_EXPIRED = """
tenants:
  - tenantId: 11111111-1111-4111-8111-111111111111
    displayName: Fabrikam
    applications:
      - appId: 22222222-2222-4222-8222-222222222222
        displayName: api
        identifierUris: [api://fabrikam-api]
        api: {requestedAccessTokenVersion: 2}
      - appId: 33333333-3333-4333-8333-333333333333
        displayName: old
        passwordCredentials:
          - {secretText: "an-old-secret-value-1", endDateTime: "2020-01-01T00:00:00Z"}
      - appId: 44444444-4444-4444-8444-444444444444
        displayName: disabled
        passwordCredentials: [{secretText: "disabled-secret-value"}]
        servicePrincipal: {accountEnabled: false}
"""


@pytest.mark.parametrize(
    ("client", "secret", "code", "error", "status"),
    [
        ("33333333-3333-4333-8333-333333333333", "an-old-secret-value-1", 7000222, "invalid_client", 401),
        ("44444444-4444-4444-8444-444444444444", "disabled-secret-value", 7000112, "unauthorized_client", 400),
        ("55555555-5555-4555-8555-555555555555", "whatever-secret-value", 700016, "unauthorized_client", 400),
    ],
    ids=["expired-secret", "disabled-app", "unknown-app"],
)
def test_client_failures(tmp_path, signing_dir, client, secret, code, error, status) -> None:  # type: ignore[no-untyped-def]
    h = make_harness(tmp_path, SEED_EXPIRED, signing_dir)
    r = h.token(cc(client=client, secret=secret, scope="api://fabrikam-api/.default"),
                tenant="11111111-1111-4111-8111-111111111111")
    messages = {
        7000222: f"The provided client secret keys for app '{client}' are expired. Visit the Azure portal to create "
                 "new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials "
                 "for added security: https://aka.ms/certCreds.",
        7000112: f"Application '{client}'(disabled) is disabled.",
        700016: f"Application with identifier '{client}' was not found in the directory 'Fabrikam'. This can happen "
                "if the application has not been installed by the administrator of the tenant or consented to by "
                "any user in the tenant. You may have sent your authentication request to the wrong tenant.",
    }
    assert_entra_error(r, code, status=status, error=error, message=messages[code])


def test_only_client_credentials_with_a_secret_run_on_the_event_loop() -> None:
    assert runs_inline({"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": "s"})
    assert runs_inline({"grant_type": "client_credentials", "client_id": CLIENT})  # Basic auth
    # a client assertion may fetch another issuer's keys (federated credentials): the thread pool
    assert not runs_inline({"grant_type": "client_credentials", "client_id": CLIENT, "client_assertion": "ey",
                            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    for grant in ("authorization_code", "refresh_token", "password", "urn:ietf:params:oauth:grant-type:jwt-bearer", ""):
        assert not runs_inline({"grant_type": grant, "client_id": CLIENT})
