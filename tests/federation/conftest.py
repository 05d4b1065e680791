"""One mockidp served by the pytest plugin's own server (DEMO_SEED + seed/federation.yaml), per module that asks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mockidp.testing.plugin import Mockidp, MockidpServer
from tests.conftest import DEMO_SEED
from tests.federation.test_federation_seed import FEDERATION_SEED

FABRIKAM = "5a8e0b6c-0000-4000-8000-00000000f1d0"


@pytest.fixture(scope="module")
def mockidp() -> Iterator[Mockidp]:
    server = MockidpServer([DEMO_SEED, FEDERATION_SEED])
    try:
        server.wait_healthy()
        yield Mockidp(server)
    finally:
        server.stop()
