"""A real single-page app: @azure/msal-browser (from tests/node, `npm ci`) on http://localhost:<port>,
registered as a `spa` redirect URI (spaApp in the demo seed; Entra ignores the port of http://localhost),
in Debian's chromium that trusts mockidp's CA through its NSS database. loginPopup signs Alice in on
mockidp's page, the browser redeems the code cross-origin (preflight + POST), then acquireTokenSilent
with forceRefresh redeems the 24 h SPA refresh token the same way."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from playwright.sync_api import Playwright, Response
from spa_support import (
    chromium_with_home,
    copy_bundles,
    journal,
    nss_home,
    printed,
    sign_in_in_popup,
    static_site,
    trust_ca,
)

from tests.conftest import BACKEND2, TENANT, LiveServer

pytestmark = pytest.mark.browser

SPA = "0f6d1e2c-3b4a-4c5d-9e8f-7a6b5c4d3e2f"
SCOPE = f"api://{BACKEND2}/access_as_user"
ALICE = ("alice@contoso.onmicrosoft.com", "alice-password-1")
REDIRECT_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Signing in</title><link rel="icon" href="data:,">
<script src="msal-redirect-bridge.min.js"></script></head>
<body><script>msalRedirectBridge.broadcastResponseToMainFrame();</script></body></html>
"""
APP_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>SPA</title><link rel="icon" href="data:,">
<script src="msal-browser.min.js"></script></head>
<body><button id="signin">Sign in</button><button id="refresh">Refresh</button><pre id="out"></pre>
<script>
const app = new msal.PublicClientApplication({auth: {clientId: "%(client)s", authority: "%(authority)s",
  knownAuthorities: ["%(host)s"], redirectUri: "%(redirect)s"}});
const scopes = ["%(scope)s"];
const out = document.getElementById("out");
const claims = (jwt) => JSON.parse(atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
const show = (r) => { out.textContent = JSON.stringify({access: claims(r.accessToken), account: r.account.username}); };
const fail = (e) => { out.textContent = JSON.stringify({error: e.errorCode || String(e), message: e.message}); };
const ready = app.initialize();
document.getElementById("signin").onclick = () => ready.then(() => app.loginPopup({scopes})).then(show, fail);
document.getElementById("refresh").onclick = () => app.acquireTokenSilent(
  {scopes, account: app.getAllAccounts()[0], forceRefresh: true}).then(show, fail);
</script></body></html>
"""


def test_msal_browser_signs_in_with_a_popup_and_refreshes_silently(live: LiveServer, playwright: Playwright,
                                                                  tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    copy_bundles(site)
    home = nss_home(tmp_path / "home")
    trust_ca(home, live.ca)
    calls: list[Response] = []  # the answers of the token endpoint the page saw
    with static_site(site) as port, chromium_with_home(playwright, home) as browser:
        page_values = {"client": SPA, "authority": f"{live.origin}/{TENANT}", "host": f"localhost:{live.port}",
                       "redirect": f"http://localhost:{port}/redirect.html", "scope": SCOPE}
        (site / "index.html").write_text(APP_PAGE % page_values)
        (site / "redirect.html").write_text(REDIRECT_PAGE)
        context = browser.new_context()  # certificate errors are not ignored: the CA is trusted
        seen = journal(context)
        page = context.new_page()
        context.on("response", lambda r: calls.append(r) if "/oauth2/v2.0/token" in r.url else None)
        page.goto(f"http://localhost:{port}/")

        sign_in_in_popup(page, ALICE)
        shown = printed(page, "", seen)
        signed_in = json.loads(shown)
        assert "error" not in signed_in, signed_in
        assert signed_in["account"] == ALICE[0]
        access = signed_in["access"]
        assert access["aud"] == BACKEND2 and access["scp"] == "access_as_user" and access["azp"] == SPA
        assert access["ver"] == "2.0" and access["roles"] == ["Reader"]

        page.click("#refresh")
        refreshed = json.loads(printed(page, shown, seen))  # waits for a new print, however quick it was
        assert "error" not in refreshed, refreshed
        assert refreshed["access"]["aud"] == BACKEND2 and refreshed["access"]["scp"] == "access_as_user"
        assert refreshed["access"]["uti"] != access["uti"]  # a new token, not the cached one

        posts = [r for r in calls if r.request.method == "POST"]
        grants = [parse_qs(r.request.post_data or "")["grant_type"][0] for r in posts]
        assert grants == ["authorization_code", "refresh_token"]  # one redemption each: nothing was retried
        for answer in posts:
            assert answer.status == 200
            assert answer.headers["access-control-allow-origin"] == f"http://localhost:{port}"
        context.close()
