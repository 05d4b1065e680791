"""The token endpoint speaks CORS as Entra does, so that a browser (MSAL Browser) can redeem the codes
and refresh tokens of `spa` redirect URIs: the preflight and every answer to a request with an Origin
header, success or error, carry Access-Control-Allow-Origin for that origin (the choice and its
evidence: mockidp/errors/catalogue.py, beside AADSTS9002326/9002327). Driven over HTTP in-process."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import httpx
import pytest

from mockidp.testing import forms
from mockidp.testing.entra import assert_entra_error
from mockidp.web.routes.signin import LOGIN
from tests.conftest import BACKEND2, CLIENT_SECRET, TENANT, Harness

SPA = "0f6d1e2c-3b4a-4c5d-9e8f-7a6b5c4d3e2f"  # spaApp of the demo seed
SPA_REDIRECT = "http://localhost:3000/redirect.html"
SPA_ORIGIN = "http://localhost:3000"
WEB_CLIENT = "1df771d6-ef9c-473e-af87-cafa8928e024"  # testClient: a web redirect URI
WEB_REDIRECT = "http://localhost:5000/callback"
SCOPE = f"api://{BACKEND2}/access_as_user openid profile offline_access"
VERIFIER, CHALLENGE = forms.RFC7636_VERIFIER, forms.RFC7636_CHALLENGE
ALICE = ("alice@contoso.onmicrosoft.com", "alice-password-1")
PATHS = [pytest.param(f"/{TENANT}/oauth2/v2.0/token", id="v2"), pytest.param(f"/{TENANT}/oauth2/token", id="v1")]
_HIDDEN = re.compile(r'name="(ctx|csrf)" value="([^"]*)"')


def code_for(h: Harness, client_id: str, redirect_uri: str) -> str:
    """The person signs in at /authorize (PKCE); the code the browser is sent back with."""
    params = {"client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri, "scope": SCOPE,
              "state": "s1", "code_challenge": CHALLENGE, "code_challenge_method": "S256"}
    done = h.client.get(f"/{TENANT}/oauth2/v2.0/authorize?{urlencode(params)}", follow_redirects=False)
    if done.status_code == 200:  # the sign-in page (a second sign-in is answered at once: SSO)
        fields = forms.hidden_fields(done.text)
        done = h.client.post(LOGIN, data={**fields, "username": ALICE[0], "password": ALICE[1]},
                             follow_redirects=False)
    assert done.status_code == 302, done.text[:300]
    return forms.code_of(done.headers["location"])


def redeem(h: Harness, code: str, *, origin: str | None, client_id: str = SPA, redirect_uri: str = SPA_REDIRECT,
           **extra: str) -> httpx.Response:
    data = forms.authorization_code(client_id, code, redirect_uri, scope=SCOPE, verifier=VERIFIER, **extra)
    return h.token(data, headers={"Origin": origin} if origin else None)


def refresh(h: Harness, rt: str, *, origin: str | None) -> httpx.Response:
    data = forms.refresh_token(SPA, rt, scope=SCOPE)
    return h.token(data, headers={"Origin": origin} if origin else None)


def assert_cors(r: httpx.Response, origin: str) -> None:
    assert r.headers.get("access-control-allow-origin") == origin, (r.status_code, dict(r.headers))
    assert "origin" in r.headers.get("vary", "").lower()
    exposed = [h.strip().lower() for h in r.headers.get("access-control-expose-headers", "").split(",")]
    assert "x-ms-request-id" in exposed  # MSAL Browser reads it (telemetry) and Retry-After (throttling)
    assert "retry-after" in exposed


def assert_no_cors(r: httpx.Response) -> None:
    assert "access-control-allow-origin" not in r.headers, dict(r.headers)


@pytest.mark.parametrize("path", PATHS)
def test_preflight_allows_the_callers_origin_method_and_headers(harness: Harness, path: str) -> None:
    """What Chromium sends before MSAL Browser's POST (X-AnchorMailbox is not a safelisted header)."""
    r = harness.client.options(path, headers={"Origin": SPA_ORIGIN, "Access-Control-Request-Method": "POST",
                                              "Access-Control-Request-Headers": "content-type,x-anchormailbox"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == SPA_ORIGIN
    assert r.headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert r.headers["access-control-allow-headers"] == "content-type,x-anchormailbox"
    assert r.headers["access-control-max-age"] == "86400"
    assert "origin" in r.headers["vary"].lower()
    assert "no-store" in r.headers["cache-control"]


def test_options_without_origin_is_no_preflight(harness: Harness) -> None:
    r = harness.client.options(f"/{TENANT}/oauth2/v2.0/token")
    assert r.status_code == 200 and r.headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert_no_cors(r)


def test_spa_code_and_refresh_token_answers_carry_the_origin(harness: Harness) -> None:
    tokens = redeem(harness, code_for(harness, SPA, SPA_REDIRECT), origin=SPA_ORIGIN)
    assert tokens.status_code == 200, tokens.text
    assert_cors(tokens, SPA_ORIGIN)
    refreshed = refresh(harness, tokens.json()["refresh_token"], origin=SPA_ORIGIN)
    assert refreshed.status_code == 200, refreshed.text
    assert_cors(refreshed, SPA_ORIGIN)


def test_any_origin_redeems_a_spa_code_and_is_the_one_allowed(harness: Harness) -> None:
    """Entra does not compare the Origin with the redirect URI; the answer names the caller's origin."""
    r = redeem(harness, code_for(harness, SPA, SPA_REDIRECT), origin="https://elsewhere.example")
    assert r.status_code == 200, r.text
    assert_cors(r, "https://elsewhere.example")


def test_errors_carry_the_origin_so_the_browser_can_read_them(harness: Harness) -> None:
    code = code_for(harness, SPA, SPA_REDIRECT)
    assert redeem(harness, code, origin=SPA_ORIGIN).status_code == 200
    again = redeem(harness, code, origin=SPA_ORIGIN)
    assert_entra_error(again, 54005, status=400, error="invalid_grant")
    assert_cors(again, SPA_ORIGIN)
    web = redeem(harness, code_for(harness, WEB_CLIENT, WEB_REDIRECT), origin=SPA_ORIGIN, client_id=WEB_CLIENT,
                 redirect_uri=WEB_REDIRECT, client_secret=CLIENT_SECRET)
    assert_entra_error(web, 9002326)  # unchanged: a web code is not redeemed cross-origin
    assert_cors(web, SPA_ORIGIN)
    unknown = harness.token({"grant_type": "nonsense", "client_id": SPA}, headers={"Origin": SPA_ORIGIN})
    assert_entra_error(unknown, 70003)
    assert_cors(unknown, SPA_ORIGIN)


def test_without_origin_nothing_changes(harness: Harness) -> None:
    r = redeem(harness, code_for(harness, SPA, SPA_REDIRECT), origin=None)
    assert_entra_error(r, 9002327)  # unchanged: an spa code needs a cross-origin request
    assert_no_cors(r)
