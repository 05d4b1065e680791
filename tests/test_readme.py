"""The README's walkthrough runs as written (only the port and CA path are swapped for the test server's)."""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
from playwright.sync_api import Playwright
from spa_support import chromium_with_home, nss_home, printed, sign_in_in_popup

from tests.conftest import ROOT, LiveServer, _free_port


def test_walkthrough_script_prints_a_v2_token_and_aadsts501051(live: LiveServer) -> None:
    readme = (ROOT / "README.md").read_text()
    script = re.search(r"python - <<'EOF'\n(.*?)\nEOF\n", readme, re.S)
    assert script is not None
    code = script.group(1).replace("localhost:8443", f"localhost:{live.port}").replace(".mockidp/ca.pem", live.ca)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    token_json, _, last = out.stdout.rpartition("}\n")
    claims = json.loads(token_json + "}")
    assert claims["ver"] == "2.0" and claims["aud"] == "8d138478-d3a3-47f5-a233-1408cd6baae4"
    assert claims["roles"] == ["Provisioning.ReadWrite", "Data.Read"]
    assert last.startswith(
        "AADSTS501051: Application '3f2c1a8e-5b7d-4e21-9c0a-6d4b8e2f7a13'(reportingJob) is not assigned to a role "
        "for the application 'api://8d138478-d3a3-47f5-a233-1408cd6baae4'(testBackend2). Trace ID: ")


