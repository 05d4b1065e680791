"""Continuous access evaluation (CAE): what a client's declared capabilities change in its tokens.

A client declares it can handle CAE claims challenges with the `claims` parameter
{"access_token":{"xms_cc":{"values":["cp1"]}}} (MSAL's client_capabilities, azure-identity's
enable_cae; MSAL merges any claims challenge into the same JSON). For a CAE-aware resource Entra then
issues long-lived tokens carrying `xms_cc`: 24 h app-only (expires_in 86399 in a captured
client-credentials response), "up to 28 hours" as documented. The rules below are mockidp's
reading of that, recorded once here:
- CAE-aware resources: Microsoft Graph only (the one built-in resource; seeded APIs are not CAE-aware).
- every grant of the token endpoint honours it; /authorize (implicit tokens) does not.
- delegated lifetime: random 20-28 h (a choice within "up to 28 hours"); app-only exactly 24 h.
- `xms_cc` lists the values as the client sent them, only in tokens for CAE-aware resources.
- a `claims` value that is not such JSON declares nothing (a choice: no error).
"""

from __future__ import annotations

import json

from mockidp.directory.builtin import GRAPH_APP_ID

CAE_AWARE_RESOURCES = frozenset({GRAPH_APP_ID})
APP_ONLY_LIFETIME = 24 * 3600
USER_LIFETIME_RANGE = (20 * 3600, 28 * 3600)
_MAX_CLAIMS = 8192


def capabilities(claims: str | None) -> tuple[str, ...]:
    """The `xms_cc` values of an access-token claims request, as sent; () when there are none."""
    if not claims or len(claims) > _MAX_CLAIMS:
        return ()
    try:
        parsed = json.loads(claims)
    except (ValueError, RecursionError):
        return ()
    request = parsed.get("access_token") if isinstance(parsed, dict) else None
    xms_cc = request.get("xms_cc") if isinstance(request, dict) else None
    values = xms_cc.get("values") if isinstance(xms_cc, dict) else None
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return ()
    return tuple(dict.fromkeys(v[:64] for v in values[:16]))


def cae_capabilities(claims: str | None, resource_app_id: str) -> tuple[str, ...]:
    """The capabilities a token for this resource carries: those of a CAE-capable (cp1) client, for a
    CAE-aware resource; () otherwise (the token is then an ordinary one)."""
    declared = capabilities(claims)
    if resource_app_id not in CAE_AWARE_RESOURCES or not any(v.lower() == "cp1" for v in declared):
        return ()
    return declared
