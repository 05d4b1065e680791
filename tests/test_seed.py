"""The seed: validated as a whole, every problem with file, line and YAML path; nothing half-loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mockidp.app import prepare
from mockidp.directory.ids import derived_id
from mockidp.directory.seed import SeedError, load_seed
from mockidp.directory.store import Store, make_engine
from mockidp.settings import Settings
from tests.conftest import DEMO_SEED

BROKEN = """\
tenants:
  - displayName: Contoso
    domains: [contoso.example]
    applications:
      - displayName: api
        appId: not-a-guid
        colour: blue
      - displayName: client
        passwordCredentials:
          - {secretText: short}
        web: {redirectUris: ["http://example.com/cb", "https://x.example/cb#frag"]}
    users:
      - userPrincipalName: bob@elsewhere.example
        memberOf: [Nobody]
    appRoleAssignments:
      - {principal: client, resource: api, appRole: Missing}
"""


def _problems(tmp_path: Path, text: str) -> list[str]:
    seed = tmp_path / "s.yaml"
    seed.write_text(text)
    with pytest.raises(SeedError) as info:
        load_seed([seed])
    return [str(p).replace(str(seed), "s.yaml") for p in info.value.problems]


def test_schema_problems_are_all_reported_with_line_and_path(tmp_path: Path) -> None:
    problems = _problems(tmp_path, BROKEN)
    assert "s.yaml:6: tenants[0].applications[0].appId: 'not-a-guid' is not a GUID" in problems
    assert "s.yaml:7: tenants[0].applications[0].colour: unknown key" in problems
    assert any(p.startswith("s.yaml:10: tenants[0].applications[1].passwordCredentials[0].secretText:")
               for p in problems)
    assert len(problems) == 3  # cross-references are checked once the schema holds


def test_cross_reference_problems_are_all_reported(tmp_path: Path) -> None:
    text = BROKEN.replace("        appId: not-a-guid\n        colour: blue\n", "")
    text = text.replace("{secretText: short}", "{secretText: long-enough-secret}")
    problems = _problems(tmp_path, text)
    assert problems == [
        "s.yaml:9: tenants[0].applications[1].web.redirectUris[0]: http is only allowed for localhost; use https",
        "s.yaml:9: tenants[0].applications[1].web.redirectUris[1]: a redirect URI cannot contain a fragment",
        "s.yaml:11: tenants[0].users[0].userPrincipalName: the domain of 'bob@elsewhere.example' is not a domain "
        "of this tenant",
        "s.yaml:12: tenants[0].users[0].memberOf[0]: no group named 'Nobody' in this tenant",
        "s.yaml:14: tenants[0].appRoleAssignments[0].appRole: api defines no app role 'Missing'",
    ]


def test_yaml_syntax_errors_and_duplicate_keys_have_lines(tmp_path: Path) -> None:
    assert _problems(tmp_path, "tenants:\n  - displayName: a\n    displayName: b\n") == [
        "s.yaml:3: tenants[0].displayName: duplicate key"]
    assert _problems(tmp_path, "tenants: [\n")[0].startswith("s.yaml:2: (document): invalid YAML")


def test_legacy_manifest_names_are_accepted(tmp_path: Path) -> None:
    seed = tmp_path / "legacy.yaml"
    seed.write_text("""
tenants:
  - displayName: T
    applications:
      - displayName: legacy
        accessTokenAcceptedVersion: 2
        oauth2Permissions: [{value: user_impersonation, type: User}]
        allowPublicClient: true
        replyUrlsWithType:
          - {url: "https://app.example/cb", type: Web}
          - {url: "http://localhost", type: InstalledClient}
        oauth2AllowIdTokenImplicitFlow: true
        createdDateTime: "2020-01-01T00:00:00Z"
        publisherDomain: example.com
""")
    app = load_seed([seed]).applications[0]
    assert app.access_token_version == 2
    assert [s.value for s in app.scopes] == ["user_impersonation"]
    assert app.is_fallback_public_client and app.implicit_id_token
    assert app.web_redirect_uris == ("https://app.example/cb",) and app.public_redirect_uris == ("http://localhost",)


def test_omitted_ids_are_derived_deterministically() -> None:
    first, second = load_seed([DEMO_SEED]), load_seed([DEMO_SEED])
    assert [sp.id for sp in first.service_principals] == [sp.id for sp in second.service_principals]
    tenant = first.tenants[0].id
    assert first.users[0].id == derived_id(tenant, "user", "alice@contoso.onmicrosoft.com")


def test_seed_check_command(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "mockidp", "seed", "check", str(DEMO_SEED)],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0
    assert ok.stdout.strip() == ("seed ok: 1 tenants, 6 applications, 6 service principals, 2 users, 1 groups, "
                                 "4 app role assignments, 2 permission grants")
    bad = tmp_path / "bad.yaml"
    bad.write_text(BROKEN)
    out = subprocess.run([sys.executable, "-m", "mockidp", "seed", "check", str(bad)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 1
    assert f"{bad}:7: tenants[0].applications[0].colour: unknown key" in out.stderr
    assert "3 problem(s); the seed would not load" in out.stderr


def test_a_broken_seed_leaves_the_stored_directory_untouched(tmp_path: Path) -> None:
    prepare(Settings(seed=[DEMO_SEED], data_dir=tmp_path, tls=False))
    bad = tmp_path / "bad.yaml"
    bad.write_text(BROKEN)
    with pytest.raises(SeedError):
        prepare(Settings(seed=[DEMO_SEED, bad], data_dir=tmp_path, tls=False))
    stored = Store(make_engine(f"sqlite:///{tmp_path / 'mockidp.db'}")).load_directory()
    assert len(stored.applications) == 6 and stored.tenants[0].display_name == "Contoso"


def test_serve_refuses_a_broken_seed_with_every_problem_and_a_non_zero_exit(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BROKEN)
    out = subprocess.run([sys.executable, "-m", "mockidp", "serve", "--seed", str(bad), "--data-dir",
                          str(tmp_path / "d"), "--no-tls", "--port", "0"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 2
    assert "the seed is invalid, nothing was loaded (3 problems)" in out.stderr
    assert f"{bad}:6: tenants[0].applications[0].appId: 'not-a-guid' is not a GUID" in out.stderr


def test_a_folder_of_seeds_is_validated_as_one(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("tenants:\n  - displayName: A\n    domains: [same.example]\n")
    (tmp_path / "b.yaml").write_text("tenants:\n  - displayName: B\n    domains: [same.example]\n")
    with pytest.raises(SeedError) as info:
        load_seed([tmp_path])
    assert [str(p) for p in info.value.problems] == [
        f"{tmp_path / 'b.yaml'}:3: tenants[0].domains[0]: domain 'same.example' already belongs to a tenant"]