def test_unassigned_user_curl_step_answers_aadsts50105(live: LiveServer) -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(curl -s --cacert .*?)\n```", readme, re.S)
    assert block is not None
    command = block.group(1).replace("\\\n", " ").replace("localhost:8443", f"localhost:{live.port}")
    command = command.replace(".mockidp/ca.pem", live.ca)
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, check=True)
    body = json.loads(out.stdout)
    assert body["error"] == "invalid_grant" and body["error_codes"] == [50105]
    assert body["error_description"].startswith(
        "AADSTS50105: Your administrator has configured the application hrPortal "
        "('5a7c3e9b-2d4f-4b6a-8c1e-0f9d8b7a6c5e') to block users unless they are specifically granted ('assigned') "
        "access to the application.")
    alice = command.replace("bob@", "alice@").replace("bob-password-1", "alice-password-1")
    tokens = json.loads(subprocess.run(["bash", "-c", alice], capture_output=True, text=True, timeout=60,
                                       check=True).stdout)
    assert "id_token" in tokens and "access_token" in tokens


def _heredoc(marker_line: str) -> str:
    readme = (ROOT / "README.md").read_text()
    found = re.search(rf"{re.escape(marker_line)}.*?<<'PY'\n(.*?)\nPY\n", readme, re.S)
    assert found is not None
    return found.group(1)


def _localised(code: str, live: LiveServer) -> str:
    return code.replace("localhost:8443", f"localhost:{live.port}").replace(".mockidp/ca.pem", live.ca)


def test_browser_sign_in_walkthrough_runs_as_written(live: LiveServer) -> None:
    """MSAL's acquire_token_interactive opens "the browser" (here: chromium, driven to sign in as Alice)."""
    code = _localised(_heredoc("**A browser sign-in with MSAL**"), live)
    env = {**os.environ, "BROWSER": f"{sys.executable} {ROOT / 'tests' / 'readme_browser.py'} %s"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90, check=True, env=env)
    claims = json.loads(out.stdout)
    assert claims["scp"] == "access_as_user" and claims["roles"] == ["Reader"]
    assert claims["preferred_username"] == "alice@contoso.onmicrosoft.com" and claims["azpacr"] == "0"


def test_device_code_walkthrough_runs_as_written(live: LiveServer) -> None:
    """The person: opens /device, types the code from the printed message and signs in as Alice."""
    code = _localised(_heredoc("**A device-code sign-in from a terminal:**"), live)
    proc = subprocess.Popen([sys.executable, "-u", "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    message = proc.stdout.readline()
    found = re.search(r"open the page (\S+) and enter the code (\w+)", message)
    assert found is not None, message
    page_url, user_code = found.groups()
    with httpx.Client(verify=ssl.create_default_context(cafile=live.ca)) as browser:
        form = browser.get(page_url)
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        signin = browser.post(page_url, data={"csrf": csrf.group(1), "otc": user_code})
        fields = dict(re.findall(r'name="(ctx|csrf)" value="([^"]+)"', signin.text))
        alice = {"username": "alice@contoso.onmicrosoft.com", "password": "alice-password-1"}
        done = browser.post(f"{live.origin}/_mockidp/login", data={**fields, **alice})
        assert "You have signed in to testClient on your device." in done.text
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.strip() == "alice@contoso.onmicrosoft.com signed in"


def _wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"the static server did not start (exit code {proc.poll()})")


def test_single_page_app_walkthrough_runs_as_written(live: LiveServer, playwright: Playwright, tmp_path: Path) -> None:
    """The README's certutil line, app files and static server, as written (ports, CA path and folder are
    the test's; `npm install` is replaced by tests/node's installed copy, which `npm ci` put there). Chromium
    trusts the CA through that NSS database; the person signs in in the popup, then presses Refresh."""
    section = (ROOT / "README.md").read_text().split("## Walkthrough: a single-page app signs in")[1].split("\n## ")[0]
    blocks = re.findall(r"```bash\n(.*?)\n```", section, re.S)
    assert len(blocks) == 2 and blocks[0].startswith("certutil ")
    port, site, home = _free_port(), tmp_path / "site", nss_home(tmp_path / "home")
    env = {**os.environ, "HOME": str(home)}
    subprocess.run(["bash", "-c", _localised(blocks[0], live)], env=env, check=True, timeout=60, capture_output=True)
    script, _, serve = blocks[1].rpartition("\n")
    script = _localised(script, live).replace("localhost:3000", f"localhost:{port}")
    script = script.replace("/tmp/mockidp-spa", str(site))
    script = script.replace("npm install @azure/msal-browser@5", f"ln -s {ROOT / 'tests' / 'node' / 'node_modules'} .")
    subprocess.run(["bash", "-c", script], env=env, check=True, timeout=60, capture_output=True)
    assert serve.startswith("python3 -m http.server 3000 ")
    server = subprocess.Popen(serve.replace(" 3000 ", f" {port} ").replace("python3", sys.executable, 1).split(),
                              cwd=site, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, server)
        with chromium_with_home(playwright, home) as browser:
            page = browser.new_page()  # certificate errors are not ignored
            page.goto(f"http://localhost:{port}/")
            sign_in_in_popup(page, ("alice@contoso.onmicrosoft.com", "alice-password-1"))
            first = printed(page)
            claims = json.loads(first)
            assert claims["aud"] == "8d138478-d3a3-47f5-a233-1408cd6baae4" and claims["scp"] == "access_as_user"
            assert claims["roles"] == ["Reader"] and claims["azp"] == "0f6d1e2c-3b4a-4c5d-9e8f-7a6b5c4d3e2f"
            page.click("#refresh")
            refreshed = json.loads(printed(page, first))
            assert refreshed["scp"] == "access_as_user" and refreshed["uti"] != claims["uti"]
    finally:
        server.terminate()
        server.wait(10)


def test_driving_mockidp_from_tests_runs_as_written(live: LiveServer) -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Driving mockidp from tests.*?```bash\n(.*?)\n```", readme, re.S)
    assert block is not None
    lines = [line.split("  #")[0].strip() for line in block.group(1).splitlines()]
    setup, curls, cli = lines[0], [x for x in lines if x.startswith("$C")], [x for x in lines if "mockidp " in x]
    setup = _localised(setup, live)
    said = [json.loads(subprocess.run(["bash", "-c", f"{setup}; {c}"], capture_output=True, text=True, timeout=30,
                                      check=True).stdout) for c in curls]
    assert said[0]["now"] == 1900000000 and said[1]["now"] == 1900003600 and said[2]["frozen"] is True
    assert said[2]["nowUtc"] == "2030-03-17T18:46:40.0000000Z" and said[3]["frozen"] is False
    assert said[4]["kind"] == "error" and said[4]["code"] == 50196 and said[4]["remaining"] == 2
    assert said[5] == {"reset": ["directory", "artefacts", "faults", "traces", "clock"]}
    where = f" --port {live.port} --data-dir {Path(live.ca).parent}"
    outs = [subprocess.run(["bash", "-c", c.replace(".venv/bin/mockidp", f"{sys.executable} -m mockidp") + where],
                           capture_output=True, text=True, timeout=30, check=True).stdout for c in cli]
    assert json.loads(outs[1])["now"] == 1900003600 and "clock" in json.loads(outs[2])["reset"]
    assert json.loads(outs[3])["code"] == 50196 and json.loads(outs[3])["remaining"] == 2
    assert json.loads(outs[4]) == {"value": []}
    assert {k["role"] for k in json.loads(outs[5])["value"]} >= {"active"}
    forged = outs[6].strip()
    assert forged.count(".") == 2 and jwt.decode(forged, options={"verify_signature": False})["exp"] < time.time()


IDENTITIES_SEED = ROOT / "seed" / "identities.yaml"


def test_managed_identity_walkthrough_runs_as_written(tmp_path: Path) -> None:
    """'A Function calls an API with its managed identity': the bash block as written, against a server of both
    seeds; only the commands' paths, the port and the CA are the test's."""
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"```bash\n\.venv/bin/pip install azure-identity pyjwt\n(.*?\nMI)\n```", readme, re.S)
    assert found is not None
    shown = re.search(r"azure-identity reports what App Service answers:\n\n```\n(.*?)\n```", readme, re.S)
    assert shown is not None
    demo = ROOT / "seed" / "demo.yaml"
    with LiveServer(tmp_path / "data", [demo, IDENTITIES_SEED]) as server:
        script = found.group(1).replace(".venv/bin/python", sys.executable).replace(".mockidp/ca.pem", server.ca)
        script = script.replace(
            ".venv/bin/mockidp identities",
            f"{sys.executable} -m mockidp identities --data-dir {server.settings.data_dir} --port {server.port}")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MOCKIDP_", "IDENTITY_", "MSI_", "AZURE_"))
               and k not in ("REQUESTS_CA_BUNDLE", "IMDS_ENDPOINT")}
        out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120, env=env,
                             cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    function, vault, refused = out.stdout.strip().splitlines()
    rg = "/subscriptions/2b0c9a3e-0000-4000-8000-000000000001/resourcegroups/orders-rg/providers"
    assert function == f"2.0 0f5e2a61-7c1d-4b9e-a3f2-5d6c7b8a9e01 ['Orders.Read'] {rg}/Microsoft.Web/sites/orders-func"
    assert vault == (f"1.0 1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c02 None {rg}/Microsoft.ManagedIdentity/"
                     "userAssignedIdentities/reporting-identity")
    assert refused == shown.group(1)
