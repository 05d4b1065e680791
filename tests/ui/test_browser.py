"""The sign-in, consent, device-code, error and sign-out pages in a real browser (Debian's chromium
driven by Playwright), with real MSAL Python applications on the other end of the flows.

No test is skipped when chromium is missing: the `browser` fixture then fails (CI installs it).
Redirect URIs point at ports where nothing listens; each test observes the browser's request to
the redirect URI instead (Playwright cannot route the target of a redirect).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import msal
import pytest
from browser_support import ALICE, BOB, CHROMIUM, CHROMIUM_ARGS, Clients, Tab, claims, query, redeem
from playwright.sync_api import Browser, Playwright

from tests.conftest import BACKEND2, CLIENT, CLIENT_SECRET, DEMO_SEED, TENANT, LiveServer

pytestmark = [
    pytest.mark.browser,
    # MSAL recommends form_post for every auth code flow; these tests use query on purpose.
    pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended:UserWarning"),
]

BACKEND2_SCOPE = f"api://{BACKEND2}/access_as_user"
LOOPBACK = "http://localhost:53123"  # registered as http://localhost: Entra ignores the port
WEB_CALLBACK = "http://localhost:5000/callback"
HR_PORTAL = "5a7c3e9b-2d4f-4b6a-8c1e-0f9d8b7a6c5e"
HR_PORTAL_SECRET = "hrPortal-secret-value-1"
HR_CALLBACK = "http://localhost:5001/callback"
XSS_SVG = "<svg onload=alert(1)>"
XSS_STATE = '"><script>alert(1)</script>'

# A second tenant for consent: its API's scope has no grant at all, so users are asked.
FABRIKAM = "c0ffee00-0000-4000-8000-000000000002"
NOTES_API = "4e0a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b"
NOTES_APP = "9b8a7c6d-5e4f-4a3b-9c2d-1e0f2a3b4c5d"
NOTES_SCOPE = f"api://{NOTES_API}/Notes.Read"
# A host with '_' (a Compose service name): not a valid host in a CSP source list.
COMPOSE_APP = "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
COMPOSE_CALLBACK = "https://web_app.localhost:5002/cb"
CAROL = ("carol@fabrikam.onmicrosoft.com", "carol-password-1")
DAVE = ("dave@fabrikam.onmicrosoft.com", "dave-password-1")
CONSENT_SEED = f"""
tenants:
  - tenantId: {FABRIKAM}
    displayName: Fabrikam
    domains: [fabrikam.onmicrosoft.com]
    applications:
      - appId: {NOTES_API}
        displayName: notesApi
        identifierUris: ["api://{NOTES_API}"]
        api:
          requestedAccessTokenVersion: 2
          oauth2PermissionScopes:
            - {{value: Notes.Read, type: User, adminConsentDisplayName: Read all notes,
               userConsentDisplayName: Read your notes}}
      - appId: {NOTES_APP}
        displayName: notesApp
        publicClient: {{redirectUris: ["http://localhost"]}}
        isFallbackPublicClient: true
      - appId: {COMPOSE_APP}
        displayName: composeApp
        web: {{redirectUris: ["{COMPOSE_CALLBACK}"]}}
    users:
      - {{userPrincipalName: {CAROL[0]}, displayName: Carol Example, password: "{CAROL[1]}"}}
      - {{userPrincipalName: {DAVE[0]}, displayName: Dave Example, password: "{DAVE[1]}"}}
