"""The whole flow through the gateway, as users run it: MSAL Python and azure-identity get the token from
mockidp, httpx calls the gateway over TLS, the backend is a real HTTP server. Exact bodies and headers."""

from __future__ import annotations

import json
import ssl
import time
from pathlib import Path
from typing import Any

import httpx
import msal
import pytest
import requests
from azure.identity import ClientSecretCredential
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import BACKEND1_URI, BACKEND2, CLIENT, CLIENT_SECRET, TENANT
from tests.gateway.conftest import GatewayServer, KeyServer, RecordingBackend

pytestmark = pytest.mark.clients

V2_SCOPE = f"api://{BACKEND2}/.default"
V1_SCOPE = f"{BACKEND1_URI}/.default"
INVALID = '{ "statusCode": 401, "message": "Invalid JWT." }'
NOT_PRESENT = '{ "statusCode": 401, "message": "JWT not present." }'
MISSING_KEY = ('{ "statusCode": 401, "message": "Access denied due to missing subscription key. Make sure to include '
               'subscription key when making requests to an API." }')
INVALID_KEY = ('{ "statusCode": 401, "message": "Access denied due to invalid subscription key. Make sure to provide '
               'a valid key for an active subscription." }')
NOT_FOUND = '{ "statusCode": 404, "message": "Resource not found" }'
FUNCTION_KEY = "the-secret-function-key-1"


def msal_token(gw: GatewayServer, scope: str) -> str:
    session = requests.Session()
    session.verify, session.trust_env = gw.ca, False
    app = msal.ConfidentialClientApplication(CLIENT, client_credential=CLIENT_SECRET, authority=f"{gw.origin}/{TENANT}",
                                             http_client=session, instance_discovery=False)
    result = app.acquire_token_for_client([scope])
    assert "access_token" in result, result
    return str(result["access_token"])


def azure_token(gw: GatewayServer, scope: str) -> str:
    credential = ClientSecretCredential(TENANT, CLIENT, CLIENT_SECRET, authority=gw.origin,
                                        disable_instance_discovery=True, connection_verify=gw.ca)
    return credential.get_token(scope).token


def client(gw: GatewayServer) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=gw.ca), trust_env=False, timeout=30)


