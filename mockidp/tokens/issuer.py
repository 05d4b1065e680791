"""Minting: an Authorization in, a signed access token out. The only caller of the signer."""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from mockidp.clock import Clock, IdFactory
from mockidp.tokens.claims import IdTokenInput, Opaque, access_token_claims, id_token_claims
from mockidp.tokens.key_ring import KeyRing
from mockidp.tokens.keys import b64url, generate_signing_key
from mockidp.tokens.model import Authorization
from mockidp.tokens.signer import Signer

APP_ONLY_LIFETIME = 3600  # client-credentials tokens: exactly one hour, expires_in 3599
ID_TOKEN_LIFETIME = 3600


@dataclass(frozen=True, slots=True)
class IssuedToken:
    jwt: str
    issued_at: int  # the real issuance second (iat/nbf are back-dated from it)
    not_before: int
    expires: int

    @property
    def expires_in(self) -> int:
        return self.expires - self.issued_at - 1


class TokenIssuer:
    def __init__(self, keys: KeyRing, clock: Clock, ids: IdFactory) -> None:
        self.keys = keys
        self.clock = clock
        self.ids = ids
        self._foreign: Signer | None = None  # a key no JWKS of mockidp holds, for forged tokens that must fail

    @property
    def signer(self) -> Signer:
        """The key that signs now (a rotation changes it: tokens/key_ring.py)."""
        return self.keys.signer

    def _opaque(self, tenant_id: str, resource_app_id: str, version: int) -> Opaque:
        rh_raw = b"\x01" + uuid.UUID(tenant_id).bytes_le + uuid.UUID(resource_app_id).bytes_le + b"\x00"
        return Opaque(
            aio=base64.b64encode(self.ids.token_bytes(51)).decode(),
            uti=b64url(self.ids.token_bytes(16)),
            rh=f"{version - 1}.{b64url(rh_raw)}.",
        )

    def user_lifetime(self, low: int = 3600, high: int = 5400) -> int:
        """Delegated access tokens live a random 60-90 minutes, as Entra's do (CAE: a longer range)."""
        return low + int.from_bytes(self.ids.token_bytes(2), "big") % (high - low + 1)

    def id_token(self, idt: IdTokenInput, *, version: int, origin: str) -> str:
        now = int(self.clock.now())
        claims = id_token_claims(idt, version=version, origin=origin, now=now, expires=now + ID_TOKEN_LIFETIME,
                                 opaque=self._opaque(idt.tenant_id, idt.resource_app_id, version))
        signer = self.signer
        return signer.sign(signer.header(with_x5t=version == 1), claims)

    @staticmethod
    def half_hash(value: str) -> str:
        """at_hash / c_hash: left half of SHA-256, base64url (OIDC Core 3.3.2.11)."""
        return b64url(hashlib.sha256(value.encode()).digest()[:16])

    def access_token(self, auth: Authorization, *, origin: str, lifetime: int = APP_ONLY_LIFETIME) -> IssuedToken:
        now = int(self.clock.now())
        opaque = self._opaque(auth.tenant_id, auth.resource_app_id, auth.version)
        claims = access_token_claims(auth, origin=origin, now=now, expires=now + lifetime, opaque=opaque)
        nonce = b64url(self.ids.token_bytes(32)) if auth.header_nonce else None
        signer = self.signer
        jwt = signer.sign(signer.header(with_x5t=auth.version == 1, nonce=nonce), claims)
        return IssuedToken(jwt, now, claims["nbf"], claims["exp"])

    def forged(self, auth: Authorization, *, origin: str, now: int, lifetime: int, overrides: dict[str, Any],
               foreign_key: bool = False) -> IssuedToken:
        """A token a test asked for (oauth/forge.py): minted as access_token mints, then the claims a test
        overrides (aud, iss, iat, nbf) replaced; `foreign_key` signs with a key mockidp never publishes."""
        opaque = self._opaque(auth.tenant_id, auth.resource_app_id, auth.version)
        claims = access_token_claims(auth, origin=origin, now=now, expires=now + lifetime, opaque=opaque)
        claims.update(overrides)
        signer = self.signer
        if foreign_key:
            if self._foreign is None:
                self._foreign = Signer(generate_signing_key())
            signer = self._foreign
        jwt = signer.sign(signer.header(with_x5t=auth.version == 1), claims)
        return IssuedToken(jwt, now, int(claims["nbf"]), int(claims["exp"]))
