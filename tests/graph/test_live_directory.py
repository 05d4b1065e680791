"""The live directory: a write in one worker is the next decision of another (same data dir), and the seed
comes back on restore."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mockidp.app import prepare
from mockidp.directory.live import LiveDirectory
from mockidp.directory.model import DirectoryContent
from mockidp.directory.stamp import Stamp
from mockidp.settings import Settings
from tests.conftest import DEMO_SEED


def test_a_write_reaches_another_worker_and_restore_brings_the_seed_back(tmp_path: Path) -> None:
    store = prepare(Settings(seed=[DEMO_SEED], data_dir=tmp_path, tls=False))
    writer, reader = LiveDirectory(store, Stamp(tmp_path)), LiveDirectory(store, Stamp(tmp_path))
    seeded = reader.current().content.assignments
    assert seeded, "the demo seed has app role assignments"
    removed = seeded[0]

    def without(content: DirectoryContent) -> DirectoryContent:
        return dataclasses.replace(content, assignments=tuple(a for a in content.assignments if a != removed))

    store.change_directory(without, now=0.0)
    assert removed in reader.current().content.assignments  # no stamp bump yet: the worker's copy stands
    writer.stamp.bump()
    assert removed not in reader.current().content.assignments
    assert (removed.resource_sp_id, removed.principal_id) not in reader.current().assignments or removed not in \
        reader.current().assignments[(removed.resource_sp_id, removed.principal_id)]
    assert store.restore_seed(now=1.0) is True
    writer.stamp.bump()
    assert reader.current().content.assignments == seeded


def test_a_change_that_raises_leaves_the_directory_as_it_was(tmp_path: Path) -> None:
    store = prepare(Settings(seed=[DEMO_SEED], data_dir=tmp_path, tls=False))
    before = store.load_versioned()

    def refuse(_content: DirectoryContent) -> DirectoryContent:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        store.change_directory(refuse, now=0.0)
    assert store.load_versioned() == before
