"""The one signer: every JWT mockidp issues is signed here, with the key parsed once."""

from __future__ import annotations

import json
from typing import Any

from joserfc import jws
from joserfc.jwk import RSAKey

from mockidp.tokens.keys import SigningKey

_ALGS = ["RS256"]


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
