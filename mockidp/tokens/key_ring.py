"""The signing keys of every worker and replica: the one that signs, the next one (published before it
signs, as Entra publishes its next key), and those retired by a rotation, still published until their
overlap ends. The keys live in the database (directory/signing_keys.py); a worker reads them again only
when the control stamp moves (a rotation), so signing costs a memory read more than a fixed key.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from mockidp.clock import Clock
from mockidp.tokens.keys import SigningKey
from mockidp.tokens.signer import Signer

Role = Literal["active", "next", "retired"]
_ORDER = {"active": 0, "next": 1, "retired": 2}  # the JWKS lists them in this order


@dataclass(frozen=True, slots=True)
class RingKey:
    key: SigningKey
    role: Role
    published_until: float | None = None  # a retired key leaves the JWKS then (by mockidp's clock)


class KeyRing:
    def __init__(self, load: Callable[[], list[RingKey]], stamp: Callable[[], int], clock: Clock) -> None:
        self._load = load
        self._stamp = stamp
        self._clock = clock
        self._seen = -1
        self._signers: dict[str, Signer] = {}
        self._jwks: dict[str, dict[str, Any]] = {}
        self._active: Signer | None = None
        # (kid, published until) in JWKS order: SigningKey.kid hashes the certificate, so not per request
        self._published: tuple[tuple[str, float | None], ...] = ()
        # published()'s answer, the same tuple from _listed_from until _listed_until (mockidp's clock)
        self._listed: tuple[dict[str, Any], ...] | None = None
        self._listed_from = self._listed_until = 0.0
        self._fresh()

    def _fresh(self) -> None:
        stamp = self._stamp()
        if stamp == self._seen and self._active is not None:
            return
        keys = sorted(self._load(), key=lambda k: _ORDER[k.role])
        active = next((k for k in keys if k.role == "active"), None)
        if active is None:
            raise RuntimeError("no active signing key in the key ring")
        self._signers = {k.key.kid: self._signers.get(k.key.kid) or Signer(k.key) for k in keys}
        self._jwks = {k.key.kid: self._jwks.get(k.key.kid) or k.key.public_jwk() for k in keys}
        self._published = tuple((k.key.kid, k.published_until) for k in keys)
        self._listed = None
        self._active, self._seen = self._signers[active.key.kid], stamp

    def forget(self) -> None:
        """Read the keys again at the next use (a replica's poll: another machine may have rotated)."""
        self._seen = -1

    @property
    def signer(self) -> Signer:
        """The key that signs now."""
        self._fresh()
        if self._active is None:  # _fresh raised before leaving it unset
            raise RuntimeError("no active signing key")
        return self._active

    def published(self) -> tuple[dict[str, Any], ...]:
        """The JWKS members: the signing key, the next one, and retired ones within their overlap. The same
        tuple while they stay the same (no rotation, no overlap ending, the clock not set back), so what
        was rendered from it can be known to be right by identity (Runtime.document)."""
        self._fresh()
        now = self._clock.now()
        listed = self._listed
        if listed is None or not self._listed_from <= now < self._listed_until:
            listed = self._listed = tuple(self._jwks[kid] for kid, until in self._published
                                          if until is None or now < until)
            self._listed_from = now
            self._listed_until = min((until for _, until in self._published if until is not None and until > now),
                                     default=math.inf)
        return listed

    def verifier(self, kid: str | None) -> Signer | None:
        """The signer of a published key by its kid (tokens mockidp issued, presented back to it)."""
        self._fresh()
        now = self._clock.now()
        for known, until in self._published:
            if known == kid and (until is None or now < until):
                return self._signers[kid]
        return None
