"""Strict parsing of application/x-www-form-urlencoded bodies (the token endpoint's only format).

Entra ignores unknown parameters (MSAL Node sends telemetry as form fields), so any name is kept;
what cannot be read safely is refused as a whole: bad percent-escapes, invalid UTF-8 (lone
surrogates included), NUL, repeated parameters, too many fields.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote_plus, unquote_to_bytes

from mockidp.errors import AadstsError, catalogue

MAX_FIELDS = 100
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def _decode(raw: bytes) -> str:
    if b"%" not in raw and b"+" not in raw:  # most names and many values: nothing to unescape
        text = raw.decode("utf-8")
        if "\x00" in text:
            raise ValueError("NUL")
        return text
    if _BAD_ESCAPE.search(raw):
        raise ValueError("bad percent-escape")
    text = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")  # strict: surrogates refused
    if "\x00" in text:
        raise ValueError("NUL")
    return text


def parse_form(body: bytes, content_type: str | None) -> dict[str, str]:
    """Parameters of a form body; empty values count as absent. A non-form body counts as empty."""
    if not body or not content_type or content_type.split(";")[0].strip().lower() != (
        "application/x-www-form-urlencoded"
    ):
        return {}
    pairs = [p for p in body.split(b"&") if p]
    if len(pairs) > MAX_FIELDS:
        raise AadstsError(catalogue.MALFORMED_REQUEST)
    params: dict[str, str] = {}
    try:
        for pair in pairs:
            name_raw, _, value_raw = pair.partition(b"=")
            name, value = _decode(name_raw), _decode(value_raw)
            if name in params:
                raise ValueError("repeated parameter")
            params[name] = value
    except ValueError:  # UnicodeDecodeError is a ValueError
        raise AadstsError(catalogue.MALFORMED_REQUEST) from None
    return {k: v for k, v in params.items() if v != ""}


def parse_basic_authorization(header: str | None) -> tuple[str, str] | None:
    """client_secret_basic: base64(urlencode(client_id) ":" urlencode(secret)) (RFC 6749 §2.3.1).
    Other schemes are ignored; a Basic header that cannot be read is refused."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise AadstsError(catalogue.MALFORMED_REQUEST) from None
    client_id, colon, secret = decoded.partition(":")
    client_id, secret = unquote_plus(client_id), unquote_plus(secret)
    if not colon or not client_id or not secret or "\x00" in client_id + secret:
        raise AadstsError(catalogue.MALFORMED_REQUEST)
    return client_id, secret
