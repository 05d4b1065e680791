"""Real, unmodified clients signing *users* in against a live mockidp over TLS: MSAL Python and
azure-identity (ROPC, device code, refresh), the v1 token endpoint called by hand as ADAL did, and
PyJWT validating the tokens the way an API would.

Every client trusts the mock's CA only through in-code options (``http_client`` with
``trust_env=False``, ``connection_verify``, ``ssl_context``): the ambient REQUESTS_CA_BUNDLE points
at the system bundle and would otherwise beat ``verify=``.

These tests run their own server (module scope) so that the device code polling interval can be
1 s instead of 5 s, and so that sign-in counters (failed passwords) never leak into other files.
"""

from __future__ import annotations

import contextlib
import gc
import html
import re
import ssl
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import jwt
import msal
import pytest
import requests
from azure.identity import AuthenticationRecord, DeviceCodeCredential, UsernamePasswordCredential

from mockidp.directory.ids import derived_id
from mockidp.testing.entra import assert_entra_error
from mockidp.testing.jwts import claims_of
from tests.conftest import BACKEND1_URI, BACKEND2, CLIENT, DEMO_SEED, TENANT, LiveServer

pytestmark = pytest.mark.clients

ALICE, ALICE_PASSWORD = "alice@contoso.onmicrosoft.com", "alice-password-1"
BOB, BOB_PASSWORD = "bob@contoso.onmicrosoft.com", "bob-password-1"
HR_PORTAL, HR_PORTAL_SECRET = "5a7c3e9b-2d4f-4b6a-8c1e-0f9d8b7a6c5e", "hrPortal-secret-value-1"
USER_SCOPE = f"api://{BACKEND2}/access_as_user"
BACKEND1_DEFAULT = f"{BACKEND1_URI}/.default"
# Seeded groups without an explicit id get a name-derived one (mockidp/directory/seed.py).
PROVISIONING_ADMINS = derived_id(TENANT, "group", "Provisioning Admins")
HIDDEN = re.compile(r'<input type="hidden" name="(?P<name>[^"]+)" value="(?P<value>[^"]*)">')
DEVICE_WAIT = 30  # seconds a device flow may take before the test gives up


# ------------------------------------------------------------------------------------ server & wiring


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """conftest's LiveServer, with the devicecode endpoint asking for 1 s polls instead of 5 s."""
    live = LiveServer(tmp_path_factory.mktemp("users"), [DEMO_SEED], device_code_interval=1)
    assert live.settings.device_code_interval == 1
    with live:
        yield live
        # azure-identity's MsalClient keeps its last error response (a device-code authorization_pending)
        # in a thread-local even after close(), and with it a pooled keep-alive socket; uvicorn's graceful
        # shutdown would wait for that socket until LiveServer gives up (10 s). Collect the dead clients.
        gc.collect()


def trusting_session(server: LiveServer) -> requests.Session:
    """A requests.Session that trusts only the mock's CA, immune to REQUESTS_CA_BUNDLE."""
    session = requests.Session()
    session.verify = server.ca
    session.trust_env = False
    return session


@pytest.fixture
def http(server: LiveServer) -> Iterator[requests.Session]:
    with trusting_session(server) as session:
        yield session


@pytest.fixture
def no_user_realm_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    """MSAL Python's ROPC first GETs https://<host WITHOUT port>/common/userrealm/<user>, i.e. port 443,
    where no mock listens. No public option turns it off, so we use the
    PRIVATE class attribute ``msal.authority.Authority._domains_without_user_realm_discovery`` (the
    set MSAL itself fills after a 404), restored after the test. azure-identity's
    UsernamePasswordCredential wraps the same MSAL class, so the same workaround applies to it."""
    skipped = set(msal.authority.Authority._domains_without_user_realm_discovery) | {"localhost"}
    monkeypatch.setattr(msal.authority.Authority, "_domains_without_user_realm_discovery", skipped)


def public_app(server: LiveServer, http: requests.Session) -> msal.PublicClientApplication:
    return msal.PublicClientApplication(CLIENT, authority=f"{server.origin}/{TENANT}", instance_discovery=False,
                                        http_client=http)


def confidential_app(server: LiveServer, http: requests.Session, client_id: str,
                     secret: str) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(client_id, client_credential=secret, instance_discovery=False,
                                              authority=f"{server.origin}/{TENANT}", http_client=http)


