"""On-behalf-of (docs/entra-behaviour.md#on-behalf-of; rows O1-O5): a middle-tier API trades the user's
access token for a downstream token. In-process with exact bodies, then MSAL and azure-identity live."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import msal
import pytest
import requests
from azure.identity import OnBehalfOfCredential
from cryptography.hazmat.primitives.asymmetric import rsa

from mockidp.clock import entra_instant
from mockidp.oauth.delegated import pairwise_sub
from mockidp.testing import forms
from mockidp.testing.entra import assert_entra_error
from mockidp.testing.jwts import claims_of, header_of
from mockidp.tokens.model import Authorization, UserIdentity
from tests.conftest import FROZEN_AT, TENANT, Harness, LiveServer, make_harness

OTHER_TENANT = "0b5e7c1d-0000-4000-8000-000000000002"
SPA = "11111111-1111-4111-8111-111111111111"
MIDDLE = "22222222-2222-4222-8222-222222222222"
MIDDLE_SECRET = "middleTier-secret-value-1"
LEGACY_MIDDLE = "33333333-3333-4333-8333-333333333333"
LEGACY_MIDDLE_URI = "api://legacy-middle"
LEGACY_MIDDLE_SECRET = "legacyMiddle-secret-value-1"
DOWNSTREAM = "44444444-4444-4444-8444-444444444444"
LEGACY_DOWNSTREAM_URI = "https://legacy.contoso.example/api"
DAEMON = "77777777-7777-4777-8777-777777777777"
DAEMON_SECRET = "daemon-secret-value-1"
ALICE = "alice@contoso.onmicrosoft.com"
ALICE_PASSWORD = "alice-password-1"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

SEED = f"""
tenants:
  - tenantId: {TENANT}
    displayName: Contoso
    domains: [contoso.onmicrosoft.com]
    applications:
      - appId: {SPA}                        # the app the user signs in to (public, ROPC allowed)
        displayName: spaClient
        publicClient: {{redirectUris: ["http://localhost"]}}
        isFallbackPublicClient: true
      - appId: {MIDDLE}                     # the middle tier: an API (v2 tokens) with a secret
        displayName: middleTier
        signInAudience: AzureADMultipleOrgs  # so that /common and /organizations serve it (else 50194)
        identifierUris: ["api://middle-tier"]
        api:
          requestedAccessTokenVersion: 2
          oauth2PermissionScopes: [{{value: access_as_user}}]
        passwordCredentials: [{{secretText: "{MIDDLE_SECRET}"}}]
      - appId: {LEGACY_MIDDLE}              # a middle tier registered the default way: v1 tokens
        displayName: legacyMiddle
        identifierUris: ["{LEGACY_MIDDLE_URI}"]
        api:
          oauth2PermissionScopes: [{{value: user_impersonation}}]
        passwordCredentials: [{{secretText: "{LEGACY_MIDDLE_SECRET}"}}]
      - appId: {DOWNSTREAM}                 # the downstream API (v2 tokens)
        displayName: downstreamApi
        identifierUris: ["api://downstream"]
        api:
          requestedAccessTokenVersion: 2
          oauth2PermissionScopes: [{{value: items.read}}, {{value: items.write}}]
        appRoles:
          - {{value: Reader, allowedMemberTypes: [User]}}
      - appId: 55555555-5555-4555-8555-555555555555
        displayName: legacyDownstream        # a downstream API with v1 tokens
        identifierUris: ["{LEGACY_DOWNSTREAM_URI}"]
        api:
          oauth2PermissionScopes: [{{value: user_impersonation}}]
      - appId: 66666666-6666-4666-8666-666666666666
        displayName: unconsentedApi          # nobody consented to the middle tier calling it
        identifierUris: ["api://unconsented"]
        api:
          requestedAccessTokenVersion: 2
          oauth2PermissionScopes: [{{value: data.read}}]
      - appId: {DAEMON}
        displayName: daemon
        passwordCredentials: [{{secretText: "{DAEMON_SECRET}"}}]
    users:
      - {{userPrincipalName: "{ALICE}", displayName: Alice Example, password: "{ALICE_PASSWORD}"}}
      - {{userPrincipalName: carol@contoso.onmicrosoft.com, displayName: Carol, accountEnabled: false}}
    appRoleAssignments:
      - {{principal: "{ALICE}", resource: downstreamApi, appRole: Reader}}
    oauth2PermissionGrants:
      - {{client: spaClient, resource: middleTier, scope: access_as_user}}
      - {{client: spaClient, resource: legacyMiddle, scope: user_impersonation}}
      - {{client: middleTier, resource: downstreamApi, scope: items.read}}
      - {{client: middleTier, resource: legacyDownstream, scope: user_impersonation}}
      - {{client: legacyMiddle, resource: downstreamApi, scope: items.read}}
      - {{client: legacyMiddle, resource: legacyDownstream, scope: user_impersonation}}
  - tenantId: {OTHER_TENANT}
    displayName: Fabrikam
    domains: [fabrikam.onmicrosoft.com]
