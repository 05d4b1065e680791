"""A directory write from a JSON API's edge (Graph's, ARM's): the change function in the store's one transaction
(in a thread: never on the event loop), then the stamp, so every worker of this machine decides with it at its
next request and replicas at their poll."""

from __future__ import annotations

import asyncio

from mockidp.directory import writes as w
from mockidp.directory.snapshot import Directory
from mockidp.web.runtime import Runtime


class NoLiveDirectory(Exception):
    """The server runs without a live directory (no store to write to)."""


async def apply_write(rt: Runtime, change: w.Change) -> Directory:
    """The directory after the write; raises directory/writes.py's WriteError (nothing written) or NoLiveDirectory."""
    live = rt.live
    if live is None:
        raise NoLiveDirectory
    await asyncio.to_thread(w.apply, live.store, change, now=rt.services.clock.now())
    live.stamp.bump()
    return live.refresh()
