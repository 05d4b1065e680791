"""User flows under hostile input: the authorize endpoint and
login UI (A), code redemption (K), refresh tokens (R), device code (D), ROPC (P) and tenant
isolation (N). O1–O5 (on-behalf-of) live in tests/token/test_token_obo.py.

Every row is driven over HTTP only, as a browser and a client would: GET /authorize, pick the hidden
`ctx` and `csrf` out of the sign-in page, POST /_mockidp/login, follow the 302 to the redirect URI.
Rows name Entra's answer; where Entra's behaviour is unverified, the row tests the choice recorded in
mockidp/errors/catalogue.py (evidence "I") and says so. Every response of every row is checked for
5xx by a response hook.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import sqlalchemy
from starlette.testclient import TestClient

from mockidp import cli
from mockidp.app import create_app
from mockidp.clock import FrozenClock, SequentialIds
from mockidp.directory.artefacts import (
    EXPIRED_ARTEFACTS_KEPT,
    EXPIRED_REFRESH_TOKENS_KEPT,
    MAX_SESSIONS_PER_USER,
    PURGE_EVERY,
    REFRESH_IDLE_LIFETIME,
    SPA_REFRESH_LIFETIME,
    Artefacts,
)
from mockidp.directory.seed import SeedError, load_seed
from mockidp.directory.store import Store, make_engine
from mockidp.oauth.device import DEVICE_CODE_LIFETIME
from mockidp.oauth.grants.authorization_code import CODE_LIFETIME
from mockidp.settings import Settings
from mockidp.testing.entra import assert_entra_error
from mockidp.testing.jwts import claims_of
from mockidp.web.routes.signin import CONSENT, LOGIN
from tests.conftest import (
    BACKEND2,
    CLIENT,
    CLIENT_SECRET,
    DEMO_SEED,
    FROZEN_AT,
    REPORTING,
    REPORTING_SECRET,
    TENANT,
    Harness,
)

# --- the directory: demo.yaml (Contoso) plus a second tenant with the apps these rows need ---------

FAB = "0b0b0b0b-0000-4000-8000-00000000000b"
FAB_DOMAIN = "fabrikam.onmicrosoft.com"
FAB_WEB_ID = "b0000000-0000-4000-8000-000000000001"
FAB_WEB_SECRET = "fabWeb-secret-value-1"
FAB_SPA_ID = "b0000000-0000-4000-8000-000000000002"
FAB_API_ID = "b0000000-0000-4000-8000-000000000003"
FAB_DEVICE_ID = "b0000000-0000-4000-8000-000000000004"
FAB_MULTI_ID = "b0000000-0000-4000-8000-000000000005"
HR_PORTAL = "5a7c3e9b-2d4f-4b6a-8c1e-0f9d8b7a6c5e"
HR_SECRET = "hrPortal-secret-value-1"
UNKNOWN_TENANT = "00000000-0000-4000-8000-0000000000ff"
WEB_CB = "https://app.example/cb"
SPA_CB = "https://spa.example/app"
SPA_ORIGIN = "https://spa.example"
FAB_SEED = f"""
tenants:
  - tenantId: {FAB}
    displayName: Fabrikam
    domains: [{FAB_DOMAIN}]
    applications:
      - appId: {FAB_WEB_ID}
        displayName: fabWeb
        web:
          redirectUris: ["{WEB_CB}", "https://app.example/other"]
          implicitGrantSettings: {{enableIdTokenIssuance: true}}
        publicClient: {{redirectUris: ["http://localhost/cb", "http://127.0.0.1/loopback"]}}
        passwordCredentials: [{{secretText: "{FAB_WEB_SECRET}"}}]
      - appId: {FAB_SPA_ID}
        displayName: fabSpa
        spa: {{redirectUris: ["{SPA_CB}"]}}
      - appId: {FAB_API_ID}
        displayName: fabApi
        identifierUris: ["api://fabApi"]
        api:
          oauth2PermissionScopes: [{{value: read}}, {{value: write}}]
      - appId: {FAB_DEVICE_ID}
        displayName: fabDevice
        isFallbackPublicClient: true
      - appId: {FAB_MULTI_ID}
        displayName: fabMulti
        signInAudience: AzureADMultipleOrgs
        isFallbackPublicClient: true
        publicClient: {{redirectUris: ["http://localhost/multi"]}}
    users:
      - {{userPrincipalName: dan@{FAB_DOMAIN}, displayName: Dan, password: "dan-password-1"}}
      - {{userPrincipalName: carol@{FAB_DOMAIN}, displayName: Carol, password: "carol-password-1",
         accountEnabled: false}}
    oauth2PermissionGrants:
      - {{client: fabWeb, resource: fabApi, scope: read, consentType: AllPrincipals}}
"""

ALICE = ("alice@contoso.onmicrosoft.com", "alice-password-1")
BOB = ("bob@contoso.onmicrosoft.com", "bob-password-1")
DAN = (f"dan@{FAB_DOMAIN}", "dan-password-1")
CAROL = (f"carol@{FAB_DOMAIN}", "carol-password-1")
STATE = "st4te-Value_1"
XSS = "<svg onload=alert(1)>"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 appendix B
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
USER_SCOPE = "openid profile offline_access User.Read"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
APP_ORIGIN = "(the app's own)"
HOUR, DAY = 3600, 24 * 3600


@dataclass(frozen=True)
class App:
    """A client as it signs users in: where it lives, its redirect URI and credential, who signs in."""

    tenant: str
    client_id: str
    redirect_uri: str
    scope: str
    user: tuple[str, str]
    secret: str | None = None
    pkce: bool = False  # sends CHALLENGE at /authorize and VERIFIER at /token
    origin: str | None = None  # Origin header at /token (SPA redirect URIs)

    def authorize_params(self) -> dict[str, str]:
        params = {"client_id": self.client_id, "response_type": "code", "redirect_uri": self.redirect_uri,
                  "scope": self.scope, "state": STATE}
        if self.pkce:
            params |= {"code_challenge": CHALLENGE, "code_challenge_method": "S256"}
        return params

    def credentials(self) -> dict[str, str]:
        return {"client_id": self.client_id, **({"client_secret": self.secret} if self.secret else {})}


TC_WEB = App(TENANT, CLIENT, "http://localhost:5000/callback", f"api://{BACKEND2}/access_as_user openid offline_access",
             ALICE, secret=CLIENT_SECRET)
FAB_WEB = App(FAB, FAB_WEB_ID, WEB_CB, USER_SCOPE, DAN, secret=FAB_WEB_SECRET)
FAB_PUBLIC = App(FAB, FAB_WEB_ID, "http://localhost/cb", USER_SCOPE, DAN)
FAB_SPA = App(FAB, FAB_SPA_ID, SPA_CB, USER_SCOPE, DAN, pkce=True, origin=SPA_ORIGIN)
HR = App(TENANT, HR_PORTAL, "http://localhost:5001/callback", "openid", ALICE, secret=HR_SECRET)
TC_DEVICE = replace(TC_WEB, secret=None)  # testClient is isFallbackPublicClient: device code needs no secret
FAB_DEVICE = App(FAB, FAB_DEVICE_ID, "", "api://fabApi/read offline_access", DAN)


def _no_5xx(response: httpx.Response) -> None:
    assert response.status_code < 500, f"{response.request.method} {response.request.url} -> {response.status_code}"


# --- the flows, over HTTP ---------------------------------------------------------------------------

_HIDDEN = re.compile(r'name="(ctx|csrf)" value="([^"]*)"')
_ACTION = re.compile(r'<form method="post" action="([^"]*)"')


def hidden_fields(page: httpx.Response) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in _HIDDEN.findall(page.text)}


def is_form(page: httpx.Response, action: str) -> bool:
    return page.status_code == 200 and action in _ACTION.findall(page.text)


def merged(base: dict[str, str], overrides: dict[str, str | None]) -> dict[str, str]:
    """base updated by overrides; an override of None removes the parameter."""
    return {k: v for k, v in (base | overrides).items() if v is not None}


def response_fields(response: httpx.Response) -> dict[str, str]:
    """What a 302 hands to the client: query or fragment parameters, each given once."""
    parts = urlsplit(response.headers["location"])
    parsed = parse_qs(parts.fragment or parts.query, keep_blank_values=True)
    assert all(len(v) == 1 for v in parsed.values()), parsed
    return {k: v[0] for k, v in parsed.items()}


class Flow:
    """A browser (the harness client keeps cookies) plus the client app's back channel."""

    def __init__(self, harness: Harness) -> None:
        self.h = harness
        self.client = harness.client
        self.services = harness.app.state.runtime.services

    # browser
    def authorize(self, app: App, *, tenant: str | None = None, method: str = "GET", **overrides: str | None
                  ) -> httpx.Response:
        params = merged(app.authorize_params(), overrides)
        path = f"/{tenant or app.tenant}/oauth2/v2.0/authorize"
        if method == "POST":
            return self.client.post(path, data=params, follow_redirects=False)
        return self.client.get(f"{path}?{urlencode(params)}", follow_redirects=False)

    def submit(self, page: httpx.Response, path: str, **form: str) -> httpx.Response:
        return self.client.post(path, data={**hidden_fields(page), **form}, follow_redirects=False)

    def login(self, page: httpx.Response, user: tuple[str, str]) -> httpx.Response:
        assert is_form(page, LOGIN), page.text[:500]
        return self.submit(page, LOGIN, username=user[0], password=user[1])

    def sign_in(self, app: App, user: tuple[str, str] | None = None, **overrides: str | None) -> httpx.Response:
        """Authorize, then sign in on the page if one is shown (a live session answers at once)."""
        page = self.authorize(app, **overrides)
        return self.login(page, user or app.user) if is_form(page, LOGIN) else page

    def code(self, app: App, **overrides: str | None) -> str:
        response = self.sign_in(app, **overrides)
        assert response.status_code == 302, response.text[:500]
        return response_fields(response)["code"]

    # client back channel
    def token(self, data: dict[str, str], *, tenant: str, origin: str | None = None) -> httpx.Response:
        return self.h.token(data, tenant=tenant, headers={"Origin": origin} if origin else None)

    def _post(self, app: App, data: dict[str, str], overrides: dict[str, str | None], tenant: str | None,
              origin: str | None) -> httpx.Response:
        """As `app`, with its credential; origin=APP_ORIGIN sends the app's own Origin header (if any)."""
        return self.token(merged({**app.credentials(), **data}, overrides), tenant=tenant or app.tenant,
                          origin=app.origin if origin == APP_ORIGIN else origin)

    def redeem(self, app: App, code: str, *, tenant: str | None = None, origin: str | None = APP_ORIGIN,
               **overrides: str | None) -> httpx.Response:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": app.redirect_uri,
                "scope": app.scope, **({"code_verifier": VERIFIER} if app.pkce else {})}
        return self._post(app, data, overrides, tenant, origin)

    def tokens(self, app: App, **overrides: str | None) -> dict[str, Any]:
        response = self.redeem(app, self.code(app, **overrides))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def refresh(self, app: App, rt: str, *, tenant: str | None = None, origin: str | None = APP_ORIGIN,
                **overrides: str | None) -> httpx.Response:
        data = {"grant_type": "refresh_token", "refresh_token": rt, "scope": app.scope}
        return self._post(app, data, overrides, tenant, origin)

    def ropc(self, app: App, user: tuple[str, str], *, tenant: str | None = None, **overrides: str | None
             ) -> httpx.Response:
        data = {"grant_type": "password", "username": user[0], "password": user[1], "scope": app.scope}
        return self._post(app, data, overrides, tenant, None)

    # device code
    def devicecode(self, app: App) -> httpx.Response:
        return self.client.post(f"/{app.tenant}/oauth2/v2.0/devicecode",
                                data={"client_id": app.client_id, "scope": app.scope})

    def device_start(self, app: App) -> dict[str, Any]:
        response = self.devicecode(app)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def device_enter(self, user_code: str) -> httpx.Response:
        page = self.client.get("/device")
        return self.submit(page, "/device", otc=user_code)

    def device_sign_in(self, app: App, user_code: str) -> httpx.Response:
        return self.login(self.device_enter(user_code), app.user)

    def device_approved(self, app: App) -> str:
        started = self.device_start(app)
        done = self.device_sign_in(app, started["user_code"])
        assert "You have signed in" in done.text, done.text[:500]
        return str(started["device_code"])

    def poll(self, app: App, device_code: str) -> httpx.Response:
        return self._post(app, {"grant_type": DEVICE_GRANT, "device_code": device_code}, {}, None, None)

    def user_id(self, user: tuple[str, str], tenant: str) -> str:
        record = self.services.directory.user_by_upn(tenant, user[0])
        assert record is not None
        return str(record.id)


