"""Decision traces in the database, so that any worker or replica answers any trace id.

Writes are batched: a request's trace goes into this worker's buffer, and the buffer is written in one
INSERT of many rows by the worker's flush task (every FLUSH_EVERY seconds, or as soon as FLUSH_AT traces
wait), never on the request's own path. A read flushes this worker's buffer first; a trace made by
another worker is in the database within FLUSH_EVERY, and the reader waits that long for it.

Retention (README, "Why was I refused?"): a trace is kept KEEP_FOR seconds and at most KEEP_AT_MOST
traces in all (by `seq`, which only grows: a replica's gaps make it "at most"). Every flush applies the
count; the purge that runs every minute (app.py) applies both.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, delete, select

from mockidp.directory import tables as t

KEEP_FOR = 24 * 3600.0
KEEP_AT_MOST = 10_000
FLUSH_EVERY = 0.2
FLUSH_AT = 256  # traces waiting in one worker before a flush is due at once
BUFFER_LIMIT = 20_000  # a database that stopped answering costs memory up to this, then traces drop
LIST_LIMIT = 200


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass(frozen=True, slots=True)
class TraceSummary:
    trace_id: str
    created_at: float
    client_id: str
    outcome: str
    endpoint: str
    status: int


class TraceStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._buffer: list[tuple[str, float, str, str, str]] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self.dropped = 0

    def add(self, trace_id: str, *, created_at: float, client_id: str, outcome: str, body: dict[str, Any]) -> bool:
        """Queue one trace; True when a flush is due now (FLUSH_AT reached). Encoded at once: a buffer of
        strings costs the garbage collector nothing, a buffer of dicts and lists costs every request."""
        row = (trace_id, created_at, client_id, outcome, _dumps(body))
        with self._lock:
            if len(self._buffer) >= BUFFER_LIMIT:
                self.dropped += 1
                return True
            self._buffer.append(row)
            return len(self._buffer) >= FLUSH_AT

    def pending(self) -> int:
        return len(self._buffer)

    def flush(self) -> int:
        """Write what waits, in one statement; on a failure the rows go back to wait for the next flush."""
        with self._flushing:
            with self._lock:
                rows, self._buffer = self._buffer, []
            if not rows:
                return 0
            encoded = [{"trace_id": r[0], "created_at": r[1], "client_id": r[2], "outcome": r[3], "body": r[4]}
                       for r in rows]
            table = SQLModel.metadata.tables[t.TraceRow.__tablename__]
            try:
                # Core, not the ORM: one executemany, the cheapest write SQLAlchemy has (bench/trace_cost.py)
                with self.engine.begin() as conn:
                    conn.execute(insert(table), encoded)
                    # the count bound, kept at every write (by the key: cheap), not only by the minute's purge
                    newest = conn.execute(select(func.max(table.c.seq))).scalar()
                    if newest is not None and newest > KEEP_AT_MOST:
                        conn.execute(delete(table).where(table.c.seq <= newest - KEEP_AT_MOST))
            except Exception:
                with self._lock:
                    self._buffer[:0] = rows[: max(0, BUFFER_LIMIT - len(self._buffer))]
                raise
            return len(rows)

    def get(self, trace_id: str) -> dict[str, Any] | None:
        with Session(self.engine) as s:
            row = s.exec(select(t.TraceRow).where(t.TraceRow.trace_id == trace_id)
                         .order_by(col(t.TraceRow.seq).desc()).limit(1)).first()
        if row is None:
            return None
        body: dict[str, Any] = json.loads(row.body)
        return body

    def recent(self, *, client_id: str = "", outcome: str = "", limit: int = 50) -> list[TraceSummary]:
        query = select(t.TraceRow)
        if client_id:
            query = query.where(t.TraceRow.client_id == client_id)
        if outcome:
            query = query.where(t.TraceRow.outcome == outcome)
        query = query.order_by(col(t.TraceRow.seq).desc()).limit(max(0, min(limit, LIST_LIMIT)))
        with Session(self.engine) as s:
            rows = s.exec(query).all()
        out = []
        for row in rows:
            body = json.loads(row.body)
            out.append(TraceSummary(row.trace_id, row.created_at, row.client_id, row.outcome,
                                    str(body.get("endpoint", "")), int(body.get("status", 0))))
        return out

    def purge(self, *, now: float) -> None:
        """Older than KEEP_FOR, or beyond the newest KEEP_AT_MOST. Conditional DELETEs: any number of
        workers may run it at once."""
        with Session(self.engine) as s, s.begin():
            s.exec(delete(t.TraceRow).where(col(t.TraceRow.created_at) < now - KEEP_FOR))
            cutoff = s.exec(select(t.TraceRow.seq).order_by(col(t.TraceRow.seq).desc())
                            .offset(KEEP_AT_MOST).limit(1)).first()
            if cutoff is not None:
                s.exec(delete(t.TraceRow).where(col(t.TraceRow.seq) <= cutoff))
