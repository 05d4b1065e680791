"""The control API's clock and reset (README, "Driving mockidp from tests"): one setting for every
worker, followed by tokens and by the expiry of what mockidp stored; the access rule; bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import jwt
import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from mockidp.app import create_app
from mockidp.cli import main
from mockidp.clock import FrozenClock
from mockidp.settings import Settings
from mockidp.testing.entra import assert_entra_error
from mockidp.tokens.claims import BACKDATE_SECONDS
from tests.conftest import BACKEND2, CLIENT, CLIENT_SECRET, DEMO_SEED, TENANT
from tests.serving.test_serve import Served

T0 = 1_900_000_000.0  # 2030-03-17: far from now, so that no answer can be right by the real clock
CC = {"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
      "scope": f"api://{BACKEND2}/.default"}
ALICE = {"grant_type": "password", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
         "username": "alice@contoso.onmicrosoft.com", "password": "alice-password-1",
         "scope": f"api://{BACKEND2}/access_as_user offline_access"}


def _post(served: Served, path: str, body: object) -> httpx.Response:
    with served.client() as c:  # a new connection each time: either worker may answer
        return c.post(f"/_mockidp/control/{path}", json=body)


def _iats(served: Served, n: int = 8) -> set[int]:
    seen = set()
    for _ in range(n):
        with served.client() as c:
            r = c.post(f"/{TENANT}/oauth2/v2.0/token", data=CC)
            assert r.status_code == 200, r.text
            # the time mockidp signed at: iat is back-dated by BACKDATE_SECONDS, as Entra does
            claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
            seen.add(claims["iat"] + BACKDATE_SECONDS)
    return seen


def test_a_frozen_clock_is_every_workers_clock_and_moves_only_when_told(served: Served) -> None:
    r = _post(served, "clock", {"freeze": True, "at": T0})
    assert r.status_code == 200 and r.json() == {"now": T0, "nowUtc": "2030-03-17T17:46:40.0000000Z",
                                                 "frozen": True, "offsetSeconds": None}
    assert _iats(served) == {int(T0)}
    assert _post(served, "clock", {"advance": 3600}).json()["now"] == T0 + 3600
    assert _iats(served) == {int(T0) + 3600}  # at once, whichever worker answers
    with served.client() as c:
        assert c.get("/_mockidp/control/clock").json()["now"] == T0 + 3600
    assert _post(served, "clock", {"real": True}).json()["frozen"] is False
    assert all(abs(iat - time.time()) < 60 for iat in _iats(served, 4))
    moved = _post(served, "clock", {"advance": -86400}).json()
    assert moved["frozen"] is False and moved["offsetSeconds"] == -86400
    assert all(abs(iat - (time.time() - 86400)) < 60 for iat in _iats(served, 4))
    _post(served, "clock", {"real": True})


def test_what_mockidp_stored_expires_by_the_controlled_clock_and_reset_forgets_it(served: Served) -> None:
    _post(served, "clock", {"freeze": True, "at": T0})
    with served.client() as c:
        first = c.post(f"/{TENANT}/oauth2/v2.0/token", data=ALICE)
    assert first.status_code == 200, first.text
    refresh = {"grant_type": "refresh_token", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
               "refresh_token": first.json()["refresh_token"]}
    _post(served, "clock", {"advance": 91 * 86400})  # past the 90 days a refresh token lives unused
    with served.client() as c:
        assert_entra_error(c.post(f"/{TENANT}/oauth2/v2.0/token", data=refresh), 700082, suberror="bad_token")
    _post(served, "clock", {"freeze": True, "at": T0 + 60})
    with served.client() as c:
        again = c.post(f"/{TENANT}/oauth2/v2.0/token", data=ALICE)
        refresh["refresh_token"] = again.json()["refresh_token"]
        assert c.post(f"/{TENANT}/oauth2/v2.0/token", data=refresh).status_code == 200
    r = _post(served, "reset", {})
    assert r.status_code == 200 and r.json() == {"reset": ["directory", "artefacts", "faults", "traces", "clock"]}
    with served.client() as c:
        assert c.get("/_mockidp/control/clock").json()["frozen"] is False
        assert c.get("/_mockidp/traces").json()["value"] == []
        refused = c.post(f"/{TENANT}/oauth2/v2.0/token", data=refresh)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_the_cli_moves_the_clock_of_the_running_server(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    where = ["--port", str(served.port), "--data-dir", str(served.data_dir)]
    assert main(["clock", "freeze", "--at", str(T0), *where]) == 0
    assert json.loads(capsys.readouterr().out)["now"] == T0
    assert main(["clock", "advance", "30", *where]) == 0
    assert json.loads(capsys.readouterr().out)["now"] == T0 + 30
    assert _iats(served, 2) == {int(T0) + 30}
    assert main(["clock", "show", *where]) == 0 and json.loads(capsys.readouterr().out)["frozen"] is True
    assert main(["reset", *where]) == 0 and "clock" in capsys.readouterr().out
    assert main(["clock", "advance", *where]) == 2
    assert main(["clock", "show", "--port", "1", "--data-dir", str(served.data_dir)]) == 1


@pytest.mark.parametrize(("body", "why"), [
    (b"{", "not JSON"), (b"[1]", "JSON object"), (b'{"advance": "60"}', "number of seconds"),
    (b'{"advance": NaN}', "number of seconds"), (b'{"advance": 1e300}', "100 years"),
    (b'{"freeze": true, "advance": 5}', "Send one of"), (b'{"real": true, "at": 5}', "Send one of"),
    (b'{"freeze": true, "at": -1}', "since 1970"), (b'{"freeze": 1}', "'freeze' is true"),
    (b'{"rewind": 5}', "Send one of"), (b"{}", "Send one of"),
])
def test_a_bad_clock_request_is_a_400_that_says_why_and_changes_nothing(served: Served, body: bytes,
                                                                       why: str) -> None:
    with served.client() as c:
        before = c.get("/_mockidp/control/clock").json()
        r = c.post("/_mockidp/control/clock", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_request" and why in r.json()["message"]
        after = c.get("/_mockidp/control/clock").json()
    assert after["frozen"] == before["frozen"] and after["offsetSeconds"] == before["offsetSeconds"]


def test_a_body_over_the_bound_is_refused_unread(served: Served) -> None:
    r = _post(served, "clock", {"advance": 1, "pad": "x" * 5000})
    assert r.status_code == 413 and r.json()["error"] == "invalid_request"


# ------------------------------------------------------------------------------------------ access


def _app(tmp_path: Path, key: str | None, clock: FrozenClock | None = None) -> TestClient:
    settings = Settings(seed=[DEMO_SEED], data_dir=tmp_path / "data", tls=False, access_log=False,
                        control_key=SecretStr(key) if key else None)
    # the test client's peer is "testclient": not loopback
    return TestClient(create_app(settings, clock=clock), base_url="http://idp.test")


def test_off_loopback_the_control_api_is_closed_without_a_key(tmp_path: Path) -> None:
    client = _app(tmp_path, None)
    for r in (client.get("/_mockidp/control/clock"), client.post("/_mockidp/control/reset"),
              client.post("/_mockidp/control/clock", json={"advance": 5},
                          headers={"X-Mockidp-Control-Key": "guess"})):
        assert r.status_code == 403 and r.json()["error"] == "control_closed"
        assert "MOCKIDP_CONTROL_KEY" in r.json()["message"]


def test_off_loopback_the_key_opens_it_and_only_the_key(tmp_path: Path) -> None:
    client = _app(tmp_path, "control-key-for-tests-1")
    assert client.get("/_mockidp/control/clock").json()["error"] == "control_key_required"
    wrong = client.get("/_mockidp/control/clock", headers={"X-Mockidp-Control-Key": "control-key-for-tests-2"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "control_key_invalid"
    right = client.post("/_mockidp/control/clock", json={"freeze": True, "at": T0},
                        headers={"X-Mockidp-Control-Key": "control-key-for-tests-1"})
    assert right.status_code == 200 and right.json()["now"] == T0
    token = client.post(f"/{TENANT}/oauth2/v2.0/token", data=CC).json()["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["iat"] + BACKDATE_SECONDS == int(T0)


def test_an_injected_clock_is_the_embedding_codes_to_move(tmp_path: Path) -> None:
    client = _app(tmp_path, "control-key-for-tests-1", FrozenClock(T0))
    r = client.post("/_mockidp/control/clock", json={"advance": 5}, headers={"X-Mockidp-Control-Key":
                                                                             "control-key-for-tests-1"})
    assert r.status_code == 409 and r.json()["error"] == "clock_injected"