@pytest.fixture
def flow(signing_dir: Path, tmp_path: Path) -> Flow:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("signing-key.pem", "signing-cert.pem"):
        if (signing_dir / name).exists():
            shutil.copy(signing_dir / name, data / name)
    extra = tmp_path / "fabrikam.yaml"
    extra.write_text(FAB_SEED)
    harness = Harness(data, [DEMO_SEED, extra])
    harness.client.event_hooks = {"request": [], "response": [_no_5xx]}
    return Flow(harness)


# --- expectations -----------------------------------------------------------------------------------

Check = Callable[[httpx.Response], None]
Step = Callable[[Flow], httpx.Response]


def error_page(code: int) -> Check:
    """Entra's error page: 400 HTML with the AADSTS code, never a Location (nothing reaches the client)."""
    def check(r: httpx.Response) -> None:
        assert r.status_code == 400, (r.status_code, r.headers.get("location"), r.text[:300])
        assert "location" not in r.headers
        assert r.headers["content-type"].startswith("text/html")
        assert f"AADSTS{code}:" in r.text
    return check


def redirected(error: str, code: int, *, to: str, state: str | None = STATE) -> Check:
    """Back to the client's redirect URI with error, error_description, error_uri and the state."""
    def check(r: httpx.Response) -> None:
        assert r.status_code == 302, (r.status_code, r.text[:300])
        assert r.headers["location"].startswith(to)
        fields = response_fields(r)
        assert fields["error"] == error, fields
        assert fields["error_description"].startswith(f"AADSTS{code}:"), fields
        assert fields["error_uri"] == f"https://login.microsoftonline.com/error?code={code}"
        assert fields.get("state") == state
        assert "code" not in fields
    return check


def sign_in_page(r: httpx.Response) -> None:
    assert is_form(r, LOGIN), (r.status_code, r.headers.get("location"), r.text[:300])


def issued_code(r: httpx.Response) -> None:
    assert r.status_code == 302, (r.status_code, r.text[:300])
    assert "code" in response_fields(r)


def page_shows(code: int) -> Check:
    """A page that reports the problem in place (sign-in or device page): no code reaches a client."""
    def check(r: httpx.Response) -> None:
        assert r.status_code in (200, 400), r.status_code
        assert "location" not in r.headers
        assert f"AADSTS{code}:" in r.text, r.text[:500]
    return check


def token_error(error: str, code: int, status: int = 400, *, wrapped: int | None = None,
                suberror: str | None = None) -> Check:
    """Entra's JSON error: status, `error`, error_codes (a legacy wrapper carries the wrapped code too)."""
    def check(r: httpx.Response) -> None:
        assert_entra_error(r, code, status=status, error=error, codes=[code] if wrapped is None else [code, wrapped],
                           suberror=suberror)
    return check


def token_ok(r: httpx.Response) -> None:
    assert r.status_code == 200, r.text
    assert r.json()["access_token"]


def status_400(r: httpx.Response) -> None:
    assert r.status_code == 400, (r.status_code, r.text[:300])


def row(case: str, step: Step, check: Check) -> Any:
    return pytest.param(step, check, id=case)


def not_modelled(case: str, why: str) -> Any:
    return pytest.param(None, None, id=case, marks=pytest.mark.skip(reason=why))


def run(flow: Flow, step: Step, check: Check) -> None:
    check(step(flow))


# --- A: the authorize endpoint and the login UI -----------------------------------------------------

def _state_echoed(state: str) -> Check:
    def check(r: httpx.Response) -> None:
        assert r.status_code == 302
        assert "\r" not in r.headers["location"] and "\n" not in r.headers["location"]
        assert "x" not in r.cookies  # no header split: nothing set a cookie named x
        assert response_fields(r)["state"] == state
    return check


def _escaped(r: httpx.Response) -> None:
    assert r.status_code in (200, 400), r.status_code
    assert XSS not in r.text
    assert "<svg" not in r.text


def _framing_denied(r: httpx.Response) -> None:
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"


def _form_post(r: httpx.Response) -> None:
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert f'action="{WEB_CB}"' in r.text
    assert html.escape(XSS) in r.text and XSS not in r.text
    nonce = re.search(r"script-src 'nonce-([^']+)'", r.headers["content-security-policy"])
    assert nonce and f'<script nonce="{nonce.group(1)}">' in r.text
    assert re.search(r'name="code" value="[^"]+"', r.text)


def _form_action(source: str) -> Check:
    """The form_post page's CSP names exactly this form-action source (rebuilt from the URI's parts)."""
    def check(r: httpx.Response) -> None:
        assert r.status_code == 200 and 'name="code"' in r.text, (r.status_code, r.text[:300])
        directives = dict(d.split(" ", 1) for d in r.headers["content-security-policy"].split("; "))
        assert directives["form-action"] == source
    return check


def _challenge_as_plain(f: Flow) -> httpx.Response:
    plain = "p" * 43
    code = f.code(FAB_PUBLIC, code_challenge=plain)
    return f.redeem(FAB_PUBLIC, code, code_verifier=plain)


def _csrf_missing(f: Flow) -> httpx.Response:
    page = f.authorize(FAB_WEB)
    return f.client.post(LOGIN, data={"ctx": hidden_fields(page)["ctx"], "username": DAN[0], "password": DAN[1]},
                         follow_redirects=False)


