"""Real, unmodified @azure/msal-node against a live mockidp over TLS, through Node's own test runner.

The tests themselves are tests/node/*.test.mjs (client credentials, the AADSTS501051 refusal, device
code approved on the /device pages); this runs them with `node --test` against a server whose device
code interval is 1 s. Node trusts the mock's CA only through NODE_EXTRA_CA_CERTS, which must be set at
process start and which the ambient environment points at the system bundle, so it is overridden here.
Needs `npm ci` in tests/node first (.ci/run does it); a missing install fails rather than skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import (
    BACKEND2,
    CLIENT,
    CLIENT_SECRET,
    DEMO_SEED,
    REPORTING,
    REPORTING_SECRET,
    ROOT,
    TENANT,
    LiveServer,
)

pytestmark = pytest.mark.clients

NODE_DIR = ROOT / "tests" / "node"
USERNAME = "alice@contoso.onmicrosoft.com"
PASSWORD = "alice-password-1"
NODE_TIMEOUT = 120  # seconds for the whole node run; each test gets less (--test-timeout)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # a 1 s device-code polling interval: the default 5 s only slows MSAL Node down
    with LiveServer(tmp_path_factory.mktemp("node-live"), [DEMO_SEED], device_code_interval=1) as live:
        yield live


def node_env(live: LiveServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NODE_TLS_REJECT_UNAUTHORIZED", "NODE_OPTIONS")}
    env.update({
        "NODE_EXTRA_CA_CERTS": live.ca,  # the mock's CA, not the ambient system bundle
        "NO_COLOR": "1",
        "MOCKIDP_ORIGIN": live.origin,
        "MOCKIDP_TENANT": TENANT,
        "MOCKIDP_CLIENT": CLIENT,
        "MOCKIDP_CLIENT_SECRET": CLIENT_SECRET,
        "MOCKIDP_BACKEND2": BACKEND2,
        "MOCKIDP_REPORTING": REPORTING,
        "MOCKIDP_REPORTING_SECRET": REPORTING_SECRET,
        "MOCKIDP_USERNAME": USERNAME,
        "MOCKIDP_PASSWORD": PASSWORD,
    })
    return env


def test_msal_node(server: LiveServer) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: install Node.js 20+ and run `npm ci` in tests/node")
    if not (NODE_DIR / "node_modules" / "@azure" / "msal-node").is_dir():
        pytest.fail("@azure/msal-node is not installed: run `npm ci` in tests/node")
    files = sorted(str(p) for p in NODE_DIR.glob("*.test.mjs"))
    assert files, f"no *.test.mjs in {NODE_DIR}"
    command = [node, "--test", "--test-reporter=spec", f"--test-timeout={(NODE_TIMEOUT - 30) * 1000}", *files]
    try:
        run = subprocess.run(command, cwd=NODE_DIR, env=node_env(server), capture_output=True, text=True,
                             timeout=NODE_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"node --test did not finish in {NODE_TIMEOUT} s:\n{exc.stdout or ''}\n{exc.stderr or ''}")
    print(run.stdout, run.stderr, sep="\n")
    assert run.returncode == 0, f"node --test exited {run.returncode}:\n{run.stdout}\n{run.stderr}"
