"""Reading JWTs that clients present (client assertions): unverified parts, then the signature."""

from __future__ import annotations

import base64
import binascii
import json
from functools import lru_cache
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry

MAX_JWT_LENGTH = 16 * 1024
ASSERTION_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256"})


class MalformedJwt(ValueError):
    """Not a compact JWS whose header and payload are JSON objects."""


def _b64url_json(segment: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise MalformedJwt(str(exc)) from None


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload of a compact JWS, both JSON objects; raises MalformedJwt."""
    if len(token) > MAX_JWT_LENGTH:
        raise MalformedJwt("too long")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise MalformedJwt("not three segments")
    header, payload = _b64url_json(parts[0]), _b64url_json(parts[1])
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise MalformedJwt("header and payload must be JSON objects")
    return header, payload


@lru_cache(maxsize=1024)
def _public_key(pem: str) -> RSAKey:
    return RSAKey.import_key(pem)


@lru_cache(maxsize=16)
def jws_registry(alg: str) -> JWSRegistry:
    """joserfc's registry for one algorithm (no other is accepted). Tokens may carry a certificate chain
    (x5c): headers well over joserfc's 512-byte default, up to MAX_JWT_LENGTH."""
    registry = JWSRegistry(algorithms=[alg], strict_check_header=False)
    registry.max_header_length = MAX_JWT_LENGTH
    return registry


def signature_valid(token: str, public_key_pem: str, alg: str) -> bool:
    if alg not in ASSERTION_ALGORITHMS:
        return False
    try:
        jws.deserialize_compact(token, _public_key(public_key_pem), registry=jws_registry(alg))
    except (JoseError, ValueError):
        return False
    return True
