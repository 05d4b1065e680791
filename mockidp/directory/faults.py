"""Faults a test armed through the control API (POST /_mockidp/control/faults): the next N requests to
an endpoint (token, devicecode, authorize), optionally of one client and (at the token endpoint) one grant,
answer with a chosen failure instead.

Kept in the database so that every worker and replica counts the same N: a request takes one use with a
conditional UPDATE (`remaining > 0`), so 10 armed uses answer exactly 10 requests however many workers
race. A worker keeps the list of armed faults and reads it again only when the control stamp moves
(directory/stamp.py) or a take finds a fault used up: with nothing armed, a request costs a memory read.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete, select

from mockidp.directory import tables as t
from mockidp.directory.control_state import touch
from mockidp.directory.stamp import Stamp

ENDPOINTS = ("token", "devicecode", "authorize")
GRANT_ENDPOINTS = ("token",)  # where a request names a grant_type; elsewhere a fault matches any
KINDS = ("error", "status", "delay", "drop")
MAX_ARMED = 100
MAX_COUNT = 10_000
FAULTS = "faults"  # the control_state row arming and clearing touch: replicas elsewhere read the list again


@dataclass(frozen=True, slots=True)
class Fault:
    id: str
    endpoint: str
    client_id: str
    grant_type: str
    kind: str
    value: dict[str, Any]
    remaining: int

    def matches(self, endpoint: str, client_id: str, grant_type: str) -> bool:
        return (self.endpoint == endpoint and self.client_id in ("", client_id.lower())
                and self.grant_type in ("", grant_type))

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "endpoint": self.endpoint, "clientId": self.client_id or None,
                "grantType": self.grant_type or None, "kind": self.kind, **self.value, "remaining": self.remaining}


def _fault(row: t.FaultRow) -> Fault:
    return Fault(row.id, row.endpoint, row.client_id, row.grant_type, row.kind, json.loads(row.value), row.remaining)


class FaultBook:
    def __init__(self, engine: Engine, stamp: Stamp) -> None:
        self.engine = engine
        self.stamp = stamp
        self._lock = threading.Lock()
        self._seen = -1
        self._armed: tuple[Fault, ...] = ()

    def armed(self) -> list[Fault]:
        with Session(self.engine) as s:
            rows = s.exec(select(t.FaultRow).where(col(t.FaultRow.remaining) > 0)
                          .order_by(col(t.FaultRow.created_at), col(t.FaultRow.id))).all()
        return [_fault(r) for r in rows]

    def arm(self, fault: Fault, *, now: float) -> None:
        with Session(self.engine) as s, s.begin():
            if len(s.exec(select(t.FaultRow.id).where(col(t.FaultRow.remaining) > 0)).all()) >= MAX_ARMED:
                raise OverflowError(f"at most {MAX_ARMED} faults are armed at once")
            s.add(t.FaultRow(id=fault.id, endpoint=fault.endpoint, client_id=fault.client_id,
                             grant_type=fault.grant_type, kind=fault.kind, value=json.dumps(fault.value),
                             remaining=fault.remaining, created_at=now))
            touch(s, FAULTS, now=now)
        self.stamp.bump()

    def clear(self, *, now: float) -> None:
        with Session(self.engine) as s, s.begin():
            s.exec(delete(t.FaultRow))
            touch(s, FAULTS, now=now)
        self.stamp.bump()

    def forget(self) -> None:
        """Read the list again at the next take (a replica's poll saw a change)."""
        self._seen = -1

    def _current(self) -> tuple[Fault, ...]:
        stamp = self.stamp.value()
        if stamp != self._seen:
            with self._lock:
                self._armed, self._seen = tuple(self.armed()), stamp
        return self._armed

    def pending(self, endpoint: str, client_id: str, grant_type: str) -> bool:
        """Whether a fault may answer this request, without taking a use (the authorize endpoint checks the
        request first: a fault answers only a request that Entra would have answered at its redirect URI)."""
        return any(f.matches(endpoint, client_id, grant_type) for f in self._current())

    def take(self, endpoint: str, client_id: str, grant_type: str) -> Fault | None:
        """One use of the oldest armed fault this request matches, or None (the common case: no database)."""
        for fault in self._current():
            if not fault.matches(endpoint, client_id, grant_type):
                continue
            with Session(self.engine) as s, s.begin():
                taken = s.exec(update(t.FaultRow).where(col(t.FaultRow.id) == fault.id,
                                                        col(t.FaultRow.remaining) > 0)
                               .values(remaining=t.FaultRow.remaining - 1))
            if taken.rowcount == 1:
                return fault
            with self._lock:  # used up by another request: drop it here, and look further
                self._armed = tuple(f for f in self._armed if f.id != fault.id)
        return None
