"""Tokens mockidp issued, presented back to it (the on-behalf-of `assertion`): verified with the one
signing key, then told apart by their shape (docs/entra-behaviour.md#access-tokens, #id-tokens)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from mockidp.tokens.assertions import MalformedJwt, unverified_parts
from mockidp.tokens.signer import InvalidSignature, Signer

Rejection = Literal["malformed", "unknown_key", "bad_signature"]
TokenKind = Literal["user_access", "app_access", "id"]
BearerRefusal = Literal["missing", "invalid"]


class NotOwnToken(ValueError):
    """Not a JWT this mockidp signed; `reason` says why, for the caller's error message."""

    def __init__(self, reason: Rejection) -> None:
        super().__init__(reason)
        self.reason: Rejection = reason


def verify_own_token(signer_of: Callable[[str | None], Signer | None], token: str) -> dict[str, Any]:
    """The claims of a token signed with mockidp's key; raises NotOwnToken.

    The header is read first so the caller can tell "not ours" (another key, `alg: none`, HS256:
    no key of ours applies) from "ours but altered" (our kid, and the signature does not match).
    """
    try:
        header, _ = unverified_parts(token)
    except MalformedJwt:
        raise NotOwnToken("malformed") from None
    kid = header.get("kid")
    signer = signer_of(kid if isinstance(kid, str) else None)  # any key mockidp publishes (a rotation's overlap)
    if header.get("alg") != "RS256" or signer is None:
        raise NotOwnToken("unknown_key")
    try:
        return signer.verify(token)
    except InvalidSignature:
        raise NotOwnToken("bad_signature") from None


def bearer_claims(header: str | None, audiences: frozenset[str], *,
                  signer_of: Callable[[str | None], Signer | None], now: float) -> dict[str, Any] | BearerRefusal:
    """The claims of an `Authorization: Bearer` token of ours for one of `audiences`, valid at `now` (mockidp's
    clock); else why not: "missing" (no bearer token) or "invalid" (not ours, another audience, expired or not
    yet valid). Graph and Resource Manager both decide who calls them this way."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "missing"
    try:
        claims = verify_own_token(signer_of, token.strip())
    except NotOwnToken:
        return "invalid"
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if claims.get("aud") not in audiences or not isinstance(exp, int) or exp <= now or (
            isinstance(nbf, int) and nbf > now):
        return "invalid"
    return claims


def token_kind(claims: dict[str, Any]) -> TokenKind:
    """What a verified token of ours is, from the claims claims.py writes.

    Delegated access tokens always carry `scp` (a user flow without a consented scope is refused);
    app-only access tokens name their client (`azp` v2, `appid` v1) but have no `scp`; ID tokens
    have neither (their client is the `aud`).
    """
    if isinstance(claims.get("scp"), str):
        return "user_access"
    if "azp" in claims or "appid" in claims:
        return "app_access"
    return "id"
