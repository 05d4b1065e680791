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


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a compact JWS, signature NOT checked; raises jwt.DecodeError on anything else."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise jwt.DecodeError("not a compact JWS (three dot-separated parts)")
    claims = jwt.decode(token, options={"verify_signature": False})
    return _object(claims, "payload")


def header_of(token: str) -> dict[str, Any]:
    """The protected header of a compact JWS, signature NOT checked; raises jwt.DecodeError otherwise."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise jwt.DecodeError("not a compact JWS (three dot-separated parts)")
    return _object(jwt.get_unverified_header(token), "header")


def verify(token: str, jwks: Mapping[str, Any], *, audience: str | Sequence[str] | None = None,
           issuer: str | None = None, algorithms: Sequence[str] = ("RS256",),
           require: Sequence[str] = ("exp", "iat", "nbf", "iss", "aud")) -> dict[str, Any]:
    """The claims of `token` after checking its signature with the key of `jwks` (the body of mockidp's
    discovery/keys) its `kid` names, and exp/nbf, `audience` and `issuer` when given.

    Raises jwt.PyJWTError (InvalidTokenError for a kid the JWKS lacks) on any failure.
    """
    kid = header_of(token).get("kid")
    keys = [k for k in jwt.PyJWKSet.from_dict(dict(jwks)).keys if k.key_id == kid]
    if not keys:
        raise jwt.InvalidTokenError(f"no key with kid {kid!r} in the JWKS")
    options: dict[str, Any] = {"require": list(require)}
    if audience is None:
        options["verify_aud"] = False
    claims = jwt.decode(token, keys[0].key, algorithms=list(algorithms), audience=audience, issuer=issuer,
                        options=options)  # type: ignore[arg-type]
    return _object(claims, "payload")
