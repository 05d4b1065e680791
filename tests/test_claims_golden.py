"""Golden tests of the pure claim builders (mockidp/tokens/claims.py): each case's claims, in order,
equal tests/golden/claims/<case>.json. A change to a token's shape shows here as a diff to review.

After a deliberate change: MOCKIDP_UPDATE_GOLDEN=1 pytest tests/test_claims_golden.py rewrites the
files (those runs are skipped, never passed), then review the diff like code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mockidp.tokens.claims import IdTokenInput, Opaque, access_token_claims, id_token_claims
from mockidp.tokens.model import Authorization, UserIdentity

GOLDEN = Path(__file__).parent / "golden" / "claims"
ORIGIN = "https://localhost:8443"
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
TENANT = "72f988bf-0000-4000-8000-000000000001"
CLIENT = "1df771d6-ef9c-473e-af87-cafa8928e024"
BACKEND2 = "8d138478-d3a3-47f5-a233-1408cd6baae4"
BACKEND1_URI = "api://contoso.onmicrosoft.com/testBackend1"
BACKEND1 = "6c1a2b3d-0000-4000-8000-00000000b001"
SP = "11111111-0000-4000-8000-0000000000a1"
OPAQUE = Opaque(aio="aio-1", uti="uti-1", rh="rh-1")

ALICE = UserIdentity(oid="22222222-0000-4000-8000-0000000000a2", upn="alice@contoso.onmicrosoft.com",
                     name="Alice", pairwise_sub="pairwise-sub-alice", given_name="Alice", family_name="Adams",
                     email="alice@contoso.com", groups=("33333333-0000-4000-8000-0000000000a3",),
                     wids=("b79fbf4d-3ef9-4689-8143-76b194e85509",), ipaddr="127.0.0.1",
                     sid="44444444-0000-4000-8000-0000000000a4")
BOB = UserIdentity(oid="55555555-0000-4000-8000-0000000000a5", upn="bob@contoso.onmicrosoft.com", name="Bob",
                   pairwise_sub="pairwise-sub-bob")


def _app_only(version: int, **kw: Any) -> Authorization:
    resource, audience = (BACKEND2, f"api://{BACKEND2}") if version == 2 else (BACKEND1, BACKEND1_URI)
    fields: dict[str, Any] = {"client_acr": "1", "subject_id": SP, **kw}
    return Authorization(tenant_id=TENANT, client_app_id=CLIENT, resource_app_id=resource, audience=audience,
                         version=version, **fields)


def _delegated(version: int, user: UserIdentity, **kw: Any) -> Authorization:
    return _app_only(version, **{"subject_id": user.oid, "scopes": ("access_as_user",), "user": user,
                                 "client_acr": "0", **kw})


def _access(auth: Authorization) -> Callable[[], dict[str, Any]]:
    return lambda: access_token_claims(auth, origin=ORIGIN, now=NOW, expires=NOW + 3599, opaque=OPAQUE)


def _id(idt: IdTokenInput, version: int) -> Callable[[], dict[str, Any]]:
    return lambda: id_token_claims(idt, version=version, origin=ORIGIN, now=NOW, expires=NOW + 3600,
                                   opaque=OPAQUE)


CASES: dict[str, Callable[[], dict[str, Any]]] = {
    "access-v2-app-only-roles": _access(_app_only(2, roles=("Provisioning.ReadWrite", "Data.Read"))),
    "access-v1-app-only-no-roles": _access(_app_only(1)),
    "access-v2-app-only-cae": _access(_app_only(2, client_capabilities=("cp1",))),
    "access-v2-delegated-groups-wids-sid": _access(_delegated(2, ALICE, roles=("Reader",))),
    "access-v1-delegated-names-ipaddr": _access(_delegated(1, ALICE)),
    "access-v2-delegated-minimal": _access(_delegated(2, BOB)),
    "id-v2-nonce-hashes-email": _id(IdTokenInput(TENANT, CLIENT, ALICE, CLIENT, nonce="n-1", email=True,
                                                 c_hash="c-hash", at_hash="at-hash", roles=("Reader",)), 2),
    "id-v2-no-profile": _id(IdTokenInput(TENANT, CLIENT, BOB, CLIENT, profile=False), 2),
    "id-v1": _id(IdTokenInput(TENANT, CLIENT, ALICE, CLIENT, nonce="n-1"), 1),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_claims_equal_their_golden_file(case: str) -> None:
    claims = CASES[case]()
    path = GOLDEN / f"{case}.json"
    if os.environ.get("MOCKIDP_UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(claims, indent=2) + "\n")
        pytest.skip(f"rewrote {path.name}: review the diff")
    golden = json.loads(path.read_text())
    assert list(claims.items()) == list(golden.items())  # names, values and their order


def test_every_golden_file_has_its_case() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(CASES)
