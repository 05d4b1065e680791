"""One way to assert an Entra error: the JSON envelope the token and device-code endpoints send.

The envelope is the one mockidp/errors/exceptions.py renders, keys in Entra's order:
error, error_description ("AADSTS<code>: <message> Trace ID: <t> Correlation ID: <c> Timestamp: <ts>"),
error_codes, timestamp, trace_id, correlation_id, error_uri, and sometimes suberror.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

__all__ = ["ENVELOPE_KEYS", "AnyResponse", "assert_entra_error"]

ENVELOPE_KEYS = ("error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id",
                 "error_uri")
_OPTIONAL_KEYS = ("suberror",)
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z")
_JSON = "application/json"


class AnyResponse(Protocol):
    """What httpx, Starlette's TestClient and requests responses have in common."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...


def _fail(what: str, shown: object) -> AssertionError:
    return AssertionError(f"not Entra's error envelope: {what}\n  got: {shown!r}"[:2000])


def _body_of(response: AnyResponse) -> dict[str, Any]:
    content_type = response.headers.get("content-type", "")
    if not content_type.startswith(_JSON):
        raise _fail(f"content-type {content_type!r}, not JSON", response.text[:600])
    try:
        body = json.loads(response.text)
    except ValueError as exc:
        raise _fail("a body that is not JSON", response.text[:600]) from exc
    if not isinstance(body, dict):
        raise _fail("a JSON body that is not an object", body)
    return body


def assert_entra_error(response_or_body: AnyResponse | Mapping[str, Any], code: int, *,
                       status: int | None = None, error: str | None = None, codes: Sequence[int] | None = None,
                       starts: str = "", message: str | None = None, correlation_id: str | None = None,
                       trace_id: str | None = None, timestamp: str | None = None,
                       suberror: str | None = None, extra_keys: Collection[str] = ()) -> dict[str, Any]:
    """Assert that `response_or_body` is Entra's error envelope for AADSTS `code`; return the body.

    Always checked: the keys (exactly the envelope's, `suberror` only when expected), `error` a non-empty
    string, `error_codes` == `codes` (default `[code]`), the description "AADSTS<code>: ..." ending with
    this body's own trace id, correlation id and timestamp, both ids GUIDs, the timestamp Entra's form,
    `error_uri` naming the code, `suberror` equal to the one given (absent when None). Given a response
    (not a bare body, such as the dict MSAL returns): JSON content type, and `x-ms-request-id` equal to the
    trace id; `status` checked when given. Optional: `error`, the description's message `starts` with, the
    exact `message`, and fixed `correlation_id` / `trace_id` / `timestamp` values. `extra_keys` may be
    present besides the envelope's (MSAL copies `suberror` into `classification`).
    """
    if isinstance(response_or_body, Mapping):
        body: dict[str, Any] = dict(response_or_body)
        response: AnyResponse | None = None
    else:
        response = response_or_body
        body = _body_of(response)
    if response is not None and status is not None and response.status_code != status:
        raise _fail(f"status {response.status_code}, expected {status}", body)
    missing = [k for k in ENVELOPE_KEYS if k not in body]
    if missing:
        raise _fail(f"missing {missing}", body)
    extra = [k for k in body if k not in ENVELOPE_KEYS and k not in _OPTIONAL_KEYS and k not in extra_keys]
    if extra:
        raise _fail(f"keys no Entra error has: {extra}", body)
    if body.get("suberror") != suberror:
        raise _fail(f"suberror {body.get('suberror')!r}, expected {suberror!r}", body)
    if not isinstance(body["error"], str) or not body["error"]:
        raise _fail("`error` is not a non-empty string", body)
    if error is not None and body["error"] != error:
        raise _fail(f"error {body['error']!r}, expected {error!r}", body)
    expected_codes = [code] if codes is None else list(codes)
    if not expected_codes or expected_codes[0] != code:
        raise ValueError(f"codes {expected_codes} must start with the code asserted, {code}")
    actual_codes = body["error_codes"]
    if not isinstance(actual_codes, list) or not all(type(c) is int for c in actual_codes):
        raise _fail("error_codes is not a list of integers", body)
    if actual_codes != expected_codes:
        raise _fail(f"error_codes {actual_codes}, expected {expected_codes}", body)
    ids = {"trace_id": body["trace_id"], "correlation_id": body["correlation_id"]}
    for name, value in ids.items():
        if not isinstance(value, str) or not _GUID.fullmatch(value):
            raise _fail(f"{name} {value!r} is not a lower-case GUID", body)
    stamp = body["timestamp"]
    if not isinstance(stamp, str) or not _TIMESTAMP.fullmatch(stamp):
        raise _fail(f"timestamp {stamp!r} is not Entra's 'YYYY-MM-DD hh:mm:ssZ'", body)
    for name, wanted in (("trace_id", trace_id), ("correlation_id", correlation_id), ("timestamp", timestamp)):
        if wanted is not None and body[name] != wanted:
            raise _fail(f"{name} {body[name]!r}, expected {wanted!r}", body)
    description = body["error_description"]
    prefix = f"AADSTS{code}: "
    trailer = f" Trace ID: {body['trace_id']} Correlation ID: {body['correlation_id']} Timestamp: {stamp}"
    if not isinstance(description, str) or not description.startswith(prefix + starts):
        raise _fail(f"error_description does not start {prefix + starts!r}", description)
    if not description.endswith(trailer):
        raise _fail(f"error_description does not end {trailer!r}", description)
    if message is not None and description != prefix + message + trailer:
        raise _fail(f"error_description's message is not {message!r}", description)
    if body["error_uri"] != f"https://login.microsoftonline.com/error?code={code}":
        raise _fail(f"error_uri {body['error_uri']!r} does not name {code}", body)
    if response is not None and response.headers.get("x-ms-request-id") != body["trace_id"]:
        raise _fail(f"x-ms-request-id {response.headers.get('x-ms-request-id')!r} is not the trace id", body)
    return body
