"""Managed identities on `mockidp serve --workers 2` (issue 10): the start-up lines and `mockidp identities`
give the variables, and a workload using them gets its token from whichever worker answers: every worker
derives the same header secrets from the data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import jwt
import pytest
from azure.identity import ManagedIdentityCredential

from tests.identity.test_managed_identities import FUNC_CLIENT, IDENTITIES_SEED, REPORTING_CLIENT
from tests.serving.test_serve import Served


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = Served(tmp_path_factory.mktemp("mi-served") / "data", "--workers", "2", "--seed", str(IDENTITIES_SEED))
    try:
        s.wait()
        yield s
    finally:
        s.stop()


def identities(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKIDP_")}
    return subprocess.run([sys.executable, "-m", "mockidp", "identities", "--data-dir", str(served.data_dir),
                           "--port", str(served.port), *args], capture_output=True, text=True, timeout=60, env=env)


def variables(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_the_start_up_lines_and_the_command_print_the_same_variables(served: Served) -> None:
    listing = identities(served)
    assert listing.returncode == 0, listing.stderr
    assert "managed identities of orders-func (system-assigned orders-func, user-assigned reporting-identity):" \
        in listing.stdout
    app_service = identities(served, "--resource", "orders-func")
    assert app_service.returncode == 0, app_service.stderr
    found = variables(app_service.stdout)
    assert found["IDENTITY_ENDPOINT"] == f"{served.origin}/msi/token"
    assert f"IDENTITY_HEADER={found['IDENTITY_HEADER']}" in served.output()  # printed at start-up too
    imds = variables(identities(served, "--resource", "batch-vm", "--shape", "imds").stdout)
    assert imds == {"AZURE_POD_IDENTITY_AUTHORITY_HOST": f"{served.origin}/_mockidp/imds/batch-vm"}
    unknown = identities(served, "--resource", "nowhere")
    assert unknown.returncode == 1 and "no resource 'nowhere'" in unknown.stderr


def test_both_workers_accept_the_secret_and_answer_both_shapes(served: Served,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    found = variables(identities(served, "--resource", "orders-func").stdout)
    with served.client() as client:  # a new connection each time: either worker answers
        for _ in range(12):
            r = client.get("/msi/token", params={"resource": "api://orders-api", "api-version": "2019-08-01"},
                           headers={"X-IDENTITY-HEADER": found["IDENTITY_HEADER"]})
            assert r.status_code == 200, r.text
            assert r.json()["client_id"] == FUNC_CLIENT
    for name in ("MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "IDENTITY_ENDPOINT",
                 "IDENTITY_HEADER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", f"{served.origin}/_mockidp/imds/batch-vm")
    ca = str(served.data_dir / "ca.pem")
    for _ in range(4):
        with ManagedIdentityCredential(client_id=REPORTING_CLIENT, connection_verify=ca,
                                       headers={"Connection": "close"}) as credential:
            token = credential.get_token("api://orders-api/.default")
        assert jwt.decode(token.token, options={"verify_signature": False})["roles"] == ["Reports.Write"]


def test_a_reset_keeps_the_seeded_identities(served: Served) -> None:
    """The control API's reset brings the seed's directory back (restore_seed): the resources and identities
    with it, on both workers."""
    found = variables(identities(served, "--resource", "orders-func").stdout)
    with served.client() as client:
        reset = client.post("/_mockidp/control/reset")
        assert reset.status_code == 200, reset.text
        assert "directory" in reset.json()["reset"]
        for _ in range(6):
            r = client.get("/msi/token", params={"resource": "https://vault.azure.net", "api-version": "2019-08-01",
                                                 "client_id": REPORTING_CLIENT},
                           headers={"X-IDENTITY-HEADER": found["IDENTITY_HEADER"]})
            assert r.status_code == 200, r.text
            assert jwt.decode(r.json()["access_token"], options={"verify_signature": False})["xms_mirid"].endswith(
                "/userAssignedIdentities/reporting-identity")


def test_seed_check_counts_the_identities() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKIDP_")}
    done = subprocess.run([sys.executable, "-m", "mockidp", "seed", "check", str(IDENTITIES_SEED)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("seed ok: 1 tenants, 1 applications, 4 service principals, 0 users, 0 groups, "
                                   "2 app role assignments, 0 permission grants, 3 managed identities of 2 resources")