def call(gw: GatewayServer, path: str, token: str | None = None, *, method: str = "GET",
         headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
    sent = dict(headers or {})
    if token is not None:
        sent.setdefault("Authorization", f"Bearer {token}")
    with client(gw) as c:
        return c.request(method, f"{gw.gateway}{path}", headers=sent, **kw)


def last_trace(gw: GatewayServer, path: str) -> dict[str, Any]:
    """The newest gateway trace of `path`, from the trace store (any worker's)."""
    with client(gw) as c:
        for _ in range(20):
            rows = c.get(f"{gw.origin}/_mockidp/traces", params={"limit": "20"}).json()["value"]
            found = [r for r in rows if r["endpoint"].endswith(f"gateway {path}")]
            if found:
                return dict(c.get(f"{gw.origin}/_mockidp/traces/{found[0]['id']}").json())
            time.sleep(0.1)
    raise AssertionError(f"no trace of {path}")


def failed_step(trace: dict[str, Any]) -> dict[str, Any]:
    (step,) = [s for s in trace["steps"] if s["outcome"] == "failed"]
    return step


def test_a_valid_v2_token_reaches_the_backend_with_the_token_forwarded_and_the_function_key_added(
        gw: GatewayServer, backend: RecordingBackend, gateway_seed: Path) -> None:
    token = msal_token(gw, V2_SCOPE)
    before = len(backend.requests)
    response = call(gw, "/v2/hello?x=1&y=two", token, headers={"X-Forwarded-For": "203.0.113.7"})
    assert response.status_code == 200, response.text
    assert response.json() == {"function": "ok", "path": "/api/hello?x=1&y=two"}
    assert response.headers["x-function"] == "backend" and response.headers["content-type"] == "application/json"
    assert len(backend.requests) == before + 1
    assert backend.requests[-1]["path"] == "/api/hello?x=1&y=two"
    assert backend.header(-1, "authorization") == [f"Bearer {token}"]
    assert backend.header(-1, "x-functions-key") == [FUNCTION_KEY]
    assert backend.header(-1, "x-forwarded-for") == ["203.0.113.7, 127.0.0.1"]
    assert backend.header(-1, "host") == [f"127.0.0.1:{backend.port}"]
    trace = last_trace(gw, "/v2/hello")
    assert trace["status"] == 200 and trace["outcome"] == "success" and trace["clientId"] == CLIENT
    steps = [(s["rule"], s["outcome"]) for s in trace["steps"]]
    assert steps == [("operation", "passed"), ("subscription key", "not applicable"), ("validate-jwt", "passed"),
                     ("forward-request", "applied")]
    jwt_step = next(s for s in trace["steps"] if s["rule"] == "validate-jwt")
    # where the statement stands: the line of the v2 API's <validate-jwt> in the seed file
    line = 1 + gateway_seed.read_text().splitlines().index(
        '              <validate-jwt header-name="Authorization" require-scheme="Bearer">')
    assert jwt_step["inputs"]["scope"] == "api" and jwt_step["inputs"]["at"] == f"{gateway_seed}:{line}"
    assert FUNCTION_KEY not in json.dumps(trace) and token not in json.dumps(trace)


def test_an_azure_identity_token_posts_through_the_template_with_its_body(gw: GatewayServer,
                                                                          backend: RecordingBackend) -> None:
    token = azure_token(gw, V2_SCOPE)
    response = call(gw, "/v2/items/42", token, method="POST", content=b'{"name":"widget"}',
                    headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert backend.requests[-1]["method"] == "POST" and backend.requests[-1]["path"] == "/api/items/42"
    assert backend.requests[-1]["body"] == b'{"name":"widget"}'


def test_a_v1_token_against_the_v2_issuer_is_idx10205_with_the_fix_on_both_sides(gw: GatewayServer) -> None:
    token = msal_token(gw, V1_SCOPE)  # testBackend1 keeps requestedAccessTokenVersion null: a v1 token
    response = call(gw, "/v1/hello", token)
    assert (response.status_code, response.text) == (401, INVALID)
    assert response.headers["content-type"] == "application/json" and "www-authenticate" not in response.headers
    trace = last_trace(gw, "/v1/hello")
    step = failed_step(trace)
    assert step["rule"] == "validate-jwt" and trace["outcome"] == "TokenIssuerNotAllowed"
    assert step["note"].startswith(f"JWT Validation Failed: IDX10205: Issuer validation failed. Issuer: "
                                   f"'https://sts.windows.net/{TENANT}/'.")
    assert trace["fix"] == {"gateway": f"the token is v1 (iss https://sts.windows.net/{TENANT}/) because the API's "
                                       "registration has requestedAccessTokenVersion null or 1: set it to 2, or add "
                                       f"https://sts.windows.net/{TENANT}/ to <issuers>"}


def test_a_token_for_another_audience_is_idx10214(gw: GatewayServer) -> None:
    response = call(gw, "/v2/hello", msal_token(gw, V1_SCOPE))
    assert (response.status_code, response.text) == (401, INVALID)
    trace = last_trace(gw, "/v2/hello")
    assert trace["outcome"] == "TokenAudienceNotAllowed"
    assert failed_step(trace)["note"].startswith("JWT Validation Failed: IDX10214: Audience validation failed. "
                                                 f"Audiences: '{BACKEND1_URI}'.")


def test_an_azp_not_in_the_list_is_a_claim_value_mismatch(gw: GatewayServer) -> None:
    response = call(gw, "/other/hello", msal_token(gw, V2_SCOPE))
    assert (response.status_code, response.text) == (401, INVALID)
    trace = last_trace(gw, "/other/hello")
    assert trace["outcome"] == "TokenClaimValueNotAllowed"
    assert failed_step(trace)["note"].startswith("JWT Validation Failed: Claim value mismatch: azp=")
    assert CLIENT in trace["fix"]["gateway"]


def test_an_expired_token_is_idx10223_on_the_gateways_clock(gw: GatewayServer) -> None:
    token = msal_token(gw, V2_SCOPE)
    start = gw.clock.now()
    gw.clock.advance(2 * 3600)  # past exp; the gateway reads the same clock that minted the token
    try:
        response = call(gw, "/v2/hello", token)
    finally:
        gw.clock.set(start)
    assert (response.status_code, response.text) == (401, INVALID)
    trace = last_trace(gw, "/v2/hello")
    assert trace["outcome"] == "TokenExpired"
    assert "IDX10223: Lifetime validation failed. The token is expired." in failed_step(trace)["note"]


def test_no_token_and_a_token_without_bearer_are_jwt_not_present(gw: GatewayServer) -> None:
    none = call(gw, "/v2/hello")
    assert (none.status_code, none.text) == (401, NOT_PRESENT)
    assert last_trace(gw, "/v2/hello")["outcome"] == "TokenNotPresent"
    token = msal_token(gw, V2_SCOPE)
    bare = call(gw, "/v2/hello", headers={"Authorization": token})  # require-scheme="Bearer"
    assert (bare.status_code, bare.text) == (401, NOT_PRESENT)
    basic = call(gw, "/v2/hello", headers={"Authorization": f"Basic {token}"})
    assert (basic.status_code, basic.text) == (401, NOT_PRESENT)
    assert "'Bearer'" in failed_step(last_trace(gw, "/v2/hello"))["note"]


def test_an_unknown_kid_refetches_the_openid_config_once(gw: GatewayServer, key_server: KeyServer) -> None:
    claims = {"aud": "rotating-api", "exp": int(gw.clock.now()) + 600, "sub": "job"}
    key_server.served_kids = ["k1"]
    assert call(gw, "/rotating/hello", key_server.token("k1", claims)).status_code == 200
    fetched = key_server.fetches
    assert call(gw, "/rotating/hello", key_server.token("k1", claims)).status_code == 200
    assert key_server.fetches == fetched  # cached
    key_server.served_kids = ["k2"]  # the provider rotates its key
    time.sleep(1.1)  # re-fetches are at most once a second per URL
    assert call(gw, "/rotating/hello", key_server.token("k2", claims)).status_code == 200
    assert key_server.fetches == fetched + 1
    time.sleep(1.1)
    stranger = call(gw, "/rotating/hello", key_server.token("k3", claims))  # in no JWKS, even after re-fetching
    assert (stranger.status_code, stranger.text) == (401, INVALID)
    assert key_server.fetches == fetched + 2
    note = failed_step(last_trace(gw, "/rotating/hello"))["note"]
    assert "IDX10511" in note and "kid: 'k3'" in note


def test_required_roles_match_any_and_all(gw: GatewayServer) -> None:
    token = msal_token(gw, V2_SCOPE)  # roles: Provisioning.ReadWrite, Data.Read
    assert call(gw, "/roles/any/hello", token).status_code == 200
    refused = call(gw, "/roles/all/hello", token)
    assert (refused.status_code, refused.text) == (401, INVALID)
    assert failed_step(last_trace(gw, "/roles/all/hello"))["note"] == (
        "JWT Validation Failed: Claim value mismatch: roles=Jobs.Admin. Fix: the token's roles is "
        "['Provisioning.ReadWrite', 'Data.Read']; match=\"all\" needs every one of ['Data.Read', 'Jobs.Admin']")


def test_the_subscription_key_gate(gw: GatewayServer, backend: RecordingBackend) -> None:
    challenge = 'AzureApiManagementKey realm="https://gwtest.azure-api.net/keyed",name="Ocp-Apim-Subscription-Key",' \
                'type="header"'
    missing = call(gw, "/keyed/hello")
    assert (missing.status_code, missing.text) == (401, MISSING_KEY)
    assert missing.headers["www-authenticate"] == challenge and missing.headers["content-length"] == "152"
    assert missing.headers["content-type"] == "application/json"
    assert last_trace(gw, "/keyed/hello")["outcome"] == "SubscriptionKeyNotFound"
    for key in ("not-a-key", "suspended-key-000001", "other-api-key-000001"):  # unknown, suspended, another API's
        invalid = call(gw, "/keyed/hello", headers={"Ocp-Apim-Subscription-Key": key})
        assert (invalid.status_code, invalid.text) == (401, INVALID_KEY), key
        assert invalid.headers["www-authenticate"] == challenge and invalid.headers["content-length"] == "143"
    assert last_trace(gw, "/keyed/hello")["outcome"] == "SubscriptionKeyInvalid"
    ok = call(gw, "/keyed/hello", headers={"Ocp-Apim-Subscription-Key": "partner-key-primary-1"})
    assert ok.status_code == 200 and backend.header(-1, "ocp-apim-subscription-key") == ["partner-key-primary-1"]
    by_query = call(gw, "/keyed/files/a/b.txt?subscription-key=partner-key-secondary-1")
    assert by_query.status_code == 200
    assert backend.requests[-1]["path"] == "/api/files/a/b.txt?subscription-key=partner-key-secondary-1"
    assert backend.header(-1, "x-functions-key") == []  # serviceUrl, not the function backend: no credentials


def test_no_api_or_no_operation_is_resource_not_found(gw: GatewayServer) -> None:
    for method, path in (("GET", "/nowhere/hello"), ("POST", "/v2/hello"), ("GET", "/v2/hello/more"),
                         ("GET", "/v2x/hello")):
        response = call(gw, path, method=method)
        assert (response.status_code, response.text) == (404, NOT_FOUND), (method, path)
        assert response.headers["content-type"] == "application/json"
    assert last_trace(gw, "/v2x/hello")["outcome"] == "OperationNotFound"


def test_on_error_runs_with_context_last_error_set(gw: GatewayServer) -> None:
    response = call(gw, "/handled/hello")
    assert (response.status_code, response.text) == (401, NOT_PRESENT)
    assert response.headers["x-handled-by"] == "on-error"
    assert response.headers["x-last-error"] == "validate-jwt/TokenNotPresent/api/inbound"  # context.LastError
    trace = last_trace(gw, "/handled/hello")
    assert trace["outcome"] == "TokenNotPresent"
    with client(gw) as c:
        apim = c.get(f"{gw.origin}/_mockidp/traces/{trace['id']}/apim").json()
    (last_error,) = [e["data"]["lastError"] for e in apim["traceEntries"]["on-error"] if "lastError" in e["data"]]
    assert last_error == {"source": "validate-jwt", "reason": "TokenNotPresent", "message": "JWT not present.",
                          "scope": "api", "section": "inbound", "path": "", "policyId": ""}
    assert [e["source"] for e in apim["traceEntries"]["on-error"]] == ["set-header", "set-header", "on-error"]


def test_ocp_apim_trace_returns_where_the_apim_trace_is(gw: GatewayServer) -> None:
    plain = call(gw, "/keyed/hello", headers={"Ocp-Apim-Subscription-Key": "partner-key-primary-1"})
    assert "ocp-apim-trace-location" not in plain.headers
    traced = call(gw, "/keyed/hello", headers={"Ocp-Apim-Subscription-Key": "partner-key-primary-1",
                                               "Ocp-Apim-Trace": "true"})
    location = traced.headers["ocp-apim-trace-location"]
    assert location.startswith(f"{gw.origin}/_mockidp/traces/") and location.endswith("/apim")
    with client(gw) as c:
        apim = c.get(location).json()
    assert apim["traceId"] == location.split("/")[-2]
    inbound = apim["traceEntries"]["inbound"]
    assert inbound[0]["source"] == "api-inspector" and inbound[0]["data"]["request"]["method"] == "GET"
    sent = {h["name"].lower(): h["value"] for h in inbound[0]["data"]["request"]["headers"]}
    assert sent["ocp-apim-subscription-key"] == "(not kept)" and sent["ocp-apim-trace"] == "true"
    assert all(set(e) == {"source", "timestamp", "elapsed", "data"} for e in inbound)
    assert apim["traceEntries"]["backend"][0]["source"] == "forward-request"
    # a subscription that does not allow tracing gets no location
    untraced = call(gw, "/v2/hello", headers={"Ocp-Apim-Trace": "true"})
    assert "ocp-apim-trace-location" not in untraced.headers


def test_the_demo_gateway_answers_with_the_echo_function(gw: GatewayServer) -> None:
    token = msal_token(gw, V2_SCOPE)
    response = call(gw, "/backend2/hello?greeting=hi", token,
                    headers={"Ocp-Apim-Subscription-Key": "demo-subscription-key-1"})
    assert response.status_code == 200, response.text
    echoed = response.json()
    assert echoed["method"] == "GET" and echoed["path"] == "/_mockidp/echo/hello"
    assert echoed["query"] == {"greeting": "hi"}
    assert echoed["headers"]["x-functions-key"] == "demo-function-key-1"
    assert echoed["claims"]["azp"] == CLIENT and echoed["claims"]["aud"] == BACKEND2
    assert echoed["claims"]["roles"] == ["Provisioning.ReadWrite", "Data.Read"]
    demo_trace = last_trace(gw, "/backend2/hello")
    assert "demo-function-key-1" not in json.dumps(demo_trace)


def test_rate_limit_by_key_answers_apims_429_with_retry_after(gw: GatewayServer) -> None:
    first, second = call(gw, "/limited/hello"), call(gw, "/limited/hello")
    assert (first.status_code, second.status_code) == (200, 200)
    third = call(gw, "/limited/hello")  # the gateway's clock stands still: the whole window remains
    assert third.status_code == 429
    assert third.text == '{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 60 seconds." }'
    assert third.headers["retry-after"] == "60" and third.headers["content-type"] == "application/json"
    trace = last_trace(gw, "/limited/hello")
    assert trace["outcome"] == "RateLimitExceeded" and failed_step(trace)["rule"] == "rate-limit-by-key"
    gw.clock.advance(61)  # the window slides past both calls
    assert call(gw, "/limited/hello").status_code == 200


def test_the_host_name_picks_the_service(gw: GatewayServer) -> None:
    token = msal_token(gw, V2_SCOPE)
    named = call(gw, "/v2/hello", token, headers={"Host": "gwtest.azure-api.net"})
    assert named.status_code == 200
    other = call(gw, "/v2/hello", token, headers={"Host": "contoso-apim.azure-api.net"})  # has no API v2
    assert (other.status_code, other.text) == (404, NOT_FOUND)


def test_hostile_requests_get_apims_envelope_never_a_500_or_a_hang(gw: GatewayServer) -> None:
    too_large = call(gw, "/v2/hello", method="GET", content=b"x" * (64 * 1024 + 1))
    assert (too_large.status_code, too_large.text) == (413, '{ "statusCode": 413, "message": "Request entity too '
                                                              'large" }')
    for path in ("/v2/%00", "/v2/hello%2F..%2F..", "/" + "a/" * 2000, "/v2/hello?" + "a=1&" * 3000):
        response = call(gw, path)
        assert response.status_code in (401, 404), (path[:40], response.status_code)
        assert response.text.startswith('{ "statusCode": '), response.text[:100]
    for header in ("Bearer not.a.jwt", "Bearer " + "A" * 20000, "Bearer e30.e30.", "Bearer ....", "Bearer \u00e9"):
        raw = {"Authorization": header.encode("latin-1")}  # bytes: httpx sends them as they are
        response = call(gw, "/v2/hello", headers=raw)  # type: ignore[arg-type]
        assert response.status_code == 401 and response.text in (INVALID, NOT_PRESENT), header[:30]
    raw_key = {"Ocp-Apim-Subscription-Key": ("\u00e9\u00e8" * 100).encode("latin-1")}
    weird_key = call(gw, "/keyed/hello", headers=raw_key)  # type: ignore[arg-type]
    assert (weird_key.status_code, weird_key.text) == (401, INVALID_KEY)


def test_a_backend_that_is_down_is_apims_500_with_the_reason_in_the_trace(gw: GatewayServer) -> None:
    response = call(gw, "/down/hello")
    assert (response.status_code, response.text) == (500, '{ "statusCode": 500, "message": "Internal server error" }')
    trace = last_trace(gw, "/down/hello")
    assert trace["outcome"] == "BackendConnectionFailure"
    assert failed_step(trace)["rule"] == "forward-request"


def test_issuer_signing_keys_by_certificate_id_from_the_seeds_certificates(gw: GatewayServer) -> None:
    import jwt

    from tests.conftest import CLIENT_KEY

    claims = {"aud": "certified-api", "iss": "partner", "exp": int(gw.clock.now()) + 600}
    signed = jwt.encode(claims, CLIENT_KEY.read_text(), algorithm="RS256")
    assert call(gw, "/certified/hello", signed).status_code == 200
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # a key the certificate is not
    forged = jwt.encode(claims, other, algorithm="RS256")
    refused = call(gw, "/certified/hello", forged)
    assert (refused.status_code, refused.text) == (401, INVALID)
    assert "IDX10503" in failed_step(last_trace(gw, "/certified/hello"))["note"]


def test_the_console_shows_a_gateway_trace_with_its_steps_and_fix(gw: GatewayServer) -> None:
    call(gw, "/v1/hello", msal_token(gw, V1_SCOPE))
    trace = last_trace(gw, "/v1/hello")
    with client(gw) as c:
        page = c.get(f"{gw.origin}/_mockidp/console/traces/{trace['id']}")
    assert page.status_code == 200
    assert "GET gateway /v1/hello" in page.text and "validate-jwt" in page.text
    assert '<p id="fix-gateway">the token is v1 (iss https://sts.windows.net/' in page.text
    assert "Entra admin center" not in page.text


def test_validate_azure_ad_token_takes_v1_and_v2_tokens_of_the_client(gw: GatewayServer) -> None:
    assert call(gw, "/aad/hello", msal_token(gw, V2_SCOPE)).status_code == 200  # v2: azp
    assert call(gw, "/aad/hello", azure_token(gw, V1_SCOPE)).status_code == 200  # v1: appid
    refused = call(gw, "/aad/hello")
    assert (refused.status_code, refused.text) == (401, NOT_PRESENT)
    assert failed_step(last_trace(gw, "/aad/hello"))["rule"] == "validate-azure-ad-token"


def test_ip_filter_sees_the_tcp_peer_not_a_forwarded_for_header(gw: GatewayServer) -> None:
    spoofed = call(gw, "/office/hello", headers={"X-Forwarded-For": "10.0.0.7"})  # the caller is 127.0.0.1
    assert (spoofed.status_code, spoofed.text) == (403, '{ "statusCode": 403, "message": "Forbidden" }')
    assert failed_step(last_trace(gw, "/office/hello"))["note"].startswith(
        "Caller IP address 127.0.0.1 is not allowed. Access denied.")
