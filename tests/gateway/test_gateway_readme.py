"""The README's "Through the gateway" walkthrough runs as written (ports and CA path swapped for the test
server's) and prints exactly what the README shows."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.gateway.conftest import GatewayServer

pytestmark = pytest.mark.clients


def test_through_the_gateway_walkthrough_prints_what_the_readme_says(gw: GatewayServer) -> None:
    section = (ROOT / "README.md").read_text().split("## Walkthrough: through the gateway")[1].split("\n## ")[0]
    script = re.search(r"<<'GW'\n(.*?)\nGW\n", section, re.S)
    shown = re.search(r"\n```\n(200 .*?)\n```\n", section, re.S)
    assert script is not None and shown is not None
    code = (script.group(1).replace("localhost:8443", f"localhost:{gw.port}")
            .replace("localhost:8444", f"localhost:{gw.gateway_port}").replace(".mockidp/ca.pem", gw.ca))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == shown.group(1).splitlines()
