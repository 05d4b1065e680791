"""Managed identities on PostgreSQL behind two replicas (issue 10): the resources are stored with the directory,
so a replica that did not load the seed answers for them; the header secret holds on every replica that shares
the data dir's session-secret (docs/managed-identities.md#how-it-fits-the-rest), and only there."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from mockidp.app import create_app
from mockidp.oauth.managed_identity import header_secret
from mockidp.settings import Settings
from tests.conftest import DEMO_SEED
from tests.identity.test_managed_identities import FUNC_CLIENT, IDENTITIES_SEED
from tests.postgres_server import PostgresDatabase


def replica(data_dir: Path, url: str, *, seed: bool) -> TestClient:
    settings = Settings(seed=[DEMO_SEED, IDENTITIES_SEED] if seed else [], data_dir=data_dir, database_url=url,
                        tls=False)
    return TestClient(create_app(settings, apply_seed=seed), base_url="http://localhost:8443")


def ask(client: TestClient, secret: str):  # type: ignore[no-untyped-def]
    return client.get("/msi/token", params={"resource": "api://orders-api", "api-version": "2019-08-01"},
                      headers={"X-IDENTITY-HEADER": secret})


def test_replicas_answer_for_the_stored_identities(pg: PostgresDatabase, tmp_path: Path) -> None:
    first_dir, second_dir, stranger_dir = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    with replica(first_dir, pg.url, seed=True) as first:
        secret = header_secret((first_dir / "session-secret").read_bytes(), "orders-func")
        assert ask(first, secret).json()["client_id"] == FUNC_CLIENT
        second_dir.mkdir()
        (second_dir / "session-secret").write_bytes((first_dir / "session-secret").read_bytes())
        with replica(second_dir, pg.url, seed=False) as second:
            answer = ask(second, secret)
            assert answer.status_code == 200, answer.text
            assert answer.json()["client_id"] == FUNC_CLIENT
        with replica(stranger_dir, pg.url, seed=False) as stranger:  # another session-secret: other secrets
            assert ask(stranger, secret).status_code == 401
            own = header_secret((stranger_dir / "session-secret").read_bytes(), "orders-func")
            assert ask(stranger, own).status_code == 200
