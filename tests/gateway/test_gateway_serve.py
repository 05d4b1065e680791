"""`mockidp serve` with the gateway as users start it: its own port, every worker, the API URLs printed at
start; a seed whose policy mockidp would not run fully is refused before anything listens."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import CLIENT, CLIENT_SECRET, DEMO_SEED, TENANT, _free_port

pytestmark = pytest.mark.clients


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MOCKIDP_")}


def test_serve_with_two_workers_serves_the_gateway_on_its_port_and_prints_each_api(tmp_path: Path) -> None:
    port, gateway_port = _free_port(), _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mockidp", "serve", "--seed", str(DEMO_SEED), "--data-dir",
                                 str(tmp_path / "data"), "--port", str(port), "--gateway-port", str(gateway_port),
                                 "--workers", "2", "--no-access-log"], stdout=out, stderr=subprocess.STDOUT,
                                env=_env())
    try:
        ca = tmp_path / "data" / "ca.pem"
        deadline = time.monotonic() + 40
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                with httpx.Client(verify=ssl.create_default_context(cafile=str(ca))) as c:
                    if c.get(f"https://localhost:{port}/_mockidp/health").status_code == 200:
                        break
            except (httpx.HTTPError, OSError, ssl.SSLError):
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        printed = log.read_text()
        assert "  API Management contoso-apim (https://contoso-apim.azure-api.net with --hostname):\n" in printed
        assert f"    API testBackend2: https://localhost:{gateway_port}/backend2\n" in printed
        with httpx.Client(verify=ssl.create_default_context(cafile=str(ca))) as c:
            token = c.post(f"https://localhost:{port}/{TENANT}/oauth2/v2.0/token", data={
                "grant_type": "client_credentials", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
                "scope": "api://8d138478-d3a3-47f5-a233-1408cd6baae4/.default"}).json()["access_token"]
            # new connections: both workers; a function key in the query, as Azure Functions backends take it
            answers = [c.get(f"https://localhost:{gateway_port}/backend2/hello?code=s3cret-function-key-{i}",
                             headers={"Authorization": f"Bearer {token}",
                                      "Ocp-Apim-Subscription-Key": "demo-subscription-key-1",
                                      "Connection": "close"}) for i in range(6)]
            assert [a.status_code for a in answers] == [200] * 6
            assert {a.json()["query"]["code"] for a in answers} == {f"s3cret-function-key-{i}" for i in range(6)}
            assert {a.json()["claims"]["azp"] for a in answers} == {CLIENT}
            # the identity app is not on the gateway's port, nor the gateway on the identity port
            assert c.get(f"https://localhost:{gateway_port}/_mockidp/health").text == (
                '{ "statusCode": 404, "message": "Resource not found" }')
            assert c.get(f"https://localhost:{port}/backend2/hello").status_code == 404
        # --no-access-log: no line per request, nor one per forwarded call (httpx logs each at INFO), whose URL
        # would show the function key
        proc.terminate()
        proc.wait(20)
        after = log.read_text()[len(printed):]
        assert "s3cret-function-key" not in after and "/_mockidp/echo" not in after, after
    finally:
        proc.terminate()
        proc.wait(20)


def test_no_gateway_binds_no_port(tmp_path: Path) -> None:
    port, gateway_port = _free_port(), _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mockidp", "serve", "--seed", str(DEMO_SEED), "--data-dir",
                                 str(tmp_path / "data"), "--port", str(port), "--gateway-port", str(gateway_port),
                                 "--no-gateway", "--no-access-log"], stdout=out, stderr=subprocess.STDOUT, env=_env())
    try:
        deadline = time.monotonic() + 30
        while "Application startup complete" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert "API Management" not in log.read_text()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://localhost:{gateway_port}/backend2/hello", verify=False)
    finally:
        proc.terminate()
        proc.wait(20)


UNSUPPORTED = """\
apiManagement:
  - name: refused
    apis:
      - name: a
        path: a
        serviceUrl: http://127.0.0.1:9/api
        policy: |
          <policies>
            <inbound>
              <base />
              <send-request mode="new" response-variable-name="r" />
              <set-header name="X-Caller" exists-action="override">
                <value>@(new System.Random().Next().ToString())</value>
              </set-header>
            </inbound>
          </policies>
        operations:
          - {name: get, method: GET, urlTemplate: /}
"""


def test_an_unsupported_policy_and_an_unsupported_expression_are_refused_at_load(tmp_path: Path) -> None:
    seed = tmp_path / "apim.yaml"
    seed.write_text(UNSUPPORTED)
    out = subprocess.run([sys.executable, "-m", "mockidp", "serve", "--seed", str(DEMO_SEED), "--seed", str(seed),
                          "--data-dir", str(tmp_path / "data"), "--port", str(_free_port())],
                         capture_output=True, text=True, timeout=60, env=_env())
    assert out.returncode == 2
    lines = out.stderr.splitlines()
    assert lines[0] == "mockidp: the seed is invalid, nothing was loaded (2 problems):"
    assert lines[1].startswith(f"  {seed}:11: apiManagement[0].apis[0].policy: <send-request>: <send-request> is an "
                               "APIM policy mockidp does not run yet; refused rather than skipped")
    assert lines[2].startswith(f"  {seed}:13: apiManagement[0].apis[0].policy: <value>: text: ")


def test_the_subscription_key_in_a_query_is_not_logged() -> None:
    from mockidp.web.access_log import redact

    assert redact("/keyed/hello?subscription-key=partner-key-primary-1&x=1") == (
        "/keyed/hello?subscription-key=[redacted]&x=1")


def test_the_gateway_port_must_differ_from_the_port(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "mockidp", "serve", "--seed", str(DEMO_SEED), "--data-dir",
                          str(tmp_path / "data"), "--port", "18999", "--gateway-port", "18999"],
                         capture_output=True, text=True, timeout=60, env=_env())
    assert out.returncode == 2
    assert "the gateway port and the port are both 18999: give --gateway-port another (or --no-gateway)" in out.stderr