def _csrf_wrong(f: Flow) -> httpx.Response:
    page = f.authorize(FAB_WEB)
    return f.submit(page, LOGIN, csrf="x" * 43, username=DAN[0], password=DAN[1])


def _wrong_passwords(f: Flow, page: httpx.Response, times: int) -> httpx.Response:
    for i in range(times):  # each one different (smart lockout may not count a repeated one)
        page = f.login(page, (DAN[0], f"wrong-password-{i}"))
        assert "AADSTS50126:" in page.text, page.text[:500]
    return page


def _login_brute_force(f: Flow) -> httpx.Response:
    page = _wrong_passwords(f, f.authorize(FAB_WEB), 10)
    return f.login(page, DAN)  # the right password, too late


def _locked_then(*waits: int, wrong_after_first: bool = False) -> Step:
    """10 wrong passwords lock Dan; then, for each wait, the clock moves on and (after the first wait,
    when asked) one more wrong password is tried; finally the right one."""
    def step(f: Flow) -> httpx.Response:
        page = _wrong_passwords(f, f.authorize(FAB_WEB), 10)
        for n, wait in enumerate(waits):
            f.h.clock.advance(wait)
            if wrong_after_first and n == 0:
                page = f.login(page, (DAN[0], "one-more-wrong-password"))
                assert "AADSTS50126:" in page.text, page.text[:500]  # checked: the lock had lifted
        return f.login(page, DAN)
    return step


def _success_resets_the_count(f: Flow) -> httpx.Response:
    page = _wrong_passwords(f, f.authorize(FAB_WEB), 9)
    issued_code(f.login(page, DAN))
    f.client.cookies.clear()  # a new browser, same user
    page = _wrong_passwords(f, f.authorize(FAB_WEB), 9)
    return f.login(page, DAN)


def _logout(uri: str) -> Step:
    return lambda f: f.client.get(f"/{FAB}/oauth2/v2.0/logout?{urlencode({'post_logout_redirect_uri': uri})}",
                                  follow_redirects=False)


def _logout_refused(r: httpx.Response) -> None:
    assert r.status_code == 200 and "location" not in r.headers


def _logout_redirected(r: httpx.Response) -> None:
    assert (r.status_code, r.headers["location"]) == (302, WEB_CB)


def _logout_redirected_to(uri: str) -> Check:
    def check(r: httpx.Response) -> None:
        assert (r.status_code, r.headers.get("location")) == (302, uri), (r.status_code, r.text[:300])
    return check


def _a2(suffix: str, uri: str) -> Any:
    return row(f"A2-{suffix}", lambda f: f.authorize(FAB_WEB, redirect_uri=uri), error_page(50011))


def _a2_loopback(suffix: str, uri: str) -> Any:
    """Against testClient (web http://localhost:5000/callback, public http://localhost): the raw string
    is compared, only the port of http://localhost and http://127.0.0.1 is free (mockidp/oauth/redirects.py).
    form_post: a URI a browser reads differently must not even get a form_post page."""
    return row(f"A2-{suffix}", lambda f: f.authorize(TC_WEB, redirect_uri=uri, response_mode="form_post"),
               error_page(50011))


def _logout_to(uri: str, client_id: str = CLIENT) -> Step:
    return lambda f: f.client.get(f"/{TENANT}/oauth2/v2.0/logout?" + urlencode(
        {"post_logout_redirect_uri": uri, "client_id": client_id}), follow_redirects=False)


def _a16(suffix: str, state: str) -> Any:
    return row(f"A16-{suffix}", lambda f: f.sign_in(FAB_WEB, state=state), _state_echoed(state))


def _a17(suffix: str, *, reflected: bool, **params: str) -> Any:
    def check(r: httpx.Response) -> None:
        _escaped(r)
        assert (html.escape(XSS) in r.text) == reflected  # shown escaped where the page shows it at all
    return row(f"A17-{suffix}", lambda f: f.authorize(FAB_WEB, **params), check)


def _a21(suffix: str, **params: str) -> Any:
    return row(f"A21-{suffix}", lambda f: f.authorize(FAB_WEB, **params),
               redirected("invalid_request", 501491, to=WEB_CB))


# A30: the sealed `ctx` of the sign-in and consent forms is bound to the browser (its CSRF token and,
# for consent, its session), lives 10 minutes (catalogue FLOW_STATE_EXPIRED), is used once, and the
# session must still hold when it is used.
FAB_WRITE = replace(FAB_WEB, scope="api://fabApi/write openid")  # no grant for `write`: the consent page
FLOW_LIFETIME = 600


def _consent_form(f: Flow) -> httpx.Response:
    page = f.sign_in(FAB_WRITE)
    assert is_form(page, CONSENT), page.text[:500]
    return page


def _accept(f: Flow, page: httpx.Response) -> httpx.Response:
    return f.submit(page, CONSENT, decision="accept")


def _consent_used_after(between: Callable[[Flow], object]) -> Step:
    """The consent form is captured; `between` happens; then the form is posted."""
    def step(f: Flow) -> httpx.Response:
        page = _consent_form(f)
        between(f)
        return _accept(f, page)
    return step


def _sign_out(f: Flow) -> None:
    assert f.client.get(f"/{FAB}/oauth2/v2.0/logout").status_code == 200


def _revoke(f: Flow) -> None:
    f.services.artefacts.revoke_sign_in_sessions(f.user_id(DAN, FAB), now=f.h.clock.now())


def _revoke_by_cli(f: Flow) -> None:
    assert cli.main(["revoke", DAN[0], "--data-dir", str(f.h.settings.data_dir)]) == 0


def _consent_replayed(f: Flow) -> httpx.Response:
    page = _consent_form(f)
    issued_code(_accept(f, page))
    return _accept(f, page)


def _other_browser(f: Flow) -> TestClient:
    other = TestClient(f.h.app, base_url=str(f.client.base_url), raise_server_exceptions=False)
    other.event_hooks = {"request": [], "response": [_no_5xx]}
    return other


def _consent_from_another_browser(f: Flow) -> httpx.Response:
    """Dan's own browser signs in too; it posts the captured form with the captured CSRF pair."""
    page = _consent_form(f)
    other = _other_browser(f)
    login = other.get(f"/{FAB}/oauth2/v2.0/authorize?{urlencode(FAB_WEB.authorize_params())}")
    issued_code(other.post(LOGIN, data={**hidden_fields(login), "username": DAN[0], "password": DAN[1]},
                           follow_redirects=False))
    other.cookies.set("mockidp_csrf", hidden_fields(page)["csrf"])
    return other.post(CONSENT, data={**hidden_fields(page), "decision": "accept"}, follow_redirects=False)


def _login_replayed(f: Flow) -> httpx.Response:
    page = f.authorize(FAB_WEB)
    issued_code(f.login(page, DAN))
    return f.login(page, DAN)


def _login_after(seconds: int) -> Step:
    def step(f: Flow) -> httpx.Response:
        page = f.authorize(FAB_WEB)
        f.h.clock.advance(seconds)
        return f.login(page, DAN)
    return step


def _login_with_own_csrf_pair(f: Flow) -> httpx.Response:
    """Another browser's form, posted with a CSRF cookie and field that match each other, not the ctx."""
    page = f.authorize(FAB_WEB)
    other = _other_browser(f)
    other.cookies.set("mockidp_csrf", "c" * 43)
    return other.post(LOGIN, data={"ctx": hidden_fields(page)["ctx"], "csrf": "c" * 43, "username": DAN[0],
                                   "password": DAN[1]}, follow_redirects=False)


FORM_CASES = [
    row("A30-consent-replayed", _consent_replayed, error_page(50089)),
    row("A30-consent-after-sign-out", _consent_used_after(_sign_out), error_page(50089)),
    row("A30-consent-after-revoke", _consent_used_after(_revoke), error_page(50089)),
    row("A30-consent-after-cli-revoke", _consent_used_after(_revoke_by_cli), error_page(50089)),
    row("A30-consent-expired", _consent_used_after(lambda f: f.h.clock.advance(FLOW_LIFETIME + 1)),
        error_page(50089)),
    row("A30-consent-within-lifetime", _consent_used_after(lambda f: f.h.clock.advance(FLOW_LIFETIME - 1)),
        issued_code),
    row("A30-consent-another-browser", _consent_from_another_browser, error_page(50089)),
    row("A30-login-replayed", _login_replayed, error_page(50089)),
    row("A30-login-expired", _login_after(FLOW_LIFETIME + 1), error_page(50089)),
    row("A30-login-within-lifetime", _login_after(FLOW_LIFETIME - 1), issued_code),
    row("A30-login-another-csrf-pair", _login_with_own_csrf_pair, error_page(9002313)),
]


@pytest.mark.parametrize(("step", "check"), FORM_CASES)
def test_sign_in_and_consent_forms_cannot_be_replayed(flow: Flow, step: Step, check: Check) -> None:
    run(flow, step, check)


