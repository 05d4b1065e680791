"""Graph's users, groups, members, me and revokeSignInSessions over a real TLS server
(mockidp/web/graph/people.py): each write changes the next sign-in decision."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mockidp.directory.ids import derived_id
from mockidp.testing import forms
from tests.conftest import DEMO_SEED, LiveServer
from tests.conftest import TENANT as CONTOSO
from tests.graph.live import graph_session, tls
from tests.graph.people_seed import (
    ADMIN,
    ADMIN_SECRET,
    API_SCOPE,
    CAROL,
    CAROL_PASSWORD,
    CLI,
    DOMAIN,
    HR_CLI,
    HR_GROUP,
    READER,
    READER_SECRET,
    SEED,
    TENANT,
    VIEWER,
    VIEWER_SECRET,
)

USER_FIELDS = ["@odata.context", "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
               "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("people")
    seed = tmp / "seed.yaml"
    seed.write_text(SEED)
    with LiveServer(tmp / "data", [seed, DEMO_SEED]) as live:  # the demo's tenant: another one, to stay out of
        yield live


def token_endpoint(server: LiveServer, **form: str) -> httpx.Response:
    return httpx.post(f"{server.origin}/{TENANT}/oauth2/v2.0/token", verify=tls(server), data=form)


def app_token(server: LiveServer, client_id: str, secret: str) -> str:
    got = token_endpoint(server, grant_type="client_credentials", client_id=client_id, client_secret=secret,
                         scope="https://graph.microsoft.com/.default")
    assert got.status_code == 200, got.text
    return str(got.json()["access_token"])


def ropc(server: LiveServer, username: str, password: str, scope: str = API_SCOPE,
         client_id: str = CLI) -> httpx.Response:
    return token_endpoint(server, grant_type="password", client_id=client_id, username=username,
                          password=password, scope=scope)


def aadsts(response: httpx.Response) -> list[int]:
    assert response.status_code == 400, response.text
    return list(response.json()["error_codes"])


def claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


@pytest.fixture(scope="module")
def graph(server: LiveServer) -> Iterator[httpx.Client]:
    with graph_session(server, TENANT, ADMIN, ADMIN_SECRET) as client:
        yield client


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    body: dict[str, Any] = response.json()
    assert list(body["error"]) == ["code", "message", "innerError"]
    return response.status_code, str(body["error"]["code"]), str(body["error"]["message"])


def new_user(name: str, password: str = "Dave-password-1", **extra: Any) -> dict[str, Any]:
    return {"accountEnabled": True, "displayName": name.title(), "mailNickname": name,
            "userPrincipalName": f"{name}@{DOMAIN}",
            "passwordProfile": {"forceChangePasswordNextSignIn": False, "password": password}, **extra}


def test_a_created_user_signs_in_then_is_disabled_gets_a_new_password_and_is_deleted(
        server: LiveServer, graph: httpx.Client) -> None:
    made = graph.post("/users", json=new_user("dave", givenName="Dave"))
    assert made.status_code == 201, made.text
    dave = made.json()
    assert list(dave) == USER_FIELDS and dave["@odata.context"].endswith("/$metadata#users/$entity")
    assert (dave["userPrincipalName"], dave["givenName"], dave["businessPhones"]) == (f"dave@{DOMAIN}", "Dave", [])
    signed_in = ropc(server, f"dave@{DOMAIN}", "Dave-password-1")
    assert signed_in.status_code == 200, signed_in.text
    assert claims(signed_in.json()["access_token"])["oid"] == dave["id"]

    by_upn = graph.get(f"/users/DAVE@{DOMAIN}", params={"$select": "accountEnabled,mailNickname"})
    assert by_upn.json() == {"@odata.context": by_upn.json()["@odata.context"], "id": dave["id"],
                             "accountEnabled": True, "mailNickname": "dave"}
    listed = graph.get("/users", params={"$filter": f"userPrincipalName eq 'Dave@{DOMAIN.upper()}'"}).json()
    assert [u["id"] for u in listed["value"]] == [dave["id"]] and listed["@odata.context"].endswith("#users")

    assert graph.patch(f"/users/{dave['id']}", json={"accountEnabled": False}).status_code == 204
    assert aadsts(ropc(server, f"dave@{DOMAIN}", "Dave-password-1")) == [50057]
    assert graph.patch(f"/users/{dave['id']}", json={"accountEnabled": True}).status_code == 204
    refresh = ropc(server, f"dave@{DOMAIN}", "Dave-password-1", scope=f"{API_SCOPE} offline_access").json()
    changed = graph.patch(f"/users/{dave['id']}", json={
        "accountEnabled": True, "surname": "Jones", "passwordProfile": {"password": "Dave-password-2"}})
    assert changed.status_code == 204, changed.text
    assert aadsts(ropc(server, f"dave@{DOMAIN}", "Dave-password-1")) == [50126]
    assert ropc(server, f"dave@{DOMAIN}", "Dave-password-2").status_code == 200
    reset = token_endpoint(server, grant_type="refresh_token", client_id=CLI, scope=API_SCOPE,
                           refresh_token=refresh["refresh_token"])
    assert aadsts(reset) == [50173]  # an admin's password reset revokes the refresh tokens, as Entra's
    assert graph.get(f"/users/{dave['id']}").json()["surname"] == "Jones"

    assert graph.delete(f"/users/{dave['id']}").status_code == 204
    assert aadsts(ropc(server, f"dave@{DOMAIN}", "Dave-password-2")) == [50034]
    assert error_of(graph.get(f"/users/{dave['id']}"))[:2] == (404, "Request_ResourceNotFound")


def test_bad_user_writes_get_graphs_400s(graph: httpx.Client) -> None:
    body = new_user("erin")
    del body["mailNickname"]
    assert error_of(graph.post("/users", json=body)) == (
        400, "Request_BadRequest", "Property mailNickname value is required but is empty or missing.")
    assert error_of(graph.post("/users", json=new_user("erin") | {"userPrincipalName": "erin@elsewhere.example"})) == (
        400, "Request_BadRequest", "The domain portion of the userPrincipalName property is invalid. You must use one "
                                   "of the verified domain names in your organization.")
    assert error_of(graph.post("/users", json=new_user("carol"))) == (
        400, "Request_BadRequest", "Another object with the same value for property userPrincipalName already exists.")
    weak = error_of(graph.post("/users", json=new_user("erin", password="short")))
    assert weak[:2] == (400, "Request_BadRequest") and "complexity" in weak[2]
    for odd in ({"accountEnabled": "yes"}, {"userPrincipalName": "new@" + DOMAIN}, {"displayName": ""}):
        assert error_of(graph.patch(f"/users/{CAROL}", json=odd))[:2] == (400, "Request_BadRequest")
    assert error_of(graph.post("/users", json=new_user("erin") | {"userPrincipalName": "erin"}))[0] == 400
    for hostile in (rb'"displayName": "E\u0000rin"', rb'"displayName": "\ud800"', rb'"mailNickname": ["x"]'):
        raw = json.dumps(new_user("erin")).encode()[:-1] + b", " + hostile + b"}"
        assert error_of(graph.post("/users", content=raw, headers={"content-type": "application/json"}))[:2] == (
            400, "Request_BadRequest")
    assert error_of(graph.get("/users/nobody@" + DOMAIN))[:2] == (404, "Request_ResourceNotFound")
    assert graph.get("/users", params={"$filter": f"userPrincipalName eq 'erin@{DOMAIN}'"}).json()["value"] == []


def test_another_tenants_people_are_not_there(graph: httpx.Client) -> None:
    alice = "alice@contoso.onmicrosoft.com"  # the demo seed's tenant
    alice_id = derived_id(CONTOSO, "user", alice)
    for key in (alice, alice_id):
        assert error_of(graph.get(f"/users/{key}"))[:2] == (404, "Request_ResourceNotFound")
    assert all(u["userPrincipalName"] != alice for u in graph.get("/users").json()["value"])
    assert all(g["displayName"] != "Provisioning Admins" for g in graph.get("/groups").json()["value"])
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{alice_id}"}
    assert error_of(graph.post(f"/groups/{HR_GROUP}/members/$ref", json=ref))[:2] == (404, "Request_ResourceNotFound")
    contoso = graph.post("/users", json=new_user("mo") | {"userPrincipalName": "mo@contoso.onmicrosoft.com"})
    assert error_of(contoso)[2].startswith("The domain portion of the userPrincipalName property is invalid.")


def test_without_the_permission_graph_answers_403(server: LiveServer) -> None:
    token = app_token(server, READER, READER_SECRET)
    with httpx.Client(base_url=f"{server.origin}/graph/v1.0", verify=tls(server),
                      headers={"Authorization": f"Bearer {token}"}) as reader:
        for response in (reader.get("/users"), reader.post("/groups", json={}),
                         reader.get(f"/groups/{HR_GROUP}/members"),
                         reader.post(f"/users/{CAROL}/revokeSignInSessions")):
            assert error_of(response)[:2] == (403, "Authorization_RequestDenied")
        assert error_of(reader.get("/me")) == (400, "BadRequest",
                                               "/me request is only valid with delegated authentication flow.")


def test_read_all_reads_and_group_member_read_write_changes_only_memberships(
        server: LiveServer, graph: httpx.Client) -> None:
    token = app_token(server, VIEWER, VIEWER_SECRET)
    assert {"User.Read.All", "GroupMember.ReadWrite.All"} <= set(claims(token)["roles"])
    kim = graph.post("/users", json=new_user("kim", "Kim-password-1")).json()
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{kim['id']}"}
    with httpx.Client(base_url=f"{server.origin}/graph/v1.0", verify=tls(server),
                      headers={"Authorization": f"Bearer {token}"}) as viewer:
        assert viewer.get(f"/users/{kim['id']}").json()["userPrincipalName"] == f"kim@{DOMAIN}"
        assert error_of(viewer.post("/users", json=new_user("lee")))[:2] == (403, "Authorization_RequestDenied")
        assert error_of(viewer.patch(f"/users/{kim['id']}", json={"displayName": "K"}))[0] == 403
        assert error_of(viewer.post("/groups", json={}))[:2] == (403, "Authorization_RequestDenied")
        assert viewer.post(f"/groups/{HR_GROUP}/members/$ref", json=ref).status_code == 204
        assert ropc(server, f"kim@{DOMAIN}", "Kim-password-1", client_id=HR_CLI).status_code == 200
        assert viewer.delete(f"/groups/{HR_GROUP}/members/{kim['id']}/$ref").status_code == 204
    assert graph.delete(f"/users/{kim['id']}").status_code == 204


def test_group_membership_changes_the_groups_claim_and_group_based_assignment(
        server: LiveServer, graph: httpx.Client) -> None:
    made = graph.post("/groups", json={"displayName": "Pilots", "mailNickname": "pilots", "mailEnabled": False,
                                       "securityEnabled": True})
    assert made.status_code == 201, made.text
    pilots = made.json()
    assert pilots["@odata.context"].endswith("#groups/$entity") and pilots["securityEnabled"] is True
    assert list(pilots)[1] == "id" and pilots["mailNickname"] == "pilots"
    frank = graph.post("/users", json=new_user("frank", "Frank-password-1")).json()
    assert aadsts(ropc(server, f"frank@{DOMAIN}", "Frank-password-1", client_id=HR_CLI)) == [50105]
    token = ropc(server, f"frank@{DOMAIN}", "Frank-password-1").json()["access_token"]
    assert "groups" not in claims(token)

    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{frank['id']}"}
    for group in (pilots["id"], HR_GROUP):
        added = graph.post(f"/groups/{group}/members/$ref", json=ref)
        assert added.status_code == 204, added.text
    token = ropc(server, f"frank@{DOMAIN}", "Frank-password-1").json()["access_token"]
    assert sorted(claims(token)["groups"]) == sorted([pilots["id"], HR_GROUP])
    assert ropc(server, f"frank@{DOMAIN}", "Frank-password-1", client_id=HR_CLI).status_code == 200

    members = graph.get(f"/groups/{HR_GROUP}/members").json()
    assert members["@odata.context"].endswith("#directoryObjects")
    assert sorted(m["userPrincipalName"] for m in members["value"]) == sorted([CAROL, f"frank@{DOMAIN}"])
    assert members["value"][0]["@odata.type"] == "#microsoft.graph.user"
    selected = graph.get(f"/groups/{HR_GROUP}/members", params={"$select": "displayName", "$top": "1"}).json()
    assert list(selected["value"][0]) == ["@odata.type", "displayName", "id"] and "@odata.nextLink" in selected
    member_of = graph.get(f"/users/{frank['id']}/memberOf").json()["value"]
    assert [(g["@odata.type"], g["id"]) for g in member_of] == [
        ("#microsoft.graph.group", pilots["id"]), ("#microsoft.graph.group", HR_GROUP)]
    assert error_of(graph.post(f"/groups/{HR_GROUP}/members/$ref", json=ref)) == (
        400, "Request_BadRequest", "One or more added object references already exist for the following modified "
                                   "properties: 'members'.")

    assert graph.delete(f"/groups/{HR_GROUP}/members/{frank['id']}/$ref").status_code == 204
    assert aadsts(ropc(server, f"frank@{DOMAIN}", "Frank-password-1", client_id=HR_CLI)) == [50105]
    assert error_of(graph.delete(f"/groups/{HR_GROUP}/members/{frank['id']}/$ref"))[:2] == (
        404, "Request_ResourceNotFound")
    assert graph.delete(f"/groups/{pilots['id']}").status_code == 204
    token = ropc(server, f"frank@{DOMAIN}", "Frank-password-1").json()["access_token"]
    assert "groups" not in claims(token)
    assert error_of(graph.get(f"/groups/{pilots['id']}"))[:2] == (404, "Request_ResourceNotFound")
    assert graph.delete(f"/users/{frank['id']}").status_code == 204


def test_bad_group_writes_get_graph_errors(graph: httpx.Client) -> None:
    missing = graph.post("/groups", json={"displayName": "X", "mailEnabled": False, "securityEnabled": True})
    assert error_of(missing) == (400, "Request_BadRequest",
                                 "Property mailNickname value is required but is empty or missing.")
    for ref in ({}, {"@odata.id": 7}, {"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/x"}):
        assert error_of(graph.post(f"/groups/{HR_GROUP}/members/$ref", json=ref))[:2] == (400, "Request_BadRequest")
    nobody = {"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/00000000-0000-4000-8000-00000000dead"}
    assert error_of(graph.post(f"/groups/{HR_GROUP}/members/$ref", json=nobody))[:2] == (
        404, "Request_ResourceNotFound")
    assert error_of(graph.get("/groups/00000000-0000-4000-8000-00000000dead"))[:2] == (404, "Request_ResourceNotFound")
    assert error_of(graph.request("PATCH", f"/groups/{HR_GROUP}"))[:2] == (501, "NotImplemented")
    listed = graph.get("/groups", params={"$filter": "displayName eq 'HR'"}).json()["value"]
    assert [g["id"] for g in listed] == [HR_GROUP]


def test_me_is_the_signed_in_user_of_a_delegated_token(server: LiveServer) -> None:
    got = ropc(server, CAROL, CAROL_PASSWORD, scope="User.Read")
    assert got.status_code == 200, got.text
    with httpx.Client(base_url=f"{server.origin}/graph/v1.0", verify=tls(server),
                      headers={"Authorization": "Bearer " + got.json()["access_token"]}) as me:
        mine = me.get("/me").json()
        assert (mine["userPrincipalName"], list(mine)) == (CAROL, USER_FIELDS)
        groups = me.get("/me/memberOf").json()["value"]
        assert [g["id"] for g in groups] == [HR_GROUP]
        assert error_of(me.get("/users"))[:2] == (403, "Authorization_RequestDenied")


def test_revoke_sign_in_sessions_refuses_earlier_refresh_tokens(server: LiveServer, graph: httpx.Client) -> None:
    first = ropc(server, CAROL, CAROL_PASSWORD, scope=f"{API_SCOPE} offline_access")
    assert first.status_code == 200, first.text
    refresh = first.json()["refresh_token"]
    revoked = graph.post(f"/users/{CAROL}/revokeSignInSessions")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json() == {"@odata.context": f"{server.origin}/graph/v1.0/$metadata#Edm.Boolean", "value": True}
    again = token_endpoint(server, grant_type="refresh_token", client_id=CLI, refresh_token=refresh, scope=API_SCOPE)
    assert aadsts(again) == [50173] and again.json()["error"] == "invalid_grant"
    later = ropc(server, CAROL, CAROL_PASSWORD, scope=f"{API_SCOPE} offline_access")
    fresh = token_endpoint(server, grant_type="refresh_token", client_id=CLI,
                           refresh_token=later.json()["refresh_token"], scope=API_SCOPE)
    assert fresh.status_code == 200, fresh.text


def authorize(browser: httpx.Client, **extra: str) -> httpx.Response:
    return browser.get(forms.authorize_path(TENANT), params={
        "client_id": CLI, "response_type": "code", "redirect_uri": "http://localhost", "scope": API_SCOPE,
        "state": "s", "code_challenge": forms.RFC7636_CHALLENGE, "code_challenge_method": "S256", **extra})


def test_a_created_user_signs_in_on_the_page_and_revoking_ends_the_browser_session(
        server: LiveServer, graph: httpx.Client) -> None:
    gina = graph.post("/users", json=new_user("gina", "Gina-password-1")).json()
    with httpx.Client(base_url=server.origin, verify=tls(server)) as browser:
        fields = forms.hidden_fields(authorize(browser).text)
        assert set(fields) == {"ctx", "csrf"}
        done = browser.post("/_mockidp/login", data={**fields, "username": f"gina@{DOMAIN}",
                                                    "password": "Gina-password-1"})
        assert done.status_code == 302 and forms.code_of(done.headers["location"])
        silent = authorize(browser, prompt="none")
        assert silent.status_code == 302 and forms.code_of(silent.headers["location"])  # the SSO session
        assert graph.post(f"/users/{gina['id']}/revokeSignInSessions").status_code == 200
        refused = authorize(browser, prompt="none")
        assert refused.status_code == 302
        assert forms.redirect_fields(refused.headers["location"])["error"] == ["login_required"]
        assert set(forms.hidden_fields(authorize(browser).text)) == {"ctx", "csrf"}  # the sign-in page again
    assert graph.delete(f"/users/{gina['id']}").status_code == 204


def sign_in_on_the_page(browser: httpx.Client, upn: str, password: str) -> str:
    fields = forms.hidden_fields(authorize(browser).text)
    done = browser.post("/_mockidp/login", data={**fields, "username": upn, "password": password})
    assert done.status_code == 302, done.text[:300]
    return forms.code_of(done.headers["location"])


def test_a_user_deleted_over_graph_leaves_sessions_codes_and_device_codes_that_fail_cleanly(
        server: LiveServer, graph: httpx.Client) -> None:
    """Each was issued before the delete; none may answer a 500."""
    nia = graph.post("/users", json=new_user("nia", "Nia-password-1")).json()
    upn = f"nia@{DOMAIN}"
    device = token_endpoint_path(server, forms.devicecode_path(TENANT), client_id=CLI, scope=API_SCOPE).json()
    with httpx.Client(base_url=server.origin, verify=tls(server)) as browser:
        code = sign_in_on_the_page(browser, upn, "Nia-password-1")
        entry = forms.hidden_fields(browser.get("/device").text)
        login = forms.hidden_fields(browser.post("/device", data={"csrf": entry["csrf"],
                                                                  "otc": device["user_code"]}).text)
        approved = browser.post("/_mockidp/login", data={**login, "username": upn, "password": "Nia-password-1"})
        assert approved.status_code == 200, approved.text[:300]
        assert graph.patch(f"/users/{nia['id']}", json={"accountEnabled": False}).status_code == 204
        disabled = authorize(browser, prompt="none")
        assert disabled.status_code == 400 and "AADSTS50057" in disabled.text
        assert graph.delete(f"/users/{nia['id']}").status_code == 204
        deleted = authorize(browser, prompt="none")  # the session's user is gone: as if there were no session
        assert deleted.status_code == 302, deleted.text[:300]
        assert forms.redirect_fields(deleted.headers["location"])["error"] == ["login_required"]
    redeemed = token_endpoint(server, **forms.authorization_code(CLI, code, "http://localhost", scope=API_SCOPE,
                                                                 verifier=forms.RFC7636_VERIFIER))
    assert aadsts(redeemed) == [9002313] and redeemed.json()["error"] == "invalid_grant"
    polled = token_endpoint(server, **forms.device_code(CLI, device["device_code"]))
    assert aadsts(polled) == [9002313] and polled.json()["error"] == "invalid_grant"


def token_endpoint_path(server: LiveServer, path: str, **form: str) -> httpx.Response:
    return httpx.post(f"{server.origin}{path}", verify=tls(server), data=form)
