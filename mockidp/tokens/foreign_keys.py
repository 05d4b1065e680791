"""Checking a JWT's signature with a key mockidp does not hold: what an API gateway is given (JWKS
members of an openid-config, a policy's `<key>` as n/e or a secret, a certificate). joserfc does the
cryptography, as it does for client assertions (tokens/assertions.py); this module only imports keys.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, JWKRegistry, OctKey, RSAKey

from mockidp.tokens.assertions import jws_registry

ForeignKey = RSAKey | ECKey | OctKey
SIGNING_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
                                "HS256", "HS384", "HS512"})


def from_jwk(jwk: dict[str, Any]) -> ForeignKey | None:
    """A JWKS member, or None for one that cannot check signatures (encryption keys, unknown types)."""
    if jwk.get("use") not in (None, "sig"):
        return None
    try:
        with _issuers_key_sizes():
            key = JWKRegistry.import_key(jwk)
    except (JoseError, ValueError, KeyError, TypeError):
        return None
    return key if isinstance(key, RSAKey | ECKey | OctKey) else None


@contextmanager
def _issuers_key_sizes() -> Iterator[None]:
    """joserfc warns about RSA keys under 2048 bits; a gateway checks what the issuer signed with (as
    Microsoft.IdentityModel verifies with keys from 1024 bits), so the warning is not raised here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        yield


def from_rsa_numbers(n: str, e: str) -> ForeignKey | None:
    return from_jwk({"kty": "RSA", "n": n, "e": e})


def from_secret(secret: bytes) -> ForeignKey | None:
    try:
        return OctKey.import_key(secret)
    except (JoseError, ValueError):
        return None


def from_certificate(pem_or_der: bytes) -> ForeignKey | None:
    try:
        cert = (x509.load_pem_x509_certificate(pem_or_der) if pem_or_der.lstrip().startswith(b"-----")
                else x509.load_der_x509_certificate(pem_or_der))
    except ValueError:
        return None
    public = cert.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with _issuers_key_sizes():
        if isinstance(public, rsa.RSAPublicKey):
            return RSAKey.import_key(pem)
        if isinstance(public, ec.EllipticCurvePublicKey):
            return ECKey.import_key(pem)
    return None


def signature_valid(token: str, key: ForeignKey, alg: str) -> bool:
    """True when `key` signed `token` with `alg` (the token's own); a key of another type never does."""
    if alg not in SIGNING_ALGORITHMS:
        return False
    try:
        jws.deserialize_compact(token, key, registry=jws_registry(alg))
    except (JoseError, ValueError, TypeError):
        return False
    return True