"""


# --------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def h(tmp_path: Path, signing_dir: Path) -> Harness:
    return make_harness(tmp_path, SEED, signing_dir)


def user_token(h: Harness, *, scope: str = "api://middle-tier/access_as_user", version: int = 2,
               resource: str | None = None, field: str = "access_token") -> str:
    """What the middle tier is called with: the user's token from the SPA (ROPC stands for the sign-in)."""
    data = {"grant_type": "password", "client_id": SPA, "username": ALICE, "password": ALICE_PASSWORD}
    data.update({"resource": resource} if resource else {"scope": scope})
    r = h.token(data, version=version)
    assert r.status_code == 200, r.text
    return str(r.json()[field])


def obo(h: Harness, assertion: str, *, scope: str | None = "api://downstream/items.read",
        client: str = MIDDLE, secret: str | None = MIDDLE_SECRET, version: int = 2, tenant: str = TENANT,
        **extra: str) -> httpx.Response:
    data = {"grant_type": JWT_BEARER, "client_id": client, "assertion": assertion,
            "requested_token_use": "on_behalf_of", **extra}
    if scope is not None:
        data["scope"] = scope
    if secret is not None:
        data["client_secret"] = secret
    return h.token(data, version=version, tenant=tenant)


def user_id(h: Harness, upn: str = ALICE) -> str:
    user = h.app.state.runtime.services.directory.user_by_upn(TENANT, upn)
    return str(user.id)


def minted(h: Harness, *, tenant: str = TENANT, app: str = MIDDLE, audience: str | None = None, version: int = 2,
           oid: str | None = None, amr: tuple[str, ...] = ("pwd",)) -> str:
    """A user access token signed with mockidp's key, for cases no flow produces (users the seed disables,
    other tenants, a chosen amr)."""
    oid = oid or user_id(h)
    who = UserIdentity(oid=oid, upn="someone@contoso.onmicrosoft.com", name="Someone", pairwise_sub="p" * 43,
                       amr=amr)
    auth = Authorization(tenant_id=tenant, client_app_id=SPA, client_acr="0", resource_app_id=app,
                         audience=audience or app, version=version, subject_id=oid, scopes=("access_as_user",),
                         user=who)
    issuer = h.app.state.runtime.services.issuer
    return str(issuer.access_token(auth, origin="https://localhost:8443").jwt)


def b64(obj: dict[str, Any]) -> str:
    return forms.b64url(json.dumps(obj).encode())


# ------------------------------------------------------------------------------------------ happy paths


def test_v2_obo_gives_the_downstream_token_for_the_same_user_to_the_middle_tier(h: Harness) -> None:
    assertion = user_token(h)
    r = obo(h, assertion, scope="api://downstream/items.read offline_access")
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["token_type", "scope", "expires_in", "ext_expires_in", "access_token", "refresh_token"]
    assert body["token_type"] == "Bearer" and body["scope"] == "api://downstream/items.read"
    assert "id_token" not in body
    claims = claims_of(body["access_token"])
    alice = user_id(h)
    assert claims["aud"] == DOWNSTREAM
    assert claims["iss"] == f"https://localhost:8443/{TENANT}/v2.0"
    assert (claims["azp"], claims["azpacr"]) == (MIDDLE, "1")
    assert claims["oid"] == alice == claims_of(assertion)["oid"]
    assert claims["sub"] == pairwise_sub(alice, MIDDLE) != claims_of(assertion)["sub"]  # pairwise per client
    assert claims["scp"] == "items.read"
    assert claims["roles"] == ["Reader"]
    assert claims["tid"] == TENANT and claims["ver"] == "2.0"
    assert claims["preferred_username"] == ALICE
    assert claims["iat"] == FROZEN_AT - 300


