"""The compose file and the CI service-container example agree with the Dockerfile and `mockidp serve`."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from mockidp.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _exposed() -> set[int]:
    return {int(port) for line in re.findall(r"^EXPOSE (.+)$", DOCKERFILE, re.M) for port in line.split()}


def _health_command() -> list[str]:
    match = re.search(r"^\s*CMD (\[.+\])\s*$", DOCKERFILE.split("HEALTHCHECK", 1)[1], re.M)
    assert match is not None
    return list(yaml.safe_load(match.group(1)))


def _known_variables() -> set[str]:
    return {f"MOCKIDP_{name.upper()}" for name in Settings.model_fields}


def _load(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docs" / "examples" / name).read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_service_matches_the_image() -> None:
    service = _load("compose.yaml")["services"]["mockidp"]
    assert service["image"].startswith("mockidp")
    container_ports = {int(mapping.split(":")[-1]) for mapping in service["ports"]}
    assert container_ports == _exposed()
    assert set(service["environment"]) <= _known_variables()
    assert "MOCKIDP_CONTROL_KEY" in service["environment"]  # the other services are not loopback
    assert service["healthcheck"]["test"] == ["CMD", *_health_command()]
    assert "/seed:ro" in " ".join(service["volumes"]) and "ENV" in DOCKERFILE and "MOCKIDP_SEED=/seed" in DOCKERFILE
    assert any(volume.endswith(":/data") for volume in service["volumes"])


def test_ci_service_container_matches_the_image() -> None:
    service = _load("github-actions.yaml")["jobs"]["test"]["services"]["mockidp"]
    assert {int(mapping.split(":")[-1]) for mapping in service["ports"]} == {8443} and 8443 in _exposed()
    assert "MOCKIDP_PORT=8443" in DOCKERFILE
    assert set(service["env"]) <= _known_variables()
    options = shlex.split(service["options"])
    assert options[options.index("--health-cmd") + 1].split() == _health_command()
