"""Key rotation (POST /_mockidp/control/keys/rotate): a new key signs at once in every worker, the old one
stays published for the overlap, an announced key is published before it signs; keys live in the
database, so a restart keeps them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mockidp.testing.jwts import header_of, verify
from tests.conftest import BACKEND2, CLIENT, CLIENT_SECRET, TENANT
from tests.serving.test_serve import Served

CC = {"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
      "scope": f"api://{BACKEND2}/.default"}


@pytest.fixture
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = Served(tmp_path_factory.mktemp("keys") / "data", "--workers", "2")
    try:
        s.wait()
        yield s
    finally:
        s.stop()


def kids(served: Served) -> list[str]:
    with served.client() as c:
        return [k["kid"] for k in c.get(f"/{TENANT}/discovery/v2.0/keys").json()["keys"]]


def signed_kids(served: Served, n: int = 6) -> set[str]:
    seen = set()
    for _ in range(n):
        with served.client() as c:  # a new connection each time: either worker answers
            r = c.post(f"/{TENANT}/oauth2/v2.0/token", data=CC)
            assert r.status_code == 200, r.text
            seen.add(header_of(r.json()["access_token"])["kid"])
    return seen


def rotate(served: Served, **body: object) -> httpx.Response:
    with served.client() as c:
        return c.post("/_mockidp/control/keys/rotate", json=body)


def test_a_rotation_signs_with_the_new_key_everywhere_and_keeps_the_old_published(served: Served) -> None:
    [first] = kids(served)
    with served.client() as c:
        old_token = c.post(f"/{TENANT}/oauth2/v2.0/token", data=CC).json()["access_token"]
    r = rotate(served, overlapSeconds=3600)
    assert r.status_code == 200, r.text
    roles = {k["kid"]: k["role"] for k in r.json()["value"]}
    new = next(kid for kid, role in roles.items() if role == "active")
    assert roles == {first: "retired", new: "active"} and new != first
    assert signed_kids(served) == {new}
    assert kids(served) == [new, first]  # the signing key first, the retired one for its overlap
    with served.client() as c:
        jwks = c.get(f"/{TENANT}/discovery/v2.0/keys").json()
        v1 = c.get(f"/{TENANT}/discovery/keys").json()
    assert verify(old_token, jwks, audience=BACKEND2)["azp"] == CLIENT  # an API still accepts yesterday's token
    assert [k["kid"] for k in v1["keys"]] == [new, first]


def test_the_old_key_leaves_the_jwks_when_its_overlap_ends_by_mockidps_clock(served: Served) -> None:
    [first] = kids(served)
    with served.client() as c:
        c.post("/_mockidp/control/clock", json={"freeze": True, "at": 1_900_000_000})
    rotate(served, overlapSeconds=600)
    assert first in kids(served)
    with served.client() as c:
        c.post("/_mockidp/control/clock", json={"advance": 601})
    assert first not in kids(served) and len(kids(served)) == 1


def test_an_announced_key_is_published_first_and_signs_at_the_next_rotation(served: Served) -> None:
    [first] = kids(served)
    announced = rotate(served, announce=True).json()["value"]
    nxt = next(k["kid"] for k in announced if k["role"] == "next")
    assert kids(served) == [first, nxt] and signed_kids(served) == {first}
    rotate(served, overlapSeconds=60)
    assert signed_kids(served) == {nxt} and kids(served) == [nxt, first]


def test_keys_survive_a_restart(served: Served) -> None:
    rotate(served, overlapSeconds=3600)
    before = kids(served)
    served.stop()
    again = Served(served.data_dir, "--workers", "1", port=served.port)
    try:
        again.wait()
        assert kids(again) == before and signed_kids(again, 2) == {before[0]}
    finally:
        again.stop()
        served.proc = again.proc  # the fixture's stop finds it stopped


@pytest.mark.parametrize(("body", "why"), [
    ({"overlapSeconds": -1}, "'overlapSeconds'"), ({"overlapSeconds": 10**9}, "'overlapSeconds'"),
    ({"announce": "yes"}, "'announce'"), ({"colour": "red"}, "Send {"),
])
def test_a_bad_rotation_is_a_400_and_changes_nothing(served: Served, body: dict[str, object], why: str) -> None:
    before = kids(served)
    r = rotate(served, **body)
    assert r.status_code == 400 and why in r.json()["message"]
    assert kids(served) == before
