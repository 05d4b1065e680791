"""Who may call Graph: a bearer token mockidp signed, for Graph, not expired by mockidp's clock, holding the
operation's permission as an app role (`roles`, app-only) or a delegated scope (`scp`).

A choice from before: a delegated write needs only the scope (Entra also checks the user's directory role).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mockidp.directory.builtin import GRAPH_APP_ID, GRAPH_URI
from mockidp.graph import errors as e
from mockidp.tokens.own_tokens import bearer_claims
from mockidp.tokens.signer import Signer

AUDIENCES = frozenset({GRAPH_URI, GRAPH_URI + "/", GRAPH_APP_ID})


def authorize(header: str | None, permission: str, *, signer_of: Callable[[str | None], Signer | None],
              now: float) -> dict[str, Any] | e.GraphError:
    """The token's claims when it may do what `permission` names, else the catalogue entry to answer."""
    claims = bearer_claims(header, AUDIENCES, signer_of=signer_of, now=now)
    if isinstance(claims, str):
        return e.NO_TOKEN if claims == "missing" else e.BAD_TOKEN
    raw_roles, raw_scp = claims.get("roles"), claims.get("scp")
    roles: list[Any] = raw_roles if isinstance(raw_roles, list) else []
    scopes = raw_scp.split() if isinstance(raw_scp, str) else []
    return claims if permission in roles or permission in scopes else e.DENIED