def azure_kwargs(server: LiveServer) -> dict[str, Any]:
    return {"tenant_id": TENANT, "authority": server.origin, "disable_instance_discovery": True,
            "connection_verify": server.ca}


def public_ropc_deprecated() -> pytest.WarningsRecorder:
    """MSAL (1.39) warns that ROPC is deprecated for public clients; pytest makes warnings errors."""
    return pytest.warns(DeprecationWarning, match="deprecated for public client flows")


def ropc(app: msal.ClientApplication, username: str = ALICE, password: str = ALICE_PASSWORD,
         scopes: list[str] | None = None) -> dict[str, Any]:
    public = not isinstance(app, msal.ConfidentialClientApplication)
    with public_ropc_deprecated() if public else contextlib.nullcontext():
        return app.acquire_token_by_username_password(username, password, scopes=scopes or [USER_SCOPE])


# ----------------------------------------------------------------------------------------- token checks


def access_token(result: dict[str, Any] | None) -> str:
    assert result is not None and "access_token" in result, result
    return str(result["access_token"])


def assert_aadsts(result: dict[str, Any] | None, *, error: str, code: int, suberror: str | None = None) -> None:
    """MSAL's result for a refusal: Entra's error envelope as the token endpoint sent it, no token."""
    assert result is not None and "access_token" not in result, result
    # MSAL copies suberror into `classification`.
    assert_entra_error(result, code, error=error, suberror=suberror, extra_keys=("classification",))


def assert_alice_backend2_token(token: str) -> dict[str, Any]:
    """A delegated v2 token for testBackend2: testBackend2's registration decides its shape."""
    claims = claims_of(token)
    assert claims["ver"] == "2.0"
    assert claims["aud"] == BACKEND2
    assert claims["azp"] == CLIENT
    assert claims["azpacr"] == "0"  # a public client: no credential
    assert claims["scp"] == "access_as_user"
    assert claims["roles"] == ["Reader"]  # the User-type role assigned to alice
    assert claims["groups"] == [PROVISIONING_ADMINS]  # groupMembershipClaims: SecurityGroup
    assert claims["preferred_username"] == ALICE
    assert claims["name"] == "Alice Example"
    assert claims["tid"] == TENANT
    assert claims["oid"] != claims["sub"]  # sub is pairwise for users; oid only for app tokens
    assert "appid" not in claims and "upn" not in claims
    return claims


def validate(http: requests.Session, server: LiveServer, token: str, *, audience: str,
             version: int) -> dict[str, Any]:
    """What an API does: keys and issuer from the discovery document, PyJWT checks sig, iss, aud."""
    suffix = "/v2.0" if version == 2 else ""
    doc = http.get(f"{server.origin}/{TENANT}{suffix}/.well-known/openid-configuration").json()
    keys = jwt.PyJWKClient(doc["jwks_uri"], cache_keys=False, ssl_context=ssl.create_default_context(cafile=server.ca))
    return jwt.decode(token, keys.get_signing_key_from_jwt(token).key, algorithms=["RS256"], audience=audience,
                      issuer=doc["issuer"], options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]})


def v1_password_grant(http: requests.Session, server: LiveServer, resource: str, **extra: str) -> requests.Response:
    """ROPC at the v1 token endpoint, as ADAL sent it: ``resource=`` instead of scopes."""
    return http.post(f"{server.origin}/{TENANT}/oauth2/token", data={
        "grant_type": "password", "client_id": CLIENT, "resource": resource, "username": ALICE,
        "password": ALICE_PASSWORD, **extra})


def refresh_tokens(app: msal.ClientApplication) -> list[str]:
    return [rt["secret"] for rt in app.token_cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN)]


# ------------------------------------------------------------------------------- the person at /device


def approve_device_code(server: LiveServer, user_code: str, username: str, password: str) -> str:
    """Does in HTTP what the person does in a browser: open /device, type the code, sign in; fails
    unless the last page says the device is signed in. Returns that page."""

    def hidden(page: requests.Response) -> dict[str, str]:
        assert page.status_code == 200, page.text
        return {m["name"]: html.unescape(m["value"]) for m in HIDDEN.finditer(page.text)}

    with trusting_session(server) as browser:  # its own cookie jar: mockidp_csrf
        form = hidden(browser.get(f"{server.origin}/device"))
        login = hidden(browser.post(f"{server.origin}/device", data={"csrf": form["csrf"], "otc": user_code}))
        assert {"ctx", "csrf"} <= login.keys(), login
        done = browser.post(f"{server.origin}/_mockidp/login",
                            data={"ctx": login["ctx"], "csrf": login["csrf"], "username": username,
                                  "password": password})
    assert done.status_code == 200, done.text
    assert "You have signed in to testClient on your device." in done.text, done.text
    return done.text


