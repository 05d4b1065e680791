"""federatedIdentityCredentials in the seed: Entra's limits checked at load with the YAML path, the records
kept through the database, found by their owner's client id (issue 10)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mockidp.directory.federated_credentials import DEFAULT_AUDIENCE, resolve_credentials
from mockidp.directory.schema import FederatedIdentityCredential
from mockidp.directory.seed import SeedError, load_seed
from mockidp.directory.snapshot import Directory
from tests.conftest import ROOT, make_harness

FEDERATION_SEED = ROOT / "seed" / "federation.yaml"
PIPELINE = "7c1d9e3b-2a4f-4b6d-8e0f-5a9b3c2d1e02"
APP_PATH = "tenants[0].applications[0]"
GITHUB = "https://token.actions.githubusercontent.com"


def seed_with(credentials: list[dict[str, Any]]) -> str:
    return yaml.safe_dump({"tenants": [{"displayName": "Fic", "applications": [
        {"displayName": "job", "federatedIdentityCredentials": credentials}]}]})


def fic(name: str = "main", subject: str = "repo:o/r:ref:refs/heads/main", **more: Any) -> dict[str, Any]:
    return {"name": name, "issuer": GITHUB, "subject": subject, **more}


def problems_of(tmp_path: Path, credentials: list[dict[str, Any]]) -> list[tuple[str, str]]:
    seed = tmp_path / "seed.yaml"
    seed.write_text(seed_with(credentials))
    with pytest.raises(SeedError) as caught:
        load_seed([seed])
    return [(p.path, p.message) for p in caught.value.problems]


def test_the_bundled_seed_loads_with_the_default_audience() -> None:
    directory = Directory.build(load_seed([FEDERATION_SEED]))
    main, production = directory.federated_credentials_of(PIPELINE)
    assert (main.name, main.issuer, main.subject) == ("github-main", GITHUB, "repo:fabrikam/orders:ref:refs/heads/main")
    assert main.audiences == (DEFAULT_AUDIENCE,) == ("api://AzureADTokenExchange",)
    assert main.description == "the deploy job, on the main branch only"
    assert production.subject == "repo:fabrikam/orders:environment:production"
    assert directory.federated_credentials_of("00000000-0000-0000-0000-000000000000") == ()


def test_credentials_survive_the_database(tmp_path: Path, signing_dir: Path) -> None:
    harness = make_harness(tmp_path, FEDERATION_SEED.read_text(), signing_dir)
    stored = harness.app.state.runtime.services.directory.federated_credentials_of(PIPELINE)
    assert stored == Directory.build(load_seed([FEDERATION_SEED])).federated_credentials_of(PIPELINE)


@pytest.mark.parametrize(("credentials", "path", "words"), [
    pytest.param([fic(audiences=["api://AzureADTokenExchange", "api://other"])], "[0].audiences",
                 "Federated identity credentials must have exactly one audience.", id="two-audiences"),
    pytest.param([fic(audiences=[])], "[0].audiences", "exactly one audience", id="no-audience"),
    pytest.param([fic(name="a b")], "[0].name", "Federated Identity Credential name 'a b' is invalid.",
                 id="name-space"),
    pytest.param([fic(name="ab")], "[0].name", "is invalid", id="name-too-short"),
    pytest.param([fic(name="-main")], "[0].name", "is invalid", id="name-starts-with-dash"),
    pytest.param([fic(name="x" * 121)], "[0].name", "is invalid", id="name-too-long"),
    pytest.param([fic(), fic(name="other")], "[1].subject",
                 "The combination of issuer and subject must be unique for the application.", id="same-issuer-subject"),
    pytest.param([fic(), fic(subject="repo:o/r:pull_request")], "[1].name",
                 "FederatedIdentityCredential with name main already exists.", id="same-name"),
    pytest.param([fic(issuer="token.actions.githubusercontent.com")], "[0].issuer", "not an https URL",
                 id="issuer-no-scheme"),
    pytest.param([fic(issuer=" " + GITHUB)], "[0].issuer", "no whitespace", id="issuer-whitespace"),
    pytest.param([fic(issuer="https://x/" + "a" * 600)], "[0].issuer", "at most 600", id="issuer-too-long"),
    pytest.param([fic(subject="")], "[0].subject", "required", id="subject-empty"),
    pytest.param([fic(description="d" * 601)], "[0].description", "at most 600", id="description-too-long"),
    pytest.param([fic(name=f"n{i:03}", subject=f"s{i}") for i in range(21)], "",
                 "at most 20 federated identity credentials per application (21 given)", id="twenty-one"),
])
def test_entra_limits_are_checked_at_load(tmp_path: Path, credentials: list[dict[str, Any]], path: str,
                                          words: str) -> None:
    problems = problems_of(tmp_path, credentials)
    where = f"{APP_PATH}.federatedIdentityCredentials{path}"
    assert any(p == where and words in message for p, message in problems), problems


def test_twenty_credentials_are_allowed(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(seed_with([fic(name=f"n{i:03}", subject=f"s{i}") for i in range(20)]))
    [app] = load_seed([seed]).applications
    assert len(app.federated_credentials) == 20


def test_unknown_keys_and_missing_fields_name_their_path(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, [{"name": "main", "issuer": GITHUB, "subjects": "x"}])
    paths = {p for p, _ in problems}
    assert f"{APP_PATH}.federatedIdentityCredentials[0].subjects" in paths
    assert f"{APP_PATH}.federatedIdentityCredentials[0].subject" in paths


def test_matching_is_exact_so_case_variants_are_two_credentials() -> None:
    """Entra compares issuer and subject case-sensitively: these are two different pairs, both accepted."""
    items = [FederatedIdentityCredential.model_validate(fic(name=n, subject=s))
             for n, s in (("lower", "repo:org/app:ref:refs/heads/main"), ("upper", "repo:Org/App:ref:refs/heads/main"))]
    records, problems = resolve_credentials(PIPELINE, items)
    assert problems == []
    assert [r.subject for r in records] == ["repo:org/app:ref:refs/heads/main", "repo:Org/App:ref:refs/heads/main"]


def test_a_managed_identity_owner_gets_its_own_words() -> None:
    items = [FederatedIdentityCredential.model_validate(fic(name=n)) for n in ("one", "two")]
    _, problems = resolve_credentials(PIPELINE, items, owner="managedIdentity")
    assert [(p.path, p.message, p.kind) for p in problems] == [
        ((1, "subject"), "Issuer and subject combination already exists for this Managed Identity.", "pair_taken")]
