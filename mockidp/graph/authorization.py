"""Who may call Graph: a bearer token mockidp signed, for Graph, not expired by mockidp's clock, holding the
operation's permission as an app role (`roles`, app-only) or a delegated scope (`scp`).

A choice from before: a delegated write needs only the scope (Entra also checks the user's directory role).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mockidp.directory.builtin import GRAPH_APP_ID, GRAPH_URI
from mockidp.graph import errors as e
from mockidp.tokens.own_tokens import NotOwnToken, verify_own_token
from mockidp.tokens.signer import Signer

AUDIENCES = frozenset({GRAPH_URI, GRAPH_URI + "/", GRAPH_APP_ID})


def authorize(header: str | None, permission: str, *, signer_of: Callable[[str | None], Signer | None],
              now: float) -> dict[str, Any] | e.GraphError:
    """The token's claims when it may do what `permission` names, else the catalogue entry to answer."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return e.NO_TOKEN
    try:
        claims = verify_own_token(signer_of, token.strip())
    except NotOwnToken:
        return e.BAD_TOKEN
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if claims.get("aud") not in AUDIENCES or not isinstance(exp, int) or exp <= now or (
            isinstance(nbf, int) and nbf > now):
        return e.BAD_TOKEN
    raw_roles, raw_scp = claims.get("roles"), claims.get("scp")
    roles: list[Any] = raw_roles if isinstance(raw_roles, list) else []
    scopes = raw_scp.split() if isinstance(raw_scp, str) else []
    return claims if permission in roles or permission in scopes else e.DENIED
