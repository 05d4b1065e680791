"""PKCE (RFC 7636) as Entra applies it: S256 or plain (plain when no method is given)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from mockidp.errors import AadstsError, catalogue

_VALUE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def check_challenge(challenge: str | None, method: str | None) -> tuple[str | None, str | None]:
    """Validate at /authorize; returns (challenge, method) to store with the code (AADSTS501491)."""
    if challenge is None:
        if method is not None:
            raise AadstsError(catalogue.CODE_CHALLENGE_SIZE)
        return None, None
    method = method or "plain"
    if method not in ("S256", "plain") or not _VALUE.match(challenge):
        raise AadstsError(catalogue.CODE_CHALLENGE_SIZE)
    return challenge, method


def verifier_matches(verifier: str | None, challenge: str, method: str) -> bool:
    if verifier is None or not _VALUE.match(verifier):
        return False
    if method == "S256":
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        return hmac.compare_digest(computed, challenge)
    return hmac.compare_digest(verifier, challenge)