class DeviceApprover:
    """Approves device codes in a background thread, as alice, while the client polls."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.approvals: list[Future[str]] = []
        self.prompts: list[tuple[str, str]] = []  # (verification_uri, user_code) shown to the person
        self.deadline = time.monotonic() + DEVICE_WAIT

    def approve(self, user_code: str) -> Future[str]:
        future = self.pool.submit(approve_device_code, self.server, user_code, ALICE, ALICE_PASSWORD)
        self.approvals.append(future)
        return future

    def prompt_callback(self, verification_uri: str, user_code: str, expires_on: object) -> None:
        """azure-identity's DeviceCodeCredential ``prompt_callback(uri, code, expires_on)``."""
        self.prompts.append((verification_uri, user_code))
        self.approve(user_code)

    def gave_up(self, flow: object = None) -> bool:
        """An MSAL ``exit_condition``: stop polling once the approval failed (``signed_in()`` raises
        its error) or DEVICE_WAIT passed, instead of polling until the 15-minute expiry."""
        failed = any(f.done() and f.exception() is not None for f in self.approvals)
        return failed or time.monotonic() > self.deadline

    def signed_in(self) -> int:
        """Waits for every approval, raises the first one's failure, counts them."""
        return len([f.result(timeout=DEVICE_WAIT) for f in self.approvals])


@pytest.fixture
def approver(server: LiveServer) -> Iterator[DeviceApprover]:
    a = DeviceApprover(server)
    yield a
    a.pool.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------------------------------- MSAL ROPC


@pytest.mark.usefixtures("no_user_realm_discovery")
def test_msal_ropc_gives_alice_a_v2_token_with_her_scope_role_and_group_and_a_rotating_refresh_token(
        server: LiveServer, http: requests.Session) -> None:
    app = public_app(server, http)

    result = ropc(app)

    claims = assert_alice_backend2_token(access_token(result))
    assert result["token_type"] == "Bearer"
    assert result["scope"] == USER_SCOPE
    assert result["refresh_token"]
    id_claims = result["id_token_claims"]
    assert id_claims["preferred_username"] == ALICE
    assert id_claims["oid"] == claims["oid"]
    assert id_claims["tid"] == TENANT
    assert id_claims["aud"] == CLIENT
    assert id_claims["ver"] == "2.0"
    [account] = app.get_accounts()
    assert account["username"] == ALICE
    assert account["home_account_id"] == f"{claims['oid']}.{TENANT}"  # from client_info

    refreshed = app.acquire_token_silent([USER_SCOPE], account=account, force_refresh=True)

    assert refreshed is not None and refreshed["token_source"] == "identity_provider"
    assert access_token(refreshed) != result["access_token"]
    assert_alice_backend2_token(refreshed["access_token"])
    assert refresh_tokens(app) != [result["refresh_token"]]  # the refresh token was rotated
    assert len(refresh_tokens(app)) == 1


@pytest.mark.usefixtures("no_user_realm_discovery")
def test_msal_ropc_with_a_wrong_password_is_invalid_grant_50126(server: LiveServer, http: requests.Session) -> None:
    result = ropc(public_app(server, http), ALICE, "not-her-password")

    assert_aadsts(result, error="invalid_grant", code=50126)


@pytest.mark.usefixtures("no_user_realm_discovery")
def test_msal_ropc_at_hr_portal_lets_alice_in_through_her_group_and_refuses_bob_with_50105(
        server: LiveServer, http: requests.Session) -> None:
    """hrPortal requires assignment; only the group Provisioning Admins (alice) is assigned. Alice asks
    for Microsoft Graph User.Read, which every app may ask for without consent."""
    app = confidential_app(server, http, HR_PORTAL, HR_PORTAL_SECRET)

    alice = ropc(app, scopes=["User.Read"])
    bob = ropc(app, BOB, BOB_PASSWORD, ["User.Read"])

    assert claims_of(access_token(alice))["appid"] == HR_PORTAL
    assert claims_of(alice["access_token"])["appidacr"] == "1"  # a confidential client: its secret
    assert_aadsts(bob, error="invalid_grant", code=50105)
    assert "hrPortal" in bob["error_description"]


