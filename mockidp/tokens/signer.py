"""The one signer: every JWT mockidp issues is signed here, with the key parsed once; and checked here
when a client presents one back (the on-behalf-of assertion).

Signing is the token endpoint's hot path (issue 11): the compact JWS is built here and signed by the
parsed `cryptography` key itself, with the header segments of the two fixed headers (v1, v2) encoded once
per key. joserfc's layer (registry checks, key lookups, re-encoding the header) cost about 10 µs a token
beside the 300 µs signature; its output is the same bytes (RS256 is deterministic; tests/token/
test_signer.py compares). joserfc still verifies, where its checks are the point."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry

from mockidp import compact_json
from mockidp.tokens.keys import SigningKey, b64url

_ALGS = ["RS256"]
# Headers with Microsoft Graph's `nonce` (not a registered JWS header parameter).
_NONCE_REGISTRY = JWSRegistry(algorithms=_ALGS, strict_check_header=False)
_PADDING = padding.PKCS1v15()
_HEADER_CACHE_MAX = 8  # the headers without a nonce: v1 and v2 (a bound, should a caller pass others)


def _segment(header: dict[str, str]) -> str:
    return b64url(json.dumps(header, separators=(",", ":")).encode())


def hashed_nonce(nonce: str) -> str:
    """What Graph tokens sign in place of the header nonce they show: base64url(SHA-256(nonce))."""
    return b64url(hashlib.sha256(nonce.encode()).digest())


def _check_alg(header: dict[str, str]) -> None:
    if header.get("alg") != "RS256":
        raise ValueError("this signer signs RS256 only")


class InvalidSignature(ValueError):
    """The token was not signed by this signer's key (or is no JWS at all)."""


class Signer:
    def __init__(self, key: SigningKey) -> None:
        self.kid = key.kid
        # Parsed once, for both signing and joserfc's verifying. The RSA consistency check (some 30 ms a key,
        # a third of a worker's start with two keys) is skipped: every signing key is one mockidp generated
        # (tokens/keys.py), read back from its own data dir or database, never a key from outside.
        private = serialization.load_pem_private_key(key.private_pem, password=None,
                                                     unsafe_skip_rsa_key_validation=True)
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError("the signing key is not an RSA key")
        self._private = private
        self._key = RSAKey.import_key(private)
        self._segments: dict[tuple[tuple[str, str], ...], str] = {}  # a new Signer per key: rotation resets it

    def header(self, *, with_x5t: bool, nonce: str | None = None) -> dict[str, str]:
        """v1 tokens carry x5t beside kid; v2 tokens only kid. Microsoft Graph's tokens also carry a
        `nonce`, second, as Entra's do (README, "Microsoft Graph tokens")."""
        head = {"typ": "JWT"} | ({"nonce": nonce} if nonce is not None else {}) | {"alg": "RS256"}
        return head | ({"x5t": self.kid, "kid": self.kid} if with_x5t else {"kid": self.kid})

    def sign(self, header: dict[str, str], claims: dict[str, Any]) -> str:
        """A header `nonce` is Graph's scheme: the signature covers the header whose nonce is
        hashed_nonce(nonce), the token shows the nonce itself, so generic JWT libraries refuse it."""
        payload = b64url(compact_json.dumps(claims))
        nonce = header.get("nonce")
        if nonce is None:
            shown = signed = self._segment_of(header)
        else:
            _check_alg(header)
            shown, signed = _segment(header), _segment({**header, "nonce": hashed_nonce(nonce)})
        signature = self._private.sign(f"{signed}.{payload}".encode(), _PADDING, hashes.SHA256())
        return f"{shown}.{payload}.{b64url(signature)}"

    def _segment_of(self, header: dict[str, str]) -> str:
        key = tuple(header.items())
        segment = self._segments.get(key)
        if segment is None:
            _check_alg(header)  # once per cached header: the hot path pays nothing for it
            segment = _segment(header)
            if len(self._segments) < _HEADER_CACHE_MAX:
                self._segments[key] = segment
        return segment

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a JWT this signer signed. RS256 only, so `alg: none` or HS256 never pass."""
        try:
            token = self._unhash(token)
            payload = jws.deserialize_compact(token, self._key, registry=_NONCE_REGISTRY).payload
            claims = json.loads(payload)
        except (JoseError, ValueError, RecursionError):
            raise InvalidSignature from None
        if not isinstance(claims, dict):
            raise InvalidSignature
        return claims

    @staticmethod
    def _unhash(token: str) -> str:
        """Undo Graph's nonce scheme (a header with a `nonce`), as a Graph-aware verifier would."""
        segment, dot, rest = token.partition(".")
        if not dot or len(segment) > 4096:
            return token
        try:
            header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        except (ValueError, RecursionError):
            return token
        if not isinstance(header, dict) or not isinstance(header.get("nonce"), str):
            return token
        return _segment({**header, "nonce": hashed_nonce(header["nonce"])}) + dot + rest
