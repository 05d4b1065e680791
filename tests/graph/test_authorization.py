"""Who may call Graph (mockidp/graph/authorization.py): tokens signed with a real mockidp key, checked by
the given clock."""

from __future__ import annotations

import pytest

from mockidp.graph import errors as e
from mockidp.graph.authorization import authorize
from mockidp.tokens.keys import generate_signing_key
from mockidp.tokens.signer import Signer

OURS, OTHER = Signer(generate_signing_key()), Signer(generate_signing_key())
NOW = 1_900_000_000
WRITE = "Application.ReadWrite.All"


def token(signer: Signer = OURS, **claims: object) -> str:
    body = {"aud": "https://graph.microsoft.com", "nbf": NOW - 60, "exp": NOW + 3600, **claims}
    return "Bearer " + signer.sign(signer.header(with_x5t=True), body)


def check(header: str | None) -> object:
    return authorize(header, WRITE, signer_of=lambda kid: OURS if kid == OURS.kid else None, now=NOW)


def test_an_app_role_or_a_delegated_scope_authorizes() -> None:
    got = check(token(roles=[WRITE], appid="c"))
    assert isinstance(got, dict) and got["roles"] == [WRITE]
    got = check(token(scp=f"User.Read {WRITE}"))
    assert isinstance(got, dict) and got["scp"] == f"User.Read {WRITE}"


@pytest.mark.parametrize(("header", "expected"), [
    (None, e.NO_TOKEN), ("Basic abc", e.NO_TOKEN), ("Bearer ", e.NO_TOKEN),
    ("Bearer not.a.jwt", e.BAD_TOKEN),
    (token(OTHER, roles=[WRITE]), e.BAD_TOKEN),  # another key
    (token(roles=[WRITE], aud="api://someone-else"), e.BAD_TOKEN),
    (token(roles=[WRITE], exp=NOW), e.BAD_TOKEN),  # expired by the given clock
    (token(roles=[WRITE], nbf=NOW + 10), e.BAD_TOKEN),
    (token(roles=["User.ReadWrite.All"]), e.DENIED),
    (token(scp="User.Read"), e.DENIED),
])
def test_a_token_that_may_not_is_refused_with_its_entry(header: str | None, expected: e.GraphError) -> None:
    assert check(header) is expected
    assert (e.NO_TOKEN.status, e.DENIED.status) == (401, 403)
