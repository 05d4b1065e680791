"""Time and identifiers, injected everywhere so that tests can freeze every volatile field."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class FrozenClock:
    """A clock that only moves when told to (tests, demos)."""

    def __init__(self, start: float) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set(self, when: float) -> None:
        self._now = float(when)


@dataclass(frozen=True, slots=True)
class ClockSetting:
    """What the control API set (POST /_mockidp/control/clock): the real time, moved by `offset` seconds,
    or a time standing still at `frozen_at`."""

    frozen_at: float | None = None
    offset: float = 0.0

    def at(self, real: float) -> float:
        return self.frozen_at if self.frozen_at is not None else real + self.offset


REAL_TIME = ClockSetting()


class SharedClock:
    """The clock of `mockidp serve`: one setting for every worker and replica (directory/control_state.py).

    `changed()` is the cheap test of "has anyone set the clock since I last read it" (a stamp in shared
    memory for the workers of one machine, directory/stamp.py); only then is the setting read again, so
    a request pays one memory read. Replicas on other machines see a change by the workers' poll."""

    def __init__(self, read: Callable[[], ClockSetting], changed: Callable[[], bool]) -> None:
        self._read = read
        self._changed = changed
        self.setting = read()

    def refresh(self) -> None:
        self.setting = self._read()

    def now(self) -> float:
        if self._changed():
            self.setting = self._read()
        return self.setting.at(time.time())


class IdFactory:
    """Random GUIDs and opaque bytes (trace ids, uti, aio, codes)."""

    def guid(self) -> str:
        """A random (version 4) GUID, as uuid.uuid4() makes it, in half the time: one is made for every
        answer's x-ms-request-id, three for a token (issue 11)."""
        b = bytearray(os.urandom(16))
        b[6] = b[6] & 0x0F | 0x40  # version 4
        b[8] = b[8] & 0x3F | 0x80  # RFC 4122 variant
        h = b.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def token_bytes(self, n: int) -> bytes:
        return secrets.token_bytes(n)


class SequentialIds(IdFactory):
    """Deterministic ids for tests: 00000000-0000-4000-8000-000000000001, 2, 3, ..."""

    def __init__(self) -> None:
        self._n = 0

    def guid(self) -> str:
        self._n += 1
        return f"00000000-0000-4000-8000-{self._n:012x}"

    def token_bytes(self, n: int) -> bytes:
        self._n += 1
        out = b""
        block = 0
        while len(out) < n:
            out += hashlib.sha256(f"{self._n}/{block}".encode()).digest()
            block += 1
        return out[:n]


_MAX_TS = 253402300799.0  # 9999-12-31T23:59:59Z


def utc(ts: float) -> datetime:
    """Clamped, so that a hostile timestamp can only be shown, never crash the formatting."""
    clamped = min(max(ts, 0.0), _MAX_TS) if ts == ts else 0.0
    return datetime.fromtimestamp(clamped, tz=UTC)


def entra_timestamp(ts: float) -> str:
    """'2025-01-15 09:30:12Z': the form of `timestamp` in Entra's error bodies."""
    return utc(ts).strftime("%Y-%m-%d %H:%M:%SZ")


def entra_instant(ts: float) -> str:
    """'2025-01-15T09:30:12.0000000Z': the 7-digit form Entra puts inside messages."""
    dt = utc(ts)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond * 10:07d}Z"