AUTHORIZE_CASES = [
    row("A1", lambda f: f.authorize(FAB_WEB, redirect_uri="https://evil.example/cb"), error_page(50011)),
    _a2("suffix", WEB_CB + "123"),
    _a2("trailing-slash", WEB_CB + "/"),
    _a2("dot-segment", WEB_CB + "/../x"),
    _a2("path-case", "https://app.example/Cb"),
    _a2("host-case", "https://APP.EXAMPLE/cb"),
    _a2("default-port", "https://app.example:443/cb"),
    _a2("query-added", WEB_CB + "?x=1"),
    _a2("fragment", WEB_CB + "#f"),
    _a2("userinfo", "https://app.example@evil.example/cb"),
    _a2("host-suffix", "https://app.example.evil.example/cb"),
    _a2("encoded-slash", WEB_CB + "%2f.."),
    _a2("encoded-nul", WEB_CB + "%00"),
    _a2_loopback("backslash-userinfo", "http://127.0.0.1:18998\\@localhost"),
    _a2_loopback("backslash-path", "http://localhost:5000\\callback"),
    _a2_loopback("userinfo-localhost", "http://evil@localhost:5000/callback"),
    _a2_loopback("userinfo-empty", "http://@localhost:5000/callback"),
    _a2_loopback("host-case-localhost", "http://LOCALHOST:5000/callback"),
    _a2_loopback("scheme-case", "HTTP://localhost:5000/callback"),
    _a2_loopback("port-not-a-number", "http://localhost:abc/callback"),
    _a2_loopback("port-empty", "http://localhost:/callback"),
    _a2_loopback("port-zero", "http://localhost:0/callback"),
    _a2_loopback("port-too-big", "http://localhost:65536/callback"),
    _a2_loopback("port-then-host", "http://localhost:5000.evil.example/callback"),
    _a2_loopback("host-suffix-localhost", "http://localhost.evil.example:5000/callback"),
    _a2_loopback("tab", "http://localhost:5000/callback\t"),
    _a2_loopback("space", "http://localhost:5000/callback "),
    _a2_loopback("newline", "http://localhost:5000/call\nback"),
    _a2_loopback("leading-space", " http://localhost:5000/callback"),
    _a2_loopback("localhost-is-not-127", "http://127.0.0.1:5000/callback"),
    # No URL at all for urlsplit (was a 500): unregistered like any other.
    _a2("unclosed-ipv6", "https://[::1/cb"),
    _a2("invalid-ipv6", "http://[zz::1]/cb"),
    _a2("nfkc-host", "https://app\uff03example/cb"),
    _a2("many-brackets", "https://" + "[" * 300),
    row("A3", lambda f: f.authorize(FAB_WEB, redirect_uri="http://localhost:53123/cb"), sign_in_page),
    row("A3-bare-localhost", lambda f: f.authorize(TC_WEB, redirect_uri="http://localhost:53123"), sign_in_page),
    row("A3-127.0.0.1", lambda f: f.authorize(FAB_PUBLIC, redirect_uri="http://127.0.0.1:53123/loopback"),
        sign_in_page),
    row("A4-127-other-path", lambda f: f.authorize(FAB_PUBLIC, redirect_uri="http://127.0.0.1:53123/other"),
        error_page(50011)),
    row("A4-https-localhost-port", lambda f: f.authorize(FAB_WEB, redirect_uri="https://localhost:53123/cb"),
        error_page(50011)),
    row("A4-other-path", lambda f: f.authorize(FAB_WEB, redirect_uri="http://localhost/other"), error_page(50011)),
    row("A4-ipv6-loopback", lambda f: f.authorize(FAB_WEB, redirect_uri="http://[::1]/cb"), error_page(50011)),
    row("A4-other-host", lambda f: f.authorize(FAB_WEB, redirect_uri="http://example.com/cb"), error_page(50011)),
    # A6 [verify]: our choice is 900144 on the error page when several URIs are registered, and the
    # only registered URI when there is one (hrPortal).
    row("A6-several-registered", lambda f: f.authorize(FAB_WEB, redirect_uri=None), error_page(900144)),
    row("A6-one-registered", lambda f: f.sign_in(HR, redirect_uri=None), issued_code),
    row("A7-unknown", lambda f: f.authorize(FAB_WEB, client_id="b0000000-0000-4000-8000-0000000000ee"),
        error_page(700016)),
    row("A7-malformed", lambda f: f.authorize(FAB_WEB, client_id="not a client"), error_page(700016)),
    row("A8-missing", lambda f: f.authorize(FAB_WEB, response_type=None),
        redirected("invalid_request", 900144, to=WEB_CB)),
    row("A8-unknown", lambda f: f.authorize(FAB_WEB, response_type="tokenn"),
        redirected("unsupported_response_type", 70005, to=WEB_CB)),
    row("A9-id_token", lambda f: f.authorize(TC_WEB, response_type="id_token", nonce="n"),
        redirected("unsupported_response_type", 700054, to=TC_WEB.redirect_uri)),
    row("A9-token", lambda f: f.authorize(TC_WEB, response_type="token"),
        redirected("unsupported_response_type", 700051, to=TC_WEB.redirect_uri)),
    row("A10", lambda f: f.authorize(FAB_WEB, response_type="id_token"),
        redirected("invalid_request", 900144, to=WEB_CB)),
    row("A11", lambda f: f.sign_in(FAB_WEB), issued_code),
    row("A12", lambda f: f.authorize(FAB_WEB, foo="bar", x_custom="1"), sign_in_page),
    # A13 [verify]: our choice is the error page with 9002313 (catalogue MALFORMED_REQUEST, "a repeated
    # parameter"), not a redirect: the parameters are not trusted.
    row("A13", lambda f: f.client.get(f"/{FAB}/oauth2/v2.0/authorize?{urlencode(FAB_WEB.authorize_params())}"
                                      "&state=again", follow_redirects=False), error_page(9002313)),
    row("A14", lambda f: f.authorize(FAB_WEB, prompt="none"), redirected("login_required", 50058, to=WEB_CB)),
    # A15: an unknown scope value of a known resource is 650053 invalid_client at /authorize (catalogue
    # UNKNOWN_SCOPE); a resource named by neither URI nor GUID is 70011 invalid_scope.
    row("A15", lambda f: f.authorize(FAB_WEB, scope="api://fabApi/nope", state="a b&c=d/é"),
        redirected("invalid_client", 650053, to=WEB_CB, state="a b&c=d/é")),
    row("A15-malformed", lambda f: f.authorize(FAB_WEB, scope="fabApi/read"),
        redirected("invalid_scope", 70011, to=WEB_CB)),
    # A16 [verify exact transform]: our choice echoes the state verbatim, percent-encoded.
    _a16("4kb", "s" * 4096),
    _a16("html", '"><script>alert(1)</script>'),
    _a16("crlf", "\r\nSet-Cookie: x=1"),
    _a16("emoji", "🦄✓"),
    # A NUL anywhere in the query is refused as a whole (catalogue MALFORMED_REQUEST), on the error page.
    row("A16-nul", lambda f: f.authorize(FAB_WEB, state="a\x00b"), error_page(9002313)),
    _a17("client_id", reflected=True, client_id=XSS),
    _a17("login_hint", reflected=True, login_hint=XSS),
    _a17("redirect_uri", reflected=True, redirect_uri=XSS),
    _a17("domain_hint", reflected=False, domain_hint=XSS),
    _a17("ui_locales", reflected=False, ui_locales=XSS),
    row("A18-login-page", lambda f: f.authorize(FAB_WEB), _framing_denied),
    row("A18-error-page", lambda f: f.authorize(FAB_WEB, redirect_uri="https://evil.example/"), _framing_denied),
    row("A19", lambda f: f.sign_in(FAB_WEB), issued_code),  # issued_code: exactly 302, never 307
    # A20: the refusal is the error page with 9002313 (our choice, catalogue MALFORMED_REQUEST).
    row("A20-no-token", _csrf_missing, error_page(9002313)),
    row("A20-wrong-token", _csrf_wrong, error_page(9002313)),
    _a21("42-chars", code_challenge="a" * 42),
    _a21("129-chars", code_challenge="a" * 129),
    _a21("illegal-chars", code_challenge="a" * 42 + "+"),
    _a21("S512", code_challenge=CHALLENGE, code_challenge_method="S512"),
    row("A22", _challenge_as_plain, token_ok),
    row("A23", lambda f: f.authorize(FAB_SPA, code_challenge=None, code_challenge_method=None),
        redirected("invalid_request", 9002325, to=SPA_CB)),
    row("A24-query-with-id_token", lambda f: f.authorize(FAB_WEB, response_type="id_token", nonce="n",
                                                         response_mode="query"),
        redirected("invalid_request", 70007, to=WEB_CB)),
    row("A24-unknown-mode", lambda f: f.authorize(FAB_WEB, response_mode="bogus"),
        redirected("invalid_request", 70007, to=WEB_CB)),
    row("A25", lambda f: f.sign_in(FAB_WEB, response_mode="form_post", state=XSS), _form_post),
    row("A25-loopback-port", lambda f: f.sign_in(FAB_PUBLIC, redirect_uri="http://127.0.0.1:53123/loopback",
                                                 response_mode="form_post"), _form_action("http://127.0.0.1:53123")),
    # A26: our choice is 9002313 (catalogue MALFORMED_REQUEST), redirected.
    row("A26-negative", lambda f: f.authorize(FAB_WEB, max_age="-1"),
        redirected("invalid_request", 9002313, to=WEB_CB)),
    row("A26-huge", lambda f: f.authorize(FAB_WEB, max_age="1e30"),
        redirected("invalid_request", 9002313, to=WEB_CB)),
    row("A27", lambda f: f.authorize(FAB_WEB, method="POST"), sign_in_page),
    row("A28-unregistered", _logout("https://evil.example/"), _logout_refused),
    row("A28-registered", _logout(WEB_CB), _logout_redirected),
    # A28: the same matcher as /authorize (mockidp/oauth/redirects.py), so the localhost port is free ...
    row("A28-localhost-port", _logout_to("http://localhost:53123"), _logout_redirected_to("http://localhost:53123")),
    # ... and nothing a browser reads differently is followed.
    row("A28-backslash-userinfo", _logout_to("http://127.0.0.1:18998\\@localhost"), _logout_refused),
    row("A28-userinfo", _logout_to("http://evil@localhost:5000/callback"), _logout_refused),
    row("A28-host-case", _logout_to("http://LOCALHOST:5000/callback"), _logout_refused),
    row("A28-tab", _logout_to("http://localhost:5000/callback\t"), _logout_refused),
    row("A28-other-client", _logout_to(WEB_CB), _logout_refused),
    row("A29", _login_brute_force, page_shows(50053)),
    # A29: Entra's smart lockout (catalogue ACCOUNT_LOCKED): 60 s after 10 failures, then one more
    # failure locks again, for longer (120 s); a sign-in resets the count.
    row("A29-locked-at-59s", _locked_then(59), page_shows(50053)),
    row("A29-lifted-after-60s", _locked_then(60), issued_code),
    row("A29-one-more-failure-locks-again", _locked_then(60, 0, wrong_after_first=True), page_shows(50053)),
    row("A29-second-lock-is-longer", _locked_then(60, 119, wrong_after_first=True), page_shows(50053)),
    row("A29-second-lock-lifts", _locked_then(60, 120, wrong_after_first=True), issued_code),
    row("A29-success-resets-the-count", _success_resets_the_count, issued_code),
]


