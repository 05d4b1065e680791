"""PostgreSQL behind several replicas: one seed, one key set, codes and refresh tokens usable on any
replica, single use holding across replicas; bad encodings refused before they reach the database."""

from __future__ import annotations

import re
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy
import uvicorn
from starlette.testclient import TestClient

from mockidp.app import create_app
from mockidp.local_ca import ensure_server_certificate
from mockidp.settings import Settings
from mockidp.testing import forms
from tests.conftest import BACKEND2, CLIENT, CLIENT_SECRET, DEMO_SEED, TENANT, _free_port
from tests.errors.test_hostile_users import consent_by_many_workers_at_once, purge_by_two_workers_at_once
from tests.postgres_server import PostgresDatabase

REDIRECT = "http://localhost:5000/callback"
SCOPE = f"api://{BACKEND2}/access_as_user openid offline_access"


class Replica:
    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.port = _free_port()
        tls = ensure_server_certificate(data_dir, [])
        self.ca = str(tls.ca_path)
        app = create_app(Settings(seed=[DEMO_SEED], data_dir=data_dir, port=self.port, database_url=database_url))
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    ssl_certfile=str(tls.cert_path), ssl_keyfile=str(tls.key_path)))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            self.thread.join(0.05)

    def client(self) -> httpx.Client:
        context = ssl.create_default_context(cafile=self.ca)
        return httpx.Client(base_url=f"https://localhost:{self.port}", verify=context)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def replicas(pg: PostgresDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Replica, Replica]]:
    shared = tmp_path_factory.mktemp("shared-data")  # replicas share the data dir volume: one key set
    a = Replica(shared, pg.url)
    b = Replica(shared, pg.url)
    yield a, b
    a.stop()
    b.stop()


def sign_in_code(replica: Replica) -> str:
    with replica.client() as c:
        page = c.get(f"/{TENANT}/oauth2/v2.0/authorize", params={
            "client_id": CLIENT, "response_type": "code", "redirect_uri": REDIRECT, "scope": SCOPE, "state": "s"})
        fields = forms.hidden_fields(page.text)
        assert set(fields) == {"ctx", "csrf"} and all(fields.values()), page.text[:300]
        done = c.post("/_mockidp/login", data={**fields, "username": "alice@contoso.onmicrosoft.com",
                                               "password": "alice-password-1"})
        assert done.status_code == 302, done.text[:300]
        return forms.code_of(done.headers["location"])


def redeem(replica: Replica, code: str) -> httpx.Response:
    with replica.client() as c:
        return c.post(forms.token_path(TENANT), data=forms.authorization_code(
            CLIENT, code, REDIRECT, scope=SCOPE, secret=CLIENT_SECRET))


def test_replicas_serve_the_same_keys_and_honour_each_others_codes(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    with a.client() as ca, b.client() as cb:
        assert ca.get(f"/{TENANT}/discovery/v2.0/keys").json()["keys"][0]["kid"] == \
            cb.get(f"/{TENANT}/discovery/v2.0/keys").json()["keys"][0]["kid"]
    tokens = redeem(b, sign_in_code(a))
    assert tokens.status_code == 200, tokens.text
    with a.client() as ca:
        refreshed = ca.post(f"/{TENANT}/oauth2/v2.0/token", data={
            "grant_type": "refresh_token", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
            "refresh_token": tokens.json()["refresh_token"], "scope": SCOPE})
    assert refreshed.status_code == 200, refreshed.text


def test_a_trace_made_on_one_replica_is_answered_by_the_other(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    with a.client() as ca:
        r = ca.post(f"/{TENANT}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": CLIENT, "client_secret": "wrong", "scope": SCOPE})
    assert r.status_code == 401
    with b.client() as cb:
        found = cb.get(f"/_mockidp/traces/{r.headers['x-ms-request-id']}")
    assert found.status_code == 200, found.text
    assert found.json()["outcome"] == "AADSTS7000215" and found.json()["clientId"] == CLIENT


def test_one_code_redeemed_16_times_across_two_replicas_succeeds_once(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    for _ in range(5):
        code = sign_in_code(a)
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(redeem, [a, b] * 8, [code] * 16))
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200] + [400] * 15
        assert {tuple(r.json()["error_codes"]) for r in answers if r.status_code == 400} == {(54005,)}


