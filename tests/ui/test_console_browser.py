"""The console in a real browser (Debian's chromium driven by Playwright): navigation through the
directory pages, the token decoder on real v1 and v2 tokens and on a forged one, no CSP violation,
nothing fetched from elsewhere, and no horizontal overflow at desktop (1280 px) and phone (390 px)
width. Screenshots land in /tmp/mockidp-shots/console-*.png."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from browser_support import CHROMIUM, CHROMIUM_ARGS, Clients, Tab
from playwright.sync_api import Browser, Playwright

from tests.conftest import (
    BACKEND1_URI,
    BACKEND2,
    CLIENT,
    CLIENT_SECRET,
    REPORTING,
    REPORTING_SECRET,
    TENANT,
    LiveServer,
)

pytestmark = pytest.mark.browser

WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def open_tab(browser: Browser, live: LiveServer) -> Iterator[Callable[[int], Tab]]:
    contexts = []

    def make(width: int) -> Tab:
        context = browser.new_context(ignore_https_errors=True, viewport={"width": width, "height": 900})
        contexts.append(context)
        return Tab.open(context, live.origin)

    yield make
    for context in contexts:
        context.close()


def _token(live: LiveServer, client: str, secret: str, scope: str) -> requests.Response:
    with requests.Session() as s:
        s.verify, s.trust_env = live.ca, False
        return s.post(f"{live.origin}/{TENANT}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": client, "client_secret": secret, "scope": scope})


def _tidy(tab: Tab, name: str) -> None:
    """No horizontal overflow, no CSP violation or script error, nothing fetched from elsewhere; a screenshot."""
    overflow = tab.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name}: {overflow}px wider than the window"
    assert tab.console_errors == [], tab.console_errors
    assert tab.foreign_requests() == []
    tab.shot(f"console-{name}")


@pytest.mark.parametrize("device", WIDTHS)
def test_navigating_the_directory(open_tab: Callable[[int], Tab], live: LiveServer, device: str) -> None:
    refused = _token(live, REPORTING, REPORTING_SECRET, f"{BACKEND2}/.default")
    assert "AADSTS501051" in refused.json()["error_description"]  # the first walkthrough's refusal
    tab = open_tab(WIDTHS[device])
    tab.goto(live.origin + "/")
    assert tab.heading() == "mockidp console"
    _tidy(tab, f"{device}-overview")
    with tab.page.expect_navigation():
        tab.page.click("a.tenant")
    assert tab.heading() == "Contoso"
    _tidy(tab, f"{device}-tenant")
    with tab.page.expect_navigation():
        tab.page.click("#app-registrations ~ table a:text('testBackend2')")
    text = tab.page.locator("main").inner_text()
    assert "requestedAccessTokenVersion" in text and f"aud is always the appId {BACKEND2}" in text
    _tidy(tab, f"{device}-app-registration")
    with tab.page.expect_navigation():
        tab.page.click("text=its enterprise application")
    text = tab.page.locator("main").inner_text()
    assert "Clients without an assignment get AADSTS501051" in text and "testClient" in text
    assert "reportingJob" not in text  # why reportingJob is refused: it is not among the assigned
    _tidy(tab, f"{device}-enterprise-application")
    for link, heading in (("Users and groups", "Users and groups"), ("Consent and permissions",
                                                                     "Consent and permissions")):
        with tab.page.expect_navigation():
            tab.page.click(".crumbs a:text('Contoso')")
        with tab.page.expect_navigation():
            tab.page.click(f"nav.top a:text('{link}')")
        assert tab.heading() == heading
        assert "alice-password-1" not in tab.page.content() and "testClient-secret" not in tab.page.content()
        _tidy(tab, f"{device}-{link.split()[0].lower()}")


def _decode(tab: Tab, token: str) -> dict[str, str]:
    tab.page.fill("#token", token)
    with tab.page.expect_navigation():
        tab.page.click("#decode")
    rows = tab.page.locator("#claims tr[data-name]")
    return {rows.nth(i).get_attribute("data-name") or "": rows.nth(i).inner_text()
            for i in range(rows.count())}


@pytest.mark.parametrize("device", WIDTHS)
def test_the_decoder_on_real_tokens(open_tab: Callable[[int], Tab], live: LiveServer, device: str) -> None:
    v2 = _token(live, CLIENT, CLIENT_SECRET, f"{BACKEND2}/.default").json()["access_token"]
    v1 = _token(live, CLIENT, CLIENT_SECRET, f"{BACKEND1_URI}/.default").json()["access_token"]
    tab = open_tab(WIDTHS[device])
    tab.goto(f"{live.origin}/_mockidp/console/decoder")
    _tidy(tab, f"{device}-decoder")

    claims = _decode(tab, v2)
    assert tab.page.locator("#kind").inner_text() == "access token, v2.0"
    assert "verified with mockidp's key" in tab.page.locator("#signature").inner_text()
    assert "v2.0 discovery document" in tab.page.locator("#issuer").inner_text()
    assert "Authorized party (v2)" in claims["azp"] and "the appId of testClient" in claims["azp"]
    assert "Provisioning.ReadWrite" in claims["roles"] and "App roles granted" in claims["roles"]
    assert tab.page.locator("#token").input_value() == v2  # the pasted token stays in the box
    _tidy(tab, f"{device}-decoder-v2")

    claims = _decode(tab, v1)
    assert tab.page.locator("#kind").inner_text() == "access token, v1.0"
    assert "v1 issuer (sts.windows.net)" in tab.page.locator("#issuer").inner_text()
    assert "verified with mockidp's key" in tab.page.locator("#signature").inner_text()
    assert "(absent)" in claims["roles"] and "The appId of the client" in claims["appid"]
    _tidy(tab, f"{device}-decoder-v1")

    head, payload, signature = v2.split(".")
    forged = f"{head}.{payload}.{signature[:-8]}{'A' * 8 if not signature.endswith('A' * 8) else 'B' * 8}"
    _decode(tab, forged)
    assert "does NOT verify" in tab.page.locator("#signature").inner_text()
    assert tab.page.locator("#signature .tag.bad").inner_text() == "invalid"
    _tidy(tab, f"{device}-decoder-bad-signature")
    # the tokens went to mockidp in POST bodies only: never into a URL
    assert all(v2 not in r.url and v1 not in r.url and forged not in r.url for r in tab.requests)


@pytest.mark.parametrize("device", WIDTHS)
def test_the_trace_of_a_real_501051(open_tab: Callable[[int], Tab], live: LiveServer, device: str) -> None:
    """MSAL's refusal, then Recent requests filtered to it, then its trace page: the rule, the fix."""
    clients = Clients()
    try:
        result = clients.confidential(live, REPORTING, REPORTING_SECRET).acquire_token_for_client(
            [f"{BACKEND2}/.default"])
    finally:
        clients.close()
    assert result.get("error_codes") == [501051]
    trace_id = result["error_description"].split("Trace ID: ")[1].split()[0]
    tab = open_tab(WIDTHS[device])
    tab.goto(live.origin + "/")
    with tab.page.expect_navigation():
        tab.page.click("nav.top a:text('Recent requests')")
    tab.page.fill("#client_id", REPORTING)
    tab.page.fill("#outcome", "501051")
    with tab.page.expect_navigation():
        tab.page.click("button:text('Filter')")
    _tidy(tab, f"{device}-recent-requests")
    with tab.page.expect_navigation():
        tab.page.click(f"a[href$='/traces/{trace_id}']")
    assert tab.heading() == f"Trace {trace_id}"
    assert tab.page.locator("#outcome").inner_text().startswith("AADSTS501051")
    failed = tab.page.locator("#steps tr.failed").inner_text()
    assert "APP_NOT_ASSIGNED" in failed and "failed: AADSTS501051" in failed and "reportingJob" in failed
    assert tab.page.locator("#fix-portal").inner_text().startswith(
        "App registrations › reportingJob › API permissions › Add a permission › My APIs › testBackend2")
    assert "principal: reportingJob" in tab.page.locator("#fix-seed").inner_text()
    assert REPORTING_SECRET not in tab.page.content()
    _tidy(tab, f"{device}-trace-501051")


def test_the_error_page_opens_its_trace(open_tab: Callable[[int], Tab], live: LiveServer) -> None:
    tab = open_tab(WIDTHS["desktop"])
    tab.goto(f"{live.origin}/{TENANT}/oauth2/v2.0/authorize?client_id={CLIENT}&response_type=code&scope=openid"
             "&redirect_uri=http%3A%2F%2Flocalhost%3A5000%2Fnot-registered")
    request_id = tab.page.locator("#request-id").inner_text()
    with tab.page.expect_navigation():
        tab.page.click("#trace-link")
    assert tab.heading() == f"Trace {request_id}"
    assert "failed: AADSTS50011" in tab.page.locator("#steps tr.failed").inner_text()
    _tidy(tab, "desktop-trace-50011")