"""


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's chromium, started once. Missing chromium is an error, never a skip."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def new_tab(browser: Browser) -> Iterator[Callable[[LiveServer], Tab]]:
    """A tab in a fresh browser context (its own cookies: nobody signed in)."""
    contexts = []

    def open_tab(server: LiveServer) -> Tab:
        context = browser.new_context(ignore_https_errors=True)  # the browser only; clients verify TLS
        contexts.append(context)
        return Tab.open(context, server.origin)

    yield open_tab
    for context in contexts:
        context.close()


@pytest.fixture
def tab(new_tab: Callable[[LiveServer], Tab], live: LiveServer) -> Tab:
    return new_tab(live)


@pytest.fixture
def clients() -> Iterator[Clients]:
    made = Clients()
    yield made
    made.close()


@pytest.fixture
def pca(clients: Clients, live: LiveServer) -> msal.PublicClientApplication:
    return clients.public(live, CLIENT)


@pytest.fixture
def cca(clients: Clients, live: LiveServer) -> msal.ConfidentialClientApplication:
    return clients.confidential(live, CLIENT, CLIENT_SECRET)


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The demo seed plus the consent tenant, with a 1 s device-code polling interval."""
    folder = tmp_path_factory.mktemp("browser")
    seed = folder / "consent.yaml"
    seed.write_text(CONSENT_SEED)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOCKIDP_DEVICE_CODE_INTERVAL", "1")  # read when LiveServer builds its Settings
        server = LiveServer(folder / "data", [DEMO_SEED, seed])
    with server:
        yield server


# ------------------------------------------------------------------------------------------- helpers