@pytest.mark.parametrize(("step", "check"), AUTHORIZE_CASES)
def test_authorize_and_login(flow: Flow, step: Step, check: Check) -> None:
    run(flow, step, check)


def test_A5_query_string_redirect_uri_on_a_personal_account_app_is_refused_at_seed_time(tmp_path: Path) -> None:
    seed = tmp_path / "personal.yaml"
    seed.write_text(f"""
tenants:
  - tenantId: {UNKNOWN_TENANT}
    displayName: Personal
    applications:
      - displayName: personalApp
        signInAudience: AzureADandPersonalMicrosoftAccount
        api: {{requestedAccessTokenVersion: 2}}
        web: {{redirectUris: ["https://app.example/cb?tenant=1"]}}
""")
    with pytest.raises(SeedError) as caught:
        load_seed([seed])
    assert "redirectUris" in str(caught.value)


# --- K: authorization-code redemption ---------------------------------------------------------------

def _redeem_twice(wait: int) -> Step:
    def step(f: Flow) -> httpx.Response:
        code = f.code(FAB_WEB)
        token_ok(f.redeem(FAB_WEB, code))
        f.h.clock.advance(wait)
        return f.redeem(FAB_WEB, code)
    return step


def _first_tokens_survive_reuse(f: Flow) -> httpx.Response:
    code = f.code(FAB_WEB)
    first = f.redeem(FAB_WEB, code).json()
    token_error("invalid_grant", 54005)(f.redeem(FAB_WEB, code))
    return f.refresh(FAB_WEB, first["refresh_token"])  # no revocation is documented for Entra


def _redeem(app: App = FAB_WEB, *, by: App | None = None, after: int = 0, **overrides: str | None) -> Step:
    """Sign in with `app`, wait `after` seconds, then redeem the code as `by` (default: app itself)."""
    def step(f: Flow) -> httpx.Response:
        code = f.code(app)
        f.h.clock.advance(after)
        return f.redeem(by or app, code, **overrides)
    return step


def _spa_code_without_origin(f: Flow) -> httpx.Response:
    return f.redeem(FAB_SPA, f.code(FAB_SPA), origin=None)


def _verifier_retry(f: Flow) -> httpx.Response:
    code = f.code(FAB_SPA)
    token_error("invalid_grant", 501481)(f.redeem(FAB_SPA, code, code_verifier="w" * 43))
    return f.redeem(FAB_SPA, code)  # a failed verifier does not burn the code


def _garbage_code(code: str) -> Step:
    return lambda f: f.redeem(FAB_WEB, code)


REPORTING_APP = App(TENANT, REPORTING, TC_WEB.redirect_uri, TC_WEB.scope, ALICE, secret=REPORTING_SECRET)
FOREIGN_SECRET = replace(TC_WEB, secret=REPORTING_SECRET)

CODE_CASES = [
    row("K1-immediately", _redeem_twice(0), token_error("invalid_grant", 54005)),
    row("K1-after-30s", _redeem_twice(30), token_error("invalid_grant", 54005)),
    row("K2", _first_tokens_survive_reuse, token_ok),
    # K3: a code of another client is 70000 (catalogue INVALID_CODE); another client's secret fails
    # client authentication first.
    row("K3-other-client", _redeem(TC_WEB, by=REPORTING_APP), token_error("invalid_grant", 70000)),
    row("K3-other-credentials", _redeem(TC_WEB, by=FOREIGN_SECRET), token_error("invalid_client", 7000215, 401)),
    row("K4-trailing-slash", _redeem(redirect_uri=WEB_CB + "/"),
        token_error("invalid_client", 70002, 401, wrapped=50011)),
    row("K4-other-registered", _redeem(redirect_uri="https://app.example/other"),
        token_error("invalid_client", 70002, 401, wrapped=50011)),
    row("K5", _redeem(redirect_uri=None), token_error("invalid_request", 900144)),
    row("K6", _redeem(after=601), token_error("invalid_grant", 70008)),
    row("K6-within-10-minutes", _redeem(after=599), token_ok),
    row("K7", _redeem(TC_WEB, tenant=FAB), token_error("invalid_grant", 700005)),
    row("K8", _redeem(FAB_SPA, code_verifier="w" * 43), token_error("invalid_grant", 501481)),
    row("K9", _redeem(FAB_SPA, code_verifier=None), token_error("invalid_grant", 501481)),
    row("K10-42-chars", _redeem(FAB_SPA, code_verifier=VERIFIER[:42]), token_error("invalid_grant", 501481)),
    row("K10-129-chars", _redeem(FAB_SPA, code_verifier=VERIFIER * 3), token_error("invalid_grant", 501481)),
    row("K10-illegal-chars", _redeem(FAB_SPA, code_verifier=VERIFIER[:-1] + "+"),
        token_error("invalid_grant", 501481)),
    # K11 [verify]: the entra profile accepts a verifier when no challenge was sent (a downgrade).
    row("K11", _redeem(code_verifier=VERIFIER), token_ok),
    # K12 [verify]: our choice: a wrong verifier does not burn the code; the right one still works.
    row("K12", _verifier_retry, token_ok),
    # K13: garbage is 9002313 (catalogue MALFORMED_REQUEST: invalid_grant for a code that is not one,
    # invalid_request for an unreadable body); an empty value counts as absent (900144).
    row("K13-empty", _garbage_code(""), token_error("invalid_request", 900144)),
    row("K13-10kb", _garbage_code("c" * 10240), token_error("invalid_grant", 9002313)),
    row("K13-nul", _garbage_code("abc\x00def"), token_error("invalid_request", 9002313)),
    row("K13-non-ascii", _garbage_code("cöde-☃"), token_error("invalid_grant", 9002313)),
    row("K14", _redeem(scope="api://fabApi/write"),
        token_error("invalid_grant", 65001, suberror="consent_required")),
    row("K15-spa-without-origin", _spa_code_without_origin, token_error("invalid_request", 9002327)),
    row("K15-web-cross-origin", _redeem(origin="https://evil.example"), token_error("invalid_request", 9002326)),
]


@pytest.mark.parametrize(("step", "check"), CODE_CASES)
def test_code_redemption(flow: Flow, step: Step, check: Check) -> None:
    run(flow, step, check)


# --- R: refresh tokens ------------------------------------------------------------------------------

def _refresh(app: App = FAB_WEB, *, by: App | None = None, after: int = 0, **overrides: str | None) -> Step:
    def step(f: Flow) -> httpx.Response:
        rt = f.tokens(app)["refresh_token"]
        f.h.clock.advance(after)
        return f.refresh(by or app, rt, **overrides)
    return step