def test_v2_obo_without_offline_access_has_no_refresh_token(h: Harness) -> None:
    r = obo(h, user_token(h))
    assert r.status_code == 200, r.text
    assert list(r.json()) == ["token_type", "scope", "expires_in", "ext_expires_in", "access_token"]


def test_obo_with_default_scope_gets_every_consented_downstream_scope(h: Harness) -> None:
    r = obo(h, user_token(h), scope="api://downstream/.default")
    assert r.status_code == 200, r.text
    assert claims_of(r.json()["access_token"])["scp"] == "items.read"


def test_v1_obo_names_the_resource_and_gets_a_v1_token_with_appid_and_appidacr(h: Harness) -> None:
    r = obo(h, user_token(h), scope=None, version=1, resource=LEGACY_DOWNSTREAM_URI)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resource"] == LEGACY_DOWNSTREAM_URI and body["scope"] == "user_impersonation"
    assert isinstance(body["expires_in"], str) and "refresh_token" in body and "id_token" not in body
    claims = claims_of(body["access_token"])
    assert claims["aud"] == LEGACY_DOWNSTREAM_URI
    assert claims["iss"] == f"https://sts.windows.net/{TENANT}/"
    assert (claims["appid"], claims["appidacr"]) == (MIDDLE, "1")
    assert claims["oid"] == user_id(h)
    assert claims["scp"] == "user_impersonation"
    assert claims["amr"] == ["pwd"]  # a v2 assertion has no amr: a password is assumed


def test_obo_keeps_the_amr_of_the_assertion(h: Harness) -> None:
    assertion = minted(h, app=LEGACY_MIDDLE, audience=LEGACY_MIDDLE_URI, version=1, amr=("pwd", "mfa"))
    r = obo(h, assertion, client=LEGACY_MIDDLE, secret=LEGACY_MIDDLE_SECRET, scope=None, version=1,
            resource=LEGACY_DOWNSTREAM_URI)
    assert r.status_code == 200, r.text
    assert claims_of(r.json()["access_token"])["amr"] == ["pwd", "mfa"]


@pytest.mark.parametrize("resource", [LEGACY_MIDDLE_URI, LEGACY_MIDDLE, LEGACY_MIDDLE_URI.upper()])
def test_a_v1_assertion_may_name_the_middle_tier_by_app_id_uri_or_app_id(h: Harness, resource: str) -> None:
    assertion = user_token(h, version=1, resource=resource)
    assert claims_of(assertion)["aud"] == resource and claims_of(assertion)["ver"] == "1.0"
    r = obo(h, assertion, client=LEGACY_MIDDLE, secret=LEGACY_MIDDLE_SECRET)
    assert r.status_code == 200, r.text
    assert claims_of(r.json()["access_token"])["azp"] == LEGACY_MIDDLE


@pytest.mark.parametrize("segment", ["common", "organizations", "contoso.onmicrosoft.com"])
def test_obo_on_common_and_organizations_acts_in_the_tenant_of_the_assertion(h: Harness, segment: str) -> None:
    r = obo(h, user_token(h), tenant=segment)
    assert r.status_code == 200, r.text
    assert claims_of(r.json()["access_token"])["tid"] == TENANT


# ------------------------------------------------------------------------------------------------- errors


