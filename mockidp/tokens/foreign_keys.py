"""Checking a JWT's signature with a key mockidp does not hold: what an API gateway is given (JWKS
members of an openid-config, a policy's `<key>` as n/e or a secret, a certificate). joserfc does the
cryptography, as it does for client assertions (tokens/assertions.py); this module only imports keys.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwe, jws
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
        canonical = json.dumps(jwk, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    return _imported(canonical)


@functools.lru_cache(maxsize=256)
def _imported(canonical: str) -> ForeignKey | None:
    """Parsed once per distinct JWK: a gateway checks every request against the same few JWKS members, and
    importing one (base64 to integers, the public key built) was about a twentieth of a gateway request's
    CPU (issue 11). The keys are only ever used to verify; 256 bounds what a changing JWKS can leave."""
    try:
        with _issuers_key_sizes():
            key = JWKRegistry.import_key(json.loads(canonical))
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


# --- decryption: validate-jwt's <decryption-keys> ---------------------------------------------------

# What an Entra-style encrypted token may use: RSA-OAEP key transport with a certificate's private key,
# or a shared symmetric key (key wrap, or the key itself). RSA1_5 is left out, as joserfc leaves it out.
DECRYPTION_ALGORITHMS = ("RSA-OAEP", "RSA-OAEP-256", "A128KW", "A192KW", "A256KW", "dir",
                         "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512", "A128GCM", "A192GCM", "A256GCM")


def decryption_key_from_private(pem_or_der: bytes) -> ForeignKey | None:
    """The private key of a decryption certificate (PEM or DER, unencrypted; a PEM bundle holding the
    certificate and its key will do), or None."""
    for load in (serialization.load_pem_private_key, serialization.load_der_private_key):
        try:
            private = load(pem_or_der, password=None)
        except (ValueError, TypeError):
            continue
        if isinstance(private, rsa.RSAPrivateKey):
            with _issuers_key_sizes():
                return RSAKey.import_key(private.private_bytes(serialization.Encoding.PEM,
                                                               serialization.PrivateFormat.PKCS8,
                                                               serialization.NoEncryption()))
        return None
    return None


def decrypt(token: str, key: ForeignKey) -> bytes | None:
    """The plaintext of a compact JWE (the nested JWS), or None when `key` does not decrypt it."""
    registry = jwe.JWERegistry(algorithms=list(DECRYPTION_ALGORITHMS))
    try:
        with _issuers_key_sizes():
            return jwe.decrypt_compact(token, key, registry=registry).plaintext
    except (JoseError, ValueError, TypeError, KeyError):
        return None
