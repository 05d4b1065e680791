"""What the Graph test modules share: a real TLS server on a seed of their own, a TLS context trusting its CA,
an app-only token, and an httpx session on its Graph with a bearer token."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.conftest import LiveServer

GRAPH_DEFAULT = "https://graph.microsoft.com/.default"


def served_seed(tmp_path_factory: pytest.TempPathFactory, name: str, text: str) -> Iterator[LiveServer]:
    """For a module fixture: `yield from served_seed(tmp_path_factory, "graph-x", SEED)`."""
    tmp = tmp_path_factory.mktemp(name)
    seed = tmp / "seed.yaml"
    seed.write_text(text)
    with LiveServer(tmp / "data", [seed]) as live:
        yield live


def tls(server: LiveServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.ca)


def client_token(server: LiveServer, tenant: str, client_id: str, secret: str,
                 scope: str = GRAPH_DEFAULT) -> httpx.Response:
    return httpx.post(f"{server.origin}/{tenant}/oauth2/v2.0/token", verify=tls(server), data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": scope})


@contextmanager
def graph_session(server: LiveServer, tenant: str, client_id: str, secret: str) -> Iterator[httpx.Client]:
    got = client_token(server, tenant, client_id, secret)
    assert got.status_code == 200, got.text
    with httpx.Client(base_url=f"{server.origin}/graph/v1.0", verify=tls(server),
                      headers={"Authorization": "Bearer " + got.json()["access_token"]}) as client:
        yield client
