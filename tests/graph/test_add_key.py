"""addKey and removeKey over a real TLS server: Graph's proof of possession (a JWT signed by a certificate the app
holds), the first certificate through PATCH keyCredentials, and the next client assertion follows each write."""

from __future__ import annotations

import base64
import datetime
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from mockidp.testing.forms import client_assertion, x5t
from tests.conftest import LiveServer
from tests.graph.graph_seed import ADMIN, ADMIN_SECRET, SEED, TENANT
from tests.graph.live import graph_session, served_seed, tls

PROOF_AUDIENCE = "00000002-0000-0000-c000-000000000000"


class Cert:
    """A self-signed RSA certificate and its private key, as PEM, and the base64 DER Graph takes as `key`."""

    def __init__(self, name: str) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
        self.key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
        self.pem = cert.public_bytes(serialization.Encoding.PEM)
        self.der_b64 = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()

    def proof(self, object_id: str, *, audience: str = PROOF_AUDIENCE, lifetime: int = 600) -> str:
        now = int(time.time())
        return jwt.encode({"aud": audience, "iss": object_id, "nbf": now, "exp": now + lifetime}, self.key,
                          algorithm="RS256", headers={"x5t": x5t(self.pem)})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from served_seed(tmp_path_factory, "graph-keys", SEED)


@pytest.fixture(scope="module")
def graph(server: LiveServer) -> Iterator[httpx.Client]:
    with graph_session(server, TENANT, ADMIN, ADMIN_SECRET) as client:
        yield client


def signed_in(server: LiveServer, client_id: str, cert: Cert) -> httpx.Response:
    url = f"{server.origin}/{TENANT}/oauth2/v2.0/token"
    assertion = client_assertion(cert.key, client_id=client_id, audience=url, now=int(time.time()),
                                 certificate_pem=cert.pem)
    return httpx.post(url, verify=tls(server), data={
        "grant_type": "client_credentials", "client_id": client_id, "scope": "https://graph.microsoft.com/.default",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion})


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def key_credential(cert: Cert) -> dict[str, Any]:
    return {"type": "AsymmetricX509Cert", "usage": "Verify", "key": cert.der_b64, "displayName": "CN=rotated"}


def test_add_key_proven_by_the_present_certificate_signs_in_at_once(server: LiveServer, graph: httpx.Client) -> None:
    first, second, stranger = Cert("first"), Cert("second"), Cert("stranger")
    app = graph.post("/applications", json={"displayName": "cert-daemon"}).json()
    assert graph.post("/servicePrincipals", json={"appId": app["appId"]}).status_code == 201
    without = graph.post(f"/applications/{app['id']}/addKey", json={
        "keyCredential": key_credential(first), "passwordCredential": None, "proof": first.proof(app["id"])})
    assert error_of(without) == (400, "Request_BadRequest") and "PATCH keyCredentials" in without.text
    patched = graph.patch(f"/applications/{app['id']}", json={"keyCredentials": [{
        "type": "AsymmetricX509Cert", "usage": "Verify", "key": first.der_b64}]})
    assert patched.status_code == 204, patched.text
    assert signed_in(server, app["appId"], first).status_code == 200
    refused = signed_in(server, app["appId"], second)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    for proof in (stranger.proof(app["id"]), first.proof(app["id"], audience="https://graph.microsoft.com"),
                  first.proof(app["appId"]), first.proof(app["id"], lifetime=3600), "not-a-jwt", None):
        bad = graph.post(f"/applications/{app['id']}/addKey", json={"keyCredential": key_credential(second),
                                                                    "proof": proof})
        assert error_of(bad) == (401, "Authentication_MissingOrMalformed"), proof
    added = graph.post(f"/applications/{app['id']}/addKey", json={
        "keyCredential": key_credential(second), "passwordCredential": None, "proof": first.proof(app["id"])})
    assert added.status_code == 200, added.text
    body = added.json()
    assert body["@odata.context"].endswith("$metadata#microsoft.graph.keyCredential")
    assert (body["type"], body["usage"], body["key"], body["displayName"]) == (
        "AsymmetricX509Cert", "Verify", None, "CN=rotated")
    assert signed_in(server, app["appId"], second).status_code == 200
    listed = graph.get(f"/applications/{app['id']}").json()["keyCredentials"]
    assert len(listed) == 2 and body["keyId"] in [k["keyId"] for k in listed]
    first_id = next(k["keyId"] for k in listed if k["keyId"] != body["keyId"])
    removed = graph.post(f"/applications/{app['id']}/removeKey", json={"keyId": first_id,
                                                                       "proof": second.proof(app["id"])})
    assert removed.status_code == 204, removed.text
    stale = signed_in(server, app["appId"], first)
    assert stale.status_code == 401 and stale.json()["error"] == "invalid_client"
    assert signed_in(server, app["appId"], second).status_code == 200
    unknown = graph.post(f"/applications/{app['id']}/removeKey", json={"keyId": first_id,
                                                                       "proof": second.proof(app["id"])})
    assert error_of(unknown) == (400, "Request_BadRequest")
