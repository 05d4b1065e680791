"""The test toolkit (mockidp/testing/) itself: each check fails where it should, on real mockidp answers
changed one field at a time and on bodies that are not Entra's at all."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import jwt
import pytest

from mockidp.testing import forms
from mockidp.testing.entra import assert_entra_error
from mockidp.testing.jwts import claims_of, header_of, verify
from tests.conftest import BACKEND2, CLIENT, CLIENT_CERT, CLIENT_KEY, CLIENT_SECRET, FROZEN_AT, ORIGIN, TENANT, Harness

WRONG_SECRET = forms.client_credentials(CLIENT, "not-the-secret", scope=f"{BACKEND2}/.default")


def _refused(harness: Harness) -> httpx.Response:
    r: httpx.Response = harness.token(WRONG_SECRET)
    return r


def _as_response(body: Any, *, status: int = 401, headers: dict[str, str] | None = None) -> httpx.Response:
    trace = body.get("trace_id", "") if isinstance(body, dict) else ""
    return httpx.Response(status, content=json.dumps(body).encode(),
                          headers={"content-type": "application/json; charset=utf-8", "x-ms-request-id": trace,
                                   **(headers or {})})


def test_a_real_error_passes_and_comes_back(harness: Harness) -> None:
    r = _refused(harness)
    body = assert_entra_error(r, 7000215, status=401, error="invalid_client", starts="Invalid client secret")
    assert body == r.json()
    assert_entra_error(r.json(), 7000215, error="invalid_client")  # a bare body, as MSAL returns it


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"code": 7000216}, r"error_codes \[7000215\], expected \[7000216\]"),
    ({"code": 7000215, "status": 400}, "status 401, expected 400"),
    ({"code": 7000215, "error": "invalid_grant"}, "error 'invalid_client'"),
    ({"code": 7000215, "codes": [7000215, 50011]}, r"error_codes \[7000215\], expected"),
    ({"code": 7000215, "starts": "Invalid client secret provided. Nope"}, "does not start"),
    ({"code": 7000215, "message": "Invalid client secret provided."}, "message is not"),
    ({"code": 7000215, "suberror": "bad_token"}, "suberror None"),
    ({"code": 7000215, "correlation_id": "00000000-0000-4000-8000-0000000000aa"}, "correlation_id"),
    ({"code": 7000215, "timestamp": "2020-01-01 00:00:00Z"}, "timestamp"),
])
def test_a_wrong_expectation_fails(harness: Harness, kwargs: dict[str, Any], says: str) -> None:
    r = _refused(harness)
    code = kwargs.pop("code")
    with pytest.raises(AssertionError, match=says):
        assert_entra_error(r, code, **kwargs)


def _changed(body: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    if value is _DROP:
        del changed[key]
    else:
        changed[key] = value
    return changed


_DROP = object()


@pytest.mark.parametrize(("key", "value", "says"), [
    ("trace_id", _DROP, "missing"),
    ("correlation_id", _DROP, "missing"),
    ("timestamp", _DROP, "missing"),
    ("error_uri", _DROP, "missing"),
    ("error", "", "non-empty"),
    ("error_codes", ["7000215"], "list of integers"),
    ("error_codes", [7000215, 7000215], "error_codes"),
    ("trace_id", "not-a-guid", "trace_id"),
    ("timestamp", "2026-01-01T00:00:00Z", "timestamp"),
    ("error_uri", "https://login.microsoftonline.com/error?code=1", "error_uri"),
    ("error_description", "AADSTS7000215: Invalid client secret provided.", "does not end"),
    ("suberror", "bad_token", "suberror 'bad_token'"),
    ("detail", "surplus", "keys no Entra error has"),
])
def test_a_body_changed_in_one_field_fails(harness: Harness, key: str, value: Any, says: str) -> None:
    body = _changed(_refused(harness).json(), key, value)
    with pytest.raises(AssertionError, match=says):
        assert_entra_error(body, 7000215)


def test_the_trace_id_must_be_the_one_in_the_description(harness: Harness) -> None:
    body = _refused(harness).json()
    body["trace_id"] = "00000000-0000-4000-8000-0000000000ee"  # a GUID, but not the description's
    with pytest.raises(AssertionError, match="does not end"):
        assert_entra_error(body, 7000215)


def test_a_fastapi_422_body_is_not_entras() -> None:
    fastapi = {"detail": [{"type": "missing", "loc": ["body", "grant_type"], "msg": "Field required",
                           "input": None}]}
    with pytest.raises(AssertionError, match="missing"):
        assert_entra_error(fastapi, 900144)
    with pytest.raises(AssertionError, match="missing"):
        assert_entra_error(_as_response(fastapi, status=422), 900144, status=422)


def test_a_response_must_be_json_and_carry_the_trace_id_header(harness: Harness) -> None:
    body = _refused(harness).json()
    assert_entra_error(_as_response(body), 7000215, status=401)  # the control: this much passes
    with pytest.raises(AssertionError, match="x-ms-request-id"):
        assert_entra_error(_as_response(body, headers={"x-ms-request-id": "other"}), 7000215)
    html = httpx.Response(400, text="<h1>Sorry</h1>", headers={"content-type": "text/html"})
    with pytest.raises(AssertionError, match="not JSON"):
        assert_entra_error(html, 7000215)
    with pytest.raises(AssertionError, match="not an object"):
        assert_entra_error(_as_response([body]), 7000215)


def test_other_keys_pass_only_when_named(harness: Harness) -> None:
    """MSAL copies suberror into `classification`: allowed where the caller says so, refused otherwise."""
    body = _refused(harness).json() | {"classification": "consent_required"}
    with pytest.raises(AssertionError, match="keys no Entra error has"):
        assert_entra_error(body, 7000215)
    assert_entra_error(body, 7000215, extra_keys=("classification",))


def test_codes_must_start_with_the_code_asserted(harness: Harness) -> None:
    with pytest.raises(ValueError, match="must start with"):
        assert_entra_error(_refused(harness), 7000215, codes=[50011, 7000215])


# --- JWTs ---------------------------------------------------------------------------------------------

def _token(harness: Harness) -> str:
    r = harness.token(forms.client_credentials(CLIENT, CLIENT_SECRET, scope=f"{BACKEND2}/.default"))
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _jwks(harness: Harness) -> dict[str, Any]:
    keys: dict[str, Any] = harness.client.get(f"/{TENANT}/discovery/v2.0/keys").json()
    return keys


def test_claims_and_header_of_a_real_token(harness: Harness) -> None:
    token = _token(harness)
    assert claims_of(token)["aud"] == BACKEND2 and claims_of(token)["azp"] == CLIENT
    assert header_of(token)["alg"] == "RS256" and header_of(token)["kid"]
    assert claims_of(token.encode()) == claims_of(token)  # some clients hand over bytes


@pytest.mark.parametrize("garbage", ["", "garbage", "a.b.c", "a.b", "x.y.z.w", "eyJhbGciOiJub25lIn0..",
                                     forms.b64url(b"[1]") + "." + forms.b64url(b"[1]") + ".",
                                     forms.b64url(b'{"alg":"none"}') + "." + forms.b64url(b"[1,2]") + "."])
def test_the_decoder_rejects_garbage(garbage: str) -> None:
    with pytest.raises(jwt.DecodeError):
        claims_of(garbage)


def test_verify_accepts_mockidps_token_and_refuses_a_changed_one(harness: Harness) -> None:
    token, jwks = _token(harness), _jwks(harness)
    issuer = f"{ORIGIN}/{TENANT}/v2.0"
    assert verify(token, jwks, audience=BACKEND2, issuer=issuer, now=FROZEN_AT)["azp"] == CLIENT
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(token, jwks, audience=BACKEND2, now=claims_of(token)["exp"])
    with pytest.raises(jwt.ImmatureSignatureError):
        verify(token, jwks, audience=BACKEND2, now=claims_of(token)["nbf"] - 1)
    with pytest.raises(jwt.ExpiredSignatureError):  # the wall clock is past the frozen one's token
        verify(token, jwks, audience=BACKEND2)
    head, _payload, signature = token.split(".")
    forged = claims_of(token) | {"roles": ["Admin"]}
    with pytest.raises(jwt.InvalidSignatureError):
        verify(f"{head}.{forms.b64url(json.dumps(forged).encode())}.{signature}", jwks, audience=BACKEND2,
               now=FROZEN_AT)
    with pytest.raises(jwt.InvalidAudienceError):
        verify(token, jwks, audience="api://someone-else", now=FROZEN_AT)
    with pytest.raises(jwt.InvalidIssuerError):
        verify(token, jwks, audience=BACKEND2, issuer=f"https://sts.windows.net/{TENANT}/", now=FROZEN_AT)
    with pytest.raises(jwt.InvalidTokenError, match="no key with kid"):
        verify(token, {"keys": []})


def test_verify_refuses_a_token_signed_by_another_key(harness: Harness) -> None:
    """The client's own key, with mockidp's kid in the header: the signature cannot match mockidp's key."""
    kid = header_of(_token(harness))["kid"]
    other = jwt.encode({"aud": BACKEND2, "iss": "x", "iat": FROZEN_AT, "nbf": FROZEN_AT, "exp": 4_102_444_800},
                       CLIENT_KEY.read_text(), algorithm="RS256", headers={"kid": kid})
    with pytest.raises(jwt.InvalidSignatureError):
        verify(other, _jwks(harness), audience=BACKEND2, now=FROZEN_AT)