def sign_in_with_msal(tab: Tab, app: msal.ClientApplication, scopes: list[str], redirect_uri: str,
                      user: tuple[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Open MSAL's auth_uri, type the user's credentials; the flow and the redirect's parameters."""
    flow = app.initiate_auth_code_flow(scopes=scopes, redirect_uri=redirect_uri)
    tab.goto(flow["auth_uri"])
    redirect = tab.request_to(redirect_uri, lambda: tab.type_credentials(*user))
    return flow, query(redirect.url)


def authorize_url(server: LiveServer, **params: str) -> str:
    base = {"client_id": CLIENT, "response_type": "code", "redirect_uri": WEB_CALLBACK, "scope": "openid",
            "state": "s1"}
    return f"{server.origin}/{TENANT}/oauth2/v2.0/authorize?{urlencode({**base, **params})}"


def assert_alice_backend2_token(result: dict[str, Any], *, azpacr: str) -> dict[str, Any]:
    token = claims(result["access_token"])
    assert token["aud"] == BACKEND2
    assert token["scp"] == "access_as_user"
    assert token["roles"] == ["Reader"]
    assert token["azp"] == CLIENT
    assert token["azpacr"] == azpacr
    assert token["preferred_username"] == ALICE[0]
    assert result["id_token_claims"]["preferred_username"] == ALICE[0]
    return token


def assert_stayed_on_error_page(tab: Tab, code: str) -> None:
    error = tab.error_page()
    assert error.message.startswith(f"AADSTS{code}:"), error.message
    assert error.request_id and error.correlation_id and error.timestamp
    assert tab.documents[-1].status == 400
    assert tab.on_mockidp()
    assert tab.foreign_requests() == []


# ------------------------------------------------------------------------------ auth code + PKCE


def test_msal_public_client_signs_alice_in_with_pkce_on_the_page_and_refreshes_silently(
        tab: Tab, pca: msal.PublicClientApplication) -> None:
    flow = pca.initiate_auth_code_flow(scopes=[BACKEND2_SCOPE], redirect_uri=LOOPBACK)
    tab.goto(flow["auth_uri"])
    assert tab.heading() == "Sign in"
    tab.shot("sign-in")
    redirect = tab.request_to(LOOPBACK, lambda: tab.type_credentials(*ALICE))

    login_post = redirect.redirected_from  # the credentials' POST answered 302 (never 307), then a GET
    assert login_post is not None and login_post.method == "POST" and redirect.method == "GET"
    assert login_post.response().status == 302  # type: ignore[union-attr]
    response = query(redirect.url)
    assert response["state"] == flow["state"]
    assert set(response) == {"code", "client_info", "state", "session_state"}
    result = redeem(pca, flow, response)  # MSAL checks the state and the id_token's nonce
    first = assert_alice_backend2_token(result, azpacr="0")
    assert result["id_token_claims"]["nonce"] == hashlib.sha256(flow["nonce"].encode()).hexdigest()  # as sent
    assert result["refresh_token"]

    [account] = pca.get_accounts(username=ALICE[0])
    refreshed = pca.acquire_token_silent([BACKEND2_SCOPE], account, force_refresh=True)
    assert refreshed is not None and refreshed.get("token_source") == "identity_provider", refreshed
    assert refreshed["access_token"] != result["access_token"]
    second = claims(refreshed["access_token"])
    assert (second["scp"], second["oid"], second["azpacr"]) == ("access_as_user", first["oid"], "0")


def test_msal_public_client_signs_alice_in_through_the_account_picker(
        tab: Tab, pca: msal.PublicClientApplication) -> None:
    flow = pca.initiate_auth_code_flow(scopes=[BACKEND2_SCOPE], redirect_uri=LOOPBACK)
    tab.goto(flow["auth_uri"])
    assert tab.page.locator(".accounts button").count() >= 2  # alice and bob of Contoso
    tab.pick_account(ALICE[0])
    redirect = tab.request_to(LOOPBACK, lambda: tab.enter_password(ALICE[1]))
    assert_alice_backend2_token(redeem(pca, flow, query(redirect.url)), azpacr="0")


def test_msal_confidential_client_signs_alice_in_and_gets_azpacr_1(
        tab: Tab, cca: msal.ConfidentialClientApplication) -> None:
    flow, response = sign_in_with_msal(tab, cca, [BACKEND2_SCOPE], WEB_CALLBACK, ALICE)
    assert_alice_backend2_token(redeem(cca, flow, response), azpacr="1")


# ----------------------------------------------------------------------------------------------- SSO


def test_a_second_prompt_none_request_in_the_same_browser_gets_a_code_without_a_page(
        tab: Tab, pca: msal.PublicClientApplication) -> None:
    sign_in_with_msal(tab, pca, [BACKEND2_SCOPE], LOOPBACK, ALICE)
    pages_before = len(tab.documents)

    flow = pca.initiate_auth_code_flow(scopes=[BACKEND2_SCOPE], redirect_uri=LOOPBACK, prompt="none")
    redirect = tab.open_to(flow["auth_uri"], LOOPBACK)
    authorize = redirect.redirected_from
    assert authorize is not None and authorize.url == flow["auth_uri"]
    assert authorize.response() is not None and authorize.response().status == 302  # type: ignore[union-attr]
    assert [d.status for d in tab.documents[pages_before:]] == [302]  # no page was shown
    assert_alice_backend2_token(redeem(pca, flow, query(redirect.url)), azpacr="0")


def test_prompt_none_in_a_fresh_browser_redirects_with_login_required_50058_and_the_state(
        tab: Tab, pca: msal.PublicClientApplication) -> None:
    flow = pca.initiate_auth_code_flow(scopes=[BACKEND2_SCOPE], redirect_uri=LOOPBACK, prompt="none")
    response = query(tab.open_to(flow["auth_uri"], LOOPBACK).url)
    assert response["error"] == "login_required"
    assert response["error_description"].startswith("AADSTS50058: ")
    assert response["state"] == flow["state"]
    assert "code" not in response


# ------------------------------------------------------------------------------------------- consent


def test_consent_page_lists_the_permission_and_accepting_records_a_grant_for_the_next_sign_in(
        new_tab: Callable[[LiveServer], Tab], own: LiveServer, clients: Clients) -> None:
    tab = new_tab(own)
    app = clients.public(own, NOTES_APP, tenant=FABRIKAM)
    flow = app.initiate_auth_code_flow(scopes=[NOTES_SCOPE], redirect_uri=LOOPBACK)
    tab.goto(flow["auth_uri"])
    tab.sign_in(*CAROL)
    assert tab.heading() == "Permissions requested"
    body = tab.page.locator("main").inner_text()
    assert "notesApp" in body and CAROL[0] in body
    assert "Read your notes (notesApi)" in tab.page.locator(".perm").inner_text()
    tab.shot("consent")

    redirect = tab.request_to(LOOPBACK, lambda: tab.page.click("#accept"))
    result = redeem(app, flow, query(redirect.url))
    token = claims(result["access_token"])
    assert (token["aud"], token["scp"], token["preferred_username"]) == (NOTES_API, "Notes.Read", CAROL[0])

    # A new browser (no SSO) and a new sign-in: the Principal grant is remembered, no question asked.
    again = new_tab(own)
    flow, response = sign_in_with_msal(again, app, [NOTES_SCOPE], LOOPBACK, CAROL)
    assert [d.status for d in again.documents] == [200, 302]  # sign-in page, then straight back
    assert claims(redeem(app, flow, response)["access_token"])["scp"] == "Notes.Read"


def test_declining_consent_redirects_with_access_denied_65004(
        new_tab: Callable[[LiveServer], Tab], own: LiveServer, clients: Clients) -> None:
    tab = new_tab(own)
    app = clients.public(own, NOTES_APP, tenant=FABRIKAM)
    flow = app.initiate_auth_code_flow(scopes=[NOTES_SCOPE], redirect_uri=LOOPBACK)
    tab.goto(flow["auth_uri"])
    tab.sign_in(*DAVE)
    assert tab.heading() == "Permissions requested"
    response = query(tab.request_to(LOOPBACK, lambda: tab.page.click("#decline")).url)
    assert response["error"] == "access_denied"
    assert response["error_description"].startswith("AADSTS65004: User declined to consent to access the app.")
    assert response["state"] == flow["state"]
    assert "code" not in response


# ------------------------------------------------------------------------------- assignment required


def test_bob_not_assigned_to_hr_portal_sees_the_50105_error_page_and_is_not_redirected(
        tab: Tab, clients: Clients, live: LiveServer) -> None:
    hr = clients.confidential(live, HR_PORTAL, HR_PORTAL_SECRET)
    flow = hr.initiate_auth_code_flow(scopes=[], redirect_uri=HR_CALLBACK)
    tab.goto(flow["auth_uri"])
    tab.sign_in(*BOB)
    assert_stayed_on_error_page(tab, "50105")
    assert f"hrPortal ('{HR_PORTAL}')" in tab.error_page().message
    tab.shot("error")


def test_alice_assigned_to_hr_portal_through_her_group_gets_in(
        tab: Tab, clients: Clients, live: LiveServer) -> None:
    hr = clients.confidential(live, HR_PORTAL, HR_PORTAL_SECRET)
    flow, response = sign_in_with_msal(tab, hr, [], HR_CALLBACK, ALICE)
    result = redeem(hr, flow, response)
    assert result["id_token_claims"]["aud"] == HR_PORTAL
    assert result["id_token_claims"]["preferred_username"] == ALICE[0]


# --------------------------------------------------------------------------------------- error pages


def test_unknown_client_id_shows_the_700016_error_page_without_redirecting(tab: Tab, live: LiveServer) -> None:
    tab.goto(authorize_url(live, client_id="0badc0de-0000-4000-8000-000000000000"))
    assert_stayed_on_error_page(tab, "700016")


def test_unregistered_redirect_uri_shows_the_50011_error_page_without_redirecting(
        tab: Tab, live: LiveServer) -> None:
    tab.goto(authorize_url(live, redirect_uri="http://localhost:5000/elsewhere"))
    assert_stayed_on_error_page(tab, "50011")
    assert "'http://localhost:5000/elsewhere'" in tab.error_page().message


def test_a_long_redirect_uri_on_the_error_page_wraps_inside_the_card(tab: Tab, live: LiveServer) -> None:
    tab.goto(authorize_url(live, redirect_uri="http://localhost:5000/" + "x" * 300))
    assert_stayed_on_error_page(tab, "50011")
    assert tab.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_wrong_password_shows_50126_and_stays_on_the_sign_in_page(tab: Tab, live: LiveServer) -> None:
    tab.goto(authorize_url(live))
    tab.sign_in(ALICE[0], "not-alices-password")
    assert tab.heading() == "Enter password"
    assert tab.page.locator(".error").inner_text().startswith("AADSTS50126: ")
    assert tab.on_mockidp() and tab.foreign_requests() == []


# --------------------------------------------------------------------------------------- device code


def test_device_code_approved_in_the_browser_gives_msal_a_token_for_alice(
        new_tab: Callable[[LiveServer], Tab], own: LiveServer, clients: Clients) -> None:
    tab = new_tab(own)
    app = clients.public(own, CLIENT)
    flow = app.initiate_device_flow(scopes=[BACKEND2_SCOPE])
    assert flow["interval"] == 1 and flow["verification_uri"] == f"{own.origin}/device", flow
    flow["expires_at"] = time.time() + 60  # MSAL's documented way to bound its polling
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        polling = pool.submit(app.acquire_token_by_device_flow, flow)  # polls while the person signs in
        tab.goto(flow["verification_uri"])
        assert tab.heading() == "Enter code"
        tab.page.fill("#otc", flow["user_code"])
        tab.shot("device")
        with tab.page.expect_navigation():
            tab.page.click("#next")
        tab.sign_in(*ALICE)
        assert tab.heading() == "You have signed in to testClient on your device."
        result = polling.result(timeout=30)
    assert "access_token" in result, result
    token = claims(result["access_token"])
    assert (token["scp"], token["preferred_username"], token["azpacr"]) == ("access_as_user", ALICE[0], "0")


# ------------------------------------------------------------------------------------- page hygiene


def test_every_page_sends_anti_framing_headers_loads_nothing_foreign_and_logs_no_console_error(
        new_tab: Callable[[LiveServer], Tab], own: LiveServer, clients: Clients) -> None:
    tab = new_tab(own)
    flow = clients.public(own, NOTES_APP, tenant=FABRIKAM).initiate_auth_code_flow(
        scopes=[NOTES_SCOPE], redirect_uri=LOOPBACK)
    tab.goto(flow["auth_uri"])
    seen = [tab.heading()]
    tab.pick_account(DAVE[0])
    seen.append(tab.heading())
    with tab.page.expect_navigation():
        tab.enter_password(DAVE[1])
    seen.append(tab.heading())
    tab.goto(authorize_url(own, client_id="0badc0de-0000-4000-8000-000000000000"))
    seen.append(tab.heading())
    tab.goto(f"{own.origin}/device")
    seen.append(tab.heading())
    tab.goto(f"{own.origin}/{TENANT}/oauth2/v2.0/logout")
    seen.append(tab.heading())
    assert seen == ["Sign in", "Enter password", "Permissions requested",
                    "Sorry, but we’re having trouble signing you in.", "Enter code", "You signed out of your account"]

    assert len(tab.documents) == len(seen)
    for document in tab.documents:
        headers = document.headers
        csp = {d.split()[0]: d.split()[1:] for d in headers["content-security-policy"].split("; ")}
        assert csp["frame-ancestors"] == ["'none'"], document.url
        assert csp["default-src"] == ["'none'"], document.url
        assert headers["x-frame-options"] == "DENY", document.url
        assert headers["content-type"].startswith("text/html")
    assert tab.foreign_requests() == []
    assert tab.console_errors == []
    assert tab.dialogs == []


def test_a_login_post_without_its_csrf_field_is_refused(tab: Tab, live: LiveServer) -> None:
    tab.goto(authorize_url(live))
    tab.pick_account(ALICE[0])
    tab.page.locator("form input[name=csrf]").evaluate("input => input.remove()")
    with tab.page.expect_navigation():
        tab.enter_password(ALICE[1])
    assert_stayed_on_error_page(tab, "9002313")
    silent = tab.open_to(authorize_url(live, prompt="none"), WEB_CALLBACK)  # and nobody got signed in
    assert query(silent.url)["error"] == "login_required"


def test_a_hostile_login_hint_and_client_id_are_shown_escaped_and_never_run(tab: Tab, live: LiveServer) -> None:
    tab.goto(authorize_url(live, login_hint=XSS_SVG))
    assert tab.page.input_value("#username") == XSS_SVG
    assert tab.page.locator("svg").count() == 0

    for hostile in ({"client_id": XSS_SVG}, {"redirect_uri": XSS_SVG}):
        tab.goto(authorize_url(live, **hostile))
        assert XSS_SVG in tab.error_page().message
        assert tab.page.locator("svg").count() == 0
    assert tab.dialogs == [] and tab.console_errors == []


def test_form_post_auto_submits_the_code_and_a_hostile_state_unchanged_to_the_redirect_uri(
        tab: Tab, cca: msal.ConfidentialClientApplication) -> None:
    flow = cca.initiate_auth_code_flow(scopes=[BACKEND2_SCOPE], redirect_uri=WEB_CALLBACK, state=XSS_STATE,
                                       response_mode="form_post")
    tab.goto(flow["auth_uri"])
    posted = tab.request_to(WEB_CALLBACK, lambda: tab.type_credentials(*ALICE))
    assert posted.method == "POST" and posted.url == WEB_CALLBACK
    assert posted.headers["content-type"] == "application/x-www-form-urlencoded"
    fields = dict(parse_qsl(posted.post_data or ""))
    assert fields["state"] == XSS_STATE
    assert set(fields) == {"code", "client_info", "state", "session_state"}

    page = tab.documents[-1]  # the "Working..." page that posted the form
    assert page.request.method == "POST" and page.status == 200
    csp = page.headers["content-security-policy"]
    assert "form-action http://localhost:5000" in csp and "frame-ancestors 'none'" in csp
    assert tab.dialogs == [] and tab.console_errors == []
    assert_alice_backend2_token(redeem(cca, flow, fields), azpacr="1")


def test_form_post_to_a_host_a_csp_source_cannot_name_still_posts_the_code(
        new_tab: Callable[[LiveServer], Tab], own: LiveServer) -> None:
    tab = new_tab(own)
    params = {"client_id": COMPOSE_APP, "response_type": "code", "redirect_uri": COMPOSE_CALLBACK,
              "scope": "openid", "state": "s1", "response_mode": "form_post"}
    tab.goto(f"{own.origin}/{FABRIKAM}/oauth2/v2.0/authorize?{urlencode(params)}")
    posted = tab.request_to(COMPOSE_CALLBACK, lambda: tab.type_credentials(*DAVE))
    assert posted.method == "POST" and posted.url == COMPOSE_CALLBACK
    assert set(dict(parse_qsl(posted.post_data or ""))) == {"code", "state", "session_state"}
    assert tab.console_errors == []  # no CSP complaint about the form-action source


def test_a_redirect_uri_a_browser_reads_as_another_host_shows_50011_and_nothing_leaves(
        tab: Tab, live: LiveServer) -> None:
    hostile = "http://127.0.0.1:18998\\@localhost"  # registered: http://localhost; a browser reads \ as /
    tab.goto(authorize_url(live, redirect_uri=hostile, response_mode="form_post"))
    assert_stayed_on_error_page(tab, "50011")
    assert tab.page.locator("form").count() == 0 and tab.dialogs == []


# -------------------------------------------------------------------------------------------- logout


def test_logout_to_a_registered_uri_ends_the_session_and_redirects_with_the_state(
        tab: Tab, pca: msal.PublicClientApplication, live: LiveServer) -> None:
    sign_in_with_msal(tab, pca, [BACKEND2_SCOPE], LOOPBACK, ALICE)
    logout = f"{live.origin}/{TENANT}/oauth2/v2.0/logout?" + urlencode(
        {"post_logout_redirect_uri": WEB_CALLBACK, "state": "bye"})
    assert tab.open_to(logout, WEB_CALLBACK).url == f"{WEB_CALLBACK}?state=bye"

    flow = pca.initiate_auth_code_flow(scopes=[BACKEND2_SCOPE], redirect_uri=LOOPBACK, prompt="none")
    response = query(tab.open_to(flow["auth_uri"], LOOPBACK).url)
    assert response["error"] == "login_required" and response["state"] == flow["state"]


def test_logout_to_an_unregistered_uri_shows_the_signed_out_page_without_redirecting(
        tab: Tab, live: LiveServer) -> None:
    logout = f"{live.origin}/{TENANT}/oauth2/v2.0/logout?" + urlencode(
        {"post_logout_redirect_uri": "https://evil.example/after", "state": "bye"})
    assert tab.goto(logout).status == 200
    assert tab.heading() == "You signed out of your account"
    assert tab.on_mockidp() and tab.foreign_requests() == []
    tab.shot("signed-out")
