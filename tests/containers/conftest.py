"""One image build for every container test of the run."""

from __future__ import annotations

import pytest

from tests.containers.image import built_image


@pytest.fixture(scope="session")
def oci_image() -> dict[str, str]:
    """The podman environment in which tests.containers.image.IMAGE is built."""
    return built_image()
