"""Signed values for the browser: the pending authorize request carried through the sign-in and
consent forms, and CSRF tokens. HMAC-SHA256 with a secret kept in the data dir (shared by workers)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

SECRET_FILE = "session-secret"


def load_or_create_secret(data_dir: Path) -> bytes:
    path = data_dir / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        secret = secrets.token_bytes(32)
        f.write(secret)
    return secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sealer:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, payload: bytes) -> str:
        return _b64(hmac.new(self._secret, payload, hashlib.sha256).digest())

    def seal(self, data: dict[str, Any]) -> str:
        payload = json.dumps(data, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{self._mac(payload)}"

    def open(self, sealed: str | None) -> dict[str, Any] | None:
        """The data, or None when missing, malformed or tampered with."""
        if not sealed or sealed.count(".") != 1 or len(sealed) > 32_768:
            return None
        body, mac = sealed.split(".")
        try:
            payload = _unb64(body)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(self._mac(payload), mac):
            return None
        data = json.loads(payload)
        return data if isinstance(data, dict) else None

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(32)
