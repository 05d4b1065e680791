"""Real, unmodified @azure/identity in Node (WorkloadIdentityCredential, configured by environment variables
only) against a live mockidp with seed/federation.yaml: tests/node/federation.node.mjs through `node --test`.
Needs `npm ci` in tests/node (.ci/run does it); a missing install fails rather than skips."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mockidp.testing.plugin import Mockidp
from tests.conftest import ROOT
from tests.federation.conftest import FABRIKAM
from tests.federation.test_federation_seed import PIPELINE

NODE_DIR = ROOT / "tests" / "node"



def test_azure_identity_in_node(mockidp: Mockidp, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: install Node.js 20+ and run `npm ci` in tests/node")
    if not (NODE_DIR / "node_modules" / "@azure" / "identity").is_dir():
        pytest.fail("@azure/identity is not installed: run `npm ci` in tests/node")
    good, other = tmp_path / "token", tmp_path / "other-token"
    good.write_text(mockidp.federation_token("repo:fabrikam/orders:ref:refs/heads/main"))
    other.write_text(mockidp.federation_token("repo:fabrikam/orders:ref:refs/heads/feature"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "NODE_TLS", "NODE_OPTIONS"))}
    env.update({"NODE_EXTRA_CA_CERTS": str(mockidp.ca_path), "NO_COLOR": "1",
                "AZURE_FEDERATED_TOKEN_FILE": str(good), "AZURE_CLIENT_ID": PIPELINE, "AZURE_TENANT_ID": FABRIKAM,
                "AZURE_AUTHORITY_HOST": mockidp.origin + "/", "FEDERATION_OTHER_TOKEN_FILE": str(other),
                "FEDERATION_SCOPE": "api://fabrikam-orders/.default"})
    run = subprocess.run([node, "--test", "--test-reporter=spec", "--test-timeout=60000", "federation.node.mjs"],
                         cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"node --test exited {run.returncode}:\n{run.stdout}\n{run.stderr}"
    assert "ℹ pass 2" in run.stdout and "ℹ fail 0" in run.stdout, run.stdout
