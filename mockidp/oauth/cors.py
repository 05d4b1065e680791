"""CORS of the token endpoint: what a browser (MSAL Browser) needs to redeem the codes and refresh tokens
of `spa` redirect URIs. The choices and their evidence are recorded once, in mockidp/errors/catalogue.py
beside AADSTS9002326/9002327; the web layer only copies these headers onto its responses."""

from __future__ import annotations

import re

ALLOW_METHODS = "POST, OPTIONS"
MAX_AGE = "86400"
# Response headers MSAL Browser reads: the request id (telemetry), Retry-After (throttling), telemetry.
EXPOSE_HEADERS = "x-ms-request-id, x-ms-clitelem, x-ms-httpver, Retry-After"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")
_MAX_REQUESTED = 32


def answer_headers(origin: str | None) -> dict[str, str]:
    """Headers for any token-endpoint answer (success or error) to a request with an Origin header."""
    if not origin:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": EXPOSE_HEADERS, "Vary": "Origin"}


def preflight_headers(origin: str | None, requested_headers: str | None) -> dict[str, str]:
    """The OPTIONS answer: the caller's origin, POST, and the request headers it asked for (names only)."""
    headers = {"Access-Control-Allow-Methods": ALLOW_METHODS}
    if not origin:
        return headers  # not a CORS preflight
    names = [n.strip() for n in (requested_headers or "").split(",")]
    allowed = [n for n in names if _HEADER_NAME.match(n)][:_MAX_REQUESTED]
    headers |= {"Access-Control-Allow-Origin": origin, "Access-Control-Max-Age": MAX_AGE, "Vary": "Origin"}
    if allowed:
        headers["Access-Control-Allow-Headers"] = ",".join(allowed)
    return headers
