"""Forged tokens (POST /_mockidp/control/tokens): what mockidp would mint, and the broken ones an API must
refuse, checked by PyJWT against mockidp's own JWKS as an API checks them."""

from __future__ import annotations

import ssl
import time
from typing import Any

import httpx
import jwt
import pytest

from mockidp.testing.jwts import claims_of, header_of, verify
from tests.conftest import BACKEND2, CLIENT, TENANT, LiveServer

ALICE = "alice@contoso.onmicrosoft.com"
V2_ISSUER = "https://localhost:{port}/" + TENANT + "/v2.0"


def _tls(live: LiveServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=live.ca)


def forge(live: LiveServer, **body: Any) -> httpx.Response:
    with httpx.Client(verify=_tls(live), base_url=live.origin) as c:
        return c.post("/_mockidp/control/tokens", json=body)


def jwks(live: LiveServer) -> dict[str, Any]:
    with httpx.Client(verify=_tls(live)) as c:
        keys: dict[str, Any] = c.get(f"{live.origin}/{TENANT}/discovery/v2.0/keys").json()
    return keys


def test_a_forged_app_token_verifies_as_mockidps_with_the_roles_asked(live: LiveServer) -> None:
    r = forge(live, clientId=CLIENT, resource=f"api://{BACKEND2}", roles=["Anything.Goes"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["forged"] is True and body["token_type"] == "Bearer"
    claims = verify(body["access_token"], jwks(live), audience=BACKEND2, issuer=V2_ISSUER.format(port=live.port))
    assert claims["roles"] == ["Anything.Goes"] and claims["azp"] == CLIENT and claims["ver"] == "2.0"
    assert claims["exp"] - claims["iat"] == 3600 + 300 and "scp" not in claims
    with httpx.Client(verify=_tls(live)) as c:
        trace = c.get(f"{live.origin}/_mockidp/traces/{r.headers['x-ms-request-id']}").json()
    assert [s["rule"] for s in trace["steps"]] == ["forged"] and trace["grantType"] == "forged"
    assert trace["steps"][0]["inputs"]["roles"] == ["Anything.Goes"]


def test_a_forged_delegated_v1_token_carries_the_users_claims(live: LiveServer) -> None:
    r = forge(live, clientId=CLIENT, resource=f"api://{BACKEND2}", user=ALICE, scopes=["access_as_user", "x"],
              version=1, lifetimeSeconds=600)
    claims = verify(r.json()["access_token"], jwks(live), audience=f"api://{BACKEND2}",
                    issuer=f"https://sts.windows.net/{TENANT}/")
    assert claims["scp"] == "access_as_user x" and claims["upn"] == ALICE and claims["appid"] == CLIENT
    assert claims["exp"] - claims["iat"] == 600 + 300 and header_of(r.json()["access_token"])["x5t"]


@pytest.mark.parametrize(("body", "refusal"), [
    ({"expired": True}, jwt.ExpiredSignatureError),
    ({"notYetValid": True}, jwt.ImmatureSignatureError),
    ({"audience": "api://someone-else"}, jwt.InvalidAudienceError),
    ({"issuer": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/"}, jwt.InvalidIssuerError),
    ({"foreignKey": True}, jwt.InvalidTokenError),
])
def test_each_broken_token_is_refused_by_an_api_for_its_reason(live: LiveServer, body: dict[str, Any],
                                                              refusal: type[Exception]) -> None:
    r = forge(live, clientId=CLIENT, resource=BACKEND2, **body)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    with pytest.raises(refusal):
        verify(token, jwks(live), audience=BACKEND2, issuer=V2_ISSUER.format(port=live.port))
    claims = claims_of(token)
    if body.get("expired"):
        assert claims["exp"] < time.time() - 500
    if body.get("notYetValid"):
        assert claims["nbf"] > time.time() + 500
    if body.get("foreignKey"):
        assert header_of(token)["kid"] not in {k["kid"] for k in jwks(live)["keys"]}


@pytest.mark.parametrize(("body", "why"), [
    ({"resource": BACKEND2}, "'clientId'"), ({"clientId": CLIENT}, "'resource'"),
    ({"clientId": "not-a-guid", "resource": BACKEND2}, "GUID"),
    ({"clientId": CLIENT, "resource": "api://nobody"}, "no resource api://nobody"),
    ({"clientId": CLIENT, "resource": BACKEND2, "user": "nobody@contoso.onmicrosoft.com"}, "no user"),
    ({"clientId": CLIENT, "resource": BACKEND2, "tenant": "fabrikam.example"}, "no tenant"),
    ({"clientId": CLIENT, "resource": BACKEND2, "version": 3}, "'version'"),
    ({"clientId": CLIENT, "resource": BACKEND2, "lifetimeSeconds": 10}, "'lifetimeSeconds'"),
    ({"clientId": CLIENT, "resource": BACKEND2, "roles": "Reader"}, "list of strings"),
    ({"clientId": CLIENT, "resource": BACKEND2, "expired": "yes"}, "true or false"),
    ({"clientId": CLIENT, "resource": BACKEND2, "colour": "red"}, "unknown field 'colour'"),
])
def test_a_bad_forge_request_is_a_400_that_says_why(live: LiveServer, body: dict[str, Any], why: str) -> None:
    r = forge(live, **body)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request" and why in r.json()["message"], r.text
