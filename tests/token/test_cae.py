"""Continuous access evaluation: a client that declares the `cp1` capability (the `claims` parameter,
{"access_token":{"xms_cc":{"values":["cp1"]}}}) gets long-lived tokens, carrying `xms_cc`, for the
CAE-aware resource (Microsoft Graph): 24 h app-only (expires_in 86399, as captured),
20-28 h delegated. Other resources and clients without the capability keep the usual lifetimes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.identity import ClientSecretCredential

from mockidp.testing import forms
from mockidp.testing.jwts import claims_of
from tests.clients.test_real_clients import Wire, azure_kwargs, msal_app
from tests.clients.test_real_clients_users import no_user_realm_discovery  # noqa: F401  (a fixture)
from tests.conftest import BACKEND2, CLIENT, CLIENT_SECRET, TENANT, Harness, LiveServer

GRAPH = "https://graph.microsoft.com/.default"
CP1 = json.dumps({"access_token": {"xms_cc": {"values": ["cp1"]}}})


def _app_only(h: Harness, scope: str, **extra: str) -> dict[str, Any]:
    r = h.token(forms.client_credentials(CLIENT, CLIENT_SECRET, scope=scope, **extra))
    assert r.status_code == 200, r.text
    return dict(r.json())


def _ropc(h: Harness, scope: str, **extra: str) -> dict[str, Any]:
    r = h.token(forms.password(CLIENT, "alice@contoso.onmicrosoft.com", "alice-password-1", scope=scope, **extra))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_cae_capable_app_only_graph_token_lives_24_hours_and_carries_xms_cc(harness: Harness) -> None:
    body = _app_only(harness, GRAPH, claims=CP1)
    assert body["expires_in"] == 86399 and body["ext_expires_in"] == 86399
    claims = claims_of(body["access_token"])
    assert claims["exp"] - claims["iat"] == 86400 + 300  # iat is back-dated 5 minutes
    assert claims["xms_cc"] == ["cp1"]


def test_without_the_capability_graph_tokens_keep_one_hour_and_no_xms_cc(harness: Harness) -> None:
    body = _app_only(harness, GRAPH)
    assert body["expires_in"] == 3599 and "xms_cc" not in claims_of(body["access_token"])


def test_a_resource_that_is_not_cae_aware_ignores_the_capability(harness: Harness) -> None:
    body = _app_only(harness, f"api://{BACKEND2}/.default", claims=CP1)
    assert body["expires_in"] == 3599 and "xms_cc" not in claims_of(body["access_token"])


def test_cae_capable_delegated_graph_token_lives_20_to_28_hours(harness: Harness) -> None:
    body = _ropc(harness, "User.Read openid", claims=CP1)
    assert 20 * 3600 - 1 <= body["expires_in"] <= 28 * 3600 - 1
    assert claims_of(body["access_token"])["xms_cc"] == ["cp1"]
    plain = _ropc(harness, "User.Read openid")
    assert 3599 <= plain["expires_in"] <= 5399 and "xms_cc" not in claims_of(plain["access_token"])


def test_every_grant_honours_the_capability_per_request(harness: Harness) -> None:
    """A refresh with claims gets a CAE token; the same refresh token without claims an ordinary one."""
    rt = _ropc(harness, "User.Read offline_access")["refresh_token"]
    refresh = {"grant_type": "refresh_token", "client_id": CLIENT, "refresh_token": rt, "scope": "User.Read"}
    cae = harness.token({**refresh, "claims": CP1}).json()
    plain = harness.token(refresh).json()
    assert cae["expires_in"] >= 20 * 3600 - 1 and plain["expires_in"] <= 5399


@pytest.mark.parametrize("claims", [
    json.dumps({"access_token": {"nbf": {"essential": True, "value": "1767225000"}, "xms_cc": {"values": ["CP1"]}}}),
    json.dumps({"access_token": {"xms_cc": {"values": "cp1"}}}),  # a single string, as some scripts send it
], ids=["merged-with-a-claims-challenge", "value-as-string"])
def test_the_capability_is_read_wherever_msal_and_scripts_put_it(harness: Harness, claims: str) -> None:
    assert _app_only(harness, GRAPH, claims=claims)["expires_in"] == 86399


@pytest.mark.parametrize("claims", ["not json", "[1,2]", json.dumps({"access_token": {"xms_cc": {"values": [7]}}}),
                                    json.dumps({"access_token": {"xms_cc": {"values": ["cp2"]}}}), "{" * 5000],
                         ids=["not-json", "not-an-object", "not-strings", "other-capability", "deep"])
def test_unusable_claims_declare_no_capability(harness: Harness, claims: str) -> None:
    body = _app_only(harness, GRAPH, claims=claims)
    assert body["expires_in"] == 3599 and "xms_cc" not in claims_of(body["access_token"])


# --- real clients ---------------------------------------------------------------------------------------


@pytest.fixture
def wire(live: LiveServer) -> Iterator[Wire]:
    w = Wire(live.ca)
    yield w
    w.session.close()


@pytest.mark.clients
def test_msal_python_client_capabilities_get_a_24_hour_graph_token(live: LiveServer, wire: Wire) -> None:
    app = msal_app(live, wire, CLIENT_SECRET, client_capabilities=["cp1"])
    result = app.acquire_token_for_client([GRAPH])
    assert "access_token" in result, result
    assert json.loads(wire.last_token_form()["claims"]) == {"access_token": {"xms_cc": {"values": ["cp1"]}}}
    assert result["expires_in"] == 86399
    assert claims_of(result["access_token"])["xms_cc"] == ["cp1"]


@pytest.mark.clients
@pytest.mark.usefixtures("no_user_realm_discovery")
def test_msal_python_client_capabilities_get_a_long_delegated_graph_token(live: LiveServer, wire: Wire) -> None:
    app = msal_app(live, wire, CLIENT_SECRET, client_capabilities=["cp1"])
    result = app.acquire_token_by_username_password("alice@contoso.onmicrosoft.com", "alice-password-1",
                                                    ["User.Read"])
    assert "access_token" in result, result
    assert 20 * 3600 - 1 <= result["expires_in"] <= 28 * 3600 - 1
    assert claims_of(result["access_token"])["xms_cc"] == ["cp1"]


@pytest.mark.clients
def test_azure_identity_enable_cae_gets_a_24_hour_graph_token(live: LiveServer) -> None:
    with ClientSecretCredential(TENANT, CLIENT, CLIENT_SECRET, **azure_kwargs(live)) as credential:
        cae = credential.get_token(GRAPH, enable_cae=True)
    with ClientSecretCredential(TENANT, CLIENT, CLIENT_SECRET, **azure_kwargs(live)) as credential:
        plain = credential.get_token(GRAPH)
    now = time.time()
    assert 86399 - 120 <= cae.expires_on - now <= 86400
    assert [c.upper() for c in claims_of(cae.token)["xms_cc"]] == ["CP1"]
    assert plain.expires_on - now <= 3600 and "xms_cc" not in claims_of(plain.token)
