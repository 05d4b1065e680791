"""Every body whose shape depends on the endpoint's version, in one place (docs/entra-behaviour.md#response-bodies):
v2 answers integers, v1 strings plus `expires_on`, `not_before` and `resource`. The token's own version
is the resource's and is decided elsewhere; this module only shapes."""

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


def user_response(access: IssuedToken, *, version: int, v2_scope: str, v1_scope: str,
                  resource: str) -> dict[str, Any]:
    """The start of a user grant's body; refresh_token, id_token and client_info follow, in that order."""
    body: dict[str, Any] = {"token_type": "Bearer"}
    if version == 2:
        body.update(scope=v2_scope, expires_in=access.expires_in, ext_expires_in=access.expires_in,
                    access_token=access.jwt)
    else:
        body.update(scope=v1_scope, expires_in=str(access.expires_in), ext_expires_in=str(access.expires_in),
                    expires_on=str(access.expires), not_before=str(access.not_before), resource=resource,
                    access_token=access.jwt)
    return body


def device_code_response(*, version: int, user_code: str, device_code: str, uri: str, lifetime: int,
                         interval: int, message: str) -> dict[str, Any]:
    """POST /devicecode: v2 says verification_uri and integers, v1 verification_url and strings."""
    if version == 2:
        return {"user_code": user_code, "device_code": device_code, "verification_uri": uri,
                "expires_in": lifetime, "interval": interval, "message": message}
    return {"user_code": user_code, "device_code": device_code, "verification_url": uri,
            "expires_in": str(lifetime), "interval": str(interval), "message": message}
