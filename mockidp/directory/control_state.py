"""The control API's state in the database, so that every worker and replica agrees (README, "Driving
mockidp from tests"): the clock's setting today. A write goes to the database, then bumps the stamp the
workers of this machine read (directory/stamp.py); `version` is what replicas elsewhere compare at each
request (app.py, Following): every change they must follow writes a row here in its own transaction (the
directory, the clock, a reset, a key rotation, an armed or cleared fault).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable

from sqlalchemy import func, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, select

from mockidp.clock import REAL_TIME, ClockSetting
from mockidp.directory import tables as t
from mockidp.directory.stamp import Stamp

CLOCK = "clock"
RESET = "reset"


class ControlState:
    def __init__(self, engine: Engine, stamp: Stamp) -> None:
        self.engine = engine
        self.stamp = stamp

    def version(self) -> int:
        with self.engine.connect() as conn:
            return _sum(conn)

    def clock(self) -> ClockSetting:
        with Session(self.engine) as s:
            return _clock_of(s.get(t.ControlRow, CLOCK))

    def set_clock(self, setting: ClockSetting, *, now: float) -> None:
        self.change_clock(lambda _current: setting, now=now)

    def change_clock(self, change: Callable[[ClockSetting], ClockSetting], *, now: float) -> ClockSetting:
        """Read, change and write the setting in one write transaction: two advances at once both count.
        Whatever `change` raises leaves the setting as it was."""
        with Session(self.engine) as s, s.begin():
            row = s.exec(select(t.ControlRow).where(t.ControlRow.name == CLOCK).with_for_update()).first()
            setting = change(_clock_of(row))
            value = json.dumps({"frozenAt": setting.frozen_at, "offset": setting.offset})
            # versions only grow, across kinds: the max of all rows plus one, under the write lock
            newest = s.exec(select(func.max(t.ControlRow.version))).first() or 0
            row = row or t.ControlRow(name=CLOCK, version=0, value="", changed_at=now)
            row.version, row.value, row.changed_at = int(newest) + 1, value, now
            s.add(row)
        self.stamp.bump()
        return setting

    def reset(self, *, now: float) -> None:
        """Every kind back to its default (the clock to real time), and the moment of the reset (by the
        machine's clock) recorded: traces recorded before it are not shown any more, wherever they were
        buffered (directory/traces.py). Written, never deleted: a version that went down and up again could
        look unchanged to a replica's poll."""
        self.set_clock(REAL_TIME, now=now)
        with Session(self.engine) as s, s.begin():
            newest = s.exec(select(func.max(t.ControlRow.version))).first() or 0
            row = s.get(t.ControlRow, RESET) or t.ControlRow(name=RESET, version=0, value="{}", changed_at=now)
            row.version, row.changed_at = int(newest) + 1, now
            s.add(row)
        self.stamp.bump()


_SUM = text("SELECT sum(version) FROM control_state")
# One statement that both PostgreSQL and SQLite run: the row is made by the first writer, and concurrent
# writers of one kind each add one (the row lock orders them), so none is lost.
_TOUCH = text("INSERT INTO control_state (name, version, value, changed_at) VALUES (:name, 1, '{}', :now) "
              "ON CONFLICT (name) DO UPDATE SET version = control_state.version + 1, changed_at = :now")


def _sum(conn: Connection) -> int:
    """The sum of the rows' versions: each row's only grows, so any committed change moves the sum. (The max
    could stay put: two kinds written at once may both take the same max + 1.)"""
    return int(conn.execute(_SUM).scalar() or 0)


RETRY_AFTER = 1.0  # seconds without a connection attempt after one failed (real time, not the mock clock)


class VersionProbe:
    """`ControlState.version` on a connection of its own, kept open in autocommit: a replica reads it before
    every request (web/following.py), and a pooled checkout with its ping costs several times the read
    (about 200 us against 55 us on one machine). One per worker, used from its event loop only."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._retry_at = 0.0

    def read(self) -> int:
        if self._conn is None and time.monotonic() < self._retry_at:
            # the database was away a moment ago: connecting again on every request would stall the loop
            raise ConnectionError("the control version is not readable now")
        try:
            if self._conn is None:
                self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            return _sum(self._conn)
        except Exception:
            self.close()  # a broken connection: another, RETRY_AFTER seconds later
            self._retry_at = time.monotonic() + RETRY_AFTER
            raise

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken: nothing more to give back
                conn.close()


def touch(session: Session, name: str, *, now: float) -> None:
    """One more version of `name` in the writer's own transaction (a key rotation, an armed fault), so that
    replicas on other machines see the change at their next request (`ControlState.version`)."""
    session.execute(_TOUCH, {"name": name, "now": now})


def _clock_of(row: t.ControlRow | None) -> ClockSetting:
    if row is None:
        return REAL_TIME
    value = json.loads(row.value)
    frozen = value.get("frozenAt")
    return ClockSetting(None if frozen is None else float(frozen), float(value.get("offset", 0.0)))
