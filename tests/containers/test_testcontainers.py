"""MockidpContainer against the image built from the repo's Dockerfile, through podman's Docker API.

Podman (and the oci tools' local base images) stand in for a Docker engine: there is no registry, so
Ryuk (testcontainers' reaper image) is off and the fixture removes the container itself. Without a
usable podman the test skips, except under CI (env CI set), where it fails.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import msal
import pytest

from tests.containers.image import IMAGE, ROOT

TENANT = "72f988bf-0000-4000-8000-000000000001"
CLIENT_ID = "1df771d6-ef9c-473e-af87-cafa8928e024"
SECRET = "testClient-secret-value-1"
SCOPE = "api://contoso.onmicrosoft.com/testBackend1/.default"


@pytest.fixture(scope="module")
def docker_api(oci_image: dict[str, str], monkeypatch_module: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    env = oci_image
    home = Path(tempfile.mkdtemp(prefix="mockidp-podman-"))
    socket = home / "podman.sock"
    service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{socket}"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if socket.exists():
            break
        time.sleep(0.1)
    for name, value in {"DOCKER_HOST": f"unix://{socket}", "TESTCONTAINERS_RYUK_DISABLED": "true",
                        "TC_HOST": "localhost"}.items():
        monkeypatch_module.setenv(name, value)
    try:
        yield env
    finally:
        service.terminate()
        service.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_msal_gets_a_token_from_the_container_and_the_control_api_changes_a_decision(
        docker_api: dict[str, str]) -> None:
    from mockidp.testing.containers import MockidpContainer

    with MockidpContainer(IMAGE, seed=ROOT / "seed") as idp:
        print(f"healthy in {idp.startup_seconds:.1f} s")
        app = msal.ConfidentialClientApplication(CLIENT_ID, client_credential=SECRET, authority=idp.authority(TENANT),
                                                 http_client=idp.session(), instance_discovery=False)
        result = app.acquire_token_for_client(scopes=[SCOPE])
        assert "access_token" in result, result

        status, _ = idp.control("POST", "/_mockidp/control/faults", {"error": 50196, "count": 1})
        assert status in (200, 201)
        failed = msal.ConfidentialClientApplication(
            CLIENT_ID, client_credential=SECRET, authority=idp.authority(TENANT),
            http_client=idp.session(), instance_discovery=False).acquire_token_for_client(scopes=[SCOPE])
        assert failed.get("error_codes") == [50196], failed

        # without the key the control API refuses: the test's host is not loopback inside the container
        idp.control_key = "wrong"
        assert idp.control("GET", "/_mockidp/control/faults")[0] == 401


def _readme_block(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(marker)
    return text[start:text.index("```", start)]


def test_readme_testcontainers_snippet_runs_as_written(docker_api: dict[str, str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKIDP_IMAGE", IMAGE)
    monkeypatch.chdir(ROOT)  # the snippet's seed="seed" is the repo's demo seed
    code = _readme_block("# README: testcontainers")
    assert "MockidpContainer" in code
    exec(compile(code, "README.md", "exec"), {})  # its asserts are the test
