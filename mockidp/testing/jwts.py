"""JWTs in tests: read one without verification, or verify one as an API would, against mockidp's JWKS.

PyJWT, not mockidp's own signer (mockidp/tokens/), does the work: a test then checks mockidp with a
library that owes it nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jwt

__all__ = ["claims_of", "header_of", "verify"]


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise jwt.DecodeError(f"the JWT's {what} is not a JSON object")
    return value


def _compact(token: str | bytes) -> str:
    text = token.decode("ascii", "replace") if isinstance(token, bytes) else token
    if not isinstance(text, str) or text.count(".") != 2:
        raise jwt.DecodeError("not a compact JWS (three dot-separated parts)")
    return text


def claims_of(token: str | bytes) -> dict[str, Any]:
    """The payload of a compact JWS, signature NOT checked; raises jwt.DecodeError on anything else."""
    token = _compact(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return _object(claims, "payload")


def header_of(token: str | bytes) -> dict[str, Any]:
    """The protected header of a compact JWS, signature NOT checked; raises jwt.DecodeError otherwise."""
    token = _compact(token)
    return _object(jwt.get_unverified_header(token), "header")


def verify(token: str, jwks: Mapping[str, Any], *, audience: str | Sequence[str] | None = None,
           issuer: str | None = None, algorithms: Sequence[str] = ("RS256",),
           require: Sequence[str] = ("exp", "iat", "nbf", "iss", "aud"), now: float | None = None) -> dict[str, Any]:
    """The claims of `token` after checking its signature with the key of `jwks` (the body of mockidp's
    discovery/keys) its `kid` names, exp and nbf (at `now`, for a server on a frozen clock; else the
    wall clock), and `audience` and `issuer` when given.

    Raises jwt.PyJWTError (InvalidTokenError for a kid the JWKS lacks) on any failure.
    """
    kid = header_of(token).get("kid")
    listed = jwks.get("keys")
    keys = [k for k in jwt.PyJWKSet.from_dict(dict(jwks)).keys if k.key_id == kid] if listed else []
    if not keys:
        raise jwt.InvalidTokenError(f"no key with kid {kid!r} in the JWKS")
    options: dict[str, Any] = {"require": list(require)}
    if audience is None:
        options["verify_aud"] = False
    if now is not None:
        options.update(verify_exp=False, verify_nbf=False)
    claims = _object(jwt.decode(token, keys[0].key, algorithms=list(algorithms), audience=audience,
                                issuer=issuer, options=options), "payload")  # type: ignore[arg-type]
    if now is not None:
        if "exp" in claims and not now < claims["exp"]:
            raise jwt.ExpiredSignatureError(f"expired at {claims['exp']}, now is {now}")
        if "nbf" in claims and now < claims["nbf"]:
            raise jwt.ImmatureSignatureError(f"not valid before {claims['nbf']}, now is {now}")
    return claims
