"""The local certificate authority behind mockidp's HTTPS (real clients refuse http authorities).

Generated into the data dir on first start; the server certificate is re-issued whenever the set of
names it must cover changes (localhost, 127.0.0.1, the public URL's host, --hostname names).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

if TYPE_CHECKING:
    from mockidp.settings import Settings

CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
SERVER_CERT = "server.pem"
SERVER_KEY = "server-key.pem"


@dataclass(frozen=True)
class ServerTls:
    ca_path: Path
    cert_path: Path
    key_path: Path


def _write(path: Path, data: bytes, private: bool = False) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ensure_ca(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / ".ca.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ca_path = data_dir / CA_CERT
        if ca_path.exists() and (data_dir / CA_KEY).exists():
            return ca_path
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mockidp local CA"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mockidp")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write(data_dir / CA_KEY, _pem_key(key), private=True)
        _write(ca_path, cert.public_bytes(serialization.Encoding.PEM))
        return ca_path


def _sans(names: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def server_names(settings: Settings) -> list[str]:
    """The names the server certificate carries beyond localhost and the loopback addresses."""
    names = list(settings.hostnames)
    if settings.public_url:
        names.append(urlsplit(settings.public_url).hostname or "")
    if settings.host not in ("0.0.0.0", "::", ""):
        names.append(settings.host)
    return [n for n in names if n]


def ensure_server_certificate(data_dir: Path, names: list[str]) -> ServerTls:
    """Names in the certificate: localhost, 127.0.0.1, ::1 and the given ones."""
    ca_path = ensure_ca(data_dir)
    wanted = sorted({"localhost", "127.0.0.1", "::1", *(n.lower() for n in names if n)})
    cert_path, key_path = data_dir / SERVER_CERT, data_dir / SERVER_KEY
    with open(data_dir / ".ca.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cert_path.exists() and key_path.exists():
            current = x509.load_pem_x509_certificate(cert_path.read_bytes())
            san = current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            have = sorted({str(v) for v in san.get_values_for_type(x509.DNSName)}
                          | {str(v) for v in san.get_values_for_type(x509.IPAddress)})
            if have == wanted and current.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=7):
                return ServerTls(ca_path, cert_path, key_path)
        ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
        ca_key = serialization.load_pem_private_key((data_dir / CA_KEY).read_bytes(), None)
        if not isinstance(ca_key, rsa.RSAPrivateKey):
            raise ValueError(f"{data_dir / CA_KEY} is not an RSA private key: remove it to generate a new CA")
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, wanted[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName(_sans(wanted)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write(key_path, _pem_key(key), private=True)
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return ServerTls(ca_path, cert_path, key_path)
