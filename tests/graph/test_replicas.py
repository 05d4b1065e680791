"""Issue 9 across PostgreSQL replicas: two `mockidp serve` processes (each with two workers) on one database and
on data dirs of their own (other machines: no shared stamp). A Graph write through one replica is the next
decision of the other: the app, its secret, its service principal and its assignment made on A give a token
with the role on B at once; the assignment deleted on B is AADSTS501051 on A; a removed secret is refused on
the other replica; the control clock, reset and key rotation made on A are followed by B."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import jwt
import msal
import pytest
import requests
import sqlalchemy

from mockidp.tokens.claims import BACKDATE_SECONDS
from tests.conftest import BACKEND2 as DEMO_BACKEND2
from tests.conftest import CLIENT as DEMO_CLIENT
from tests.conftest import CLIENT_SECRET as DEMO_SECRET
from tests.conftest import DEMO_SEED
from tests.conftest import TENANT as DEMO_TENANT
from tests.graph.graph_seed import ADMIN, ADMIN_SECRET, API, SEED, TENANT
from tests.graph.test_msgraph_sdk import delete_assignment, scenario
from tests.own_thread import in_own_loop
from tests.postgres_server import PostgresDatabase, PostgresServer
from tests.serving.test_serve import Served

GRAPH = "https://graph.microsoft.com/.default"


class Replica:
    """One `mockidp serve` of the pair, and the clients a test uses on it."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.ca = str(served.data_dir / "ca.pem")

    def http(self) -> httpx.Client:
        # a new connection per request: either worker of the replica may answer
        return httpx.Client(base_url=self.served.origin, verify=ssl.create_default_context(cafile=self.ca),
                            headers={"Connection": "close"}, timeout=30)

    def msal(self, client_id: str, secret: str, scope: str = f"api://{API}/.default") -> dict[str, Any]:
        session = requests.Session()
        session.verify = self.ca
        session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the mockidp CA
        session.headers["Connection"] = "close"
        app = msal.ConfidentialClientApplication(client_id, client_credential=secret, http_client=session,
                                                 authority=f"{self.served.origin}/{TENANT}", instance_discovery=False)
        result: dict[str, Any] = app.acquire_token_for_client([scope])
        return result

    def graph(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        token = self.msal(ADMIN, ADMIN_SECRET, GRAPH)["access_token"]
        with self.http() as c:
            return c.request(method, f"/graph/v1.0/{path}", json=body, headers={"Authorization": f"Bearer {token}"})

    def control(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        with self.http() as c:
            return c.post(f"/_mockidp/control/{path}", json=body)


@pytest.fixture(scope="module")
def pair(pg: PostgresDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Replica, Replica]]:
    tmp = tmp_path_factory.mktemp("replicas")
    seed = tmp / "graph.yaml"
    seed.write_text(SEED)
    started: list[Served] = []
    try:
        for name in ("a", "b"):  # one after the other: the second finds the seed and the key in the database
            s = Served(tmp / name / "data", "--workers", "2", "--seed", str(seed), "--database-url", pg.url)
            started.append(s)
            s.wait()
        yield Replica(started[0]), Replica(started[1])
    finally:
        for s in started:
            s.stop()


def created(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    return body


def register_daemon(on: Replica, name: str) -> tuple[str, str, str, str, str]:
    """Through Graph on one replica: an app, a secret, its service principal and the API's role assigned to it.
    Returns appId, secret, keyId, the API's service principal id and the assignment's id."""
    app = created(on.graph("POST", "applications", {"displayName": name}))
    secret = created(on.graph("POST", f"applications/{app['id']}/addPassword", {"passwordCredential": {}}))
    sp = created(on.graph("POST", "servicePrincipals", {"appId": app["appId"]}))
    api_sp = created(on.graph("GET", f"servicePrincipals?$filter=appId eq '{API}'"))["value"][0]
    role = next(a for a in created(on.graph("GET", "applications"))["value"] if a["appId"] == API)["appRoles"][0]["id"]
    assigned = created(on.graph("POST", f"servicePrincipals/{api_sp['id']}/appRoleAssignedTo", {
        "principalId": sp["id"], "resourceId": api_sp["id"], "appRoleId": role}))
    return app["appId"], secret["secretText"], secret["keyId"], api_sp["id"], assigned["id"]


def roles_of(result: dict[str, Any]) -> list[str]:
    assert "access_token" in result, result
    roles: list[str] = jwt.decode(result["access_token"], options={"verify_signature": False}).get("roles", [])
    return roles


def test_replicas_have_their_own_data_dirs_and_agree_on_the_keys(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    assert a.served.data_dir != b.served.data_dir
    with a.http() as ca, b.http() as cb:
        kids_a = [k["kid"] for k in ca.get(f"/{TENANT}/discovery/v2.0/keys").json()["keys"]]
        kids_b = [k["kid"] for k in cb.get(f"/{TENANT}/discovery/v2.0/keys").json()["keys"]]
    assert kids_a == kids_b


def test_a_graph_write_on_one_replica_is_the_next_decision_of_the_other(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    app_id, secret, _key, api_sp, assignment = register_daemon(a, "replica-daemon")
    started = time.monotonic()
    for _ in range(4):  # at once, on each of B's workers: no waiting, no retry
        assert roles_of(b.msal(app_id, secret)) == ["Orders.Read"]
    first = time.monotonic() - started
    assert b.graph("DELETE", f"servicePrincipals/{api_sp}/appRoleAssignedTo/{assignment}").status_code == 204
    for _ in range(4):
        refused = a.msal(app_id, secret)
        assert "AADSTS501051" in str(refused.get("error_description")), refused
    print(f"4 tokens on B right after the writes on A took {first:.2f} s")


def test_msgraph_sdk_writes_on_one_replica_and_msal_follows_on_the_other(pair: tuple[Replica, Replica]) -> None:
    """The issue's proof with the real SDK (tests/graph/test_msgraph_sdk.py's scenario), split over the pair."""
    a, b = pair
    app_id, secret, resource, assignment = in_own_loop(scenario(a.served))
    for _ in range(4):
        assert roles_of(b.msal(app_id, secret)) == ["Orders.Read"]
    in_own_loop(delete_assignment(b.served, resource, assignment))
    for _ in range(4):
        refused = a.msal(app_id, secret)
        assert "AADSTS501051" in str(refused.get("error_description")), refused


def test_a_secret_removed_on_one_replica_is_refused_by_the_other(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    app_id, secret, key_id, _sp, _as = register_daemon(b, "replica-secret")
    app = created(a.graph("GET", f"applications?$filter=appId eq '{app_id}'"))["value"][0]
    assert roles_of(a.msal(app_id, secret)) == ["Orders.Read"]
    assert a.graph("POST", f"applications/{app['id']}/removePassword", {"keyId": key_id}).status_code == 204
    for _ in range(4):
        refused = b.msal(app_id, secret)
        assert "AADSTS7000215" in str(refused.get("error_description")), refused


def claims_of(result: dict[str, Any]) -> dict[str, Any]:
    assert "access_token" in result, result
    claims: dict[str, Any] = jwt.decode(result["access_token"], options={"verify_signature": False})
    return claims


def test_the_clock_set_and_reset_on_one_replica_is_the_next_token_of_the_other(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    frozen = 1_900_000_000
    try:
        assert a.control("clock", {"freeze": True, "at": frozen}).status_code == 200
        assert claims_of(b.msal(ADMIN, ADMIN_SECRET, GRAPH))["iat"] + BACKDATE_SECONDS == frozen  # no waiting
        assert a.control("clock", {"advance": 7200}).status_code == 200
        assert claims_of(b.msal(ADMIN, ADMIN_SECRET, GRAPH))["iat"] + BACKDATE_SECONDS == frozen + 7200
    finally:
        assert a.control("reset").status_code == 200
    assert abs(claims_of(b.msal(ADMIN, ADMIN_SECRET, GRAPH))["iat"] + BACKDATE_SECONDS - time.time()) < 60


def test_a_reset_on_one_replica_removes_graph_registrations_on_the_other_at_once(
        pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    app_id, secret, *_ = register_daemon(b, "replica-reset")
    assert roles_of(a.msal(app_id, secret)) == ["Orders.Read"]
    assert a.control("reset").status_code == 200
    gone = b.msal(app_id, secret)
    assert "AADSTS700016" in str(gone.get("error_description")), gone
    assert created(b.graph("GET", f"applications?$filter=appId eq '{app_id}'"))["value"] == []


def test_keys_rotated_on_one_replica_sign_on_the_other_at_once(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    r = a.control("keys/rotate", {"overlapSeconds": 3600})
    assert r.status_code == 200, r.text
    with a.http() as ca:
        published = ca.get("/_mockidp/control/keys").json()
    active = next(k["kid"] for k in published["value"] if k["role"] == "active")
    with b.http() as cb:
        kids_b = [k["kid"] for k in cb.get(f"/{TENANT}/discovery/v2.0/keys").json()["keys"]]
    assert active in kids_b and len(kids_b) >= 2  # the new key, and the old one for the overlap
    for _ in range(4):
        token = b.msal(ADMIN, ADMIN_SECRET, GRAPH)["access_token"]
        assert jwt.get_unverified_header(token)["kid"] == active


def test_a_fault_armed_on_one_replica_answers_the_next_request_of_the_other(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    try:
        r = a.control("faults", {"error": 50196, "count": 1, "clientId": ADMIN})
        assert r.status_code == 201, r.text
        failed = b.msal(ADMIN, ADMIN_SECRET, GRAPH)
        assert failed.get("error_codes") == [50196], failed
        assert "access_token" in a.msal(ADMIN, ADMIN_SECRET, GRAPH)  # one use, taken on B, counted on A
    finally:
        with a.http() as ca:
            ca.delete("/_mockidp/control/faults")


def graph_caller(on: Replica) -> Any:
    token = on.msal(ADMIN, ADMIN_SECRET, GRAPH)["access_token"]

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        with on.http() as c:
            return c.request(method, f"/graph/v1.0/{path}", json=body, headers={"Authorization": f"Bearer {token}"})
    return call


def at_once(calls: list[Any]) -> list[httpx.Response]:
    """The calls in threads of their own, released together."""
    gate = threading.Barrier(len(calls))

    def run(call: Any) -> httpx.Response:
        gate.wait(30)
        answer: httpx.Response = call()
        return answer
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_secrets_added_to_one_app_at_once_through_both_replicas_all_land(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    on_a, on_b = graph_caller(a), graph_caller(b)
    app = created(on_a("POST", "applications", {"displayName": "replica-many-secrets"}))
    created(on_a("POST", "servicePrincipals", {"appId": app["appId"]}))
    answers = at_once([lambda c=c, i=i: c("POST", f"applications/{app['id']}/addPassword",
                                            {"passwordCredential": {"displayName": f"s{i}"}})
                       for i, c in enumerate([on_a, on_b] * 4)])
    added = [created(r) for r in answers]
    stored = created(on_b("GET", f"applications/{app['id']}"))["passwordCredentials"]
    assert sorted(c["keyId"] for c in stored) == sorted(x["keyId"] for x in added)  # none lost
    for i, x in enumerate(added):  # and each one authenticates, on either replica
        got = (a, b)[i % 2].msal(app["appId"], x["secretText"], GRAPH)
        assert "access_token" in got, got


def test_apps_created_at_once_through_both_replicas_all_land(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    on_a, on_b = graph_caller(a), graph_caller(b)
    answers = at_once([lambda c=c, i=i: c("POST", "applications", {"displayName": f"replica-race-{i}"})
                       for i, c in enumerate([on_a, on_b] * 4)])
    made = {created(r)["appId"] for r in answers}
    assert len(made) == 8
    listed = {x["appId"] for x in created(on_a("GET", "applications?$top=999"))["value"]}
    assert made <= listed


def directory_version(pg: PostgresDatabase) -> int:
    engine = sqlalchemy.create_engine(pg.url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sqlalchemy.text(
                "SELECT version FROM control_state WHERE name = 'directory'")).scalar_one())
    finally:
        engine.dispose()


def test_a_refused_write_leaves_nothing_on_either_replica(pair: tuple[Replica, Replica], pg: PostgresDatabase) -> None:
    a, b = pair
    on_a, on_b = graph_caller(a), graph_caller(b)
    before, version = created(on_b("GET", "applications?$top=999")), directory_version(pg)
    api_sp = created(on_a("GET", f"servicePrincipals?$filter=appId eq '{API}'"))["value"][0]
    refused = [
        on_a("POST", "servicePrincipals", {"appId": "00000000-0000-4000-8000-00000000dead"}),
        on_b("POST", f"servicePrincipals/{api_sp['id']}/appRoleAssignedTo", {
            "principalId": api_sp["id"], "resourceId": api_sp["id"],
            "appRoleId": "00000000-0000-4000-8000-00000000beef"}),
        on_a("POST", "applications", {"displayName": "bad", "appRoles": [{"value": "x", "allowedMemberTypes": 5}]}),
    ]
    for r in refused:
        assert r.status_code in (400, 404), r.text
        assert r.json()["error"]["code"] in ("Request_BadRequest", "Request_ResourceNotFound"), r.text
    assert directory_version(pg) == version  # no transaction committed
    assert created(on_a("GET", "applications?$top=999"))["value"] == before["value"]


def test_a_replica_whose_database_went_away_still_answers_and_tries_again_later(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from starlette.testclient import TestClient

    from mockidp.app import create_app
    from mockidp.directory.control_state import RETRY_AFTER, VersionProbe
    from mockidp.settings import Settings

    with PostgresServer() as server:
        app = create_app(Settings(seed=[DEMO_SEED], data_dir=tmp_path, tls=False, database_url=server.url))
        with TestClient(app, base_url="http://localhost:8443") as client:
            assert client.get(f"/{DEMO_TENANT}/discovery/v2.0/keys").status_code == 200
            server.__exit__()  # the database stops under the running replica
            with caplog.at_level("WARNING", logger="mockidp"):
                answered = client.get(f"/{DEMO_TENANT}/discovery/v2.0/keys")
            assert answered.status_code == 200  # with the keys it has
            assert "reading the control version failed" in caplog.text
    probe = VersionProbe(sqlalchemy.create_engine(server.url))
    with pytest.raises(sqlalchemy.exc.OperationalError):
        probe.read()
    started = time.monotonic()
    with pytest.raises(ConnectionError):  # no second attempt at once: a request does not wait on connecting
        probe.read()
    assert time.monotonic() - started < RETRY_AFTER / 10


def test_the_gateway_of_one_replica_takes_a_token_signed_with_a_key_rotated_on_the_other(
        pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    assert a.control("keys/rotate", {"overlapSeconds": 3600}).status_code == 200
    with a.http() as ca:  # B's Host, as a load balancer passes it on: the issuer B's gateway expects
        token = ca.post(f"/{DEMO_TENANT}/oauth2/v2.0/token", headers={"Host": f"localhost:{b.served.port}"}, data={
            "grant_type": "client_credentials", "client_id": DEMO_CLIENT, "client_secret": DEMO_SECRET,
            "scope": f"api://{DEMO_BACKEND2}/.default"}).json()["access_token"]
    gateway = f"https://localhost:{b.served.gateway_port}"
    with httpx.Client(base_url=gateway, verify=ssl.create_default_context(cafile=b.ca)) as cb:
        answered = cb.get("/backend2/hello", headers={"Authorization": f"Bearer {token}",
                                                      "Ocp-Apim-Subscription-Key": "demo-subscription-key-1"})
    assert answered.status_code == 200, answered.text  # no request reached B's Entra port in between


def test_a_replica_joining_without_a_seed_keeps_what_graph_wrote_and_resets_to_the_stored_seed(
        pair: tuple[Replica, Replica], pg: PostgresDatabase, tmp_path: Path) -> None:
    """A replica started with --seed writes the seed over the directory (a restart starts from the seed); one
    that joins running replicas (a scale-up, a restart while tests run) is started without: it decides with
    the directory as the others left it, and a reset through it brings back the seed the first one stored."""
    a, _b = pair
    app_id, secret, *_ = register_daemon(a, "replica-joiner")
    joined = Served(tmp_path / "c" / "data", "--workers", "2", "--database-url", pg.url, demo_seed=False)
    try:
        joined.wait()
        c = Replica(joined)
        assert roles_of(c.msal(app_id, secret)) == ["Orders.Read"]
        assert roles_of(a.msal(app_id, secret)) == ["Orders.Read"]  # nothing replaced on the others either
        assert c.control("reset").status_code == 200
        assert "AADSTS700016" in str(a.msal(app_id, secret).get("error_description"))
        assert "access_token" in c.msal(ADMIN, ADMIN_SECRET, GRAPH)  # the seed is back, through C
    finally:
        joined.stop()


def test_clock_advances_made_at_once_through_both_replicas_all_count(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    frozen = 1_900_000_000
    try:
        assert a.control("clock", {"freeze": True, "at": frozen}).status_code == 200
        answers = at_once([lambda r=r: r.control("clock", {"advance": 100}) for r in [a, b] * 4])
        assert [r.status_code for r in answers] == [200] * 8, [r.text for r in answers]
        for r in (a, b):
            assert claims_of(r.msal(ADMIN, ADMIN_SECRET, GRAPH))["iat"] + BACKDATE_SECONDS == frozen + 800
    finally:
        assert a.control("reset").status_code == 200