# --- forms ----------------------------------------------------------------------------------------------

def test_a_none_leaves_a_parameter_out() -> None:
    assert forms.client_credentials(CLIENT, None, scope="s") == {
        "grant_type": "client_credentials", "client_id": CLIENT, "scope": "s"}
    assert "scope" not in forms.password(CLIENT, "u", "p", resource="r")
    assert "grant_type" not in forms.refresh_token(CLIENT, "rt", grant_type=None)


def test_pkce_pair_is_rfc7636s_s256() -> None:
    assert forms.pkce_pair(forms.RFC7636_VERIFIER) == (forms.RFC7636_VERIFIER, forms.RFC7636_CHALLENGE)
    verifier, challenge = forms.pkce_pair()
    assert len(verifier) == 43 and forms.pkce_pair(verifier)[1] == challenge and challenge != forms.pkce_pair()[1]


def test_a_client_assertion_is_accepted_by_mockidp(harness: Harness) -> None:
    token = forms.client_assertion(CLIENT_KEY.read_bytes(), client_id=CLIENT, now=FROZEN_AT,
                                   audience=ORIGIN + forms.token_path(TENANT), certificate_pem=CLIENT_CERT.read_bytes())
    assert header_of(token)["x5t"] == forms.x5t(CLIENT_CERT.read_text())
    form = forms.with_assertion(forms.client_credentials(CLIENT, CLIENT_SECRET, scope=f"{BACKEND2}/.default"), token)
    assert "client_secret" not in form
    r = harness.token(form)
    assert r.status_code == 200, r.text
    wrong_audience = forms.client_assertion(CLIENT_KEY.read_bytes(), client_id=CLIENT, now=FROZEN_AT,
                                            audience="https://elsewhere.example/token",
                                            certificate_pem=CLIENT_CERT.read_bytes())
    refused = harness.token(forms.with_assertion(form, wrong_audience))
    assert_entra_error(refused, refused.json()["error_codes"][0], status=401, error="invalid_client")


def test_sign_in_page_fields_and_the_code_in_the_redirect(harness: Harness) -> None:
    page = harness.client.get(forms.authorize_path(TENANT), params={
        "client_id": CLIENT, "response_type": "code", "redirect_uri": "http://localhost:5000/callback",
        "scope": "openid"})
    assert set(forms.hidden_fields(page.text)) == {"ctx", "csrf"}
    assert forms.code_of("http://localhost:5000/callback?code=abc&state=s") == "abc"
    assert forms.redirect_fields("http://localhost/cb#error=login_required") == {"error": ["login_required"]}
    with pytest.raises(KeyError):
        forms.code_of("http://localhost:5000/callback?error=access_denied")
