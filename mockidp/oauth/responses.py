"""Token response bodies, per endpoint version (docs/entra-behaviour.md#response-bodies): v2 integers, v1 strings."""

from __future__ import annotations

from typing import Any

from mockidp.tokens.issuer import IssuedToken


def app_only_response(token: IssuedToken, *, version: int, resource: str | None) -> dict[str, Any]:
    if version == 2:
        return {"token_type": "Bearer", "expires_in": token.expires_in, "ext_expires_in": token.expires_in,
                "access_token": token.jwt}
    return {
        "token_type": "Bearer",
        "expires_in": str(token.expires_in),
        "ext_expires_in": str(token.expires_in),
        "expires_on": str(token.expires),
        "not_before": str(token.not_before),
        "resource": resource,
        "access_token": token.jwt,
    }
