"""APIM's `Jwt` object, what validate-jwt's output-token-variable-name holds and policy expressions read."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Jwt:
    """What output-token-variable-name holds: APIM's `Jwt` (its members, in Python spelling). Claims maps
    each claim to its values, an array claim to its elements, as APIM's string[] dictionary does."""

    algorithm: str
    audiences: tuple[str, ...]
    claims: Mapping[str, tuple[str, ...]]
    expiration_time: dt.datetime | None
    not_before: dt.datetime | None
    issued_at: dt.datetime | None
    id: str | None
    issuer: str | None
    subject: str | None
    type: str | None

    def claim(self, name: str, default: str = "") -> str:
        """Claims.GetValueOrDefault(name, default): the values comma-joined."""
        values = self.claims.get(name)
        return ",".join(values) if values is not None else default

    @classmethod
    def of(cls, header: Mapping[str, Any], claims: Mapping[str, Any]) -> Jwt:
        def text(name: str) -> str | None:
            value = claims.get(name)
            return value if isinstance(value, str) else None

        def when(name: str) -> dt.datetime | None:
            value = claims.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None
            return _datetime(value)

        typ = header.get("typ")
        return cls(str(header.get("alg", "")), tuple(_strings(claims.get("aud"))),
                   {name: tuple(_strings(value)) for name, value in claims.items()},
                   when("exp"), when("nbf"), when("iat"), text("jti"), text("iss"), text("sub"),
                   typ if isinstance(typ, str) else None)


def _datetime(seconds: float) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, ValueError, OSError):  # a hostile exp/nbf far outside datetime's years
        return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [_claim_text(v) for v in value]
    return [] if value is None else [_claim_text(value)]


def _claim_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)  # true, 3, {"a":1}: JSON's spelling
