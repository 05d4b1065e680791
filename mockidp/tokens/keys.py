"""The token-signing key: generated once into the data dir, then loaded by every worker.

Like Entra's, it is an RSA-2048 key with a self-signed certificate (CN=accounts.accesscontrol.windows.net);
kid = x5t = base64url(SHA-1(certificate DER)).
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

KEY_FILE = "signing-key.pem"
CERT_FILE = "signing-cert.pem"
ISSUER_KEY_FILE, ISSUER_CERT_FILE = "issuer-key.pem", "issuer-cert.pem"  # the built-in workload issuers' key


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


@dataclass(frozen=True, slots=True)
class SigningKey:
    private_pem: bytes
    cert_der: bytes

    @property
    def kid(self) -> str:
        return b64url(hashlib.sha1(self.cert_der).digest())

    def public_jwk(self) -> dict[str, Any]:
        """kty, use, kid, x5t, n, e, x5c: the member order of Entra's JWKS."""
        pub = x509.load_der_x509_certificate(self.cert_der).public_key()
        if not isinstance(pub, rsa.RSAPublicKey):
            raise ValueError("the signing certificate's key is not RSA (RS256 needs one)")
        numbers = pub.public_numbers()
        return {
            "kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid,
            "n": b64url(_uint(numbers.n)), "e": b64url(_uint(numbers.e)),
            "x5c": [base64.b64encode(self.cert_der).decode()],
        }


def generate_signing_key(now: dt.datetime | None = None) -> SigningKey:
    now = now or dt.datetime.now(dt.UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounts.accesscontrol.windows.net")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=5 * 365))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return SigningKey(pem, cert.public_bytes(serialization.Encoding.DER))


def load_or_create_signing_key(data_dir: Path, key_file: str = KEY_FILE, cert_file: str = CERT_FILE) -> SigningKey:
    """Same key after a restart and in every worker: created under a file lock, then only read. Other file
    names hold another key (the built-in workload issuers', ISSUER_KEY_FILE)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = data_dir / key_file, data_dir / cert_file
    with open(data_dir / ".keys.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (key_path.exists() and cert_path.exists()):
            key = generate_signing_key()
            _write_private(key_path, key.private_pem)
            cert_pem = x509.load_der_x509_certificate(key.cert_der).public_bytes(serialization.Encoding.PEM)
            cert_path.write_bytes(cert_pem)
            return key
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return SigningKey(key_path.read_bytes(), cert.public_bytes(serialization.Encoding.DER))


def ensure_keys(data_dir: Path) -> SigningKey:
    """The two keys of a data dir, made if missing: the first signing key (returned; the database holds the
    ring from then on) and the built-in workload issuers'."""
    key = load_or_create_signing_key(data_dir)
    load_or_create_signing_key(data_dir, ISSUER_KEY_FILE, ISSUER_CERT_FILE)
    return key


def load_public_jwk(data_dir: Path) -> dict[str, Any] | None:
    """The public JWK of the signing certificate in data_dir, if there is one (never creates a key)."""
    cert_path = data_dir / CERT_FILE
    if not cert_path.exists():
        return None
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return SigningKey(b"", cert.public_bytes(serialization.Encoding.DER)).public_jwk()  # the public half only


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
