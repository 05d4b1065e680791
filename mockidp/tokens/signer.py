"""The one signer: every JWT mockidp issues is signed here, with the key parsed once; and checked here
when a client presents one back (the on-behalf-of assertion)."""

from __future__ import annotations

import json
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from mockidp.tokens.keys import SigningKey

_ALGS = ["RS256"]


class InvalidSignature(ValueError):
    """The token was not signed by this signer's key (or is no JWS at all)."""


class Signer:
    def __init__(self, key: SigningKey) -> None:
        self.kid = key.kid
        self._key = RSAKey.import_key(key.private_pem)

    def header(self, *, with_x5t: bool) -> dict[str, str]:
        """v1 tokens carry x5t beside kid; v2 tokens only kid (entra-wire §5.1)."""
        if with_x5t:
            return {"typ": "JWT", "alg": "RS256", "x5t": self.kid, "kid": self.kid}
        return {"typ": "JWT", "alg": "RS256", "kid": self.kid}

    def sign(self, header: dict[str, str], claims: dict[str, Any]) -> str:
        payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
        return jws.serialize_compact(header, payload, self._key, algorithms=_ALGS)

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a JWT this signer signed. RS256 only, so `alg: none` or HS256 never pass."""
        try:
            payload = jws.deserialize_compact(token, self._key, algorithms=_ALGS).payload
            claims = json.loads(payload)
        except (JoseError, ValueError, RecursionError):
            raise InvalidSignature from None
        if not isinstance(claims, dict):
            raise InvalidSignature
        return claims
