"""Replicas on other machines follow each other's changes at their next request (issue 9: "a write changes the
next decision at once, in every worker and replica").

Workers of one machine share the data dir's stamp (directory/stamp.py): a change costs them a memory read.
Replicas elsewhere share only the database, so on PostgreSQL every request first reads the database's control
version (directory/control_state.py, one indexed read of a handful of rows); when it moved, the worker reads
again what changed: the directory (a Graph write, a reset), the clock, the keys (a rotation) and the armed
faults. A write is acknowledged after its commit, so whatever request follows it, on any replica, decides with it.
"""

from __future__ import annotations

import logging
from typing import Any

from mockidp.clock import SharedClock
from mockidp.directory.control_state import ControlState, VersionProbe
from mockidp.directory.faults import FaultBook
from mockidp.directory.live import LiveDirectory
from mockidp.tokens.key_ring import KeyRing

log = logging.getLogger("mockidp")


class Following:
    def __init__(self, control: ControlState, clock: SharedClock, faults: FaultBook, ring: KeyRing,
                 live: LiveDirectory) -> None:
        self.control, self.clock, self.faults, self.ring, self.live = control, clock, faults, ring, live
        self.probe = VersionProbe(control.engine)
        self._seen = self.probe.read()

    def check(self) -> None:
        """On the worker's event loop: the read takes tens of microseconds, less than a hop to a thread."""
        version = self.probe.read()
        if version == self._seen:
            return
        self.faults.forget()  # the next take reads the armed faults again
        self.ring.forget()  # the next signature and JWKS the keys
        self.live.forget()  # the next decision the directory's version
        self.clock.setting = self.control.clock()
        self._seen = version  # after the reads: a request racing this one reads again rather than too little

    def check_or_go_on(self) -> None:
        """The check before a request; when the database is away, the request is decided with what this
        worker has, as before it."""
        try:
            self.check()
        except Exception as exc:
            log.warning("reading the control version failed (%s)", exc.__class__.__name__)

    def close(self) -> None:
        self.probe.close()


class FollowOnRequest:
    """ASGI middleware, outermost: the check before anything of the request is decided."""

    def __init__(self, app: Any, *, following: Following) -> None:
        self.app = app
        self.following = following

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.following.check_or_go_on()
        await self.app(scope, receive, send)
