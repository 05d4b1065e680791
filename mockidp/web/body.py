"""Request bodies are capped: a declared or streamed size over the cap is refused before it is read."""

from __future__ import annotations

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
