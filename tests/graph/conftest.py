"""One `mockidp serve --workers 2` for the msgraph-sdk scenarios of this package: the Graph tests' tenants
(graph_seed.py, people_seed.py) besides the demo seed, started once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.graph import graph_seed, people_seed
from tests.serving.test_serve import Served


@pytest.fixture(scope="package")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("sdk")
    seeds = []
    for name, text in (("graph.yaml", graph_seed.SEED), ("people.yaml", people_seed.SEED)):
        (tmp / name).write_text(text)
        seeds += ["--seed", str(tmp / name)]
    s = Served(tmp / "data", "--workers", "2", *seeds)
    try:
        s.wait()
        yield s
    finally:
        s.stop()
