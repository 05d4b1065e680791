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
