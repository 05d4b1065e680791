"""Reading the X.509 certificates of keyCredentials (client assertions are checked against them)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192


@dataclass(frozen=True, slots=True)
class ParsedCertificate:
    sha1: str
    sha256: str
    public_key_pem: str
    not_before: float
    not_after: float


def parse_certificate(text: str) -> ParsedCertificate:
    """A PEM certificate, or the base64 DER Graph returns in keyCredentials[].key. Raises ValueError."""
    text = text.strip()
    try:
        if "-----BEGIN CERTIFICATE-----" in text:
            cert = x509.load_pem_x509_certificate(text.encode())
        else:
            cert = x509.load_der_x509_certificate(base64.b64decode(text, validate=False))
    except (ValueError, binascii.Error, TypeError) as exc:
        raise ValueError(f"not a readable X.509 certificate ({exc.__class__.__name__})") from None
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("only RSA certificates can sign client assertions")
    numbers = key.public_numbers()
    if not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS or numbers.e < 3 or numbers.e % 2 == 0:
        raise ValueError(f"weak or unusual RSA key ({key.key_size} bits, e={numbers.e}); need 2048-8192 bits")
    der = cert.public_bytes(serialization.Encoding.DER)
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return ParsedCertificate(
        sha1=hashlib.sha1(der).hexdigest().upper(),
        sha256=hashlib.sha256(der).hexdigest().upper(),
        public_key_pem=pem.decode(),
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
    )