def test_o1_assertion_for_another_audience_is_500131_naming_both(h: Harness) -> None:
    downstream_token = obo(h, user_token(h)).json()["access_token"]  # aud = the downstream API
    body = assert_entra_error(obo(h, downstream_token), status=400, error="invalid_grant", code=500131,
                              starts="Assertion audience does not match the Client app presenting the assertion.")
    assert (
        f"The audience in the assertion was '{DOWNSTREAM}' and the expected audience is '{MIDDLE}' or one of the "
        f"Application Uris of this application with App ID {MIDDLE}(middleTier). The downstream client must "
        "request a token for the expected audience (the application that made the OBO request) and this "
        "application should use that token as the assertion. Trace ID: "
    ) in body["error_description"]


def test_o1_v1_audience_forms_belong_to_their_own_app_only(h: Harness) -> None:
    """A v1 token for the legacy middle tier (aud = its URI) is not the v2 middle tier's; and a v2 token is
    accepted by its appId only (its `aud` is never a URI)."""
    v1_for_legacy = user_token(h, version=1, resource=LEGACY_MIDDLE_URI)
    body = assert_entra_error(obo(h, v1_for_legacy), status=400, error="invalid_grant", code=500131,
                              starts="Assertion audience does not match")
    assert f"The audience in the assertion was '{LEGACY_MIDDLE_URI}' and the expected audience is '{MIDDLE}'" \
        in body["error_description"]
    v2_for_middle = user_token(h)
    assert_entra_error(obo(h, v2_for_middle, client=LEGACY_MIDDLE, secret=LEGACY_MIDDLE_SECRET), status=400,
                       error="invalid_grant", code=500131, starts="Assertion audience does not match")


def test_o2_expired_assertion_is_500133_with_both_times_and_no_skew(h: Harness) -> None:
    assertion = user_token(h)
    exp = claims_of(assertion)["exp"]
    h.clock.set(exp - 1)
    assert obo(h, assertion).status_code == 200
    h.clock.set(exp)
    body = assert_entra_error(obo(h, assertion), status=400, error="invalid_grant", code=500133,
                              starts="Assertion is not within its valid time range.")
    assert (
        "Ensure that the access token is not expired before using it for user assertion, or request a new token. "
        f"Current time: {entra_instant(exp)}, expiry time of assertion {entra_instant(exp)}. Trace ID:"
    ) in body["error_description"]
    assert entra_instant(exp).endswith(".0000000Z")


def _foreign_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _tampered(token: str) -> str:
    header, _payload, signature = token.split(".")
    claims = claims_of(token)
    claims["scp"] = "access_as_user admin"
    return f"{header}.{b64(claims)}.{signature}"


def _resigned(token: str, kid: str, alg: str = "RS256") -> str:
    key: Any = _foreign_key() if alg == "RS256" else b"k" * 32
    return jwt.encode(claims_of(token), key, algorithm=alg, headers={"kid": kid})


@pytest.mark.parametrize(("name", "reason"), [
    ("tampered", "The provided signature value did not match the expected signature value."),
    ("our kid, another key", "The provided signature value did not match the expected signature value."),
    ("another key", "The key was not found."),
    ("alg none", "The key was not found."),
    ("HS256 with our kid", "The key was not found."),
    ("not a JWT", "The token is malformed."),
    ("two segments", "The token is malformed."),
])
def test_o3_assertion_not_signed_by_mockidp_is_50013_with_a_reason(h: Harness, name: str, reason: str) -> None:
    good = user_token(h)
    kid = header_of(good)["kid"]
    header, payload, _ = good.split(".")
    forged = {
        "tampered": lambda: _tampered(good),
        "our kid, another key": lambda: _resigned(good, kid),
        "another key": lambda: _resigned(good, "someone-elses-key"),
        "alg none": lambda: f"{b64({'typ': 'JWT', 'alg': 'none'})}.{payload}.",
        "HS256 with our kid": lambda: _resigned(good, kid, "HS256"),
        "not a JWT": lambda: "this is not a token",
        "two segments": lambda: f"{header}.{payload}",
    }[name]()
    body = assert_entra_error(obo(h, forged), status=400, error="invalid_grant", code=50013,
                              starts=f"Assertion failed signature validation. [Reason - {reason}]")
    assert body["error_description"].split(" Trace ID:")[0].endswith("]")


