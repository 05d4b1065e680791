"""People writes on two replicas of one PostgreSQL database, each with a data dir of its own (two machines):
a user created through one signs in at the other, a membership added through the other shows in the first's
tokens, a revoke through one refuses the refresh token at the other, and a delete reaches both."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import LiveServer
from tests.graph.people_seed import ADMIN, ADMIN_SECRET, API_SCOPE, CLI, DOMAIN, HR_CLI, HR_GROUP, SEED, TENANT
from tests.graph.test_graph_people import aadsts, new_user, tls
from tests.postgres_server import PostgresServer

FOLLOW = 5.0  # seconds a replica may take to see another's write (its control poll is 0.5 s)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    tmp = tmp_path_factory.mktemp("people-pg")
    seed = tmp / "seed.yaml"
    seed.write_text(SEED)
    with PostgresServer() as pg, LiveServer(tmp / "a", [seed], database_url=pg.url) as a, \
            LiveServer(tmp / "b", [seed], database_url=pg.url) as b:
        yield a, b


def token(server: LiveServer, **form: str) -> httpx.Response:
    return httpx.post(f"{server.origin}/{TENANT}/oauth2/v2.0/token", verify=tls(server), data=form)


def graph(server: LiveServer, admin_token: str) -> httpx.Client:
    return httpx.Client(base_url=f"{server.origin}/graph/v1.0", verify=tls(server),
                        headers={"Authorization": f"Bearer {admin_token}"})


def eventually(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + FOLLOW
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_people_writes_through_one_replica_decide_at_the_other(replicas: tuple[LiveServer, LiveServer]) -> None:
    a, b = replicas
    admin = token(a, grant_type="client_credentials", client_id=ADMIN, client_secret=ADMIN_SECRET,
                  scope="https://graph.microsoft.com/.default").json()["access_token"]
    upn, password = f"jo@{DOMAIN}", "Jo-password-1"

    def ropc(at: LiveServer, client_id: str = CLI, scope: str = API_SCOPE) -> httpx.Response:
        return token(at, grant_type="password", client_id=client_id, username=upn, password=password, scope=scope)
    with graph(a, admin) as graph_a, graph(b, admin) as graph_b:  # a token of one replica is good at the other
        made = graph_a.post("/users", json=new_user("jo", password))
        assert made.status_code == 201, made.text
        jo = made.json()["id"]
        assert eventually(lambda: ropc(b).status_code == 200)
        added = graph_b.post(f"/groups/{HR_GROUP}/members/$ref",
                             json={"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{jo}"})
        assert added.status_code == 204, added.text
        assert eventually(lambda: ropc(a, HR_CLI).status_code == 200)
        refresh = ropc(a, scope=f"{API_SCOPE} offline_access").json()["refresh_token"]
        assert graph_a.post(f"/users/{jo}/revokeSignInSessions").status_code == 200
        refused = token(b, grant_type="refresh_token", client_id=CLI, refresh_token=refresh, scope=API_SCOPE)
        assert aadsts(refused) == [50173]  # the revoke is in the shared database at once
        assert graph_b.delete(f"/users/{jo}").status_code == 204
        assert eventually(lambda: ropc(a).status_code == 400)
        assert aadsts(ropc(a)) == [50034]
