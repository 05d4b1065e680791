"""Graph's edge over a real TLS server (mockidp/web/routes/graph.py): an admin app with Graph's app roles
creates an app, its service principal and a role assignment; the next token decision follows each write."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.graph.graph_seed import ADMIN, ADMIN_SECRET, API, READER, READER_SECRET, SEED, TENANT
from tests.graph.live import client_token, graph_session, served_seed, tls


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from served_seed(tmp_path_factory, "graph", SEED)


def token_for(server: LiveServer, client_id: str, secret: str, scope: str) -> httpx.Response:
    return client_token(server, TENANT, client_id, secret, scope)


@pytest.fixture(scope="module")
def graph(server: LiveServer) -> Iterator[httpx.Client]:
    with graph_session(server, TENANT, ADMIN, ADMIN_SECRET) as client:
        yield client


def error_of(response: httpx.Response) -> str:
    body: dict[str, Any] = response.json()
    assert set(body["error"]) == {"code", "message", "innerError"}
    return str(body["error"]["code"])


def test_create_an_app_assign_a_role_and_the_next_token_follows(server: LiveServer, graph: httpx.Client) -> None:
    made = graph.post("/applications", json={"displayName": "new-daemon"})
    assert made.status_code == 201, made.text
    app = made.json()
    assert app["displayName"] == "new-daemon" and app["@odata.context"].endswith("#applications/$entity")
    secret = graph.post(f"/applications/{app['id']}/addPassword", json={"passwordCredential": {"displayName": "t"}})
    assert secret.status_code == 200 and len(secret.json()["secretText"]) == 40
    text = secret.json()["secretText"]
    sp = graph.post("/servicePrincipals", json={"appId": app["appId"]})
    assert sp.status_code == 201, sp.text
    api = graph.get("/servicePrincipals", params={"$filter": f"appId eq '{API}'"}).json()["value"]
    assert [x["appRoleAssignmentRequired"] for x in api] == [True]
    role = graph.get(f"/applications?$filter=appId eq '{API}'").json()["value"][0]["appRoles"][0]["id"]
    scope = f"api://{API}/.default"
    refused = token_for(server, app["appId"], text, scope)
    assert refused.status_code == 400 and "AADSTS501051" in refused.json()["error_description"]
    assigned = graph.post(f"/servicePrincipals/{api[0]['id']}/appRoleAssignedTo", json={
        "principalId": sp.json()["id"], "resourceId": api[0]["id"], "appRoleId": role})
    assert assigned.status_code == 201, assigned.text
    got = token_for(server, app["appId"], text, scope)
    assert got.status_code == 200, got.text
    listed = graph.get(f"/servicePrincipals/{sp.json()['id']}/appRoleAssignments").json()["value"]
    assert [x["id"] for x in listed] == [assigned.json()["id"]]
    gone = graph.delete(f"/servicePrincipals/{api[0]['id']}/appRoleAssignedTo/{assigned.json()['id']}")
    assert gone.status_code == 204
    again = token_for(server, app["appId"], text, scope)
    assert again.status_code == 400 and "AADSTS501051" in again.json()["error_description"]
    assert graph.delete(f"/applications/{app['id']}").status_code == 204
    missing = graph.get(f"/applications/{app['id']}")
    assert missing.status_code == 404 and error_of(missing) == "Request_ResourceNotFound"


def test_bad_input_gets_graph_error_bodies(server: LiveServer, graph: httpx.Client) -> None:
    bad = graph.post("/applications", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and error_of(bad) == "BadRequest"
    big = graph.post("/applications", content=b"{" + b" " * (70 * 1024) + b"}")
    assert big.status_code == 413 and error_of(big) == "Request_EntityTooLarge"
    query = graph.get("/applications", params={"$orderby": "displayName"})
    assert query.status_code == 400 and error_of(query) == "Request_UnsupportedQuery"
    no_sp = graph.post("/servicePrincipals", json={"appId": "00000000-0000-4000-8000-00000000dead"})
    assert no_sp.status_code == 400 and error_of(no_sp) == "Request_BadRequest"
    anonymous = httpx.get(f"{server.origin}/graph/v1.0/applications", verify=tls(server))
    assert anonymous.status_code == 401 and error_of(anonymous) == "InvalidAuthenticationToken"
    other = token_for(server, ADMIN, ADMIN_SECRET, f"api://{API}/.default")
    assert other.status_code == 400  # the admin holds no role of the API: no token for it at all
    for content in (b"[1, 2]", b"\xff\xfe{}", b"null"):
        odd = graph.post("/applications", content=content, headers={"content-type": "application/json"})
        assert odd.status_code == 400 and error_of(odd) == "BadRequest"
    for top in ("0", "1000", "x"):
        paged = graph.get("/applications", params={"$top": top})
        assert paged.status_code == 400 and error_of(paged) == "Request_UnsupportedQuery"
    bad_filter = graph.get("/servicePrincipals", params={"$filter": "startswith(displayName,'a')"})
    assert bad_filter.status_code == 400 and error_of(bad_filter) == "Request_UnsupportedQuery"
    options = graph.request("OPTIONS", "/applications")
    assert options.status_code == 501 and error_of(options) == "NotImplemented"
    unknown = graph.get("/drives")
    assert unknown.status_code == 501 and error_of(unknown) == "NotImplemented"


def test_the_graph_host_serves_v1_paths_and_others_do_not(server: LiveServer, graph: httpx.Client) -> None:
    auth = {"Authorization": graph.headers["Authorization"]}
    hosted = httpx.get(f"{server.origin}/v1.0/applications", verify=tls(server),
                       headers={**auth, "Host": "graph.microsoft.com"})
    assert hosted.status_code == 200 and any(a["appId"] == API for a in hosted.json()["value"])
    assert hosted.json()["@odata.context"].startswith("https://graph.microsoft.com/v1.0/$metadata")
    plain = httpx.get(f"{server.origin}/v1.0/applications", verify=tls(server), headers=auth)
    assert plain.status_code == 404


def test_paging_follows_the_next_link(graph: httpx.Client) -> None:
    first = graph.get("/applications", params={"$top": "1", "$select": "displayName"}).json()
    assert len(first["value"]) == 1 and set(first["value"][0]) == {"id", "displayName"}
    second = graph.get(first["@odata.nextLink"]).json()
    assert second["value"] and second["value"][0]["id"] != first["value"][0]["id"]


def test_patch_remove_password_and_a_caller_without_graph_roles(server: LiveServer, graph: httpx.Client) -> None:
    app = graph.post("/applications", json={"displayName": "to-patch"}).json()
    assert graph.patch(f"/applications/{app['id']}", json={"displayName": "patched"}).status_code == 204
    assert graph.get(f"/applications/{app['id']}").json()["displayName"] == "patched"
    refused = graph.patch(f"/applications/{app['id']}", json={"signInAudience": 7})
    assert refused.status_code == 400 and error_of(refused) == "Request_BadRequest"
    secret = graph.post(f"/applications/{app['id']}/addPassword", json={}).json()
    sp = graph.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    assert graph.patch(f"/servicePrincipals/{sp['id']}", json={"appRoleAssignmentRequired": True}).status_code == 204
    assert graph.get(f"/servicePrincipals/{sp['id']}").json()["appRoleAssignmentRequired"] is True
    assert token_for(server, app["appId"], secret["secretText"], "https://graph.microsoft.com/.default").status_code \
        == 200
    removed = graph.post(f"/applications/{app['id']}/removePassword", json={"keyId": secret["keyId"]})
    assert removed.status_code == 204
    stale = token_for(server, app["appId"], secret["secretText"], "https://graph.microsoft.com/.default")
    assert stale.status_code == 401 and "AADSTS7000215" in stale.json()["error_description"]
    reader = token_for(server, READER, READER_SECRET, "https://graph.microsoft.com/.default").json()["access_token"]
    denied = httpx.get(f"{server.origin}/graph/v1.0/applications", verify=tls(server),
                       headers={"Authorization": f"Bearer {reader}"})
    assert denied.status_code == 403 and error_of(denied) == "Authorization_RequestDenied"


def test_the_control_reset_undoes_graph_writes(server: LiveServer, graph: httpx.Client) -> None:
    made = graph.post("/applications", json={"displayName": "gone-after-reset"}).json()
    assert graph.get(f"/applications/{made['id']}").status_code == 200
    reset = httpx.post(f"{server.origin}/_mockidp/control/reset", verify=tls(server))
    assert reset.status_code == 200 and "directory" in reset.json()["reset"]
    after = graph.get(f"/applications/{made['id']}")
    assert after.status_code == 404 and error_of(after) == "Request_ResourceNotFound"
    assert any(a["appId"] == API for a in graph.get("/applications").json()["value"])
