"""`mockidp policy check POLICY.xml --token JWT`: the inbound section offline, each check and its fix, exit 0
only when it passes; `--trace ID` for a request the gateway recorded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKEND2, CLIENT, TENANT
from tests.gateway.conftest import GatewayServer
from tests.gateway.test_gateway_flow import V1_SCOPE, V2_SCOPE, call, last_trace, msal_token

pytestmark = pytest.mark.clients

POLICY = f"""<policies>
  <inbound>
    <base />
    <validate-jwt header-name="Authorization" require-scheme="Bearer">
      <openid-config url="https://login.microsoftonline.com/{{{{tenant-id}}}}/v2.0/.well-known/openid-configuration" />
      <audiences><audience>{BACKEND2}</audience></audiences>
      <required-claims><claim name="azp" match="any"><value>{CLIENT}</value></claim></required-claims>
    </validate-jwt>
  </inbound>
  <backend><forward-request /></backend>
</policies>
"""


def _check(gw: GatewayServer, tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    policy = tmp_path / "policy.xml"
    policy.write_text(POLICY)
    return subprocess.run([sys.executable, "-m", "mockidp", "policy", "check", *args, "--data-dir",
                           str(gw.settings.data_dir), "--port", str(gw.port)],
                          capture_output=True, text=True, timeout=60, input=stdin, cwd=tmp_path)


def test_a_token_the_policy_accepts_passes_with_exit_0(gw: GatewayServer, tmp_path: Path) -> None:
    token = msal_token(gw, V2_SCOPE)
    out = _check(gw, tmp_path, "policy.xml", "--token", "-", "--named-value", f"tenant-id={TENANT}", stdin=token)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("ok   validate-jwt (line 4, inbound): token found; signature (RS256, kid ")
    assert lines[0].endswith("; lifetime; audience; issuer; required claims")
    assert lines[-1] == "The inbound section passes"


def test_a_v1_token_fails_with_the_reason_and_the_fix_and_exit_1(gw: GatewayServer, tmp_path: Path) -> None:
    token = msal_token(gw, V1_SCOPE)
    out = _check(gw, tmp_path, "policy.xml", "--token", token, "--named-value", f"tenant-id={TENANT}")
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("FAIL validate-jwt (line 4, inbound): JWT Validation Failed: IDX10214: Audience "
                               "validation failed. Audiences: 'api://contoso.onmicrosoft.com/testBackend1'.")
    assert lines[1].startswith("     Fix: the token's aud is api://contoso.onmicrosoft.com/testBackend1: a v1 token's "
                               "aud is the resource exactly as the client requested it")
    assert lines[2] == 'The inbound section fails: HTTP 401 { "statusCode": 401, "message": "Invalid JWT." }'


def test_an_undefined_named_value_is_refused_with_its_line(gw: GatewayServer, tmp_path: Path) -> None:
    out = _check(gw, tmp_path, "policy.xml", "--token", "x.y.z")
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "policy.xml:5: <openid-config>: attribute 'url': named value {{tenant-id}} is not defined",
        "1 problem(s): the policy would not load"]


def test_the_checks_of_a_recorded_gateway_request(gw: GatewayServer, tmp_path: Path) -> None:
    call(gw, "/v2/hello", msal_token(gw, V1_SCOPE))
    trace = last_trace(gw, "/v2/hello")
    out = _check(gw, tmp_path, "--trace", trace["id"])
    assert out.returncode == 1
    assert "  GET gateway /v2/hello -> HTTP 401, TokenAudienceNotAllowed\n" in out.stdout
    assert "  FAIL validate-jwt\n" in out.stdout and "\nFix:\n  the token's aud is " in out.stdout
