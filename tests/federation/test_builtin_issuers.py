"""mockidp's own GitHub Actions-like and Kubernetes-like issuers (issue 10), against `mockidp serve --workers 2`
with seed/federation.yaml: the CLI writes a subject token to a file, and unmodified DefaultAzureCredential
(a subprocess with only environment variables) and WorkloadIdentityCredential sign in with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from azure.identity import WorkloadIdentityCredential

from tests.federation.issuer_support import federated_token_request
from tests.federation.test_federation_seed import FEDERATION_SEED, PIPELINE
from tests.serving.test_serve import Served

FABRIKAM = "5a8e0b6c-0000-4000-8000-00000000f1d0"
WORKER = "2e6f8a1c-9b3d-4c5e-a7f0-1d2c3b4a5e03"
ORDERS = "0b7e4d2a-6c1f-4f3e-9a55-2d8c1e6f7a01"
SCOPE = "api://fabrikam-orders/.default"
MAIN = "repo:fabrikam/orders:ref:refs/heads/main"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = Served(tmp_path_factory.mktemp("federation") / "data", "--seed", str(FEDERATION_SEED), "--workers", "2")
    try:
        s.wait()
        yield s
    finally:
        s.stop()


def cli(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKIDP_")}
    return subprocess.run([sys.executable, "-m", "mockidp", *args, "--port", str(served.port),
                           "--data-dir", str(served.data_dir)], capture_output=True, text=True, timeout=60, env=env)


def test_the_cli_writes_a_github_token_its_issuer_documents_verify(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "token"
    done = cli(served, "federation", "token", "--issuer", "github", "--subject", MAIN, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote a token of https://token.actions.githubusercontent.com for {MAIN} to {out}"
    token = out.read_text()
    with served.client() as c:
        discovery = c.get("/_mockidp/issuers/github/.well-known/openid-configuration").json()
        keys = c.get(discovery["jwks_uri"]).json()["keys"]
        entra_kids = {k["kid"] for k in c.get(f"/{FABRIKAM}/discovery/v2.0/keys").json()["keys"]}
    assert discovery["issuer"] == "https://token.actions.githubusercontent.com"
    assert jwt.get_unverified_header(token)["typ"] == "JWT"
    [key] = keys
    assert key["kid"] not in entra_kids  # its own key, not Entra's
    claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["RS256"], audience="api://AzureADTokenExchange",
                        issuer=discovery["issuer"])
    assert (claims["sub"], claims["repository"], claims["ref"], claims["ref_type"]) == (
        MAIN, "fabrikam/orders", "refs/heads/main", "branch")
    assert claims["exp"] - claims["iat"] == 300


def test_default_azure_credential_signs_in_with_only_the_environment(served: Served, tmp_path: Path) -> None:
    token_file = tmp_path / "azure-identity-token"
    assert cli(served, "federation", "token", "--issuer", "github", "--subject", MAIN, "--out",
               str(token_file)).returncode == 0
    ca = str(served.data_dir / "ca.pem")
    env = {"PATH": os.environ["PATH"], "AZURE_FEDERATED_TOKEN_FILE": str(token_file), "AZURE_CLIENT_ID": PIPELINE,
           "AZURE_TENANT_ID": FABRIKAM, "AZURE_AUTHORITY_HOST": served.origin + "/", "REQUESTS_CA_BUNDLE": ca,
           "SSL_CERT_FILE": ca}
    script = ("import json\nfrom azure.identity import DefaultAzureCredential\n"
              f"print(json.dumps({{'token': DefaultAzureCredential().get_token({SCOPE!r}).token}}))\n")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    claims = jwt.decode(json.loads(done.stdout.splitlines()[-1])["token"], options={"verify_signature": False})
    assert (claims["azp"], claims["aud"], claims["roles"], claims["tid"]) == (PIPELINE, ORDERS, ["Orders.ReadWrite"],
                                                                              FABRIKAM)


def test_a_kubernetes_token_for_a_pod_and_a_refusal_for_another_account(served: Served, tmp_path: Path) -> None:
    ca = str(served.data_dir / "ca.pem")
    with served.client() as c:
        minted = c.post("/_mockidp/control/federation/tokens", json={
            "issuer": "kubernetes", "subject": "system:serviceaccount:orders:worker", "lifetimeSeconds": 3600})
        other = c.post("/_mockidp/control/federation/tokens", json={
            "issuer": "kubernetes", "subject": "system:serviceaccount:orders:intruder"}).json()["token"]
    assert minted.status_code == 200, minted.text
    token = minted.json()["token"]
    assert "typ" not in jwt.get_unverified_header(token)  # service-account tokens carry none
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["kubernetes.io"]["serviceaccount"]["name"] == "worker"
    assert claims["iss"] == "https://kubernetes.default.svc.cluster.local"
    for i in range(4):  # either worker answers: both know the issuer's key
        token_file = tmp_path / f"token-{i}"
        token_file.write_text(token)
        cred = WorkloadIdentityCredential(tenant_id=FABRIKAM, client_id=WORKER, token_file_path=str(token_file),
                                          authority=served.origin, disable_instance_discovery=True,
                                          connection_verify=ca)
        assert jwt.decode(cred.get_token(SCOPE).token, options={"verify_signature": False})["azp"] == WORKER
    refused = federated_token_request(served.origin, FABRIKAM, WORKER, SCOPE, other, ca)
    assert refused.status_code == 401
    assert refused.json()["error_description"].startswith(
        "AADSTS700213: No matching federated identity record found for presented assertion subject "
        "'system:serviceaccount:orders:intruder'.")


@pytest.mark.parametrize(("body", "words"), [
    ({"issuer": "gitlab", "subject": "x"}, "'gitlab' is not a built-in issuer: github, kubernetes."),
    ({"issuer": "github", "subject": "x", "repo": "y"}, "unknown field 'repo'"),
    ({"issuer": "github"}, "are strings"),
    ({"issuer": "github", "subject": "x", "lifetimeSeconds": 5}, "the lifetime is 60 to 86400 seconds."),
])
def test_the_control_api_refuses_what_no_issuer_would_sign(served: Served, body: dict[str, object],
                                                           words: str) -> None:
    with served.client() as c:
        answer = c.post("/_mockidp/control/federation/tokens", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
    assert words in answer.json()["message"]


def test_an_unknown_built_in_issuer_is_404(served: Served) -> None:
    with served.client() as c:
        assert c.get("/_mockidp/issuers/gitlab/keys").status_code == 404
