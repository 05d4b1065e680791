"""The README's walkthrough runs as written (only the port and CA path are swapped for the test server's)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.conftest import ROOT, LiveServer


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
