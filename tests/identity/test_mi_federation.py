"""Workload identity federation with a user-assigned managed identity as the owner (issue 10): a GitHub job
signs in as the identity with the identity's client id, unmodified WorkloadIdentityCredential, against
`mockidp serve --workers 2`; Entra's assignment rules still apply to the identity; the seed's rules name
the identity's path and use Azure's words for a Managed Identity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from azure.identity import WorkloadIdentityCredential

from mockidp.directory.seed import SeedError, load_seed
from tests.federation.issuer_support import federated_token_request
from tests.serving.test_serve import Served

TENANT = "5c1e7a90-0000-4000-8000-0000000000e2"
DEPLOYER = "3c4d5e6f-7081-4c9d-8eaf-2a3b4c5d6e04"  # the user-assigned identity's client id
DEPLOYER_SP = "9d3e4f50-6172-4c8d-9e0f-1a2b3c4d5e04"
IDLE = "4d5e6f70-8192-4dae-9fb0-3b4c5d6e7f05"  # holds a credential, but no role on the API
SCOPE = "api://deploy-api/.default"
GITHUB = "https://token.actions.githubusercontent.com"
MAIN = "repo:fabrikam/infra:ref:refs/heads/main"


def fic(name: str, subject: str = MAIN, **more: Any) -> dict[str, Any]:
    return {"name": name, "issuer": GITHUB, "subject": subject, **more}


def seed(identities: list[dict[str, Any]]) -> dict[str, Any]:
    return {"tenants": [{
        "tenantId": TENANT, "displayName": "Contoso Infra", "domains": ["infra.onmicrosoft.com"],
        "applications": [{
            "appId": "5e6f7081-92a3-4ebf-a0c1-4c5d6e7f8006", "displayName": "deploy-api",
            "identifierUris": ["api://deploy-api"], "api": {"requestedAccessTokenVersion": 2},
            "appRoles": [{"value": "Deploy.Run", "allowedMemberTypes": ["Application"], "displayName": "Deploy"}],
            "servicePrincipal": {"appRoleAssignmentRequired": True}}],
        "managedIdentities": identities,
        "appRoleAssignments": [{"principal": "deployer-identity", "resource": "deploy-api", "appRole": "Deploy.Run"}],
    }]}


IDENTITIES = [
    {"type": "UserAssigned", "name": "deployer-identity", "clientId": DEPLOYER, "principalId": DEPLOYER_SP,
     "federatedIdentityCredentials": [fic("github-main")]},
    {"type": "UserAssigned", "name": "idle-identity", "clientId": IDLE,
     "federatedIdentityCredentials": [fic("github-main")]},
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("mi-federation")
    seed_file = base / "identities.yaml"
    seed_file.write_text(yaml.safe_dump(seed(IDENTITIES)))
    s = Served(base / "data", "--seed", str(seed_file), "--workers", "2")
    try:
        s.wait()
        yield s
    finally:
        s.stop()


def github_token(served: Served, subject: str) -> str:
    with served.client() as c:
        minted = c.post("/_mockidp/control/federation/tokens", json={"issuer": "github", "subject": subject})
    assert minted.status_code == 200, minted.text
    token: str = minted.json()["token"]
    return token


def credential(served: Served, client_id: str, token_file: Path) -> WorkloadIdentityCredential:
    return WorkloadIdentityCredential(tenant_id=TENANT, client_id=client_id, token_file_path=str(token_file),
                                      authority=served.origin, disable_instance_discovery=True,
                                      connection_verify=str(served.data_dir / "ca.pem"))


def test_a_github_job_signs_in_as_the_user_assigned_identity(served: Served, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(github_token(served, MAIN))
    for _ in range(4):  # either worker answers
        claims = jwt.decode(credential(served, DEPLOYER, token_file).get_token(SCOPE).token,
                            options={"verify_signature": False})
        assert (claims["azp"], claims["oid"], claims["sub"], claims["roles"], claims["tid"]) == (
            DEPLOYER, DEPLOYER_SP, DEPLOYER_SP, ["Deploy.Run"], TENANT)


def test_the_identitys_assignments_still_decide(served: Served, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(github_token(served, MAIN))
    with pytest.raises(Exception) as refused:
        credential(served, IDLE, token_file).get_token(SCOPE)
    assert "AADSTS501051" in str(refused.value)


def test_another_branch_is_refused_with_the_subject(served: Served) -> None:
    other = github_token(served, "repo:fabrikam/infra:ref:refs/heads/feature")
    refused = federated_token_request(served.origin, TENANT, DEPLOYER, SCOPE, other, str(served.data_dir / "ca.pem"))
    assert refused.status_code == 401
    assert refused.json()["error_description"].startswith(
        "AADSTS700213: No matching federated identity record found for presented assertion subject "
        "'repo:fabrikam/infra:ref:refs/heads/feature'.")


def problems(tmp_path: Path, identities: list[dict[str, Any]]) -> list[str]:
    path = tmp_path / "seed.yaml"
    path.write_text(yaml.safe_dump(seed(identities)))
    with pytest.raises(SeedError) as err:
        load_seed([path])
    return [str(p) for p in err.value.problems]


def test_the_seed_rules_name_the_identitys_path(tmp_path: Path) -> None:
    doubled = [{"type": "UserAssigned", "name": "deployer-identity",
                "federatedIdentityCredentials": [fic("one"), fic("two")]}]
    [problem] = problems(tmp_path, doubled)
    assert "managedIdentities[0].federatedIdentityCredentials[1].subject" in problem
    assert problem.endswith("Issuer and subject combination already exists for this Managed Identity.")
    system = [{"type": "SystemAssigned", "resource": "deploy-func", "federatedIdentityCredentials": [fic("one")]}]
    [problem] = problems(tmp_path, system)
    assert "only a UserAssigned identity holds federatedIdentityCredentials" in problem
    many = [{"type": "UserAssigned", "name": "deployer-identity",
             "federatedIdentityCredentials": [fic(f"c{i:02}", f"repo:o/r:ref:refs/heads/b{i}") for i in range(21)]}]
    [problem] = problems(tmp_path, many)
    assert problem.endswith("at most 20 federated identity credentials per Managed Identity (21 given)")
