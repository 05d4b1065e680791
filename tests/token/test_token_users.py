"""Delegated tokens (ROPC and refresh over HTTP, in-process): Entra's rules for users and the exact
shape of access tokens, ID tokens and responses per version."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from mockidp.oauth.delegated import pairwise_sub
from mockidp.testing import forms
from mockidp.testing.entra import assert_entra_error
from mockidp.testing.jwts import claims_of, header_of
from tests.conftest import FROZEN_AT, Harness, make_harness

T = "11111111-1111-4111-8111-111111111111"
API2 = "22222222-2222-4222-8222-222222222222"  # v2 API
API1 = "66666666-6666-4666-8666-666666666666"  # v1 API
APP = "33333333-3333-4333-8333-333333333333"  # public client (ROPC allowed)
OTHER = "44444444-4444-4444-8444-444444444444"  # another public client
SEED = f"""
tenants:
  - tenantId: {T}
    displayName: Fabrikam
    domains: [fabrikam.example]
    applications:
      - appId: {API2}
        displayName: orders
        identifierUris: [api://orders]
        api:
          requestedAccessTokenVersion: 2
          oauth2PermissionScopes:
            - {{value: Orders.Read, type: User}}
            - {{value: Orders.Write, type: User}}
            - {{value: Orders.Admin, type: Admin}}
        appRoles:
          - {{value: Approver, allowedMemberTypes: [User]}}
          - {{value: Daemon, allowedMemberTypes: [Application]}}
        groupMembershipClaims: SecurityGroup
      - appId: {API1}
        displayName: legacy
        identifierUris: ["https://legacy.fabrikam.example/"]
        api:
          oauth2PermissionScopes: [{{value: user_impersonation, type: User}}]
      - appId: {APP}
        displayName: cli
        signInAudience: AzureADMultipleOrgs
        isFallbackPublicClient: true
        publicClient: {{redirectUris: ["http://localhost"]}}
      - appId: {OTHER}
        displayName: other
        isFallbackPublicClient: true
    users:
      - userPrincipalName: carol@fabrikam.example
        displayName: Carol Jones
        givenName: Carol
        surname: Jones
        mail: carol@mail.fabrikam.example
        password: carol-password-1
        memberOf: [Approvers]
        directoryRoles: [62e90394-69f5-4237-9190-012177145e10]
      - userPrincipalName: dan@fabrikam.example
        password: dan-password-1
    groups:
      - displayName: Approvers
    appRoleAssignments:
      - {{principal: Approvers, resource: orders, appRole: Approver}}
    oauth2PermissionGrants:
      - {{client: cli, resource: orders, scope: Orders.Read Orders.Write, consentType: AllPrincipals}}
      - {{client: cli, resource: legacy, scope: user_impersonation, consentType: AllPrincipals}}
      - {{client: other, resource: orders, scope: Orders.Read, consentType: Principal,
          principal: carol@fabrikam.example}}
"""


@pytest.fixture
def h(tmp_path, signing_dir) -> Harness:  # type: ignore[no-untyped-def]
    return make_harness(tmp_path, SEED, signing_dir)


def ropc(h: Harness, target: str, *, user: str = "carol@fabrikam.example", password: str = "carol-password-1",
         client: str = APP, version: int = 2, **extra: str) -> Any:
    form = forms.password(client, user, password, **{"scope" if version == 2 else "resource": target}, **extra)
    return h.token(form, version=version, tenant=T)


def ids(h: Harness) -> dict[str, str]:
    d = h.app.state.runtime.services.directory
    carol = d.user_by_upn(T, "carol@fabrikam.example")
    group = next(iter(d.groups))
    return {"carol": carol.id, "group": group}


def strip_opaque(c: dict[str, Any]) -> dict[str, Any]:
    for key in ("aio", "uti", "rh"):
        assert key in c
        c.pop(key)
    return c


def test_v2_response_and_delegated_v2_access_token(h: Harness) -> None:
    r = ropc(h, "api://orders/Orders.Read openid profile offline_access", client_info="1")
    body = r.json()
    assert r.status_code == 200, body
    assert list(body) == ["token_type", "scope", "expires_in", "ext_expires_in", "access_token", "refresh_token",
                          "id_token", "client_info"]
    assert body["scope"] == "api://orders/Orders.Read"
    assert 3599 <= body["expires_in"] <= 5399 and body["ext_expires_in"] == body["expires_in"]
    i = ids(h)
    info = json.loads(base64.urlsafe_b64decode(body["client_info"] + "=="))
    assert info == {"uid": i["carol"], "utid": T}
    at = strip_opaque(claims_of(body["access_token"]))
    assert at == {
        "aud": API2, "iss": f"https://localhost:8443/{T}/v2.0", "iat": FROZEN_AT - 300, "nbf": FROZEN_AT - 300,
        "exp": FROZEN_AT + body["expires_in"] + 1, "azp": APP, "azpacr": "0", "groups": [i["group"]],
        "name": "Carol Jones", "oid": i["carol"], "preferred_username": "carol@fabrikam.example",
        "roles": ["Approver"], "scp": "Orders.Read", "sub": pairwise_sub(i["carol"], APP), "tid": T, "ver": "2.0",
        "wids": ["62e90394-69f5-4237-9190-012177145e10"],
    }
    assert list(at)[:5] == ["aud", "iss", "iat", "nbf", "exp"]
    idt = strip_opaque(claims_of(body["id_token"]))
    assert idt == {
        "aud": APP, "iss": f"https://localhost:8443/{T}/v2.0", "iat": FROZEN_AT - 300, "nbf": FROZEN_AT - 300,
        "exp": FROZEN_AT + 3600, "name": "Carol Jones", "oid": i["carol"],
        "preferred_username": "carol@fabrikam.example", "sub": pairwise_sub(i["carol"], APP), "tid": T,
        "ver": "2.0", "wids": ["62e90394-69f5-4237-9190-012177145e10"],
    }


def test_v1_endpoint_gives_a_v1_delegated_token_v1_id_token_and_string_fields(h: Harness) -> None:
    r = ropc(h, "https://legacy.fabrikam.example/", version=1, scope="openid")
    body = r.json()
    assert list(body) == ["token_type", "scope", "expires_in", "ext_expires_in", "expires_on", "not_before",
                          "resource", "access_token", "refresh_token", "id_token"]
    assert body["scope"] == "user_impersonation" and body["resource"] == "https://legacy.fabrikam.example/"
    assert all(isinstance(body[k], str) for k in ("expires_in", "ext_expires_in", "expires_on", "not_before"))
    i = ids(h)
    at = strip_opaque(claims_of(body["access_token"]))
    assert at == {
        "aud": "https://legacy.fabrikam.example/", "iss": f"https://sts.windows.net/{T}/",
        "iat": FROZEN_AT - 300, "nbf": FROZEN_AT - 300, "exp": int(body["expires_on"]), "acr": "1",
        "amr": ["pwd"], "appid": APP, "appidacr": "0", "family_name": "Jones", "given_name": "Carol",
        "ipaddr": "testclient", "name": "Carol Jones", "oid": i["carol"], "scp": "user_impersonation",
        "sub": pairwise_sub(i["carol"], APP), "tid": T, "unique_name": "carol@fabrikam.example",
        "upn": "carol@fabrikam.example", "ver": "1.0", "wids": ["62e90394-69f5-4237-9190-012177145e10"],
    }
    idt = claims_of(body["id_token"])
    assert idt["iss"] == f"https://sts.windows.net/{T}/" and idt["ver"] == "1.0" and idt["aud"] == APP
    assert idt["upn"] == "carol@fabrikam.example" and "preferred_username" not in idt
    assert header_of(body["id_token"])["x5t"]


def test_refresh_token_and_id_token_only_when_asked(h: Harness) -> None:
    body = ropc(h, "api://orders/Orders.Read").json()
    assert "refresh_token" not in body and "id_token" not in body and "client_info" not in body


def test_default_in_a_user_flow_means_every_consented_scope(h: Harness) -> None:
    body = ropc(h, "api://orders/.default").json()
    assert claims_of(body["access_token"])["scp"] == "Orders.Read Orders.Write"
    assert body["scope"] == "api://orders/Orders.Read api://orders/Orders.Write"


def test_principal_grants_apply_to_their_user_only(h: Harness) -> None:
    assert ropc(h, "api://orders/Orders.Read", client=OTHER).status_code == 200
    r = ropc(h, "api://orders/Orders.Read", client=OTHER, user="dan@fabrikam.example", password="dan-password-1")
    assert_entra_error(r, 65001, status=400, error="invalid_grant", suberror="consent_required", message=(
        f"The user or administrator has not consented to use the application with ID '{OTHER}' named "
        "'other'. Send an interactive authorization request for this user and resource."))


def test_unconsented_or_unknown_scopes(h: Harness) -> None:
    assert_entra_error(ropc(h, "api://orders/Orders.Admin"), 65001, suberror="consent_required")
    bad = assert_entra_error(ropc(h, "api://orders/Orders.Delete"), 70011, error="invalid_scope")
    assert "The scope api://orders/Orders.Delete is not valid." in bad["error_description"]
    assert_entra_error(ropc(h, "api://orders/Orders.Read https://legacy.fabrikam.example//user_impersonation"), 700022)
    assert_entra_error(ropc(h, "api://orders/.default api://orders/Orders.Read"), 70011)


def test_oidc_scopes_alone_give_a_graph_token(h: Harness) -> None:
    body = ropc(h, "openid profile offline_access").json()
    at = claims_of(body["access_token"])
    assert at["aud"] == "https://graph.microsoft.com" and at["ver"] == "1.0" and at["scp"] == "openid profile"
    assert body["scope"] == "openid profile offline_access"


def test_pairwise_sub_differs_per_client_but_oid_does_not(h: Harness) -> None:
    a = claims_of(ropc(h, "api://orders/Orders.Read").json()["access_token"])
    b = claims_of(ropc(h, "api://orders/Orders.Read", client=OTHER).json()["access_token"])
    assert a["oid"] == b["oid"] and a["sub"] != b["sub"] and len(a["sub"]) == 43


def test_refresh_is_multi_resource_rotates_and_keeps_the_old_token(h: Harness) -> None:
    first = ropc(h, "api://orders/Orders.Read offline_access").json()
    rt = first["refresh_token"]
    legacy = h.token({"grant_type": "refresh_token", "client_id": APP, "refresh_token": rt,
                      "scope": "https://legacy.fabrikam.example//user_impersonation offline_access"}, tenant=T)
    assert legacy.status_code == 200 and claims_of(legacy.json()["access_token"])["ver"] == "1.0"
    assert legacy.json()["refresh_token"] != rt
    again = h.token({"grant_type": "refresh_token", "client_id": APP, "refresh_token": rt,
                     "scope": "api://orders/Orders.Read"}, tenant=T)
    assert again.status_code == 200


def test_refresh_token_expires_after_90_idle_days_and_after_a_revoke(h: Harness) -> None:
    rt = ropc(h, "api://orders/Orders.Read offline_access").json()["refresh_token"]
    refresh = {"grant_type": "refresh_token", "client_id": APP, "refresh_token": rt, "scope": "api://orders/Orders.Read"}
    h.clock.advance(89 * 86400)
    assert h.token(refresh, tenant=T).status_code == 200  # use slides the window
    h.clock.advance(91 * 86400)
    body = assert_entra_error(h.token(refresh, tenant=T), 700082, suberror="bad_token")
    assert body["error_description"].startswith(
        "AADSTS700082: The refresh token has expired due to inactivity.\u00a0The token was issued on "
        "2026-01-01T00:00:00.0000000Z and was inactive for 90.00:00:00.")
    rt2 = ropc(h, "api://orders/Orders.Read offline_access").json()["refresh_token"]
    h.app.state.runtime.services.artefacts.revoke_sign_in_sessions(ids(h)["carol"], now=h.clock.now() + 1)
    assert_entra_error(h.token({**refresh, "refresh_token": rt2}, tenant=T), 50173, error="invalid_grant")


def test_ropc_is_refused_on_common_and_for_confidential_clients_without_secret(tmp_path, signing_dir) -> None:  # type: ignore[no-untyped-def]
    h = make_harness(tmp_path, SEED, signing_dir)
    r = h.token({"grant_type": "password", "client_id": APP, "username": "carol@fabrikam.example",
                 "password": "carol-password-1", "scope": "api://orders/Orders.Read"}, tenant="common")
    assert_entra_error(r, 9001023)
    org = h.token({"grant_type": "password", "client_id": APP, "username": "carol@fabrikam.example",
                   "password": "carol-password-1", "scope": "api://orders/Orders.Read"}, tenant="organizations")
    assert org.status_code == 200 and claims_of(org.json()["access_token"])["tid"] == T
