"""Decision traces in the database, so that any worker or replica answers any trace id.

A trace is stored as a small row (its id, when, how long, client, outcome) and a shape: the rest of
the document, which requests decided alike share (oauth/trace.py). A worker encodes a shape once, when
it first meets its key, and a flush writes each distinct shape of its batch once, so that a stream of
alike requests costs a short row each: what recording costs is bounded by bench/trace_cost.py and
bench/run.py --traces on|off.

Writes are batched: a request's trace goes into this worker's buffer, and the buffer is written in one
transaction by the worker's flush task (every FLUSH_EVERY seconds, or as soon as FLUSH_AT traces wait),
never on the request's own path. A read flushes this worker's buffer first; a trace made by another
worker is in the database within FLUSH_EVERY, and the reader waits that long for it.

Retention (README, "Why was I refused?"): a trace is kept KEEP_FOR seconds and at most KEEP_AT_MOST
traces in all (by `seq`, which only grows: a replica's gaps make it "at most"). Every flush applies the
count; the purge that runs every minute (app.py) applies both, and drops shapes no trace refers to that
no flush has written for SHAPE_GRACE seconds (a flush writes its shapes in the transaction that writes
its rows, so a shape is never dropped under a trace being written). A shape of its own (a gateway
trace's, shape_key None: one row ever refers to it) is stored with touched_at OWN and leaves with its
row, in the statement that drops the row's: kept SHAPE_GRACE after, a second of gateway load held about
4 MB of them for five minutes.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from sqlalchemy import Table, delete, func, insert, literal_column, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from mockidp.directory import tables as t
from mockidp.directory.control_state import RESET  # its changed_at hides older traces

KEEP_FOR = 24 * 3600.0
KEEP_AT_MOST = 10_000
# A flush costs a transaction whatever it holds: fewer, larger batches cost less a trace (bench/run.py --traces)
FLUSH_EVERY = 0.5
FLUSH_AT = 2048  # traces waiting in one worker before a flush is due at once
BUFFER_LIMIT = 20_000  # a database that stopped answering costs memory up to this, then traces drop
LIST_LIMIT = 200
SHAPES_KNOWN = 4096  # shapes a worker remembers encoded; past this it forgets them all and starts again
SHAPE_GRACE = 300.0
OWN = -1.0  # touched_at of a shape only its own trace has


# a buffered row's order
_ROW_COLUMNS = ("trace_id", "created_at", "recorded_at", "duration_ms", "client_id", "outcome", "shape")


class Recorded(Protocol):
    """What the store needs of a finished trace (oauth/trace.Trace, web/gateway/trace.Recorder)."""

    @property
    def id(self) -> str: ...
    @property
    def started_at(self) -> float: ...
    @property
    def duration_ms(self) -> float: ...
    @property
    def client_id(self) -> str: ...
    @property
    def outcome(self) -> str: ...

    def shape_key(self) -> Hashable | None:
        """Equal for traces whose shapes are equal; None for a shape no other trace will share (a gateway
        trace's), which the store then encodes without remembering it."""
        ...
    def shape(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class TraceSummary:
    trace_id: str
    created_at: float
    client_id: str
    outcome: str
    endpoint: str
    status: int


def _table(row: type[SQLModel]) -> Table:
    return SQLModel.metadata.tables[str(row.__tablename__)]


def _document(trace_id: str, created_at: float, duration_ms: float, shape_body: str) -> dict[str, Any]:
    shape: dict[str, Any] = json.loads(shape_body)
    out: dict[str, Any] = {"id": trace_id, "endpoint": shape.pop("endpoint", ""), "startedAt": created_at,
                           "durationMs": duration_ms}
    out.update(shape)
    return out


class TraceStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._rows = _table(t.TraceRow)
        self._shapes = _table(t.TraceShapeRow)
        self._control = _table(t.ControlRow)
        self._known: dict[Hashable, tuple[str, str]] = {}  # shape key -> (digest, encoded shape)
        self._buffer: list[tuple[str, float, float, float, str, str, str]] = []
        self._waiting_shapes: dict[str, str] = {}  # digest -> encoded shape, for the next flush
        self._waiting_own: dict[str, str] = {}  # the same, of shapes their trace's own (shape_key None)
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self.dropped = 0

    def add(self, trace: Recorded) -> bool:
        """Queue one finished trace; True when a flush is due now (FLUSH_AT reached)."""
        key = trace.shape_key()
        known = self._known.get(key) if key is not None else None
        if known is None:
            body = orjson.dumps(trace.shape()).decode()
            known = (hashlib.blake2b(body.encode(), digest_size=16).hexdigest(), body)
            if key is not None:  # a shape of its own is not kept: 4,096 of them were some 12 MB a worker
                if len(self._known) >= SHAPES_KNOWN:
                    self._known.clear()
                self._known[key] = known
        digest, body = known
        row = (trace.id, trace.started_at, time.time(), round(trace.duration_ms, 2), trace.client_id, trace.outcome,
               digest)
        with self._lock:
            if len(self._buffer) >= BUFFER_LIMIT:
                self.dropped += 1
                return True
            self._buffer.append(row)
            (self._waiting_shapes if key is not None else self._waiting_own)[digest] = body
            return len(self._buffer) >= FLUSH_AT

    @property
    def remembered_shapes(self) -> int:
        """Encoded shapes this worker holds for traces to come (at most SHAPES_KNOWN)."""
        return len(self._known)

    def pending(self) -> int:
        return len(self._buffer)

    def flush(self) -> int:
        """Write what waits, in one transaction; on a failure it goes back to wait for the next flush."""
        with self._flushing:
            with self._lock:
                rows, self._buffer = self._buffer, []
                shapes, self._waiting_shapes = self._waiting_shapes, {}
                own, self._waiting_own = self._waiting_own, {}
            if not rows:
                return 0
            touched = max(r[1] for r in rows)
            try:
                with self.engine.begin() as conn:
                    self._write_shapes(conn, shapes, touched)
                    if own:  # one statement, whatever their number: no IN list to look them up first
                        conn.execute(self._insert_new(), [{"digest": d, "body": b, "touched_at": OWN}
                                                          for d, b in own.items()])
                    self._write_rows(conn, rows)
                    # the count bound, kept at every write (by the key: cheap), not only by the minute's purge
                    newest = conn.execute(select(func.max(self._rows.c.seq))).scalar()
                    if newest is not None and newest > KEEP_AT_MOST:
                        self._drop(conn, self._rows.c.seq <= newest - KEEP_AT_MOST)
            except Exception:
                with self._lock:
                    self._buffer[:0] = rows[: max(0, BUFFER_LIMIT - len(self._buffer))]
                    self._waiting_shapes.update(shapes)
                    self._waiting_own.update(own)
                raise
            return len(rows)

    def _drop(self, conn: Connection, which: Any) -> None:
        """The rows `which` selects, and the shapes that were theirs alone (OWN)."""
        r, s = self._rows.c, self._shapes.c
        conn.execute(delete(self._shapes).where(s.touched_at == OWN, s.digest.in_(select(r.shape).where(which))))
        conn.execute(delete(self._rows).where(which))

    def _write_rows(self, conn: Connection, rows: list[tuple[str, float, float, float, str, str, str]]) -> None:
        """One executemany of the rows as they wait, through the driver: half the CPU of Core's dicts a row
        (bench/trace_cost.py). Placeholders in the driver's own style."""
        mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(self.engine.dialect.paramstyle)
        if mark is None:
            conn.execute(insert(self._rows), [dict(zip(_ROW_COLUMNS, r, strict=True)) for r in rows])
            return
        conn.exec_driver_sql(f"INSERT INTO {self._rows.name} ({', '.join(_ROW_COLUMNS)}) "
                             f"VALUES ({', '.join([mark] * len(_ROW_COLUMNS))})", rows)

    def _write_shapes(self, conn: Connection, shapes: dict[str, str], touched: float) -> None:
        """Each distinct shape of the batch: written if new, marked touched if not. A few rows a flush."""
        c = self._shapes.c
        present = set(conn.execute(select(c.digest).where(c.digest.in_(list(shapes)))).scalars())
        if present:
            conn.execute(update(self._shapes).where(c.digest.in_(list(present)), c.touched_at < touched)
                         .values(touched_at=touched))
        new = [{"digest": d, "body": b, "touched_at": touched} for d, b in shapes.items() if d not in present]
        if new:
            # Another worker may write the same shape between the read and this insert: "on conflict do
            # nothing" keeps both flushes whole.
            conn.execute(self._insert_new(), new)

    def _insert_new(self) -> Any:
        dialect = self.engine.dialect.name
        if dialect == "postgresql":  # imported here: its dialect module costs a SQLite server 20 ms at start
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(self._shapes).on_conflict_do_nothing(index_elements=["digest"])
        if dialect == "sqlite":
            return sqlite.insert(self._shapes).on_conflict_do_nothing(index_elements=["digest"])
        return insert(self._shapes)

    def _visible(self) -> Any:
        """Rows recorded since the last control reset: a worker may write what it buffered before the reset
        after it (directory/control_state.py)."""
        c = self._control.c
        reset_at = select(c.changed_at).where(c.name == RESET).scalar_subquery()
        return self._rows.c.recorded_at >= func.coalesce(reset_at, 0.0)

    def get(self, trace_id: str) -> dict[str, Any] | None:
        r, s = self._rows.c, self._shapes.c
        query = (select(r.trace_id, r.created_at, r.duration_ms, s.body).join(self._shapes, s.digest == r.shape)
                 .where(r.trace_id == trace_id, self._visible()).order_by(r.seq.desc()).limit(1))
        with self.engine.connect() as conn:
            found = conn.execute(query).first()
        return None if found is None else _document(found[0], found[1], found[2], found[3])

    def recent(self, *, client_id: str = "", outcome: str = "", limit: int = 50) -> list[TraceSummary]:
        r, s = self._rows.c, self._shapes.c
        query = (select(r.trace_id, r.created_at, r.client_id, r.outcome, s.body)
                 .join(self._shapes, s.digest == r.shape).where(self._visible()))
        if client_id:
            query = query.where(r.client_id == client_id)
        if outcome:
            query = query.where(r.outcome == outcome)
        query = query.order_by(r.seq.desc()).limit(max(0, min(limit, LIST_LIMIT)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        out = []
        for row in rows:
            shape = json.loads(row[4])
            out.append(TraceSummary(row[0], row[1], row[2], row[3], str(shape.get("endpoint", "")),
                                    int(shape.get("status", 0))))
        return out

    def clear(self) -> None:
        """Every trace gone, written or waiting (the control API's reset)."""
        with self._lock:
            self._buffer, self._waiting_shapes, self._waiting_own = [], {}, {}
        with self._flushing, self.engine.begin() as conn:
            conn.execute(delete(self._rows))
            conn.execute(delete(self._shapes))

    def purge(self, *, now: float) -> None:
        """Older than KEEP_FOR, or beyond the newest KEEP_AT_MOST (their own shapes with them); then the shared
        shapes nothing refers to. Conditional DELETEs: any number of workers may run it at once."""
        r, s = self._rows.c, self._shapes.c
        with self.engine.begin() as conn:
            self._drop(conn, r.created_at < now - KEEP_FOR)
            cutoff = conn.execute(select(r.seq).order_by(r.seq.desc()).offset(KEEP_AT_MOST).limit(1)).scalar()
            if cutoff is not None:
                self._drop(conn, r.seq <= cutoff)
            referenced = select(literal_column("1")).select_from(self._rows).where(r.shape == s.digest).exists()
            # OWN shapes are not looked at: each left with its row (an anti-join over thousands costs seconds)
            conn.execute(delete(self._shapes).where(s.touched_at >= 0, s.touched_at < now - SHAPE_GRACE,
                                                    ~referenced))