def _old_rt_after_rotation(f: Flow) -> httpx.Response:
    rt1 = f.tokens(FAB_WEB)["refresh_token"]
    rotated = f.refresh(FAB_WEB, rt1)
    token_ok(rotated)
    assert rotated.json()["refresh_token"] != rt1
    return f.refresh(FAB_WEB, rt1)


def _other_resource(r: httpx.Response) -> None:
    token_ok(r)
    claims = claims_of(r.json()["access_token"])
    assert claims["aud"] in (FAB_API_ID, "api://fabApi") and claims["scp"] == "read"


def _spa_after_24h(f: Flow) -> httpx.Response:
    rt1 = f.tokens(FAB_SPA)["refresh_token"]
    f.h.clock.advance(23 * HOUR)
    rotated = f.refresh(FAB_SPA, rt1)
    token_ok(rotated)
    f.h.clock.advance(2 * HOUR)
    return f.refresh(FAB_SPA, rotated.json()["refresh_token"])  # refreshing did not extend the 24 h


def _sliding_inactivity(f: Flow) -> httpx.Response:
    rt = f.tokens(FAB_WEB)["refresh_token"]
    for _ in range(2):
        f.h.clock.advance(89 * DAY)
        token_ok(f.refresh(FAB_WEB, rt))
    return f.refresh(FAB_WEB, rt)


def _revoked(f: Flow) -> httpx.Response:
    # There is no HTTP admin API: revoke through the artefact store, as Graph's revokeSignInSessions.
    rt = f.tokens(FAB_WEB)["refresh_token"]
    f.h.clock.advance(1)
    f.services.artefacts.revoke_sign_in_sessions(f.user_id(DAN, FAB), now=f.h.clock.now())
    return f.refresh(FAB_WEB, rt)


def _revoked_by_cli(f: Flow) -> httpx.Response:
    # `mockidp revoke` on the same database. It revokes as of the wall clock, which is after the
    # harness's frozen 2026-01-01, so the token signed in "then" was issued before the revocation.
    rt = f.tokens(FAB_WEB)["refresh_token"]
    assert cli.main(["revoke", DAN[0], "--data-dir", str(f.h.settings.data_dir)]) == 0
    return f.refresh(FAB_WEB, rt)


def _garbage_rt(rt: str) -> Step:
    return lambda f: f.refresh(FAB_WEB, rt)


REFRESH_CASES = [
    # R1: the entra profile leaves the old refresh token valid after rotation.
    row("R1", _old_rt_after_rotation, token_ok),
    # R2: another client's refresh token is 9002313 invalid_grant (catalogue MALFORMED_REQUEST).
    row("R2", _refresh(TC_WEB, by=REPORTING_APP), token_error("invalid_grant", 9002313)),
    row("R3", _refresh(scope="api://fabApi/read offline_access"), _other_resource),
    row("R4", _refresh(scope="api://fabApi/write"), token_error("invalid_grant", 65001, suberror="consent_required")),
    row("R5", _spa_after_24h, token_error("invalid_grant", 700084)),
    row("R5-first-token", _refresh(FAB_SPA, after=DAY + 1), token_error("invalid_grant", 700084)),
    row("R5-spa-without-origin", _refresh(FAB_SPA, origin=None), token_error("invalid_request", 9002327)),
    row("R6", _refresh(after=90 * DAY + 1), token_error("invalid_grant", 700082, suberror="bad_token")),
    row("R6-window-slides", _sliding_inactivity, token_ok),
    row("R7", _revoked, token_error("invalid_grant", 50173)),
    row("R7-cli", _revoked_by_cli, token_error("invalid_grant", 50173)),
    # R8 (a password change revokes refresh tokens): a new password is set over Graph, so the case is in
    # tests/graph/test_graph_people.py (a created user ... gets a new password: the earlier refresh token, 50173).
    row("R9-empty", _garbage_rt(""), token_error("invalid_request", 900144)),
    row("R9-50kb", _garbage_rt("r" * 50_000), token_error("invalid_grant", 9002313)),
    row("R9-base64-junk", _garbage_rt(base64.b64encode(b"\x00junk" * 40).decode()),
        token_error("invalid_grant", 9002313)),
    # R10 (16 parallel refreshes) is in tests/serving/test_races.py.
]


@pytest.mark.parametrize(("step", "check"), REFRESH_CASES)
def test_refresh_tokens(flow: Flow, step: Step, check: Check) -> None:
    run(flow, step, check)


# --- D: device code ---------------------------------------------------------------------------------

def _poll_pending(times: int) -> Step:
    def step(f: Flow) -> httpx.Response:
        device_code = f.device_start(TC_DEVICE)["device_code"]
        for _ in range(times - 1):  # as fast as possible: Entra keeps answering pending, no slow_down
            token_error("authorization_pending", 70016)(f.poll(TC_DEVICE, device_code))
        return f.poll(TC_DEVICE, device_code)
    return step


def _poll_expired(f: Flow) -> httpx.Response:
    device_code = f.device_start(TC_DEVICE)["device_code"]
    f.h.clock.advance(901)
    return f.poll(TC_DEVICE, device_code)


def _declined(f: Flow) -> httpx.Response:
    started = f.device_start(FAB_DEVICE)
    consent = f.device_sign_in(FAB_DEVICE, started["user_code"])
    assert is_form(consent, "/_mockidp/consent"), consent.text[:500]
    f.submit(consent, "/_mockidp/consent", decision="decline")
    return f.poll(FAB_DEVICE, started["device_code"])


def _poll_by_other_client(f: Flow) -> httpx.Response:
    device_code = f.device_approved(TC_DEVICE)
    token_error("bad_verification_code", 70018)(f.poll(REPORTING_APP, device_code))
    return f.poll(TC_DEVICE, device_code)  # the rightful client is not locked out


def _poll_after_success(f: Flow) -> httpx.Response:
    device_code = f.device_approved(TC_DEVICE)
    token_ok(f.poll(TC_DEVICE, device_code))
    return f.poll(TC_DEVICE, device_code)


def _user_code_again(f: Flow) -> httpx.Response:
    started = f.device_start(TC_DEVICE)
    f.device_sign_in(TC_DEVICE, started["user_code"])
    return f.device_enter(started["user_code"])


def _second_device_code(f: Flow) -> httpx.Response:
    first, second = f.device_start(TC_DEVICE), f.devicecode(TC_DEVICE)
    assert second.json()["user_code"] != first["user_code"]
    return second


def _device_response_fields(r: httpx.Response) -> None:
    body = r.json()
    assert r.status_code == 200
    assert re.fullmatch(r"[A-Z0-9]{9}", body["user_code"]) and len(body["device_code"]) >= 43
    assert "verification_uri_complete" not in body
    assert body["verification_uri"].endswith("/device")
    assert body["expires_in"] == 900 and body["interval"] == 5
    assert body["user_code"] in body["message"] and body["verification_uri"] in body["message"]


def _device_consent_form(f: Flow) -> tuple[dict[str, Any], httpx.Response]:
    started = f.device_start(FAB_DEVICE)
    consent = f.device_sign_in(FAB_DEVICE, started["user_code"])
    assert is_form(consent, CONSENT), consent.text[:500]
    return started, consent


def _device_consent_after(between: Callable[[Flow], object]) -> Step:
    """The device flow's consent form is captured, `between` happens, the form is posted: the page
    refuses it and the device is still waiting."""
    def step(f: Flow) -> httpx.Response:
        started, consent = _device_consent_form(f)
        between(f)
        error_page(50089)(_accept(f, consent))
        return f.poll(FAB_DEVICE, started["device_code"])
    return step


def _device_login_expired(f: Flow) -> httpx.Response:
    started = f.device_start(TC_DEVICE)
    page = f.device_enter(started["user_code"])
    f.h.clock.advance(FLOW_LIFETIME + 1)  # the device code (15 minutes) still holds
    error_page(50089)(f.login(page, TC_DEVICE.user))
    return f.poll(TC_DEVICE, started["device_code"])


DEVICE_CASES = [
    row("D11-consent-after-sign-out", _device_consent_after(_sign_out), token_error("authorization_pending", 70016)),
    row("D11-consent-after-revoke", _device_consent_after(_revoke), token_error("authorization_pending", 70016)),
    row("D11-consent-expired", _device_consent_after(lambda f: f.h.clock.advance(FLOW_LIFETIME + 1)),
        token_error("authorization_pending", 70016)),
    row("D11-login-expired", _device_login_expired, token_error("authorization_pending", 70016)),
    row("D1", _poll_pending(1), token_error("authorization_pending", 70016)),
    row("D2", _poll_expired, token_error("expired_token", 70020)),
    # D3: authorization_declined carries 65004 (catalogue CONSENT_DECLINED: the code is our choice).
    row("D3", _declined, token_error("authorization_declined", 65004)),
    row("D4", lambda f: f.poll(TC_DEVICE, "no-such-device-code"), token_error("bad_verification_code", 70018)),
    row("D5", _poll_pending(5), token_error("authorization_pending", 70016)),
    row("D6", _poll_by_other_client, token_ok),
    row("D7", _poll_after_success, token_error("bad_verification_code", 70018)),
    row("D8-wrong-user-code", lambda f: f.device_enter("WRONGCODE"), page_shows(70018)),
    row("D8-empty-user-code", lambda f: f.device_enter(""), page_shows(90119)),
    # D8 entropy: 9 characters of a 32-letter alphabet (45 bits) per RFC 8628 §5.1; not rate limited.
    row("D8-user-code-entropy", _second_device_code, _device_response_fields),
    row("D9", _user_code_again, page_shows(90120)),
    row("D10", lambda f: f.devicecode(TC_DEVICE), _device_response_fields),
]


