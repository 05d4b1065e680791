"""User passwords: stored as salted PBKDF2 hashes, never as text."""

from __future__ import annotations

import hashlib
import hmac
import os

_ITERATIONS = 20_000  # users' passwords only; client secrets use plain SHA-256 (high entropy, hot path)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _ITERATIONS)
    return f"pbkdf2-sha256${_ITERATIONS}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, iterations, salt, digest = stored.split("$")
        candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(candidate.hex(), digest)


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
