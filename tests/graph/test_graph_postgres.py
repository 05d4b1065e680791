"""Graph writes on PostgreSQL behind two replicas (issue 9: "in every worker and replica"): a federated identity
credential written through one replica signs the next federated request in on the other (within its control
poll, CONTROL_POLL), and its deletion brings back AADSTS70021 there."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from mockidp.app import CONTROL_POLL, create_app
from mockidp.settings import Settings
from tests.federation.issuer_support import ExternalIssuer
from tests.graph.graph_seed import ADMIN, ADMIN_SECRET, SEED, TENANT
from tests.postgres_server import PostgresServer

SUBJECT = "system:serviceaccount:ci:deployer"


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


def replica(data_dir: Path, url: str, seed: Path | None) -> TestClient:
    settings = Settings(seed=[seed] if seed else [], data_dir=data_dir, database_url=url, tls=False)
    return TestClient(create_app(settings, apply_seed=seed is not None), base_url="http://localhost:8443")


def federated(client: TestClient, app_id: str, assertion: str) -> httpx.Response:
    return client.post(f"/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": app_id, "scope": "https://graph.microsoft.com/.default",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion})


def within_the_poll(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + 4 * CONTROL_POLL + 2
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_a_credential_written_on_one_replica_decides_on_the_other(pg: PostgresServer, tmp_path: Path) -> None:
    seed = tmp_path / "graph.yaml"
    seed.write_text(SEED)
    with ExternalIssuer() as issuer, replica(tmp_path / "a", pg.url, seed) as first, \
            replica(tmp_path / "b", pg.url, None) as second:
        got = first.post(f"/{TENANT}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": ADMIN, "client_secret": ADMIN_SECRET,
            "scope": "https://graph.microsoft.com/.default"})
        headers = {"Authorization": "Bearer " + got.json()["access_token"]}
        app = first.post("/graph/v1.0/applications", json={"displayName": "replicated-job"}, headers=headers).json()
        assert first.post("/graph/v1.0/servicePrincipals", json={"appId": app["appId"]},
                          headers=headers).status_code == 201
        assertion = issuer.token(SUBJECT)
        assert federated(second, app["appId"], assertion).json()["error_codes"] == [70021]
        made = first.post(f"/graph/v1.0/applications/{app['id']}/federatedIdentityCredentials", headers=headers,
                          json={"name": "ci-job", "issuer": issuer.url, "subject": SUBJECT})
        assert made.status_code == 201, made.text
        assert within_the_poll(lambda: federated(second, app["appId"], assertion).status_code == 200)
        listed = second.get(f"/graph/v1.0/applications/{app['id']}/federatedIdentityCredentials", headers=headers)
        assert [c["name"] for c in listed.json()["value"]] == ["ci-job"]  # the Graph token of one replica holds on both
        assert first.delete(f"/graph/v1.0/applications/{app['id']}/federatedIdentityCredentials/ci-job",
                            headers=headers).status_code == 204
        assert within_the_poll(
            lambda: federated(second, app["appId"], assertion).json().get("error_codes") == [70021])