@pytest.mark.parametrize(("step", "check"), DEVICE_CASES)
def test_device_code(flow: Flow, step: Step, check: Check) -> None:
    run(flow, step, check)


# --- P: resource owner password credentials (ROPC) --------------------------------------------------

TC_ROPC = replace(TC_WEB, secret=None)  # testClient is isFallbackPublicClient
FAB_ROPC = replace(FAB_WEB, scope="openid")
HR_NO_SECRET = replace(HR, secret=None)


def _locked_out(f: Flow, *, wait: int = 0) -> httpx.Response:
    for i in range(10):
        token_error("invalid_grant", 50126)(f.ropc(TC_ROPC, (ALICE[0], f"wrong-password-{i}")))
    f.h.clock.advance(wait)
    return f.ropc(TC_ROPC, ALICE)


def _locked_by_ropc_seen_on_the_page(f: Flow) -> httpx.Response:
    for i in range(10):
        token_error("invalid_grant", 50126)(f.ropc(FAB_ROPC, (DAN[0], f"wrong-password-{i}")))
    return f.sign_in(FAB_WEB)


ROPC_CASES = [
    row("P1", lambda f: f.ropc(TC_ROPC, (ALICE[0], "wrong-password")), token_error("invalid_grant", 50126)),
    not_modelled("P2", "MFA policies are not modelled"),
    row("P3-unknown-user", lambda f: f.ropc(TC_ROPC, ("nobody@contoso.onmicrosoft.com", "x")),
        token_error("invalid_grant", 50034)),
    row("P3-other-tenant", lambda f: f.ropc(TC_ROPC, DAN), token_error("invalid_grant", 50020)),
    row("P4-disabled", lambda f: f.ropc(FAB_ROPC, CAROL), token_error("invalid_grant", 50057)),
    row("P4-locked", _locked_out, token_error("invalid_grant", 50053)),
    row("P4-locked-at-59s", lambda f: _locked_out(f, wait=59), token_error("invalid_grant", 50053)),
    row("P4-lifted-after-60s", lambda f: _locked_out(f, wait=60), token_ok),
    row("P4-one-lock-for-page-and-grant", _locked_by_ropc_seen_on_the_page, page_shows(50053)),
    row("P5", lambda f: f.ropc(HR, BOB), token_error("invalid_grant", 50105)),
    row("P5-assigned-through-group", lambda f: f.ropc(HR, ALICE), token_ok),
    row("P6", lambda f: f.ropc(HR_NO_SECRET, ALICE), token_error("invalid_client", 7000218, 401)),
    row("P-common", lambda f: f.ropc(TC_ROPC, ALICE, tenant="common"), token_error("invalid_request", 9001023)),
]


@pytest.mark.parametrize(("step", "check"), ROPC_CASES)
def test_ropc(flow: Flow, step: Step, check: Check) -> None:
    run(flow, step, check)


# --- N: tenant isolation ----------------------------------------------------------------------------

TC_DAEMON = {"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
             "scope": f"api://{BACKEND2}/.default"}
FAB_MULTI = App(TENANT, FAB_MULTI_ID, "http://localhost/multi", "openid profile", ALICE)
ODD_TENANTS = {"dotdot-slash": "..%2f", "dotdot": "%2e%2e", "10kb": "t" * 10240, "unicode": "t%C3%A9nant",
               "nul": "%00"}


def _guest_sign_in(f: Flow) -> httpx.Response:
    return f.sign_in(FAB_WEB, user=ALICE)


def _rt_at_other_tenant(f: Flow) -> httpx.Response:
    return f.refresh(TC_WEB, f.tokens(TC_WEB)["refresh_token"], tenant=FAB)


def _organizations(f: Flow) -> httpx.Response:
    # /organizations serves multi-tenant apps only (single-tenant ones get 50194, row N2): fabMulti, Dan.
    response = f.ropc(FAB_MULTI, DAN, tenant="organizations", scope="openid profile")
    token_ok(response)
    for token in (response.json()["access_token"], response.json()["id_token"]):
        claims = claims_of(token)
        assert claims["tid"] == FAB and FAB in claims["iss"], claims
    return f.client.get("/common/v2.0/.well-known/openid-configuration")


def _issuer_template(r: httpx.Response) -> None:
    assert r.status_code == 200 and "{tenantid}" in r.json()["issuer"]


def _odd(suffix: str, segment: str) -> list[Any]:
    return [
        row(f"N7-{suffix}-token", lambda f: f.client.post(f"/{segment}/oauth2/v2.0/token", data=TC_DAEMON),
            status_400),
        row(f"N7-{suffix}-authorize", lambda f: f.client.get(
            f"/{segment}/oauth2/v2.0/authorize?{urlencode(TC_WEB.authorize_params())}"), status_400),
    ]


TENANT_CASES = [
    row("N1-token", lambda f: f.token(TC_DAEMON, tenant=FAB), token_error("unauthorized_client", 700016)),
    row("N1-authorize", lambda f: f.authorize(TC_WEB, tenant=FAB), error_page(700016)),
    row("N2", lambda f: f.authorize(TC_WEB, tenant="common"), error_page(50194)),
    # N3 [verify exact]: a multi-tenant app never consented in the user's tenant. Non-interactively
    # Entra answers 65001; interactively it signs the user in and asks for consent.
    row("N3-ropc", lambda f: f.ropc(FAB_MULTI, ALICE),
        token_error("invalid_grant", 65001, suberror="consent_required")),
    row("N3-authorize", lambda f: f.authorize(FAB_MULTI), sign_in_page),
    row("N4", lambda f: f.ropc(TC_ROPC, ALICE, scope="api://fabApi/read"), token_error("invalid_resource", 500011)),
    row("N5", _guest_sign_in, page_shows(50020)),
    row("N6-authorize", lambda f: f.authorize(TC_WEB, tenant=UNKNOWN_TENANT), error_page(90002)),
    row("N6-token", lambda f: f.token(TC_DAEMON, tenant=UNKNOWN_TENANT), token_error("invalid_request", 90002)),
    row("N6-domain", lambda f: f.token(TC_DAEMON, tenant="nowhere.example.com"),
        token_error("invalid_request", 90002)),
    *(case for suffix, segment in ODD_TENANTS.items() for case in _odd(suffix, segment)),
    row("N8-code", _redeem(TC_WEB, tenant=FAB), token_error("invalid_grant", 700005)),
    # N8: a refresh token of another tenant is 9002313 invalid_grant (catalogue MALFORMED_REQUEST).
    row("N8-refresh-token", _rt_at_other_tenant, token_error("invalid_grant", 9002313)),
    row("N9", _organizations, _issuer_template),
    # N10 [verify]: our choice: GUIDs and domains are case-insensitive.
    row("N10-guid", lambda f: f.token(TC_DAEMON, tenant=TENANT.upper()), token_ok),
    row("N10-domain", lambda f: f.token(TC_DAEMON, tenant="Contoso.OnMicrosoft.COM"), token_ok),
    row("N10-authorize", lambda f: f.authorize(TC_WEB, tenant=TENANT.upper()), sign_in_page),
]


@pytest.mark.parametrize(("step", "check"), TENANT_CASES)
def test_tenant_isolation(flow: Flow, step: Step, check: Check) -> None:
    run(flow, step, check)


# --- X5: stored data stays bounded under repeated flows ---------------------------------------------

