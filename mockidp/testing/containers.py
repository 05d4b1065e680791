"""mockidp as a Testcontainers container (testcontainers-python; the `containers` extra).

    with MockidpContainer("mockidp:latest", seed="seed/demo.yaml") as idp:
        app = msal.ConfidentialClientApplication(client_id, client_credential=secret, authority=idp.authority(tenant),
                                                 http_client=idp.session(), instance_discovery=False)

Inside the container the caller is not on loopback, so the control API needs MOCKIDP_CONTROL_KEY:
the container gets a random one (`control_key`), sent by `control()`.
"""

from __future__ import annotations

import io
import json
import secrets
import ssl
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from docker.errors import NotFound
from testcontainers.core.container import DockerContainer

PORT = 8443
SEED_DIR = "/seed"
CA_IN_CONTAINER = "/data/ca.pem"
START_TIMEOUT = 60.0


class MockidpContainer(DockerContainer):
    """The image built from mockidp's Dockerfile, serving `seed` (a file or a folder) on port 8443."""

    def __init__(self, image: str = "mockidp:latest", *, seed: str | Path | None = None,
                 control_key: str | None = None, **kwargs: Any) -> None:
        super().__init__(image, **kwargs)
        self.control_key = control_key or secrets.token_urlsafe(24)
        self.with_exposed_ports(PORT)
        self.with_env("MOCKIDP_CONTROL_KEY", self.control_key)
        self.with_env("MOCKIDP_ACCESS_LOG", "false")
        if seed is not None:
            path = Path(seed).resolve()
            # a folder keeps its layout (a seed may name certificates relative to itself)
            target = SEED_DIR if path.is_dir() else f"{SEED_DIR}/{path.name}"
            self.with_volume_mapping(str(path), target, "ro")
            self.with_env("MOCKIDP_SEED", target)
        self._home = Path(tempfile.mkdtemp(prefix="mockidp-container-"))
        self.ca_path = self._home / "ca.pem"
        self._context: ssl.SSLContext | None = None

    def start(self) -> MockidpContainer:
        super().start()
        self._wait_healthy()
        return self

    @property
    def origin(self) -> str:
        return f"https://localhost:{self.get_exposed_port(PORT)}"

    def authority(self, tenant: str) -> str:
        return f"{self.origin}/{tenant}"

    def session(self) -> Any:
        """A requests session trusting the container's CA (MSAL's http_client); REQUESTS_CA_BUNDLE
        would otherwise win over `verify`."""
        import requests  # MSAL's own dependency; imported only by callers who want it

        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.ca_path)
        return session

    def control(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """Call the control API (/_mockidp/...) with the container's control key."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.origin + path, data=data, method=method, headers={
            "x-mockidp-control-key": self.control_key, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, context=self._ssl(), timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def _ssl(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = ssl.create_default_context(cafile=str(self.ca_path))
        return self._context

    def _copy_ca(self) -> bool:
        """The CA out of the container (trust it from the source, not from what the port answers)."""
        try:
            stream, _ = self.get_wrapped_container().get_archive(CA_IN_CONTAINER)
        except NotFound:  # the server has not written it yet
            return False
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            member = archive.extractfile("ca.pem")
            if member is None:
                return False
            self.ca_path.write_bytes(member.read())
        return True

    def _wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            self.get_wrapped_container().reload()
            if self.get_wrapped_container().status == "exited":
                raise RuntimeError(f"mockidp container exited:\n{self.get_logs()}")
            if self.ca_path.exists() or self._copy_ca():
                try:
                    if self.control("GET", "/_mockidp/health")[0] == 200:
                        self.startup_seconds = time.monotonic() - started
                        return
                except (OSError, ssl.SSLError, ValueError):
                    self._context = None  # not listening yet, or the CA was still being written
            time.sleep(0.1)
        raise RuntimeError(f"mockidp container not healthy after {timeout:.0f} s:\n{self.get_logs()}")
