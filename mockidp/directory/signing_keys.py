"""The signing keys in the database, so that every worker and replica signs with the same key and
publishes the same JWKS (tokens/key_ring.py). The data dir's key is the first one: a data dir from
before keys moved here keeps its key, and replicas sharing a database take the key already stored.

A rotation (POST /_mockidp/control/keys/rotate) makes a new key (or the announced next one) active
and retires the old one, published for the overlap asked; `announce` adds a next key, published but
not signing, which the following rotation makes active.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete, select

from mockidp.directory import tables as t
from mockidp.directory.control_state import touch
from mockidp.directory.stamp import Stamp

KEYS = "keys"  # the control_state row a rotation touches: replicas on other machines read the keys again


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key as stored; tokens/ makes the signer of it (this layer does no cryptography)."""

    kid: str
    private_pem: bytes
    cert_der: bytes
    role: str = "active"  # active | next | retired
    published_until: float | None = None


def _row(key: StoredKey, role: str, now: float) -> t.SigningKeyRow:
    return t.SigningKeyRow(kid=key.kid, private_pem=key.private_pem.decode(),
                           cert_der=base64.b64encode(key.cert_der).decode(), role=role, created_at=now)


def _key(row: t.SigningKeyRow) -> StoredKey:
    return StoredKey(row.kid, row.private_pem.encode(), base64.b64decode(row.cert_der), row.role,
                     row.published_until)


class SigningKeys:
    def __init__(self, engine: Engine, stamp: Stamp | None = None) -> None:
        self.engine = engine
        self.stamp = stamp

    def adopt(self, key: StoredKey, *, now: float) -> None:
        """The data dir's key becomes the active key, unless the database already has one."""
        with Session(self.engine) as s, s.begin():
            has_active = s.exec(select(t.SigningKeyRow.kid).where(t.SigningKeyRow.role == "active")).first()
            if has_active is None and s.get(t.SigningKeyRow, key.kid) is None:
                s.add(_row(key, "active", now))

    def load(self) -> list[StoredKey]:
        with Session(self.engine) as s:
            rows = s.exec(select(t.SigningKeyRow).order_by(col(t.SigningKeyRow.created_at))).all()
        return [_key(r) for r in rows]

    def rotate(self, fresh: StoredKey, *, now: float, overlap: float, announce: bool) -> list[StoredKey]:
        """One transaction: a new active key (`fresh`, or the announced next key if there is one: then
        `fresh` is not used), the old one retired until now + overlap; or, with `announce`, `fresh` as
        the next key (if none is announced yet). Returns the keys as they are now."""
        with Session(self.engine) as s, s.begin():
            rows = s.exec(select(t.SigningKeyRow).with_for_update()).all()
            waiting = next((r for r in rows if r.role == "next"), None)
            if announce:
                if waiting is None:
                    s.add(_row(fresh, "next", now))
            else:
                for r in rows:
                    if r.role == "active":
                        r.role, r.published_until = "retired", now + overlap
                        s.add(r)
                if waiting is not None:
                    waiting.role = "active"
                    s.add(waiting)
                else:
                    s.add(_row(fresh, "active", now))
            # retired keys past their overlap are of no use to anyone: gone
            s.exec(delete(t.SigningKeyRow).where(col(t.SigningKeyRow.role) == "retired",
                                                 col(t.SigningKeyRow.published_until) < now))
            touch(s, KEYS, now=now)
        if self.stamp is not None:
            self.stamp.bump()
        return self.load()