def count(f: Flow, table: str) -> int:
    with f.services.artefacts.engine.connect() as conn:
        return int(conn.execute(sqlalchemy.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def _kept(lifetime: float, step: float) -> int:
    """Rows a table can hold when one is added every `step` seconds and each is purged once `lifetime`
    plus its grace (artefacts.py) is over; the purge runs at most every PURGE_EVERY seconds."""
    return math.ceil((lifetime + PURGE_EVERY) / step) + 1


def _codes_never_redeemed(f: Flow) -> tuple[str, int]:
    f.sign_in(FAB_WEB)  # one sign-in; then the live session answers every authorize with a code
    for _ in range(300):
        f.h.clock.advance(60)
        issued_code(f.authorize(FAB_WEB))
    return "authorization_code", _kept(CODE_LIFETIME + EXPIRED_ARTEFACTS_KEPT, 60)


def _device_codes_never_approved(f: Flow) -> tuple[str, int]:
    for _ in range(300):
        f.h.clock.advance(60)
        f.device_start(TC_DEVICE)
    return "device_code", _kept(DEVICE_CODE_LIFETIME + EXPIRED_ARTEFACTS_KEPT, 60)


def _refresh_chain(f: Flow) -> tuple[str, int]:
    rt = f.tokens(FAB_WEB)["refresh_token"]
    for _ in range(300):  # each refresh rotates; the old token stays valid until 90 idle days are over
        f.h.clock.advance(DAY)
        response = f.refresh(FAB_WEB, rt)
        token_ok(response)
        rt = response.json()["refresh_token"]
    return "refresh_token", _kept(REFRESH_IDLE_LIFETIME + EXPIRED_REFRESH_TOKENS_KEPT, DAY)


def _spa_sign_ins(f: Flow) -> tuple[str, int]:
    for _ in range(100):  # a new SPA chain every 6 hours, refreshed twice: each chain ends 24 h after its start
        f.h.clock.advance(6 * HOUR)
        rt = f.tokens(FAB_SPA)["refresh_token"]
        for _ in range(2):
            response = f.refresh(FAB_SPA, rt)
            token_ok(response)
            rt = response.json()["refresh_token"]
    return "refresh_token", 3 * _kept(SPA_REFRESH_LIFETIME + EXPIRED_REFRESH_TOKENS_KEPT, 6 * HOUR)


def _consents(f: Flow) -> tuple[str, int]:
    for i in range(200):
        scope = "api://fabApi/read" if i % 2 else "api://fabApi/write"
        page = f.sign_in(replace(FAB_WEB, scope=f"{scope} openid"), prompt="consent")
        assert is_form(page, "/_mockidp/consent"), page.text[:500]
        issued_code(f.submit(page, "/_mockidp/consent", decision="accept"))
    with f.services.artefacts.engine.connect() as conn:
        rows = conn.execute(sqlalchemy.text("SELECT scopes FROM user_consent")).all()
    assert len(rows) == 1, f"user_consent: {len(rows)} rows for one user, client and resource"
    [(scopes,)] = rows
    assert sorted(json.loads(scopes) if isinstance(scopes, str) else scopes) == ["read", "write"]  # the union
    return "user_consent", 1


def _sign_ins_in_one_browser(f: Flow) -> tuple[str, int]:
    for _ in range(200):
        f.h.clock.advance(60)
        issued_code(f.sign_in(FAB_WEB, prompt="login"))
    return "sign_in_session", 1  # each sign-in ends the browser's previous session


def _sign_ins_in_new_browsers(f: Flow) -> tuple[str, int]:
    for _ in range(MAX_SESSIONS_PER_USER + 50):
        f.client.cookies.clear()  # a new browser each time (a script that keeps no cookies)
        f.h.clock.advance(60)
        issued_code(f.sign_in(FAB_WEB))
    return "sign_in_session", MAX_SESSIONS_PER_USER


STORAGE_CASES = [
    pytest.param(_codes_never_redeemed, id="X5-codes-never-redeemed"),
    pytest.param(_device_codes_never_approved, id="X5-device-codes-never-approved"),
    pytest.param(_refresh_chain, id="X5-refresh-tokens-rotated-daily-for-300-days"),
    pytest.param(_spa_sign_ins, id="X5-spa-refresh-tokens"),
    pytest.param(_consents, id="X5-consent-accepted-200-times"),
    pytest.param(_sign_ins_in_one_browser, id="X5-sign-ins-in-one-browser"),
    pytest.param(_sign_ins_in_new_browsers, id="X5-sign-ins-in-new-browsers"),
]


@pytest.mark.parametrize("repeat", STORAGE_CASES)
def test_stored_rows_stay_bounded(flow: Flow, repeat: Callable[[Flow], tuple[str, int]]) -> None:
    table, bound = repeat(flow)
    rows = count(flow, table)
    assert 0 < rows <= bound, f"{table}: {rows} rows, at most {bound} expected"


def rows_in(engine: sqlalchemy.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sqlalchemy.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


ARTEFACT_TABLES = ("authorization_code", "device_code", "refresh_token", "sign_in_session")


def store_artefacts(artefacts: Artefacts, prefix: str, count: int, *, now: float) -> None:
    """`count` rows of each kind, written through the store as the flows write them, as of `now`."""
    for i in range(count):
        value = f"{prefix}-{i}"
        artefacts.save_code(value, tenant_id=FAB, client_id=FAB_WEB_ID, user_id="u", redirect_uri=WEB_CB, now=now,
                            lifetime=CODE_LIFETIME, data={})
        artefacts.save_device_code(value, user_code=value[-32:], tenant_id=FAB, client_id=FAB_DEVICE_ID, now=now,
                                   lifetime=DEVICE_CODE_LIFETIME, data={})
        artefacts.save_refresh_token(value, tenant_id=FAB, client_id=FAB_WEB_ID, user_id="u", now=now,
                                     spa=i % 2 == 0, data={})
        artefacts.save_session(value, tenant_id=FAB, user_id=f"u{i}", sid=value, now=now, lifetime=DAY)


def test_X5_each_worker_purges_expired_artefacts_on_a_schedule(signing_dir: Path, tmp_path: Path) -> None:
    """No request needed: the worker's lifespan task purges, as of the injectable clock."""
    for name in ("signing-key.pem", "signing-cert.pem"):
        if (signing_dir / name).exists():
            shutil.copy(signing_dir / name, tmp_path / name)
    clock = FrozenClock(FROZEN_AT)
    app = create_app(Settings(seed=[DEMO_SEED], data_dir=tmp_path, tls=False), clock=clock, ids=SequentialIds(),
                     purge_every=0.05)
    artefacts = app.state.runtime.services.artefacts
    with TestClient(app, base_url="https://localhost:8443"):
        store_artefacts(artefacts, "old", 20, now=clock.now())
        assert [rows_in(artefacts.engine, table) for table in ARTEFACT_TABLES] == [20, 20, 20, 20]
        clock.advance(REFRESH_IDLE_LIFETIME + EXPIRED_REFRESH_TOKENS_KEPT + DAY)
        deadline = time.monotonic() + 20
        while any(rows_in(artefacts.engine, table) for table in ARTEFACT_TABLES) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [rows_in(artefacts.engine, table) for table in ARTEFACT_TABLES] == [0, 0, 0, 0]


def purge_by_two_workers_at_once(database_url: str) -> None:
    """Two workers (two engines: two connection pools, as two processes have) purge at the same moment,
    20 times each, while a third writes live rows: no error, every expired row gone, every live one kept."""
    schema = make_engine(database_url)
    Store(schema).create_schema()
    schema.dispose()
    workers = [Artefacts(make_engine(database_url)) for _ in range(3)]
    now = FROZEN_AT + 200 * DAY
    store_artefacts(workers[0], "expired", 50, now=FROZEN_AT)
    barrier = threading.Barrier(3)

    def purge(artefacts: Artefacts) -> None:
        barrier.wait()
        for _ in range(20):
            artefacts.purge_expired(now=now)

    def write() -> None:
        barrier.wait()
        store_artefacts(workers[2], "live", 30, now=now)

    with ThreadPoolExecutor(3) as pool:
        for future in [pool.submit(purge, workers[0]), pool.submit(purge, workers[1]), pool.submit(write)]:
            future.result()  # re-raises a worker's error
    assert [rows_in(workers[0].engine, table) for table in ARTEFACT_TABLES] == [30, 30, 30, 30]
    for artefacts in workers:
        artefacts.engine.dispose()


def consent_by_many_workers_at_once(database_url: str) -> None:
    """Eight workers record one user's consent to the same client and resource at once, each with its own
    scope: one row holding the union."""
    schema = make_engine(database_url)
    Store(schema).create_schema()
    schema.dispose()
    workers = [Artefacts(make_engine(database_url)) for _ in range(8)]
    barrier = threading.Barrier(len(workers))

    def consent(i: int) -> None:
        barrier.wait()
        workers[i].record_consent(tenant_id=FAB, client_sp_id="client", resource_sp_id="resource", user_id="u",
                                  scopes=[f"scope{i}"])

    with ThreadPoolExecutor(len(workers)) as pool:
        for future in [pool.submit(consent, i) for i in range(len(workers))]:
            future.result()
    assert rows_in(workers[0].engine, "user_consent") == 1
    assert workers[0].user_consented_scopes(client_sp_id="client", resource_sp_id="resource", user_id="u") == {
        f"scope{i}" for i in range(len(workers))}
    for artefacts in workers:
        artefacts.engine.dispose()


def test_X5_purge_by_two_workers_at_once_is_safe(tmp_path: Path) -> None:
    purge_by_two_workers_at_once(f"sqlite:///{tmp_path / 'mockidp.db'}")


def test_X5_consent_by_concurrent_workers_is_one_row(tmp_path: Path) -> None:
    consent_by_many_workers_at_once(f"sqlite:///{tmp_path / 'mockidp.db'}")
