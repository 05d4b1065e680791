"""applications/{id}/federatedIdentityCredentials over a real TLS server (issue 10 through Graph): the seed's
rules with Graph's codes and words, and the next federated token request follows each write (70021 without a
credential, a token with one, 700213 once its subject changes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.graph.graph_seed import ADMIN, ADMIN_SECRET, READER, READER_SECRET, SEED, TENANT
from tests.graph.live import graph_session, served_seed, tls

GITHUB = "https://token.actions.githubusercontent.com"
MAIN = "repo:fabrikam/orders:ref:refs/heads/main"
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from served_seed(tmp_path_factory, "graph-fic", SEED)


def bearer(server: LiveServer, client_id: str, secret: str) -> str:
    got = httpx.post(f"{server.origin}/{TENANT}/oauth2/v2.0/token", verify=tls(server), data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": GRAPH_DEFAULT})
    assert got.status_code == 200, got.text
    return str(got.json()["access_token"])


@pytest.fixture(scope="module")
def graph(server: LiveServer) -> Iterator[httpx.Client]:
    with graph_session(server, TENANT, ADMIN, ADMIN_SECRET) as client:
        yield client


@pytest.fixture
def app(graph: httpx.Client) -> Iterator[dict[str, Any]]:
    made = graph.post("/applications", json={"displayName": "ci-job"})
    assert made.status_code == 201, made.text
    assert graph.post("/servicePrincipals", json={"appId": made.json()["appId"]}).status_code == 201
    yield made.json()
    graph.delete(f"/applications/{made.json()['id']}")


def github_token(server: LiveServer, subject: str = MAIN) -> str:
    got = httpx.post(f"{server.origin}/_mockidp/control/federation/tokens", verify=tls(server),
                     json={"issuer": "github", "subject": subject})
    assert got.status_code == 200, got.text
    return str(got.json()["token"])


def federated(server: LiveServer, client_id: str, assertion: str) -> httpx.Response:
    return httpx.post(f"{server.origin}/{TENANT}/oauth2/v2.0/token", verify=tls(server), data={
        "grant_type": "client_credentials", "client_id": client_id, "scope": GRAPH_DEFAULT,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion})


def codes(response: httpx.Response) -> list[int]:
    return list(response.json().get("error_codes", []))


def graph_error(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    assert set(error) == {"code", "message", "innerError"}
    return response.status_code, error["code"], error["message"]


def test_a_credential_added_through_graph_signs_the_next_request_in(server: LiveServer, graph: httpx.Client,
                                                                    app: dict[str, Any]) -> None:
    assertion = github_token(server)
    assert codes(federated(server, app["appId"], assertion)) == [70021]
    path = f"/applications/{app['id']}/federatedIdentityCredentials"
    made = graph.post(path, json={"name": "github-main", "issuer": GITHUB, "subject": MAIN})
    assert made.status_code == 201, made.text
    body = made.json()
    assert list(body) == ["@odata.context", "id", "name", "issuer", "subject", "description", "audiences"]
    assert body["@odata.context"].endswith(f"#applications('{app['id']}')/federatedIdentityCredentials/$entity")
    assert (body["audiences"], body["description"]) == (["api://AzureADTokenExchange"], None)
    got = federated(server, app["appId"], assertion)
    assert got.status_code == 200, got.text
    listed = graph.get(path).json()["value"]
    assert [(c["id"], c["name"]) for c in listed] == [(body["id"], "github-main")]
    by_name, by_id = graph.get(f"{path}/github-main"), graph.get(f"{path}/{body['id']}")
    assert by_name.status_code == by_id.status_code == 200 and by_name.json()["id"] == body["id"]
    assert graph.get(path, params={"$filter": f"subject eq '{MAIN}'"}).json()["value"][0]["id"] == body["id"]
    keyed = graph.get(f"/applications(appId='{app['appId']}')/federatedIdentityCredentials/github-main")
    assert keyed.status_code == 200 and keyed.json()["id"] == body["id"]  # Graph's alternate key of the app
    other = "repo:fabrikam/orders:environment:prod"
    assert graph.patch(f"{path}/github-main", json={"subject": other, "description": "prod"}).status_code == 204
    assert graph.get(f"{path}/github-main").json()["subject"] == other
    assert codes(federated(server, app["appId"], assertion)) == [700213]
    assert federated(server, app["appId"], github_token(server, other)).status_code == 200
    assert graph.delete(f"{path}/{body['id']}").status_code == 204
    assert codes(federated(server, app["appId"], github_token(server, other))) == [70021]
    gone = graph.get(f"{path}/{body['id']}")
    assert graph_error(gone)[:2] == (404, "Request_ResourceNotFound")


def test_entras_limits_answer_graphs_errors(server: LiveServer, graph: httpx.Client, app: dict[str, Any]) -> None:
    path = f"/applications/{app['id']}/federatedIdentityCredentials"
    assert graph.post(path, json={"name": "main", "issuer": GITHUB, "subject": MAIN}).status_code == 201
    taken = graph.post(path, json={"name": "main", "issuer": GITHUB, "subject": MAIN + "-2"})
    assert graph_error(taken) == (409, "Request_MultipleObjectsWithSameKeyValue",
                                  "FederatedIdentityCredential with name main already exists.")
    pair = graph.post(path, json={"name": "again", "issuer": GITHUB, "subject": MAIN})
    status, code, message = graph_error(pair)
    assert (status, code) == (400, "InvalidFederatedIdentityCredentialValue")
    assert message.startswith("The combination of issuer and subject must be unique for the application. "
                              f"Issuer {GITHUB} and Subject: {MAIN} already exist.")
    for bad, words in (({"audiences": ["api://AzureADTokenExchange", "api://other"]}, "exactly one audience"),
                       ({"name": "a b"}, "Federated Identity Credential name 'a b' is invalid."),
                       ({"issuer": "not-a-url"}, "is not an https URL"),
                       ({"subject": None}, "subject"),
                       ({"unknown": 1}, "unknown key")):
        refused = graph.post(path, json={"name": "fresh", "issuer": GITHUB, "subject": "s-new", **bad})
        status, code, message = graph_error(refused)
        assert (status, code) == (400, "Request_BadRequest") and words in message, (bad, message)
    renamed = graph.patch(f"{path}/main", json={"name": "other"})
    assert graph_error(renamed)[:2] == (400, "Request_BadRequest")
    for i in range(19):
        assert graph.post(path, json={"name": f"n{i:02}", "issuer": GITHUB, "subject": f"s{i}"}).status_code == 201
    over = graph.post(path, json={"name": "n20", "issuer": GITHUB, "subject": "s20"})
    status, code, message = graph_error(over)
    assert (status, code) == (400, "Request_BadRequest") and "at most 20" in message
    assert len(graph.get(path, params={"$top": "999"}).json()["value"]) == 20  # nothing half-applied
    missing = graph.patch(f"{path}/no-such-credential", json={"subject": "x"})
    assert graph_error(missing)[:2] == (404, "Request_ResourceNotFound")
    reader = httpx.get(f"{server.origin}/graph/v1.0{path}", verify=tls(server),
                       headers={"Authorization": "Bearer " + bearer(server, READER, READER_SECRET)})
    assert graph_error(reader)[:2] == (403, "Authorization_RequestDenied")


def test_a_deeply_nested_body_is_graphs_400_not_a_500(graph: httpx.Client, app: dict[str, Any]) -> None:
    for method, path in (("POST", f"/applications/{app['id']}/federatedIdentityCredentials"),
                         ("PATCH", f"/applications/{app['id']}")):
        nested = graph.request(method, path, content=b"[" * 20000 + b"]" * 20000,
                               headers={"content-type": "application/json"})
        assert graph_error(nested)[:2] == (400, "BadRequest"), path
