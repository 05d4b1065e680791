"""A counter every worker of one machine reads from shared memory: "the control state changed".

The control API writes its change to the database first (directory/control_state.py), then bumps this
counter, a file of 8 bytes in the data dir mapped into every worker. Reading it costs a memory read, so
the clock can ask on every call whether to read its setting again; the database stays off the hot path.
Workers that do not share the data dir (replicas on other machines) learn of a change by polling the
database's version instead (app.py, CONTROL_POLL).
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import struct
from collections.abc import Iterator
from pathlib import Path

STAMP_FILE = "control.stamp"
_FORMAT = "<Q"
_SIZE = struct.calcsize(_FORMAT)


class Stamp:
    def __init__(self, data_dir: Path) -> None:
        path = data_dir / STAMP_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            with _locked(fd):
                if os.fstat(fd).st_size < _SIZE:
                    os.ftruncate(fd, _SIZE)
            self._map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)  # the mapping keeps the file
        self._fd_path = path
        self._seen = self.value()

    def value(self) -> int:
        return int(struct.unpack_from(_FORMAT, self._map)[0])

    def changed(self) -> bool:
        """True once after every bump since the last call (by any process)."""
        now = struct.unpack_from(_FORMAT, self._map)[0]
        if now == self._seen:
            return False
        self._seen = now
        return True

    def bump(self) -> None:
        fd = os.open(self._fd_path, os.O_RDWR)
        try:
            with _locked(fd):  # two bumps at once must both count
                struct.pack_into(_FORMAT, self._map, 0, self.value() + 1)
        finally:
            os.close(fd)

    def close(self) -> None:
        with contextlib.suppress(ValueError, BufferError):
            self._map.close()


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
