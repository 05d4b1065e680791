"""Microsoft Graph access tokens carry a `nonce` in the JWT header, and the signature covers the header
whose nonce is base64url(SHA-256(nonce)): a generic JWT library refuses them as issued, and accepts
them after that documented substitution (README, "Microsoft Graph tokens"). Tokens for other resources are plain JWS."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import jwt
import pytest

from mockidp.testing import forms
from mockidp.testing.jwts import header_of
from tests.conftest import BACKEND2, CLIENT, CLIENT_SECRET, TENANT, Harness

GRAPH = "https://graph.microsoft.com"
FROZEN = {"verify_exp": False}  # the harness's clock stands at 2026-01-01: only the signature is at stake here


_b64url = forms.b64url


def _with_hashed_nonce(token: str) -> str:
    """What the published workaround does: hash the nonce, re-encode the header, keep payload and signature."""
    header = header_of(token)
    header["nonce"] = _b64url(hashlib.sha256(header["nonce"].encode()).digest())
    _, payload, signature = token.split(".")
    return f"{_b64url(json.dumps(header, separators=(',', ':')).encode())}.{payload}.{signature}"


def _public_key(h: Harness, token: str) -> Any:
    keys = h.client.get(f"/{TENANT}/discovery/v2.0/keys").json()["keys"]
    return jwt.PyJWK(next(k for k in keys if k["kid"] == header_of(token)["kid"])).key


def _app_only(h: Harness, scope: str) -> str:
    r = h.token({"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
                 "scope": scope})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _delegated_graph(h: Harness) -> str:
    r = h.token({"grant_type": "password", "client_id": CLIENT, "username": "alice@contoso.onmicrosoft.com",
                 "password": "alice-password-1", "scope": "User.Read openid"})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


@pytest.mark.parametrize("issue", [lambda h: _app_only(h, f"{GRAPH}/.default"), _delegated_graph],
                         ids=["app-only", "delegated"])
def test_graph_token_fails_pyjwt_as_issued_and_verifies_after_the_nonce_substitution(harness: Harness,
                                                                                       issue: Any) -> None:
    token = issue(harness)
    header = header_of(token)
    assert list(header) == ["typ", "nonce", "alg", "x5t", "kid"]
    assert len(header["nonce"]) >= 43
    key = _public_key(harness, token)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, key, algorithms=["RS256"], audience=GRAPH, options=FROZEN)
    claims = jwt.decode(_with_hashed_nonce(token), key, algorithms=["RS256"], audience=GRAPH, options=FROZEN)
    assert claims["aud"] == GRAPH and claims["tid"] == TENANT


def test_two_graph_tokens_have_different_nonces(harness: Harness) -> None:
    assert header_of(_app_only(harness, f"{GRAPH}/.default"))["nonce"] != \
        header_of(_app_only(harness, f"{GRAPH}/.default"))["nonce"]


def test_tokens_for_other_resources_carry_no_nonce_and_verify_as_issued(harness: Harness) -> None:
    token = _app_only(harness, f"api://{BACKEND2}/.default")
    assert "nonce" not in header_of(token)
    claims = jwt.decode(token, _public_key(harness, token), algorithms=["RS256"], audience=BACKEND2, options=FROZEN)
    assert claims["azp"] == CLIENT


def test_the_signer_reads_back_a_graph_token_it_issued(harness: Harness) -> None:
    """The on-behalf-of check uses the same signer: it must undo the nonce scheme itself."""
    token = _delegated_graph(harness)
    signer = harness.app.state.runtime.services.issuer.signer
    assert signer.verify(token)["aud"] == GRAPH
