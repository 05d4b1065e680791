"""`mockidp serve`'s preparation (preparation.prepare: data dir, keys, schema, the seed) in a forked child,
while the parent imports the web app its workers are forked with. One after the other they were most of
the start to healthy; side by side each has a core (issue 11). The child also keeps the seed's schema and
YAML parser out of the parent, and so out of every worker forked from it.

This module imports nothing heavy: the child imports what preparing needs, the parent what serving needs.
Where the platform does not fork (or forking is not how mockidp starts its workers there), the
preparation runs here, in this process, before start() returns.

Before that, keys_ahead makes the RSA keys a new data dir needs in threads, while the parent imports what
both halves share: OpenSSL releases the GIL while it looks for primes, so on a second core they cost the
start nothing (they were the longer half's 0.06-0.17 s, twice that with TLS).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mockidp.settings import Settings

__all__ = ["FAILED", "PREPARED", "SEED_INVALID", "Preparation", "keys_ahead", "start"]

PREPARED, SEED_INVALID, FAILED = 0, 2, 1  # the child's exit status, and what `mockidp serve` exits with


def _signing_keys(settings: Settings) -> None:
    from mockidp.tokens.keys import ensure_keys

    ensure_keys(settings.data_dir)


def _server_certificate(settings: Settings) -> None:
    from mockidp.local_ca import ensure_server_certificate, server_names

    ensure_server_certificate(settings.data_dir, server_names(settings))


def _quietly(make: Callable[[Settings], None], settings: Settings) -> None:
    # A key that cannot be made here (the data dir is not writable...) is the preparation's to report: it
    # makes the same keys again, under the same file locks, and says what failed.
    with contextlib.suppress(Exception):
        make(settings)


def keys_ahead(settings: Settings) -> list[threading.Thread]:
    """Threads making the keys prepare() would make (files under locks: it reads them after); give them
    to start(), which waits for them before it forks."""
    makers: list[Callable[[Settings], None]] = [_signing_keys]
    if settings.tls:
        makers.append(_server_certificate)
    threads = [threading.Thread(target=_quietly, args=(m, settings), name="mockidp-keys", daemon=True)
               for m in makers]
    for t in threads:
        t.start()
    return threads


def _prepare(settings: Settings) -> int:
    from mockidp.directory.seed import SeedError
    from mockidp.preparation import prepare

    try:
        store = prepare(settings)
    except SeedError as exc:
        sys.stderr.write(f"mockidp: the seed is invalid, nothing was loaded ({len(exc.problems)} problems):\n"
                         + "".join(f"  {problem}\n" for problem in exc.problems))
        return SEED_INVALID
    store.engine.dispose()
    return PREPARED


class Preparation:
    """A preparation under way (a child's pid) or done (its status)."""

    def __init__(self, pid: int | None, status: int = PREPARED) -> None:
        self._pid, self._status = pid, status

    def wait(self) -> int:
        """PREPARED, or what the parent exits with: SEED_INVALID (the child said why), FAILED (the child
        printed the error)."""
        if self._pid is not None:
            _, raw = os.waitpid(self._pid, 0)
            code = os.waitstatus_to_exitcode(raw)
            self._pid, self._status = None, code if code in (PREPARED, SEED_INVALID) else FAILED
        return self._status


def _forks() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "fork")  # as serving._fork_context decides


def start(settings: Settings, *, after: Sequence[threading.Thread] = ()) -> Preparation:
    """Prepare in a child (returns at once) or, where the platform does not fork, here; first the threads
    `after` (keys_ahead) end: no thread may run across a fork."""
    for t in after:
        t.join()
    if not _forks():
        return Preparation(None, _prepare(settings))
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return Preparation(pid)
    status = FAILED
    try:
        status = _prepare(settings)
    except BaseException:  # the child reports anything, Ctrl-C included, and exits
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)  # not the parent's atexit handlers, not its buffers a second time
