"""One request per AADSTS error of the token service, and the exact body Entra sends for it (volatile
fields frozen: trace 00000000-0000-4000-8000-000000000001, correlation ...0002, 2026-01-01 00:00:00Z).
The messages are written out here, not taken from the catalogue: this table is the specification."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mockidp.testing import forms
from tests.conftest import CLIENT_CERT, CLIENT_KEY, make_harness

T = "11111111-1111-4111-8111-111111111111"
API = "22222222-2222-4222-8222-222222222222"
CLI = "33333333-3333-4333-8333-333333333333"
OLD = "44444444-4444-4444-8444-444444444444"
OFF = "55555555-5555-4555-8555-555555555555"
PUB = "66666666-6666-4666-8666-666666666666"
WEB = "77777777-7777-4777-8777-777777777777"
SECRET = "cli-secret-value-0001"
# Inline (base64 DER): a keyFile may only name a file in the seed's own folder.
CLIENT_CERT_DER = base64.b64encode(
    x509.load_pem_x509_certificate(CLIENT_CERT.read_bytes()).public_bytes(Encoding.DER)).decode()
SEED = f"""
tenants:
  - tenantId: {T}
    displayName: Fabrikam
    domains: [fabrikam.example]
    applications:
      - {{appId: {API}, displayName: api, identifierUris: ["api://api"], api: {{requestedAccessTokenVersion: 2}},
         servicePrincipal: {{appRoleAssignmentRequired: true}}}}
      - appId: {CLI}
        displayName: cli
        passwordCredentials: [{{secretText: "{SECRET}"}}]
        keyCredentials: [{{key: "{CLIENT_CERT_DER}"}}]
      - {{appId: {OLD}, displayName: old,
         passwordCredentials: [{{secretText: "old-secret-value-0001", endDateTime: "2020-01-01T00:00:00Z"}}]}}
      - {{appId: {OFF}, displayName: disabledApp, passwordCredentials: [{{secretText: "off-secret-value-0001"}}],
         servicePrincipal: {{accountEnabled: false}}}}
      - {{appId: {PUB}, displayName: pub, isFallbackPublicClient: true}}
      - {{appId: {WEB}, displayName: web, passwordCredentials: [{{secretText: "web-secret-value-0001"}}]}}
    users:
      - {{userPrincipalName: eve@fabrikam.example, password: eve-password-1}}
