"""The image built from the repo's Dockerfile with podman and the oci tools' private configuration, for the
container tests (Testcontainers, compose). Without a usable podman they skip, except under CI (env CI set),
where they fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/mockidp:containers-test"


def oci_tools() -> Path:
    for candidate in (os.environ.get("MOCKIDP_OCI_TOOLS"), ROOT.parent / "shared" / "tools" / "oci",
                      Path("/work/shared/tools/oci")):
        if candidate and (Path(candidate) / "env.sh").is_file():
            return Path(candidate)
    return Path("/nonexistent")


def unusable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"podman is needed under CI: {reason}")
    pytest.skip(reason)


def oci_env(tools: Path) -> dict[str, str]:
    """The private podman configuration of the oci tools' env.sh, as variables."""
    out = subprocess.run(["bash", "-c", f'source "{tools}/env.sh" >/dev/null && env -0'], check=True,
                         capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.split("\0") if "=" in line)


def built_image() -> dict[str, str]:
    """IMAGE built from the Dockerfile (podman's layer cache makes a second build quick); returns the podman
    environment to run it with."""
    tools = oci_tools()
    if shutil.which("podman") is None or not (tools / "env.sh").is_file():
        unusable("podman or the oci tools (MOCKIDP_OCI_TOOLS) are missing")
    env = oci_env(tools)
    if subprocess.run(["podman", "image", "exists", "localhost/debian-python:bookworm"], env=env).returncode:
        built = subprocess.run([str(tools / "build-base.sh")], env=env, capture_output=True, text=True)
        if built.returncode:
            unusable(f"build-base.sh failed:\n{built.stdout[-2000:]}{built.stderr[-2000:]}")
    started = time.monotonic()
    build = subprocess.run(["podman", "build", "--format", "docker", "--pull=never", "--network", "host",
                            "--layers", "-t", IMAGE, str(ROOT)], env=env, capture_output=True, text=True)
    if build.returncode:
        pytest.fail(f"the Dockerfile did not build:\n{build.stdout[-3000:]}{build.stderr[-3000:]}")
    print(f"image built in {time.monotonic() - started:.1f} s")
    return env