# ------------------------------------------------------------------------------ multi-resource refresh


@pytest.mark.usefixtures("no_user_realm_discovery")
def test_msal_silent_refresh_for_another_resource_uses_the_same_refresh_token_and_asks_consent_for_backend1(
        server: LiveServer, http: requests.Session) -> None:
    """The refresh token is multi-resource: MSAL redeems the one from the testBackend2 sign-in for
    Graph User.Read (implicitly consented) and gets a Graph token. testBackend1 exposes no delegated
    scope and nobody consented anything on it, so `.default` for a user means "nothing consented":
    Entra answers 65001 invalid_grant/consent_required, so no v1 user token for testBackend1 exists
    in this seed. ``acquire_token_silent`` folds that error into None; ``..._with_error`` shows it."""
    app = public_app(server, http)
    access_token(ropc(app))
    [account] = app.get_accounts()

    graph = app.acquire_token_silent(["User.Read"], account=account)
    backend1 = app.acquire_token_silent_with_error([BACKEND1_DEFAULT], account=account)

    graph_claims = claims_of(access_token(graph))
    assert graph_claims["aud"] == "https://graph.microsoft.com"
    assert graph_claims["scp"] == "User.Read"
    assert graph_claims["upn"] == ALICE
    assert_aadsts(backend1, error="invalid_grant", code=65001, suberror="consent_required")
    assert backend1["suberror"] == "consent_required"
    assert backend1["classification"] == "consent_required"  # MSAL copies suberror there
    assert app.acquire_token_silent([BACKEND1_DEFAULT], account=account) is None
    # The refused resource did not cost the user their refresh token: testBackend2 still refreshes.
    again = app.acquire_token_silent([USER_SCOPE], account=account, force_refresh=True)
    assert_alice_backend2_token(access_token(again))


# ------------------------------------------------------------------------------------- MSAL device flow


def test_msal_device_flow_gives_alice_a_token_once_she_enters_the_code_and_signs_in(
        server: LiveServer, http: requests.Session, approver: DeviceApprover) -> None:
    app = public_app(server, http)
    flow = app.initiate_device_flow(scopes=[USER_SCOPE])
    assert flow["verification_uri"] == f"{server.origin}/device"
    assert flow["interval"] == 1
    assert flow["user_code"] in flow["message"]
    assert flow["verification_uri"] in flow["message"]

    approver.approve(flow["user_code"])
    result = app.acquire_token_by_device_flow(flow, exit_condition=approver.gave_up)

    assert approver.signed_in() == 1
    assert_alice_backend2_token(access_token(result))
    assert result["refresh_token"]
    assert result["id_token_claims"]["preferred_username"] == ALICE
    assert [a["username"] for a in app.get_accounts()] == [ALICE]


# ---------------------------------------------------------------------------------------- azure-identity


def test_azure_identity_device_code_credential_authenticates_alice_then_gets_her_token_silently(
        server: LiveServer, approver: DeviceApprover) -> None:
    with DeviceCodeCredential(client_id=CLIENT, prompt_callback=approver.prompt_callback, timeout=DEVICE_WAIT,
                              **azure_kwargs(server)) as credential:  # closes its transport after
        record = credential.authenticate(scopes=[USER_SCOPE])
        token = credential.get_token(USER_SCOPE)

    assert [uri for uri, _ in approver.prompts] == [f"{server.origin}/device"]  # one prompt: get_token was silent
    assert approver.signed_in() == 1
    assert isinstance(record, AuthenticationRecord)
    assert record.username == ALICE
    assert record.authority == urlsplit(server.origin).netloc  # netloc of the id_token's iss
    assert record.tenant_id == TENANT
    assert record.client_id == CLIENT
    claims = assert_alice_backend2_token(token.token)
    assert record.home_account_id == f"{claims['oid']}.{TENANT}"
    assert abs(token.expires_on - claims["exp"]) <= 5  # azure-identity computes it from expires_in


