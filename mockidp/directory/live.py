"""The directory a worker decides with, following Graph writes (directory/writes.py) and resets.

A write changes the tables in one transaction with a new directory version (directory/store.py), then
bumps the control stamp every worker of this machine maps (directory/stamp.py). Each access compares the
stamp with the one seen last (a memory read); only when it moved is the database's version read, and only
when that changed is the directory loaded and indexed again. Replicas on other machines share the
database, not the stamp: their control poll (app.py) calls `forget`, so the next access reads the version.
"""

from __future__ import annotations

import threading

from mockidp.directory.snapshot import Directory
from mockidp.directory.stamp import Stamp
from mockidp.directory.store import Store


class LiveDirectory:
    def __init__(self, store: Store, stamp: Stamp) -> None:
        self.store = store
        self.stamp = stamp
        self._lock = threading.Lock()
        self._seen = stamp.value()
        self._version, content = store.load_versioned()
        self._directory = Directory.build(content)

    def current(self) -> Directory:
        if self.stamp.value() != self._seen:
            self._follow()
        return self._directory

    def forget(self) -> None:
        """The next access reads the database's version (another replica may have written)."""
        self._seen = -1

    def refresh(self) -> Directory:
        """After this worker's own write: the new directory at once."""
        self.forget()
        return self.current()

    def _follow(self) -> None:
        with self._lock:
            seen = self.stamp.value()
            if seen == self._seen:
                return  # another thread followed it meanwhile
            version = self.store.directory_version()
            if version != self._version:
                self._version, content = self.store.load_versioned()
                self._directory = Directory.build(content)
            self._seen = seen
