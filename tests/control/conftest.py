"""One served mockidp (`--workers 2`) per test module of the control API: either worker answers each
request, so every test proves that a control change reaches both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.serving.test_serve import Served


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = Served(tmp_path_factory.mktemp("control") / "data", "--workers", "2")
    try:
        s.wait()
        yield s
    finally:
        s.stop()
