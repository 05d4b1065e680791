"""The pytest plugin as a user's project meets it: installed with the package, configured in its ini
file, its fixtures serving a real mockidp to tests that use MSAL, azure-identity and plain HTTP, each
test starting from the seed (README, "pytest")."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import BACKEND2, CLIENT, CLIENT_SECRET, DEMO_SEED, REPORTING, REPORTING_SECRET, TENANT

pytest_plugins = ["pytester"]

USER_TESTS = f'''
import time

import jwt
from pathlib import Path

import pytest

from mockidp.testing.plugin import MockidpError

SCOPE = "api://{BACKEND2}/.default"


def signed_at(token):
    return jwt.decode(token, options={{"verify_signature": False}})["iat"] + 300


def test_a_token_and_its_trace(mockidp):
    r = mockidp.token("{CLIENT}", "{CLIENT_SECRET}", SCOPE, tenant="{TENANT}")
    assert jwt.decode(r["access_token"], options={{"verify_signature": False}})["roles"] == [
        "Provisioning.ReadWrite", "Data.Read"]


def test_a_refusal_is_entras(mockidp):
    with pytest.raises(MockidpError) as refused:
        mockidp.token("{REPORTING}", "{REPORTING_SECRET}", SCOPE, tenant="{TENANT}")
    assert refused.value.status == 400 and refused.value.body["error_codes"] == [501051]
    mockidp.fault(status=503, retryAfter=1)
    with pytest.raises(MockidpError) as unavailable:
        mockidp.token("{CLIENT}", "{CLIENT_SECRET}", SCOPE, tenant="{TENANT}")
    assert unavailable.value.status == 503 and unavailable.value.body["error"] == "temporarily_unavailable"
    trace = mockidp.trace(refused.value.body["trace_id"])
    assert trace["outcome"] == "AADSTS501051" and trace["fix"]["portal"]


def test_1_freezes_and_moves_the_clock(mockidp):
    assert mockidp.fault(error=50196, count=5, clientId="{REPORTING}")["remaining"] == 5  # left to the reset
    assert mockidp.freeze(1900000000) == 1900000000
    assert mockidp.advance(3600) == 1900003600
    token = mockidp.token("{CLIENT}", "{CLIENT_SECRET}", SCOPE, tenant="{TENANT}")["access_token"]
    assert signed_at(token) == 1900003600


def test_a_forged_expired_token(mockidp):
    token = mockidp.forge(clientId="{CLIENT}", resource="api://{BACKEND2}", roles=["Reader"], expired=True)
    claims = jwt.decode(token, options={{"verify_signature": False}})
    assert claims["roles"] == ["Reader"] and claims["exp"] < time.time()


def test_a_rotation_signs_with_the_new_key(mockidp):
    new = next(k["kid"] for k in mockidp.rotate_keys(60) if k["role"] == "active")
    token = mockidp.token("{CLIENT}", "{CLIENT_SECRET}", SCOPE, tenant="{TENANT}")["access_token"]
    assert jwt.get_unverified_header(token)["kid"] == new


def test_2_starts_from_the_seed_again(mockidp):
    assert mockidp.clock()["frozen"] is False and mockidp.faults() == []
    token = mockidp.token("{CLIENT}", "{CLIENT_SECRET}", SCOPE, tenant="{TENANT}")["access_token"]
    assert abs(signed_at(token) - time.time()) < 60


def test_msal_and_azure_identity_on_the_fixture(mockidp):
    app = mockidp.msal_app("{CLIENT}", "{CLIENT_SECRET}", tenant="{TENANT}")
    assert "access_token" in app.acquire_token_for_client([SCOPE])
    with mockidp.credential("{TENANT}", "{CLIENT}", "{CLIENT_SECRET}") as credential:
        assert credential.get_token(SCOPE).token.count(".") == 2


def test_resets_are_quick(mockidp):
    started = time.monotonic()
    for _ in range(20):
        mockidp.reset()
    each = (time.monotonic() - started) / 20
    print(f"RESET_SECONDS={{each:.4f}}")
    assert each < 0.5
'''


def test_the_plugin_serves_mockidp_to_a_projects_tests(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"[pytest]\nmockidp_seed = {DEMO_SEED}\n")
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-q", "-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)
    said = [line.split("RESET_SECONDS=")[1][:6] for line in result.outlines if "RESET_SECONDS=" in line]
    assert len(said) == 1 and float(said[0]) < 0.5
    print(f"a reset takes {float(said[0]) * 1000:.1f} ms")


def test_without_a_seed_the_fixture_says_what_to_set(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="def test_x(mockidp):\n    pass\n")
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    assert "set mockidp_seed in the pytest ini file" in result.stdout.str()


def test_the_readmes_complete_example_runs_as_written_with_two_workers(pytester: pytest.Pytester) -> None:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = text.index("# test_login.py (README: complete plugin example)")
    pytester.makeini(f"[pytest]\nmockidp_seed = {DEMO_SEED}\nmockidp_workers = 2\n")
    pytester.makepyfile(test_login=text[start:text.index("```", start)])
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_the_readme_graph_example_runs_as_written(pytester: pytest.Pytester) -> None:
    """README, "Changing the directory from a test (Microsoft Graph)": its seed and test, as written."""
    import re

    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    section = re.search(r"### Changing the directory from a test \(Microsoft Graph\)(.*?)\n## ", readme, re.S)
    assert section is not None
    seed = re.search(r"```yaml\n(.*?)```", section.group(1), re.S)
    code = re.search(r"```python\n(.*?)```", section.group(1), re.S)
    assert seed is not None and code is not None
    (pytester.path / "seed.yaml").write_text(seed.group(1))
    pytester.makeini("[pytest]\nmockidp_seed = seed.yaml\n")
    pytester.makepyfile(test_graph_example=code.group(1))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
