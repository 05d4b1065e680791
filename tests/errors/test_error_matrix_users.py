"""The exact Entra body for each token-endpoint error of the user grants (the trace id is read back,
the correlation id is ours, the clock frozen). Messages are written out: this table is the spec."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mockidp.testing import forms
from tests.conftest import BACKEND2, CLIENT, CLIENT_SECRET, TENANT, Harness

CORRELATION = "12345678-1234-4234-8234-123456789abc"
ALICE, BOB = "alice@contoso.onmicrosoft.com", "bob@contoso.onmicrosoft.com"
HR = "5a7c3e9b-2d4f-4b6a-8c1e-0f9d8b7a6c5e"
SCOPE = f"api://{BACKEND2}/access_as_user offline_access openid"
REDIRECT = "http://localhost:5000/callback"


def ropc(h: Harness, user: str = ALICE, password: str = "alice-password-1", **extra: str) -> Any:
    return h.token(forms.password(CLIENT, user, password, scope=SCOPE, **extra),
                   headers={"client-request-id": CORRELATION})


def code_for(h: Harness, **extra: str) -> str:
    page = h.client.get(forms.authorize_path(TENANT), params={
        "client_id": CLIENT, "response_type": "code", "redirect_uri": REDIRECT, "scope": SCOPE, **extra})
    fields = forms.hidden_fields(page.text)
    done = h.client.post("/_mockidp/login", data={**fields, "username": ALICE, "password": "alice-password-1"},
                         follow_redirects=False)
    return forms.code_of(done.headers["location"])


def redeem(h: Harness, code: str, **extra: str) -> Any:
    form = {**forms.authorization_code(CLIENT, code, REDIRECT, scope=SCOPE, secret=CLIENT_SECRET), **extra}
    return h.token(form, headers={"client-request-id": CORRELATION})


def refresh(h: Harness, rt: str) -> Any:
    return h.token(forms.refresh_token(CLIENT, rt, scope=SCOPE), headers={"client-request-id": CORRELATION})


def device(h: Harness) -> str:
    return str(h.client.post(forms.devicecode_path(TENANT), data={"client_id": CLIENT, "scope": SCOPE})
               .json()["device_code"])


def poll(h: Harness, code: str) -> Any:
    return h.token(forms.device_code(CLIENT, code), headers={"client-request-id": CORRELATION})


def reused(h: Harness) -> Any:
    code = code_for(h)
    redeem(h, code)
    return redeem(h, code)


def expired_code(h: Harness) -> Any:
    code = code_for(h)
    h.clock.advance(601)
    return redeem(h, code)


def idle_refresh(h: Harness) -> Any:
    rt = ropc(h).json()["refresh_token"]
    h.clock.advance(91 * 86400)
    return refresh(h, rt)


def locked_out(h: Harness) -> Any:
    """Wrong passwords until Entra stops saying 50126, then the right one (the threshold is the lockout rule's)."""
    for _ in range(50):
        if ropc(h, password="wrong").json()["error_codes"] != [50126]:
            break
    return ropc(h)


def revoked(h: Harness) -> Any:
    rt = ropc(h).json()["refresh_token"]
    alice = h.app.state.runtime.services.directory.user_by_upn(TENANT, ALICE)
    h.app.state.runtime.services.artefacts.revoke_sign_in_sessions(alice.id, now=h.clock.now() + 60)
    return refresh(h, rt)


def expired_device(h: Harness) -> Any:
    code = device(h)
    h.clock.advance(901)
    return poll(h, code)


ISSUED = "2026-01-01T00:00:00.0000000Z"
CONSENT = (f"The user or administrator has not consented to use the application with ID '{CLIENT}' named "
           "'testClient'. Send an interactive authorization request for this user and resource.")
ROWS: list[tuple[str, Callable[[Harness], Any], int, str, list[int], str, str | None]] = [
    ("54005", reused, 400, "invalid_grant", [54005], "OAuth2 Authorization code was already redeemed, please retry "
     "with a new valid code or use an existing refresh token.", None),
    ("70008", expired_code, 400, "invalid_grant", [70008], "The provided authorization code or refresh token has "
     "expired due to inactivity. Send a new interactive authorization request for this user and resource.", None),
    ("501481", lambda h: redeem(h, code_for(h, code_challenge="c" * 43), code_verifier="d" * 43), 400,
     "invalid_grant", [501481], "The Code_Verifier does not match the code_challenge supplied in the "
     "authorization request.", None),
    ("70002+50011", lambda h: redeem(h, code_for(h), redirect_uri="http://localhost:5000/other"), 401,
     "invalid_client", [70002, 50011], "Error validating credentials. AADSTS50011: The reply address "
     f"'http://localhost:5000/other' does not match the reply address '{REDIRECT}' provided when requesting "
     "Authorization code.", None),
    ("700082", idle_refresh, 400, "invalid_grant", [700082], "The refresh token has expired due to inactivity.\u00a0"
     f"The token was issued on {ISSUED} and was inactive for 90.00:00:00.", "bad_token"),
    ("50173", revoked, 400, "invalid_grant", [50173], "The provided grant has expired due to it being revoked, a "
     "fresh auth token is needed. The user might have changed or reset their password. The grant was issued on "
     f"'{ISSUED}' and the TokensValidFrom date (before which tokens are not valid) for this user is "
     "'2026-01-01T00:01:00.0000000Z'.", None),
    ("70016", lambda h: poll(h, device(h)), 400, "authorization_pending", [70016],
     "OAuth 2.0 device flow error. Authorization is pending. Continue polling.", None),
    ("70020", expired_device, 400, "expired_token", [70020], "The provided value for the input parameter "
     "'device_code' is not valid. This device code has expired.", None),
    ("70018", lambda h: poll(h, "no-such-device-code"), 400, "bad_verification_code", [70018],
     "Invalid verification code due to User typing in wrong user code for device code flow.", None),
    ("50053", locked_out, 400, "invalid_grant", [50053], "The account is locked, you've tried to sign in too many "
     "times with an incorrect user ID or password.", None),
    ("50126", lambda h: ropc(h, password="wrong"), 400, "invalid_grant", [50126],
     "Error validating credentials due to invalid username or password.", None),
    ("50034", lambda h: ropc(h, user="nobody@contoso.onmicrosoft.com"), 400, "invalid_grant", [50034],
     f"The user account {{EUII Hidden}} does not exist in the {TENANT} directory. To sign into this application, "
     "the account must be added to the directory.", None),
    ("50105", lambda h: h.token({"grant_type": "password", "client_id": HR, "client_secret": "hrPortal-secret-value-1",
                                 "username": BOB, "password": "bob-password-1", "scope": "openid"},
                                headers={"client-request-id": CORRELATION}),
     400, "invalid_grant", [50105], "Your administrator has configured the application hrPortal "
     f"('{HR}') to block users unless they are specifically granted ('assigned') access to the application. The "
     "signed in user '{EmailHidden}' is blocked because they are not a direct member of a group with access, nor "
     "had access directly assigned by an administrator. Please contact your administrator to assign access to "
     "this application.", None),
    ("65001", lambda h: h.token({"grant_type": "password", "client_id": CLIENT, "username": ALICE,
                                 "password": "alice-password-1",
                                 "scope": "api://contoso.onmicrosoft.com/testBackend1/.default"},
                                headers={"client-request-id": CORRELATION}),
     400, "invalid_grant", [65001], CONSENT, "consent_required"),
]


@pytest.mark.parametrize(("case", "act", "status", "error", "codes", "message", "suberror"), ROWS,
                         ids=[r[0] for r in ROWS])
def test_exact_error_body(harness: Harness, case, act, status, error, codes, message, suberror) -> None:  # type: ignore[no-untyped-def]
    r = act(harness)
    body = r.json()
    trace, stamp = body["trace_id"], body["timestamp"]
    expected: dict[str, Any] = {
        "error": error,
        "error_description": f"AADSTS{codes[0]}: {message} Trace ID: {trace} Correlation ID: {CORRELATION} "
                             f"Timestamp: {stamp}",
        "error_codes": codes,
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": CORRELATION,
        "error_uri": f"https://login.microsoftonline.com/error?code={codes[0]}",
    }
    if suberror:
        expected["suberror"] = suberror
    assert r.status_code == status
    assert r.text == json.dumps(expected, separators=(",", ":"), ensure_ascii=False)
    assert re.fullmatch(r"[0-9a-f-]{36}", trace) and r.headers["x-ms-request-id"] == trace
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z", stamp)


def test_authorize_errors_reach_the_client_with_entras_fields(harness: Harness) -> None:
    """prompt=none without a session: AADSTS50058 login_required, with error_uri and the state."""
    r = harness.client.get(f"/{TENANT}/oauth2/v2.0/authorize", params={
        "client_id": CLIENT, "response_type": "code", "redirect_uri": REDIRECT, "scope": SCOPE, "prompt": "none",
        "state": "s1"}, headers={"client-request-id": CORRELATION}, follow_redirects=False)
    fields = parse_qs(urlsplit(r.headers["location"]).query)
    assert r.status_code == 302 and list(fields) == ["error", "error_description", "error_uri", "state"]
    assert fields["error"] == ["login_required"] and fields["state"] == ["s1"]
    assert re.fullmatch(r"AADSTS50058: A silent sign-in request was sent but no user is signed in\. Trace ID: "
                        rf"[0-9a-f-]{{36}} Correlation ID: {CORRELATION} Timestamp: 2026-01-01 00:00:00Z",
                        fields["error_description"][0])
    assert fields["error_uri"] == ["https://login.microsoftonline.com/error?code=50058"]
    implicit = harness.client.get(f"/{TENANT}/oauth2/v2.0/authorize", params={
        "client_id": CLIENT, "response_type": "id_token", "redirect_uri": REDIRECT, "scope": "openid",
        "nonce": "n", "state": "s2"}, follow_redirects=False)
    fragment = parse_qs(urlsplit(implicit.headers["location"]).fragment)
    assert fragment["error"] == ["unsupported_response_type"]
    assert fragment["error_description"][0].startswith(
        "AADSTS700054: response_type 'id_token' is not enabled for the application. Trace ID: ")


def test_50105_error_page_shows_the_signed_in_users_address_under_entras_heading(harness: Harness) -> None:
    """Entra's own page names the user (catalogue USER_NOT_ASSIGNED captures); only bodies sent to clients hide it as
    {EmailHidden} (the 50105 row above). The heading has the typographic apostrophe."""
    page = harness.client.get(f"/{TENANT}/oauth2/v2.0/authorize", params={
        "client_id": HR, "response_type": "code", "redirect_uri": "http://localhost:5001/callback", "scope": "openid"})
    fields = dict(re.findall(r'name="(ctx|csrf)" value="([^"]+)"', page.text))
    r = harness.client.post("/_mockidp/login", data={**fields, "username": BOB, "password": "bob-password-1"},
                            follow_redirects=False)
    assert r.status_code == 400 and "location" not in r.headers
    assert "<h1>Sorry, but we\u2019re having trouble signing you in.</h1>" in r.text
    message = re.search(r'<p class="error" role="alert" id="message">([^<]*)</p>', r.text)
    assert message is not None
    assert html.unescape(message.group(1)) == (
        f"AADSTS50105: Your administrator has configured the application hrPortal ('{HR}') to block users unless "
        f"they are specifically granted ('assigned') access to the application. The signed in user '{BOB}' is "
        "blocked because they are not a direct member of a group with access, nor had access directly assigned by "
        "an administrator. Please contact your administrator to assign access to this application.")


def _authorize_error(h: Harness, scope: str) -> dict[str, list[str]]:
    r = h.client.get(f"/{TENANT}/oauth2/v2.0/authorize", params={
        "client_id": CLIENT, "response_type": "code", "redirect_uri": REDIRECT, "scope": scope, "state": "s"},
        headers={"client-request-id": CORRELATION}, follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"].startswith(REDIRECT + "?")
    return parse_qs(urlsplit(r.headers["location"]).query)


@pytest.mark.parametrize(("scope", "error", "code", "message"), [
    # A scope value the (known) resource does not define: 650053, sent back as invalid_client
    # (catalogue UNKNOWN_SCOPE captures).
    (f"api://{BACKEND2}/nothing openid", "invalid_client", 650053,
     f"The application 'testClient' asked for scope 'nothing' that doesn't exist on the resource '{BACKEND2}'. "
     "Contact the app vendor."),
    ("User.Read mailread", "invalid_client", 650053,
     "The application 'testClient' asked for scope 'mailread' that doesn't exist on the resource "
     "'00000003-0000-0000-c000-000000000000'. Contact the app vendor."),
    # A malformed scope, its resource neither a URI nor a GUID: 70011 invalid_scope with the format wording.
    ("contoso.example/read openid", "invalid_scope", 70011,
     "The provided request must include a 'scope' input parameter. The provided value for the input parameter "
     "'scope' is not valid. The scope contoso.example/read openid is not valid. The scope format is invalid. Scope "
     "must be in a valid URI form <https://example/scope> or a valid Guid <guid/scope>."),
], ids=["650053-known-resource", "650053-graph", "70011-malformed"])
def test_authorize_scope_errors_are_entras(harness: Harness, scope: str, error: str, code: int, message: str) -> None:
    fields = _authorize_error(harness, scope)
    assert list(fields) == ["error", "error_description", "error_uri", "state"]
    assert fields["error"] == [error] and fields["state"] == ["s"]
    assert fields["error_uri"] == [f"https://login.microsoftonline.com/error?code={code}"]
    assert re.fullmatch(re.escape(f"AADSTS{code}: {message} Trace ID: ") + r"[0-9a-f-]{36}" +
                        re.escape(f" Correlation ID: {CORRELATION} Timestamp: 2026-01-01 00:00:00Z"),
                        fields["error_description"][0]), fields["error_description"][0]