def test_o3_assertion_of_another_tenant_is_50013(h: Harness) -> None:
    assertion = minted(h, tenant=OTHER_TENANT)
    assert_entra_error(obo(h, assertion), status=400, error="invalid_grant", code=50013,
                       starts="Assertion failed signature validation. [Reason - The token issuer doesn't match the "
                              "tenant of the request.]")


def test_o4_app_only_token_is_7000114(h: Harness) -> None:
    r = h.token({"grant_type": "client_credentials", "client_id": DAEMON, "client_secret": DAEMON_SECRET,
                 "scope": "api://middle-tier/.default"})
    app_token = r.json()["access_token"]
    assert claims_of(app_token)["aud"] == MIDDLE and "scp" not in claims_of(app_token)
    body = assert_entra_error(obo(h, app_token), status=400, error="unauthorized_client", code=7000114,
                              starts=f"Application '{MIDDLE}' is not allowed to make application on-behalf-of calls.")
    assert "suberror" not in body


def test_o5_requested_token_use_missing_is_900144(h: Harness) -> None:
    data = {"grant_type": JWT_BEARER, "client_id": MIDDLE, "client_secret": MIDDLE_SECRET,
            "assertion": user_token(h), "scope": "api://downstream/items.read"}
    assert_entra_error(h.token(data), status=400, error="invalid_request", code=900144,
                       starts="The request body must contain the following parameter: 'requested_token_use'.")


@pytest.mark.parametrize("value", ["bearer", "On_Behalf_Of", "on_behalf_of "])
def test_o5_requested_token_use_other_than_on_behalf_of_is_invalid_request(h: Harness, value: str) -> None:
    assert_entra_error(obo(h, user_token(h), requested_token_use=value), status=400, error="invalid_request",
                       code=9002313, starts="Invalid request. Request is malformed or invalid.")


@pytest.mark.parametrize(("version", "missing"), [(2, "assertion"), (2, "scope"), (1, "resource")])
def test_required_parameters_per_endpoint_version(h: Harness, version: int, missing: str) -> None:
    data = {"grant_type": JWT_BEARER, "client_id": MIDDLE, "client_secret": MIDDLE_SECRET, "assertion": "x",
            "requested_token_use": "on_behalf_of", "scope": "api://downstream/items.read",
            "resource": LEGACY_DOWNSTREAM_URI}
    if version == 2:
        del data["resource"]
    del data[missing]
    assert_entra_error(h.token(data, version=version), status=400, error="invalid_request", code=900144,
                       starts=f"The request body must contain the following parameter: '{missing}'.")


def test_id_token_as_assertion_is_240002(h: Harness) -> None:
    id_token = user_token(h, scope="api://middle-tier/access_as_user openid profile", field="id_token")
    assert claims_of(id_token)["aud"] == SPA
    assert_entra_error(obo(h, id_token), status=400, error="invalid_grant", code=240002,
                       starts="Input id_token cannot be used as 'urn:ietf:params:oauth:grant-type:jwt-bearer' grant.")


def test_downstream_without_consent_is_65001_consent_required(h: Harness) -> None:
    assert_entra_error(obo(h, user_token(h), scope="api://unconsented/data.read"), status=400,
                       error="invalid_grant", code=65001, suberror="consent_required",
                       starts=f"The user or administrator has not consented to use the application with ID "
                              f"'{MIDDLE}' named 'middleTier'.")


def test_middle_tier_without_a_credential_is_7000218(h: Harness) -> None:
    assert_entra_error(obo(h, user_token(h), secret=None), status=401, error="invalid_client", code=7000218,
                       starts="The request body must contain the following parameter: 'client_assertion' or "
                              "'client_secret'.")


def test_the_public_client_itself_cannot_do_obo(h: Harness) -> None:
    assert_entra_error(obo(h, user_token(h), client=SPA, secret=None), status=401, error="invalid_client",
                       code=7000218, starts="The request body must contain")


def test_disabled_user_is_50057(h: Harness) -> None:
    assertion = minted(h, oid=user_id(h, "carol@contoso.onmicrosoft.com"))
    assert_entra_error(obo(h, assertion), status=400, error="invalid_grant", code=50057,
                       starts="The user account is disabled.")