@pytest.mark.usefixtures("no_user_realm_discovery")
def test_azure_identity_username_password_credential_gets_alice_a_token(server: LiveServer) -> None:
    with pytest.warns(DeprecationWarning, match="UsernamePasswordCredential is deprecated"):
        credential = UsernamePasswordCredential(CLIENT, ALICE, ALICE_PASSWORD, **azure_kwargs(server))

    with credential, public_ropc_deprecated():  # the credential drives MSAL's public-client ROPC
        token = credential.get_token(USER_SCOPE)

    assert_alice_backend2_token(token.token)


# ------------------------------------------------------------------------------ v1 endpoint, by hand


def test_v1_token_endpoint_password_grant_answers_like_adal_expects_with_a_v2_token_for_backend2(
        server: LiveServer, http: requests.Session) -> None:
    response = v1_password_grant(http, server, f"api://{BACKEND2}", scope="openid")

    assert response.status_code == 200, response.text
    body = response.json()
    for name in ("expires_in", "ext_expires_in", "expires_on", "not_before"):
        assert isinstance(body[name], str) and body[name].isdigit(), (name, body[name])
    assert int(body["expires_on"]) - int(body["not_before"]) >= int(body["expires_in"])
    assert body["token_type"] == "Bearer"
    assert body["resource"] == f"api://{BACKEND2}"
    assert body["scope"] == "access_as_user"
    assert body["refresh_token"]  # v1 always gives one to user grants
    assert "client_info" not in body
    id_claims = claims_of(body["id_token"])
    assert id_claims["iss"] == f"https://sts.windows.net/{TENANT}/"
    assert id_claims["aud"] == CLIENT
    assert id_claims["ver"] == "1.0"
    assert id_claims["upn"] == id_claims["unique_name"] == ALICE
    assert id_claims["name"] == "Alice Example"
    # The resource's registration, not the endpoint, decides the access token: testBackend2 wants v2.
    claims = assert_alice_backend2_token(body["access_token"])
    assert claims["iss"] == f"{server.origin}/{TENANT}/v2.0"
    assert int(body["expires_on"]) == claims["exp"]


def test_v1_token_endpoint_password_grant_for_backend1_is_consent_required(
        server: LiveServer, http: requests.Session) -> None:
    response = v1_password_grant(http, server, BACKEND1_URI)

    assert response.status_code == 400
    assert_entra_error(response, 65001, status=400, error="invalid_grant", suberror="consent_required")
    assert response.json()["suberror"] == "consent_required"


# ------------------------------------------------------------------------ validation, as an API does


@pytest.mark.usefixtures("no_user_realm_discovery")
def test_pyjwt_validates_alice_v2_access_token_against_the_v2_discovery_document(
        server: LiveServer, http: requests.Session) -> None:
    token = access_token(ropc(public_app(server, http)))

    claims = validate(http, server, token, audience=BACKEND2, version=2)

    assert claims["iss"] == f"{server.origin}/{TENANT}/v2.0"
    assert claims["scp"] == "access_as_user"
    with pytest.raises(jwt.InvalidAudienceError):
        validate(http, server, token, audience=f"api://{BACKEND2}", version=2)  # v2 aud is the GUID
    with pytest.raises(jwt.InvalidIssuerError):
        validate(http, server, token, audience=BACKEND2, version=1)  # a v1-configured API says no


def test_pyjwt_validates_the_v1_id_token_against_the_v1_discovery_document(
        server: LiveServer, http: requests.Session) -> None:
    """No user can get a v1 *access* token for testBackend1 in this seed (65001 above), so the v1
    validation path is exercised with the v1 ID token (signed RS256 by mockidp, from the same keys)."""
    body = v1_password_grant(http, server, f"api://{BACKEND2}", scope="openid").json()

    claims = validate(http, server, body["id_token"], audience=CLIENT, version=1)

    assert claims["iss"] == f"https://sts.windows.net/{TENANT}/"
    assert claims["upn"] == ALICE


def test_user_realm_answers_managed_for_seeded_domains_which_is_what_msal_would_read_on_port_443(
        http: requests.Session, server: LiveServer) -> None:
    managed = http.get(f"{server.origin}/common/userrealm/{ALICE}?api-version=1.0").json()
    unknown = http.get(f"{server.origin}/common/userrealm/someone@example.org?api-version=1.0").json()

    assert managed["account_type"] == "Managed"  # never Federated: MSAL would try WS-Trust
    assert managed["domain_name"] == "contoso.onmicrosoft.com"
    assert unknown["account_type"] == "Unknown"
