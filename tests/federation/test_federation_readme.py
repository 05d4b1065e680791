"""The README walkthrough "A CI job signs in without a secret" runs as written: only the port, the data dir
(CA) and the token file's path are swapped for the test server's, and `.venv/bin/` for this interpreter."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DEMO_SEED, ROOT, LiveServer
from tests.federation.test_federation_seed import FEDERATION_SEED

SECTION = "## Walkthrough: a CI job signs in without a secret"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("readme-federation"), [DEMO_SEED, FEDERATION_SEED]) as server:
        yield server


def walkthrough(live: LiveServer, token_file: Path) -> str:
    section = (ROOT / "README.md").read_text().split(SECTION)[1].split("\n## ")[0]
    serve = re.search(r"```bash\n(.*?)\n```", section, re.S)
    assert serve is not None and serve.group(1) == (
        ".venv/bin/mockidp serve --seed seed/demo.yaml --seed seed/federation.yaml")  # what `live` serves
    blocks = re.findall(r"```bash\n(.*?)\n```", section, re.S)
    script = blocks[1]
    assert script.startswith(".venv/bin/pip install azure-identity pyjwt\n")  # installed here already
    script = script.split("\n", 1)[1]
    data_dir = str(Path(live.ca).parent)
    script = script.replace("localhost:8443", f"localhost:{live.port}").replace(".mockidp/ca.pem", live.ca)
    script = script.replace("/tmp/github-token", str(token_file)).replace(".venv/bin/python", sys.executable)
    return script.replace(".venv/bin/mockidp federation token",
                          f"{sys.executable} -m mockidp federation token --port {live.port} --data-dir {data_dir}")


def run(script: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOCKIDP_", "AZURE_", "IDENTITY_", "MSI_"))}
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120, env=env)


def test_the_ci_job_walkthrough_prints_the_apps_token(live: LiveServer, tmp_path: Path) -> None:
    done = run(walkthrough(live, tmp_path / "github-token"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == "7c1d9e3b-2a4f-4b6d-8e0f-5a9b3c2d1e02 ['Orders.ReadWrite']"


def test_another_branch_gets_the_refusal_the_readme_quotes(live: LiveServer, tmp_path: Path) -> None:
    script = walkthrough(live, tmp_path / "github-token").replace(
        "refs/heads/main", "refs/heads/feature")
    done = run(script)
    assert done.returncode != 0
    assert "ClientAuthenticationError" in done.stderr
    assert ("AADSTS700213: No matching federated identity record found for presented assertion subject "
            "'repo:fabrikam/orders:ref:refs/heads/feature'. Please note that the matching is done using a "
            "case-sensitive comparison.") in done.stderr