def test_user_no_longer_in_the_directory_is_50034(h: Harness) -> None:
    assertion = minted(h, oid="9d3b7c59-0000-4000-8000-0000000000ff")
    assert_entra_error(obo(h, assertion), status=400, error="invalid_grant", code=50034,
                       starts="The user account {EUII Hidden} does not exist in the")


def test_garbage_assertion_on_common_names_no_tenant_50059(h: Harness) -> None:
    assert_entra_error(obo(h, "not-a-jwt", tenant="common"), status=400, error="invalid_request", code=50059,
                       starts="No tenant-identifying information found")


def test_obo_on_consumers_is_refused_50013(h: Harness) -> None:
    assert_entra_error(obo(h, user_token(h), tenant="consumers"), status=400, error="invalid_grant", code=50013,
                       starts="Assertion failed signature validation. [Reason - The token issuer doesn't match")


# ------------------------------------------------------------------------------------------- real clients


@pytest.fixture(scope="module")
def live_obo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("obo-live")
    seed = root / "seed.yaml"
    seed.write_text(SEED)
    with LiveServer(root / "data", [seed]) as server:
        yield server


@pytest.fixture
def session(live_obo: LiveServer) -> Iterator[requests.Session]:
    """Trusts only the mock's CA, whatever REQUESTS_CA_BUNDLE says (requests reads that variable otherwise)."""
    s = requests.Session()
    s.verify = live_obo.ca
    s.trust_env = False
    yield s
    s.close()


def live_user_token(live: LiveServer, session: requests.Session, field: str = "access_token") -> str:
    r = session.post(f"{live.origin}/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "password", "client_id": SPA, "username": ALICE, "password": ALICE_PASSWORD,
        "scope": "api://middle-tier/access_as_user openid profile offline_access"})
    assert r.status_code == 200, r.text
    return str(r.json()[field])


def verified(live: LiveServer, token: str) -> dict[str, Any]:
    jwks = jwt.PyJWKClient(f"{live.origin}/{TENANT}/discovery/v2.0/keys", cache_keys=False,
                           ssl_context=ssl.create_default_context(cafile=live.ca))
    key = jwks.get_signing_key_from_jwt(token)
    return dict(jwt.decode(token, key.key, algorithms=["RS256"], audience=DOWNSTREAM,
                           issuer=f"{live.origin}/{TENANT}/v2.0"))


@pytest.mark.clients
def test_msal_acquire_token_on_behalf_of(live_obo: LiveServer, session: requests.Session) -> None:
    app = msal.ConfidentialClientApplication(MIDDLE, client_credential=MIDDLE_SECRET,
                                             authority=f"{live_obo.origin}/{TENANT}", http_client=session,
                                             instance_discovery=False)
    assertion = live_user_token(live_obo, session)
    result = app.acquire_token_on_behalf_of(assertion, ["api://downstream/items.read"])
    assert "access_token" in result, result
    claims = verified(live_obo, result["access_token"])
    assert (claims["azp"], claims["azpacr"], claims["scp"]) == (MIDDLE, "1", "items.read")
    assert claims["oid"] == claims_of(assertion)["oid"]
    assert "refresh_token" in result  # MSAL adds offline_access
    refused = app.acquire_token_on_behalf_of(live_user_token(live_obo, session, "id_token"),
                                             ["api://downstream/items.read"])
    assert refused["error"] == "invalid_grant" and refused["error_codes"] == [240002]


@pytest.mark.clients
def test_azure_identity_on_behalf_of_credential(live_obo: LiveServer, session: requests.Session) -> None:
    assertion = live_user_token(live_obo, session)
    with OnBehalfOfCredential(TENANT, MIDDLE, client_secret=MIDDLE_SECRET, user_assertion=assertion,
                              authority=live_obo.origin, disable_instance_discovery=True,
                              connection_verify=live_obo.ca) as credential:
        token = credential.get_token("api://downstream/.default")
    claims = verified(live_obo, token.token)
    assert (claims["azp"], claims["scp"], claims["roles"]) == (MIDDLE, "items.read", ["Reader"])
    assert claims["oid"] == claims_of(assertion)["oid"]
