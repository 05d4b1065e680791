"""mockidp's built-in echo function, a backend for the demo (`backends: - builtin: echo`): it answers, as
JSON, what it received: method, path, query, headers, and the bearer token's claims, decoded and NOT
verified (the gateway's validate-jwt is what checks them). Plain ASGI under /_mockidp/echo on the main
port, like an Azure Function behind its host key; no key is checked here, the echo shows the one it got.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from mockidp.apim.jws import MalformedToken, split

PREFIX = "/_mockidp/echo"
MAX_BODY = 64 * 1024


def _claims(headers: list[tuple[str, str]]) -> dict[str, Any] | None:
    auth = next((v for k, v in headers if k == "authorization"), "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return split(token.strip()).claims
    except MalformedToken:
        return None


def _joined(headers: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in headers:
        out[k] = f"{out[k]}, {v}" if k in out else v  # a repeated header, as one comma-joined value
    return out


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        body += message.get("body", b"")
        if len(body) > MAX_BODY:
            body = body[:MAX_BODY]
        if not message.get("more_body"):
            break
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
    text = body.decode("utf-8", "replace")
    answer = {
        "method": scope["method"],
        "path": scope["path"],
        "query": dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)),
        "headers": _joined(headers),
        "claims": _claims(headers),
        "body": text,
    }
    data = json.dumps(answer, indent=2, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
