"""Compact JWS as a gateway reads it: split, decode, and check a signature against one key.

Written on `cryptography` rather than the product's signer (mockidp/tokens/signer.py), because a gateway
checks tokens from any issuer with keys it is given (JWKS members, policy `<key>`s), not mockidp's own key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

MAX_TOKEN_CHARS = 64 * 1024  # mockidp's bound: far above any Entra token, far below a memory problem

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_HMAC = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
SYMMETRIC = ("HS256", "HS384", "HS512")


class MalformedToken(ValueError):
    """Not a compact JWS with JSON header and claims."""


@dataclass(frozen=True, slots=True)
class CompactJws:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

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
    return CompactJws(header, claims, f"{parts[0]}.{parts[1]}".encode(), b64url_decode(parts[2]))


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A key a gateway may check signatures with: an RSA or EC public key, or a symmetric secret."""

    kid: str | None
    public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | None
    secret: bytes | None
    origin: str  # for traces: "openid-config <url>", "issuer-signing-keys[2]"

    def describe(self) -> str:
        return f"kid '{self.kid}' ({self.origin})" if self.kid else self.origin


def rsa_key(n: str, e: str) -> rsa.RSAPublicKey:
    return rsa.RSAPublicNumbers(int.from_bytes(b64url_decode(e), "big"),
                                int.from_bytes(b64url_decode(n), "big")).public_key()


def key_from_jwk(jwk: dict[str, Any], origin: str) -> VerificationKey | None:
    """A JWKS member as a key, or None for one a gateway cannot use (encryption keys, unknown types)."""
    kid = jwk.get("kid") if isinstance(jwk.get("kid"), str) else None
    if jwk.get("use") not in (None, "sig"):
        return None
    try:
        if jwk.get("kty") == "RSA" and isinstance(jwk.get("n"), str) and isinstance(jwk.get("e"), str):
            return VerificationKey(kid, rsa_key(jwk["n"], jwk["e"]), None, origin)
        if jwk.get("kty") == "EC" and jwk.get("crv") in ("P-256", "P-384", "P-521"):
            curves: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(),
                                                   "P-521": ec.SECP521R1()}
            curve = curves[jwk["crv"]]
            x = int.from_bytes(b64url_decode(jwk["x"]), "big")
            y = int.from_bytes(b64url_decode(jwk["y"]), "big")
            return VerificationKey(kid, ec.EllipticCurvePublicNumbers(x, y, curve).public_key(), None, origin)
        if jwk.get("kty") == "oct" and isinstance(jwk.get("k"), str):
            return VerificationKey(kid, None, b64url_decode(jwk["k"]), origin)
    except (MalformedToken, ValueError, KeyError, TypeError):
        return None
    return None


def key_from_certificate(pem_or_der: bytes, kid: str | None, origin: str) -> VerificationKey | None:
    try:
        cert = (x509.load_pem_x509_certificate(pem_or_der) if pem_or_der.lstrip().startswith(b"-----")
                else x509.load_der_x509_certificate(pem_or_der))
    except ValueError:
        return None
    public = cert.public_key()
    if isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return VerificationKey(kid, public, None, origin)
    return None


def signature_valid(token: CompactJws, key: VerificationKey) -> bool:
    """True when `key` signed `token` with the token's own alg (the key type must fit the alg)."""
    alg = token.alg
    bits = alg[2:]
    if alg in SYMMETRIC:
        if key.secret is None:
            return False
        expected = hmac.new(key.secret, token.signing_input, _HMAC[bits]).digest()
        return hmac.compare_digest(expected, token.signature)
    if alg not in ASYMMETRIC:
        return False
    digest = _HASHES[bits]()
    try:
        if alg.startswith("RS") and isinstance(key.public, rsa.RSAPublicKey):
            key.public.verify(token.signature, token.signing_input, padding.PKCS1v15(), digest)
            return True
        if alg.startswith("PS") and isinstance(key.public, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(_HASHES[bits]()), salt_length=padding.PSS.DIGEST_LENGTH)
            key.public.verify(token.signature, token.signing_input, pss, digest)
            return True
        if alg.startswith("ES") and isinstance(key.public, ec.EllipticCurvePublicKey):
            half = len(token.signature) // 2
            if half == 0 or len(token.signature) % 2:
                return False
            der = encode_dss_signature(int.from_bytes(token.signature[:half], "big"),
                                       int.from_bytes(token.signature[half:], "big"))
            key.public.verify(der, token.signing_input, ec.ECDSA(digest))
            return True
    except InvalidSignature:
        return False
    return False
