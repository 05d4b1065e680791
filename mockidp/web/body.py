"""Request bodies are capped: a declared or streamed size over the cap is refused before it is read."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from mockidp.errors import AadstsError, catalogue


async def read_capped_body(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > cap):
        raise AadstsError(catalogue.MALFORMED_REQUEST)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise AadstsError(catalogue.MALFORMED_REQUEST)
        chunks.append(chunk)
    return b"".join(chunks)


class JsonBodyRefused(Exception):
    """A JSON API's body refused: `too_large` (over the cap) or `not_json` (not one JSON object). Each surface
    answers it in its own envelope (Graph's, ARM's)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


async def read_json_object(request: Request, cap: int) -> dict[str, Any]:
    """The body as one JSON object ({} when empty), read within `cap` bytes; raises JsonBodyRefused."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > cap):
        raise JsonBodyRefused("too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise JsonBodyRefused("too_large")
        chunks.append(chunk)
    try:
        parsed = json.loads(b"".join(chunks) or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise JsonBodyRefused("not_json") from None
    if not isinstance(parsed, dict):
        raise JsonBodyRefused("not_json")
    return parsed
