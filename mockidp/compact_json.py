"""JSON as mockidp writes it on the wire and in tokens: compact separators, UTF-8, keys in insertion order
(Entra's field order). orjson writes exactly that, several times faster than the standard library on the
token path (the claims, the token response: issue 11); what orjson refuses (a non-string key, an integer
beyond 64 bits) is written by the standard library, as before."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