"""
TOKEN = f"https://localhost:8443/{T}/oauth2/v2.0/token"
CERT_DOC = "Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."
NOW = 1_767_225_600


def cc(client: str = CLI, secret: str | None = SECRET, scope: str = "api://api/.default",
       **extra: str) -> dict[str, str]:
    return forms.client_credentials(client, secret, scope=scope, **extra)


def assertion(**overrides: Any) -> dict[str, str]:
    token = forms.client_assertion(CLIENT_KEY.read_bytes(), client_id=CLI, audience=TOKEN, now=NOW, jti="j1",
                                   certificate_pem=CLIENT_CERT.read_bytes(), alg=overrides.pop("alg", "RS256"),
                                   claims=overrides.pop("claims", {}), headers=overrides.pop("headers", {}))
    return forms.with_assertion(cc(secret=None), token)


def hs256() -> dict[str, str]:
    header = forms.b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = forms.b64url(json.dumps({"iss": CLI, "sub": CLI, "aud": TOKEN}).encode())
    return forms.with_assertion(cc(secret=None), f"{header}.{body}.c2ln")


KEYS_TAIL = (f"Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app "
             f"Id '{CLI}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to "
             "determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/"
             "application-get?view=graph-rest-1.0&tabs=http to build a query request URL, such as "
             f"'https://graph.microsoft.com/beta/applications/{CLI}'].")

# (id, how to send it, status, error, code, message)
ROWS: list[tuple[str, dict[str, Any], int, str, int, str]] = [
    ("501051", {"data": cc()}, 400, "invalid_grant", 501051,
     f"Application '{CLI}'(cli) is not assigned to a role for the application 'api://api'(api)."),
    ("700016", {"data": cc(client="99999999-9999-4999-8999-999999999999")}, 400, "unauthorized_client", 700016,
     "Application with identifier '99999999-9999-4999-8999-999999999999' was not found in the directory "
     "'Fabrikam'. This can happen if the application has not been installed by the administrator of the tenant "
     "or consented to by any user in the tenant. You may have sent your authentication request to the wrong "
     "tenant."),
    ("7000215", {"data": cc(secret="not-the-secret-value")}, 401, "invalid_client", 7000215,
     "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, "
     f"not the client secret ID, for a secret added to app '{CLI}'."),
    ("7000222", {"data": cc(client=OLD, secret="old-secret-value-0001")}, 401, "invalid_client", 7000222,
     f"The provided client secret keys for app '{OLD}' are expired. Visit the Azure portal to create new keys "
     "for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added "
     "security: https://aka.ms/certCreds."),
    ("7000218", {"data": {"grant_type": "password", "client_id": WEB, "username": "eve@fabrikam.example",
                          "password": "eve-password-1", "scope": "openid"}}, 401, "invalid_client", 7000218,
     "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
    ("7000216", {"data": cc(secret=None)}, 401, "invalid_client", 7000216,
     "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type."),
    ("700025", {"data": cc(client=PUB, secret="a-secret-nobody-has")}, 401, "invalid_client", 700025,
     "Client is public so neither 'client_assertion' nor 'client_secret' should be presented."),
    ("500011", {"data": cc(scope="api://nowhere/.default")}, 400, "invalid_resource", 500011,
     "The resource principal named api://nowhere was not found in the tenant named Fabrikam. This can happen if "
     "the application has not been installed by the administrator of the tenant or consented to by any user in "
     "the tenant. You might have sent your authentication request to the wrong tenant."),
    ("1002012", {"data": cc(scope="api://api/read")}, 400, "invalid_scope", 1002012,
     "The provided value for scope api://api/read is not valid. Client credential flows must have a scope value "
     "with /.default suffixed to the resource identifier (application ID URI)."),
    ("70011", {"data": {"grant_type": "password", "client_id": PUB, "username": "eve@fabrikam.example",
                        "password": "eve-password-1", "scope": "api://api/nothing"}}, 400, "invalid_scope", 70011,
     "The provided value for the input parameter 'scope' is not valid. The scope api://api/nothing is not valid."),
    ("70011-format", {"data": {"grant_type": "password", "client_id": PUB, "username": "eve@fabrikam.example",
                               "password": "eve-password-1", "scope": "api.example/read openid"}}, 400,
     "invalid_scope", 70011, "The provided request must include a 'scope' input parameter. The provided value for "
     "the input parameter 'scope' is not valid. The scope api.example/read openid is not valid. The scope format is "
     "invalid. Scope must be in a valid URI form <https://example/scope> or a valid Guid <guid/scope>."),
    ("700022", {"data": cc(scope="api://api/.default https://graph.microsoft.com/.default")}, 400, "invalid_scope",
     700022, "The provided value for the input parameter scope isn't valid because it contains more than one "
     "resource."),
    ("900144", {"data": {"grant_type": "client_credentials", "client_id": CLI}}, 400, "invalid_request", 900144,
     "The request body must contain the following parameter: 'scope'."),
    ("70003", {"data": {"grant_type": "magic", "client_id": CLI}}, 400, "unsupported_grant_type", 70003,
     "The app requested an unsupported grant type 'magic'."),
    ("900561", {"method": "GET"}, 400, "invalid_request", 900561,
     "The endpoint only accepts POST, OPTIONS requests. Received a GET request."),
    ("90002", {"tenant": "nowhere.example.com", "data": cc()}, 400, "invalid_request", 90002,
     "Tenant 'nowhere.example.com' not found. Check to make sure you have the correct tenant ID and are signing "
     "into the correct cloud. Check with your subscription administrator, this may happen if there are no active "
     "subscriptions for the tenant."),
    ("900023", {"tenant": "not a tenant", "data": cc()}, 400, "invalid_request", 900023,
     "Specified tenant identifier 'not a tenant' is neither a valid DNS name, nor a valid external domain."),
    # A single word is no DNS name at the protocol endpoints (captured: 'authorize', 'token', 'undefined').
    ("900023-word", {"tenant": "secrets", "data": cc()}, 400, "invalid_request", 900023,
     "Specified tenant identifier 'secrets' is neither a valid DNS name, nor a valid external domain."),
    ("9001023", {"tenant": "common", "data": cc()}, 400, "invalid_request", 9001023,
     "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or "
     "tenant-specific endpoint."),
    ("7000112", {"data": cc(client=OFF, secret="off-secret-value-0001")}, 400, "unauthorized_client", 7000112,
     f"Application '{OFF}'(disabledApp) is disabled."),
    ("700027", {"data": "unregistered"}, 401, "invalid_client", 700027,
     "The certificate with identifier used to sign the client assertion is not registered on application. "
     "[Reason - The key was not found., Thumbprint of key used by client: '0000000000000000000000000000000000000000', "
     + KEYS_TAIL),
    # MSAL's assertions carry iat but no nbf: Entra then reports the Unix epoch as the start, not iat.
    ("700024", {"data": "expired"}, 401, "invalid_client", 700024,
     "Client assertion is not within its valid time range. Current time: 2026-01-01T00:00:00.0000000Z, assertion "
     "valid from 1970-01-01T00:00:00.0000000Z, expiry time of assertion 2025-12-31T23:10:00.0000000Z. " + CERT_DOC),
    ("700024-nbf", {"data": "expired-nbf"}, 401, "invalid_client", 700024,
     "Client assertion is not within its valid time range. Current time: 2026-01-01T00:00:00.0000000Z, assertion "
     "valid from 2025-12-31T23:00:00.0000000Z, expiry time of assertion 2025-12-31T23:10:00.0000000Z. " + CERT_DOC),
    ("700021", {"data": "other-client"}, 401, "invalid_client", 700021,
     "Client assertion application identifier doesn't match 'client_id' parameter. " + CERT_DOC),
    ("5002738", {"data": "hs256"}, 401, "invalid_client", 5002738,
     "Invalid JWT token. 'HS256' is not a supported signature algorithm. Supported signing algorithms are: "
     "'RS256,RS384,RS512'"),
]
ASSERTIONS = {
    "unregistered": lambda: assertion(headers={"x5t": forms.b64url(b"\0" * 20)}),
    "expired": lambda: assertion(claims={"iat": NOW - 3600, "exp": NOW - 3000}),
    "expired-nbf": lambda: assertion(claims={"iat": NOW - 3600, "nbf": NOW - 3600, "exp": NOW - 3000}),
    "other-client": lambda: assertion(claims={"iss": API, "sub": API}),
    "hs256": hs256,
}


@pytest.mark.parametrize(("case", "request_", "status", "error", "code", "message"), ROWS, ids=[r[0] for r in ROWS])
def test_exact_error_body(tmp_path, signing_dir, case, request_, status, error, code, message) -> None:  # type: ignore[no-untyped-def]
    h = make_harness(tmp_path, SEED, signing_dir)
    data = request_.get("data")
    if isinstance(data, str):
        data = ASSERTIONS[data]()
    path = f"/{request_.get('tenant', T)}/oauth2/v2.0/token"
    r = h.client.request(request_.get("method", "POST"), path, data=data)
    trace, correlation, stamp = ("00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002",
                                 "2026-01-01 00:00:00Z")
    expected = {
        "error": error,
        "error_description": f"AADSTS{code}: {message} Trace ID: {trace} Correlation ID: {correlation} "
                             f"Timestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    assert r.status_code == status
    assert r.text == json.dumps(expected, separators=(",", ":"))
    assert r.headers["cache-control"] == "no-store, no-cache" and r.headers["pragma"] == "no-cache"
    assert r.headers["x-ms-request-id"] == trace
