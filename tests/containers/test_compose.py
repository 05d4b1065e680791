"""docs/examples/compose.yaml brought up with podman-compose: the image built from the Dockerfile, the compose
file's own environment, volumes and healthcheck; MSAL gets a token through the published port and the
control API takes the example's key. Two things are changed in the copy the test runs: the image is the one
just built, and the host ports are free ones (8443 may be taken on a shared machine). Without podman-compose
the test skips, except under CI (env CI set), where it fails (.ci/run installs it)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import msal
import requests
import yaml

from tests.containers.image import IMAGE, ROOT, unusable
from tests.containers.test_testcontainers import CLIENT_ID, SCOPE, SECRET, TENANT

EXAMPLE = ROOT / "docs" / "examples" / "compose.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Project:
    """One compose project in a folder of its own: the example, the repo's seed beside it (./seed)."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.name = f"mockidp{uuid.uuid4().hex[:8]}"
        compose = yaml.safe_load(EXAMPLE.read_text())
        service = compose["services"]["mockidp"]
        service["image"] = IMAGE
        self.ports = {int(m.split(":")[-1]): _free_port() for m in service["ports"]}
        service["ports"] = [f"{host}:{inside}" for inside, host in self.ports.items()]
        self.key = service["environment"]["MOCKIDP_CONTROL_KEY"]
        shutil.copytree(ROOT / "seed", folder / "seed")
        (folder / "compose.yaml").write_text(yaml.safe_dump(compose, sort_keys=False))
        self.origin = f"https://localhost:{self.ports[8443]}"
        self.ca = folder / "ca.pem"

    def compose(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["podman-compose", "-p", self.name, "-f", str(self.folder / "compose.yaml"), *args],
                              env=self.env, cwd=self.folder, capture_output=True, text=True, timeout=timeout)

    def podman(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True, timeout=60)

    def container(self) -> str:
        names = self.podman("ps", "-a", "--filter", f"label=io.podman.compose.project={self.name}",
                            "--format", "{{.Names}}").stdout.split()
        assert len(names) == 1, names
        return names[0]

    def wait_healthy(self, timeout: float = 90) -> float:
        """The compose file's healthcheck, run as the engine would (no systemd here to schedule it)."""
        started = time.monotonic()
        name = self.container()
        while time.monotonic() - started < timeout:
            if self.podman("healthcheck", "run", name).returncode == 0:
                status = self.podman("inspect", name, "--format", "{{.State.Health.Status}}").stdout.strip()
                assert status == "healthy", status
                return time.monotonic() - started
            time.sleep(0.5)
        raise AssertionError(f"not healthy in {timeout} s:\n{self.podman('logs', name).stdout[-3000:]}")

    def remove(self) -> None:
        self.compose("down", "-v", timeout=120)
        self.podman("network", "rm", "-f", f"{self.name}_default")  # podman-compose 1.0 leaves it


def test_the_compose_example_comes_up_healthy_serves_msal_and_comes_down(oci_image: dict[str, str],
                                                                         tmp_path: Path) -> None:
    if shutil.which("podman-compose") is None:
        unusable("podman-compose is missing (apt-get install podman-compose)")
    p = Project(tmp_path, oci_image)
    try:
        up = p.compose("up", "-d")
        assert up.returncode == 0, f"{up.stdout[-3000:]}{up.stderr[-3000:]}"
        print(f"healthy in {p.wait_healthy():.1f} s")
        copied = p.podman("cp", f"{p.container()}:/data/ca.pem", str(p.ca))  # the CA in the data volume
        assert copied.returncode == 0, copied.stderr
        session = requests.Session()
        session.verify = str(p.ca)
        session.trust_env = False
        app = msal.ConfidentialClientApplication(CLIENT_ID, client_credential=SECRET, http_client=session,
                                                 authority=f"{p.origin}/{TENANT}", instance_discovery=False)
        result = app.acquire_token_for_client(scopes=[SCOPE])
        assert "access_token" in result, result
        with httpx.Client(base_url=p.origin, verify=ssl.create_default_context(cafile=str(p.ca))) as c:
            # the test's host is not loopback inside the container: the control API needs the example's key
            assert c.get("/_mockidp/control/faults").status_code == 401
            keyed = c.get("/_mockidp/control/faults", headers={"x-mockidp-control-key": p.key})
            assert keyed.status_code == 200, keyed.text
    finally:
        p.remove()
    assert p.podman("ps", "-a", "--filter", f"label=io.podman.compose.project={p.name}", "-q").stdout.strip() == ""
    assert f"{p.name}_mockidp-data" not in p.podman("volume", "ls", "--format", "{{.Name}}").stdout.split()