def test_one_sign_in_form_posted_16_times_across_two_replicas_signs_in_once(
        replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    with a.client() as c:
        page = c.get(f"/{TENANT}/oauth2/v2.0/authorize", params={
            "client_id": CLIENT, "response_type": "code", "redirect_uri": REDIRECT, "scope": SCOPE})
    form = dict(re.findall(r'name="(ctx|csrf)" value="([^"]+)"', page.text))
    form |= {"username": "alice@contoso.onmicrosoft.com", "password": "alice-password-1"}

    def post(replica: Replica) -> httpx.Response:
        with replica.client() as c:
            c.cookies.set("mockidp_csrf", form["csrf"])
            return c.post("/_mockidp/login", data=form)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(post, [a, b] * 8))
    assert sorted(r.status_code for r in answers) == [302] + [400] * 15, re.findall("AADSTS[0-9]+", answers[0].text)
    assert all("AADSTS50089:" in r.text for r in answers if r.status_code == 400)


def test_32_parallel_wrong_passwords_across_two_replicas_get_10_password_checks(
        replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas

    def guess(replica: Replica, i: int) -> httpx.Response:
        with replica.client() as c:
            return c.post(f"/{TENANT}/oauth2/v2.0/token", data={
                "grant_type": "password", "client_id": CLIENT, "username": "bob@contoso.onmicrosoft.com",
                "password": f"guess-{i}", "scope": SCOPE})

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(guess, [a, b] * 16, range(32)))
    codes = sorted(r.json()["error_codes"][0] for r in answers)
    assert codes == [50053] * 22 + [50126] * 10


@pytest.mark.parametrize("body", [b"grant_type=%ZZ", b"grant_type=client_credentials&client_id=%00",
                                  b"grant_type=\xff\xfe", b"client_id=%ED%A0%80&grant_type=password"],
                         ids=["bad-escape", "nul", "invalid-utf8", "lone-surrogate"])
def test_bad_encodings_are_refused_before_the_database(pg: PostgresDatabase, tmp_path: Path, body: bytes) -> None:
    app = create_app(Settings(seed=[DEMO_SEED], data_dir=tmp_path, tls=False, database_url=pg.url))
    with TestClient(app, base_url="https://localhost:8443") as client:
        r = client.post(f"/{TENANT}/oauth2/v2.0/token", content=body,
                        headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 400 and r.json()["error_codes"] == [9002313]
        unknown = client.post(f"/{TENANT}/oauth2/v2.0/token", data={
            "grant_type": "password", "client_id": CLIENT, "username": "alice@contoso.onmicrosoft.com\u00e9",
            "password": "x", "scope": SCOPE})
        assert unknown.status_code == 400 and unknown.json()["error_codes"] == [50034]


def fresh_database(pg: PostgresDatabase, name: str) -> str:
    engine = sqlalchemy.create_engine(pg.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return f"{pg.url.rsplit('/', 1)[0]}/{name}"


def test_X5_purge_by_two_replicas_at_once_is_safe(pg: PostgresDatabase) -> None:
    purge_by_two_workers_at_once(fresh_database(pg, "purge_race"))


def test_X5_consent_by_concurrent_replicas_is_one_row(pg: PostgresDatabase) -> None:
    consent_by_many_workers_at_once(fresh_database(pg, "consent_race"))


def test_a_clock_set_through_one_replica_is_followed_by_a_replica_on_another_machine(
        replicas: tuple[Replica, Replica], tmp_path: Path) -> None:
    """Another machine shares the database, not the data dir's stamp: its next request reads the database's
    control version first (web/following.py), so the very next token has the new time."""
    import jwt

    from mockidp.tokens.claims import BACKDATE_SECONDS

    a, b = replicas
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for key_file in Path(a.ca).parent.glob("signing-*"):
        (elsewhere / key_file.name).write_bytes(key_file.read_bytes())
    c = Replica(elsewhere, str(b.server.config.app.state.runtime.settings.resolved_database_url))
    try:
        with a.client() as ca:
            assert ca.post("/_mockidp/control/clock", json={"freeze": True, "at": 1_900_000_000}).status_code == 200
        with c.client() as cc:
            r = cc.post(f"/{TENANT}/oauth2/v2.0/token", data={
                "grant_type": "client_credentials", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
                "scope": f"api://{BACKEND2}/.default"})
        assert r.status_code == 200, r.text
        assert jwt.decode(r.json()["access_token"], options={"verify_signature": False})["iat"] + \
            BACKDATE_SECONDS == 1_900_000_000
    finally:
        with a.client() as ca:
            ca.post("/_mockidp/control/reset")
        c.stop()
