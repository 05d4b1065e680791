"""Encrypted tokens (compact JWE) as validate-jwt's <decryption-keys> opens them: each configured key is
tried in turn, and the plaintext is the signed token inside, checked afterwards like any other. The
cryptography is joserfc's, through mockidp/tokens/foreign_keys.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mockidp.apim.policy import KeySpec
from mockidp.tokens import foreign_keys
from mockidp.tokens.foreign_keys import ForeignKey


@dataclass(frozen=True, slots=True)
class DecryptionKey:
    key: ForeignKey
    origin: str  # for traces: "decryption-keys key 1 (certificate my-cert)"


def decryption_keys(specs: Sequence[KeySpec], certificates: Mapping[str, bytes]) -> tuple[list[DecryptionKey],
                                                                                          list[str]]:
    """The usable keys, and what could not be used (a certificate-id without a private key, say)."""
    keys: list[DecryptionKey] = []
    problems: list[str] = []
    for i, spec in enumerate(specs, 1):
        if spec.certificate_id is not None:
            origin = f"decryption-keys key {i} (certificate {spec.certificate_id})"
            material = certificates.get(spec.certificate_id)
            key = foreign_keys.decryption_key_from_private(material) if material is not None else None
            if key is None:
                problems.append(f"{origin}: " + ("no such certificate" if material is None
                                                 else "no RSA private key in it"))
                continue
        else:
            origin = f"decryption-keys key {i} (symmetric)"
            key = foreign_keys.from_secret(spec.value or b"")
            if key is None:
                problems.append(f"{origin}: not a usable key")
                continue
        keys.append(DecryptionKey(key, origin))
    return keys, problems


def decrypt(token: str, keys: Sequence[DecryptionKey]) -> tuple[str, str] | None:
    """The inner token and the key that opened it, or None when none does."""
    for key in keys:
        plaintext = foreign_keys.decrypt(token, key.key)
        if plaintext is not None:
            try:
                return plaintext.decode("ascii").strip(), key.origin
            except UnicodeDecodeError:
                return None
    return None
