"""The seed: validated as a whole, every problem with file, line and YAML path; nothing half-loaded."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mockidp.app import prepare
from mockidp.directory.ids import derived_id
from mockidp.directory.seed import SeedError, load_seed
from mockidp.directory.store import Store, make_engine
from mockidp.settings import Settings
from tests.conftest import CLIENT_CERT, DEMO_SEED, seed_problems

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


def test_schema_problems_are_all_reported_with_line_and_path(tmp_path: Path) -> None:
    problems = seed_problems(tmp_path, BROKEN)
    assert "s.yaml:6: tenants[0].applications[0].appId: 'not-a-guid' is not a GUID" in problems
    assert "s.yaml:7: tenants[0].applications[0].colour: unknown key" in problems
    assert any(p.startswith("s.yaml:10: tenants[0].applications[1].passwordCredentials[0].secretText:")
               for p in problems)
    assert len(problems) == 3  # cross-references are checked once the schema holds


def test_cross_reference_problems_are_all_reported(tmp_path: Path) -> None:
    text = BROKEN.replace("        appId: not-a-guid\n        colour: blue\n", "")
    text = text.replace("{secretText: short}", "{secretText: long-enough-secret}")
    problems = seed_problems(tmp_path, text)
    assert problems == [
        "s.yaml:9: tenants[0].applications[1].web.redirectUris[0]: http is only allowed for localhost; use https",
        "s.yaml:9: tenants[0].applications[1].web.redirectUris[1]: a redirect URI cannot contain a fragment",
        "s.yaml:11: tenants[0].users[0].userPrincipalName: the domain of 'bob@elsewhere.example' is not a domain "
        "of this tenant",
        "s.yaml:12: tenants[0].users[0].memberOf[0]: no group named 'Nobody' in this tenant",
        "s.yaml:14: tenants[0].appRoleAssignments[0].appRole: api defines no app role 'Missing'",
    ]


def test_yaml_syntax_errors_and_duplicate_keys_have_lines(tmp_path: Path) -> None:
    assert seed_problems(tmp_path, "tenants:\n  - displayName: a\n    displayName: b\n") == [
        "s.yaml:3: tenants[0].displayName: duplicate key"]
    assert seed_problems(tmp_path, "tenants: [\n")[0].startswith("s.yaml:2: (document): invalid YAML")


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


def test_redirect_uris_a_browser_would_read_differently_are_refused(tmp_path: Path) -> None:
    uris = ["http://evil@localhost/cb", "http://127.0.0.1:1\\\\@localhost", "https://app.example/c b",
            "https://app.example/cb\\t"]
    listed = ", ".join(f'"{u}"' for u in uris)
    problems = seed_problems(tmp_path, f"""\
tenants:
  - displayName: Contoso
    applications:
      - displayName: client
        web: {{redirectUris: [{listed}]}}
""")
    assert problems == [f"s.yaml:5: tenants[0].applications[0].web.redirectUris[{i}]: a redirect URI cannot "
                        "contain userinfo, a backslash, whitespace or control characters" for i in range(4)]
# --- keyFile is confined to the seed's folder -------------------------------------------------------

KEY_FILE_SEED = """\
tenants:
  - displayName: T
    applications:
      - displayName: app
        keyCredentials:
          - {{keyFile: "{key_file}"}}
