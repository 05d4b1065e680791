"""Compact JWS as a gateway reads it: split and decode (to report what a token says even when it is
refused), and the keys it may be checked with. The signature itself is joserfc's, through
mockidp/tokens/foreign_keys.py: keys mockidp does not hold (JWKS members, policy `<key>`s, certificates).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from mockidp.tokens import foreign_keys
from mockidp.tokens.foreign_keys import ForeignKey

MAX_TOKEN_CHARS = 64 * 1024  # mockidp's bound: far above any Entra token, far below a memory problem



class MalformedToken(ValueError):
    """Not a compact JWS with JSON header and claims."""


@dataclass(frozen=True, slots=True)
class CompactJws:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes
    raw: str  # the compact token as presented

    @property
    def alg(self) -> str:
        return str(self.header.get("alg", ""))

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise MalformedToken("not Base64url") from None


def split(token: str) -> CompactJws:
    if len(token) > MAX_TOKEN_CHARS:
        raise MalformedToken(f"longer than {MAX_TOKEN_CHARS} characters")
    parts = token.split(".")
    if len(parts) == 5:
        raise MalformedToken("an encrypted token (JWE), which mockidp does not decrypt yet")
    if len(parts) != 3:
        raise MalformedToken("JWT is not well formed, there are no dots (.) or not two of them")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, RecursionError):
        raise MalformedToken("the header or the claims are not JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise MalformedToken("the header or the claims are not a JSON object")
    return CompactJws(header, claims, f"{parts[0]}.{parts[1]}".encode(), b64url_decode(parts[2]), token)


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A key a gateway may check signatures with (RSA, EC, or a symmetric secret), and where it came from."""

    kid: str | None
    key: ForeignKey
    origin: str  # for traces: "openid-config <url>", "issuer-signing-keys key 2"

    def describe(self) -> str:
        return f"kid '{self.kid}' ({self.origin})" if self.kid else self.origin


def key_from_numbers(n: str, e: str, kid: str | None, origin: str) -> VerificationKey | None:
    key = foreign_keys.from_rsa_numbers(n, e)
    return VerificationKey(kid, key, origin) if key is not None else None


def key_from_secret(secret: bytes, kid: str | None, origin: str) -> VerificationKey | None:
    key = foreign_keys.from_secret(secret)
    return VerificationKey(kid, key, origin) if key is not None else None


def key_from_jwk(jwk: dict[str, Any], origin: str) -> VerificationKey | None:
    """A JWKS member as a key, or None for one a gateway cannot use (encryption keys, unknown types)."""
    kid = jwk.get("kid") if isinstance(jwk.get("kid"), str) else None
    key = foreign_keys.from_jwk(jwk)
    return VerificationKey(kid, key, origin) if key is not None else None


def key_from_certificate(pem_or_der: bytes, kid: str | None, origin: str) -> VerificationKey | None:
    key = foreign_keys.from_certificate(pem_or_der)
    return VerificationKey(kid, key, origin) if key is not None else None


def signature_valid(token: CompactJws, key: VerificationKey) -> bool:
    """True when `key` signed `token` with the token's own alg (the key type must fit the alg)."""
    return foreign_keys.signature_valid(token.raw, key.key, token.alg)
