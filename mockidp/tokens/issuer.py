"""Minting: an Authorization in, a signed access token out. The only caller of the signer."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass

from mockidp.clock import Clock, IdFactory
from mockidp.tokens.claims import Opaque, access_token_claims
from mockidp.tokens.keys import b64url
from mockidp.tokens.model import Authorization
from mockidp.tokens.signer import Signer

APP_ONLY_LIFETIME = 3600  # client-credentials tokens: exactly one hour, expires_in 3599


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
    def __init__(self, signer: Signer, clock: Clock, ids: IdFactory) -> None:
        self.signer = signer
        self.clock = clock
        self.ids = ids

    def _opaque(self, auth: Authorization) -> Opaque:
        rh_raw = b"\x01" + uuid.UUID(auth.tenant_id).bytes_le + uuid.UUID(auth.resource_app_id).bytes_le + b"\x00"
        return Opaque(
            aio=base64.b64encode(self.ids.token_bytes(51)).decode(),
            uti=b64url(self.ids.token_bytes(16)),
            rh=f"{auth.version - 1}.{b64url(rh_raw)}.",
        )

    def access_token(self, auth: Authorization, *, origin: str, lifetime: int = APP_ONLY_LIFETIME) -> IssuedToken:
        now = int(self.clock.now())
        claims = access_token_claims(auth, origin=origin, now=now, expires=now + lifetime, opaque=self._opaque(auth))
        jwt = self.signer.sign(self.signer.header(with_x5t=auth.version == 1), claims)
        return IssuedToken(jwt, now, claims["nbf"], claims["exp"])