"""
KEY_FILE_PATH = "tenants[0].applications[0].keyCredentials[0].keyFile"


def _key_file_message(key_file: str) -> str:
    shown = repr(key_file.encode().decode("unicode_escape"))  # as YAML's double quotes read the name
    return (f"s.yaml:6: {KEY_FILE_PATH}: cannot read {shown}: keyFile names a regular file of at most "
            f"65536 bytes inside the seed's folder")


def _outside(tmp_path: Path) -> str:
    (tmp_path / "outside.crt").write_text(CLIENT_CERT.read_text())
    return "../outside.crt"


def _symlink_out(tmp_path: Path) -> str:
    (tmp_path / "seeds" / "link.crt").symlink_to(tmp_path / "outside.crt")
    (tmp_path / "outside.crt").write_text(CLIENT_CERT.read_text())
    return "link.crt"


def _symlink_dir_out(tmp_path: Path) -> str:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "c.crt").write_text(CLIENT_CERT.read_text())
    (tmp_path / "seeds" / "certs").symlink_to(tmp_path / "elsewhere")
    return "certs/c.crt"


def _fifo(tmp_path: Path) -> str:
    os.mkfifo(tmp_path / "seeds" / "pipe.crt")
    return "pipe.crt"


def _directory(tmp_path: Path) -> str:
    (tmp_path / "seeds" / "adir").mkdir()
    return "adir"


def _huge(tmp_path: Path) -> str:
    (tmp_path / "seeds" / "huge.crt").write_bytes(b"-" * 200_000)
    return "huge.crt"


def _not_utf8(tmp_path: Path) -> str:
    (tmp_path / "seeds" / "bin.crt").write_bytes(b"\xff\xfe" * 10)
    return "bin.crt"


@pytest.mark.parametrize("make", [
    pytest.param(lambda _: "../../../../../../../../etc/passwd", id="I5-dot-dot-existing"),
    pytest.param(lambda _: "../../../../../../../../etc/no-such-file", id="I5-dot-dot-missing"),
    pytest.param(lambda _: "/etc/passwd", id="I5-absolute-existing"),
    pytest.param(lambda _: "/etc/no-such-file", id="I5-absolute-missing"),
    pytest.param(lambda _: "missing.crt", id="I5-missing-inside"),
    pytest.param(_outside, id="I5-parent-folder"),
    pytest.param(_symlink_out, id="I5-symlink-out"),
    pytest.param(_symlink_dir_out, id="I5-symlinked-folder-out"),
    pytest.param(_fifo, id="I5-fifo"),
    pytest.param(_directory, id="I5-directory"),
    pytest.param(_huge, id="I5-over-64KiB"),
    pytest.param(_not_utf8, id="I5-not-utf8"),
    pytest.param(lambda _: "/dev/zero", id="I5-dev-zero"),
    pytest.param(lambda _: "a\\0b.crt", id="I5-nul-in-the-name"),
])
def test_key_file_outside_the_seed_folder_or_not_a_regular_file_is_one_message(tmp_path: Path, make) -> None:  # type: ignore[no-untyped-def]
    """keyFile reads only regular files inside the seed's folder (symlinks resolved), and one message
    for every unreadable path says nothing about whether a file exists elsewhere. Through the CLI, so a
    FIFO that would block the reader fails the test by its timeout instead of hanging it."""
    (tmp_path / "seeds").mkdir()
    key_file = make(tmp_path)
    seed = tmp_path / "seeds" / "s.yaml"
    seed.write_text(KEY_FILE_SEED.format(key_file=key_file))
    out = _seed_check(seed)
    assert out.returncode == 1, out
    assert out.stderr.replace(str(seed), "s.yaml").splitlines() == [
        _key_file_message(key_file), "1 problem(s); the seed would not load"]


def test_key_file_inside_the_seed_folder_is_read(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "c.crt").write_text(CLIENT_CERT.read_text())
    (tmp_path / "same.crt").symlink_to(tmp_path / "certs" / "c.crt")  # a symlink that stays inside is fine
    seed = tmp_path / "s.yaml"
    seed.write_text(KEY_FILE_SEED.format(key_file="certs/c.crt") + '          - {keyFile: "same.crt"}\n')
    [app] = load_seed([seed]).applications
    assert len(app.certificates) == 2 and app.certificates[0].sha1 == app.certificates[1].sha1


CLI_BUDGET = 5.0  # seconds for a whole `mockidp` process (interpreter start included) on a loaded machine


def _limited_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # /dev/zero read whole ends in MemoryError


def _seed_check(*files: Path | str, command: tuple[str, ...] = ("seed", "check")) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mockidp", *command, *map(str, files)], capture_output=True,
                          text=True, timeout=30, check=False, preexec_fn=_limited_memory)


# --- every seed problem is a clear error, fast ------------------------------------------------------

def _block_depth(levels: int) -> str:
    return "".join(" " * i + "a:\n" for i in range(levels)) + " " * levels + "b\n"


HOSTILE_SEEDS = [
    pytest.param("[" * 500_000, 1, "(document)", "nested deeper than", id="I6-500KB-of-brackets"),
    pytest.param("tenants: " + "{a: " * 200_000, 1, "(document)", "nested deeper than", id="I6-800KB-of-braces"),
    pytest.param("tenants: " + "[" * 1_000 + "]" * 1_000 + "\n", 1, "(document)", "nested deeper than",
                 id="I6-flow-depth-1000"),
    pytest.param(_block_depth(1_000), None, "(document)", "nested deeper than", id="I6-block-depth-1000"),
    pytest.param("- " * 1_000 + "x\n", 1, "(document)", "nested deeper than", id="I6-block-sequence-depth-1000"),
    pytest.param("tenants:\n  - displayName: x\n    domains: [2020-13-45]\n", 3, "tenants[0].domains[0]",
                 "'2020-13-45' is not a valid timestamp", id="I6-date-of-a-13th-month"),
    pytest.param("tenants: !!timestamp 2020-02-30\n", 1, "tenants", "'2020-02-30' is not a valid timestamp",
                 id="I6-timestamp-tag-february-30"),
    pytest.param("tenants:\n  - !!timestamp nope\n", 2, "tenants[0]", "'nope' is not a valid timestamp",
                 id="I6-timestamp-tag-not-a-date"),
    pytest.param("tenants: 2001-12-14t21:59:43.10-99:99\n", 1, "tenants", "is not a valid timestamp",
                 id="I6-timestamp-offset-out-of-range"),
    pytest.param("tenants:\n  - displayName: x\n    n: " + "1" * 5_000 + "\n", 3, "tenants[0].n",
                 "an integer of 5000 characters", id="I6-5000-digit-integer"),
    pytest.param("tenants: 1" + ":00" * 300_000 + "\n", 1, "tenants", "an integer of 900001 characters",
                 id="I6-sexagesimal-integer-900KB"),
    pytest.param("tenants: !!bool maybe\n", 1, "tenants", "'maybe' is not a valid bool", id="I6-bool-tag"),
    pytest.param("tenants: !!int ''\n", 1, "tenants", "'' is not a valid int", id="I6-int-tag-empty"),
    pytest.param("tenants: [!!float abc]\n", 1, "tenants[0]", "'abc' is not a valid float", id="I6-float-tag"),
]


@pytest.mark.parametrize(("text", "line", "path", "needle"), HOSTILE_SEEDS)
def test_hostile_yaml_is_one_clear_problem_fast(tmp_path: Path, text: str, line: int | None, path: str,
                                                 needle: str) -> None:
    seed = tmp_path / "s.yaml"
    seed.write_text(text)
    # As a user runs it (first: a hang fails by the subprocess timeout): a clear `file:line: path: message`,
    # a non-zero exit, never a traceback.
    started = time.monotonic()
    out = _seed_check(seed)
    elapsed = time.monotonic() - started
    assert out.returncode == 1 and "Traceback" not in out.stdout + out.stderr, out.stderr[-2_000:]
    assert re.fullmatch(rf"{re.escape(str(seed))}:\d+: {re.escape(path)}: .*{re.escape(needle)}.*",
                        out.stderr.splitlines()[0]), out.stderr[:2_000]
    assert elapsed < CLI_BUDGET, f"mockidp seed check took {elapsed:.1f} s"
    started = time.monotonic()
    with pytest.raises(SeedError) as caught:
        load_seed([seed])
    assert time.monotonic() - started < 1.0
    [problem] = caught.value.problems
    assert (problem.path or "(document)", needle in problem.message) == (path, True), str(problem)
    assert problem.line == line if line is not None else isinstance(problem.line, int), str(problem)


@pytest.mark.parametrize(("text", "line", "path", "needle"), HOSTILE_SEEDS[::3])
def test_serve_refuses_hostile_yaml_fast_and_loads_nothing(tmp_path: Path, signing_dir: Path, text: str,
                                                           line: int | None, path: str, needle: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("signing-key.pem", "signing-cert.pem"):
        if (signing_dir / name).exists():
            (data / name).write_bytes((signing_dir / name).read_bytes())
    before = prepare(Settings(seed=[DEMO_SEED], data_dir=data, tls=False)).load_directory()
    seed = tmp_path / "s.yaml"
    seed.write_text(text)
    started = time.monotonic()
    out = _seed_check("--seed", seed, "--data-dir", data, "--no-tls", "--port", "0", command=("serve",))
    elapsed = time.monotonic() - started
    assert out.returncode == 2 and "Traceback" not in out.stdout + out.stderr, out.stderr[-2_000:]
    assert f"  {seed}:" in out.stderr and needle in out.stderr, out.stderr[:2_000]
    assert elapsed < CLI_BUDGET, f"mockidp serve took {elapsed:.1f} s to refuse the seed"
    stored = Store(make_engine(f"sqlite:///{data / 'mockidp.db'}")).load_directory()
    assert stored == before  # the demo seed stored before is untouched


@pytest.mark.parametrize("make", [
    pytest.param(lambda _: Path("/dev/zero"), id="I6-seed-is-dev-zero"),
    pytest.param(lambda d: (os.mkfifo(d / "pipe.yaml"), d / "pipe.yaml")[1], id="I6-seed-is-a-fifo"),
])
def test_a_seed_that_is_no_regular_file_is_refused_before_reading(tmp_path: Path, make) -> None:  # type: ignore[no-untyped-def]
    seed = make(tmp_path)
    started = time.monotonic()
    out = _seed_check(seed)
    assert time.monotonic() - started < CLI_BUDGET
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-2_000:]
    assert out.stderr.splitlines()[0] == f"{seed}: (document): not a regular file"


def test_the_seed_folder_loads_whole_as_the_image_loads_it() -> None:
    # The Dockerfile checks and serves /seed, every file of seed/ together: their tenants must not collide.
    content = load_seed([DEMO_SEED.parent])
    assert len({t.id for t in content.tenants}) == len(content.tenants) >= 3
