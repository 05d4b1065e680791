"""The control API from a terminal: `mockidp fault`, `mockidp keys`, `mockidp forge` run as processes
against a served mockidp (`--workers 2`, tests/control/conftest.py), what they print and what changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from mockidp.testing.entra import assert_entra_error
from mockidp.testing.jwts import claims_of, header_of, verify
from tests.conftest import BACKEND2, CLIENT, CLIENT_SECRET, REPORTING, TENANT
from tests.serving.test_serve import Served

CC = {"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
      "scope": f"api://{BACKEND2}/.default"}


def cli(served: Served, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKIDP_")}
    if key is not None:
        env["MOCKIDP_CONTROL_KEY"] = key
    return subprocess.run([sys.executable, "-m", "mockidp", *args, "--port", str(served.port),
                           "--data-dir", str(served.data_dir)], capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture(autouse=True)
def cleared(served: Served) -> Iterator[None]:
    yield
    with served.client() as c:
        assert c.post("/_mockidp/control/reset").status_code == 200


def test_fault_arm_list_clear(served: Served) -> None:
    armed = cli(served, "fault", "arm", "--error", "50196", "--count", "2", "--client-id", CLIENT,
                "--grant-type", "client_credentials")
    assert armed.returncode == 0, armed.stderr
    fault = json.loads(armed.stdout)
    assert fault["code"] == 50196 and fault["remaining"] == 2 and fault["clientId"] == CLIENT
    listed = json.loads(cli(served, "fault", "list").stdout)["value"]
    assert [f["id"] for f in listed] == [fault["id"]]
    with served.client() as c:
        assert_entra_error(c.post(f"/{TENANT}/oauth2/v2.0/token", data=CC), 50196, status=400)
    assert json.loads(cli(served, "fault", "list").stdout)["value"][0]["remaining"] == 1
    cleared = cli(served, "fault", "clear")
    assert cleared.returncode == 0 and json.loads(cleared.stdout) == {"value": []}
    with served.client() as c:
        assert c.post(f"/{TENANT}/oauth2/v2.0/token", data=CC).status_code == 200


def test_fault_status_with_retry_after_and_the_default_action(served: Served) -> None:
    armed = cli(served, "fault", "--status", "503", "--retry-after", "7")  # `arm` is the default
    assert armed.returncode == 0, armed.stderr
    assert json.loads(armed.stdout) | {"id": ""} == {"id": "", "endpoint": "token", "clientId": None,
                                                      "grantType": None, "kind": "status", "status": 503,
                                                      "retryAfter": 7, "remaining": 1}
    with served.client() as c:
        r = c.post(f"/{TENANT}/oauth2/v2.0/token", data=CC)
    assert r.status_code == 503 and r.headers["retry-after"] == "7" and r.json()["error"] == "temporarily_unavailable"


def test_fault_params_fill_the_message(served: Served) -> None:
    armed = cli(served, "fault", "arm", "--error", "7000215", "--client-id", REPORTING, "--param", "app_id=x")
    assert armed.returncode == 0, armed.stderr
    assert json.loads(armed.stdout)["params"] == {"app_id": "x"}


@pytest.mark.parametrize(("args", "code", "said"), [
    (("fault", "arm"), 2, "give one of --error"),
    (("fault", "arm", "--error", "50196", "--param", "novalue"), 2, "--param is name=value"),
    (("fault", "arm", "--status", "418"), 1, "'status' is one of 429, 500, 502, 503, 504"),
    (("fault", "arm", "--error", "1"), 1, "catalogue"),
    (("fault", "arm", "--drop", "--endpoint", "nowhere"), 1, "'endpoint' is one of"),
    (("keys", "rotate", "--overlap", "-5"), 1, "'overlapSeconds' is whole seconds"),
    (("forge", "--client-id", CLIENT, "--resource", f"api://{BACKEND2}", "--lifetime", "5"), 1, "lifetimeSeconds"),
])
def test_a_bad_request_says_why_and_changes_nothing(served: Served, args: tuple[str, ...], code: int,
                                                    said: str) -> None:
    done = cli(served, *args)
    assert done.returncode == code and said in done.stderr and done.stdout == ""
    assert json.loads(cli(served, "fault", "list").stdout)["value"] == []


def test_keys_rotate_with_announce_then_list(served: Served) -> None:
    before = json.loads(cli(served, "keys", "list").stdout)["value"]
    active = next(k["kid"] for k in before if k["role"] == "active")
    rotated = cli(served, "keys", "rotate", "--overlap", "120", "--announce")
    assert rotated.returncode == 0, rotated.stderr
    roles = {k["kid"]: k["role"] for k in json.loads(rotated.stdout)["value"]}
    assert roles[active] == "active" and list(roles.values()).count("next") == 1
    following = next(kid for kid, role in roles.items() if role == "next")
    with served.client() as c:
        published = [k["kid"] for k in c.get(f"/{TENANT}/discovery/v2.0/keys").json()["keys"]]
        assert following in published
        assert header_of(c.post(f"/{TENANT}/oauth2/v2.0/token", data=CC).json()["access_token"])["kid"] == active
    again = json.loads(cli(served, "keys", "rotate", "--overlap", "120").stdout)["value"]
    assert {k["kid"]: k["role"] for k in again}[following] == "active"
    with served.client() as c:
        assert header_of(c.post(f"/{TENANT}/oauth2/v2.0/token", data=CC).json()["access_token"])["kid"] == following


def test_forge_prints_the_token_alone(served: Served) -> None:
    forged = cli(served, "forge", "--client-id", CLIENT, "--resource", f"api://{BACKEND2}", "--role", "Reader",
                 "--role", "Data.Read", "--expired")
    assert forged.returncode == 0, forged.stderr
    token = forged.stdout.strip()
    assert forged.stdout == token + "\n" and token.count(".") == 2
    claims = claims_of(token)
    assert claims["roles"] == ["Reader", "Data.Read"] and claims["azp"] == CLIENT and claims["exp"] < time.time()
    with served.client() as c:
        jwks = c.get(f"/{TENANT}/discovery/v2.0/keys").json()
    assert verify(token, jwks, audience=BACKEND2, now=claims["exp"] - 60)["aud"] == BACKEND2  # mockidp signed it
    foreign = cli(served, "forge", "--client-id", CLIENT, "--resource", f"api://{BACKEND2}", "--foreign-key")
    assert header_of(foreign.stdout.strip())["kid"] not in {k["kid"] for k in jwks["keys"]}


def test_the_control_key_is_sent_from_the_environment(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A server with MOCKIDP_CONTROL_KEY checks a key it is sent even from loopback: a wrong one is refused,
    which proves the CLI sends the variable's value; the right one works."""
    keyed = Served(tmp_path_factory.mktemp("keyed") / "data", env={"MOCKIDP_CONTROL_KEY": "the-control-key-1"})
    try:
        keyed.wait()
        refused = cli(keyed, "fault", "arm", "--drop", key="not-the-key")
        assert refused.returncode == 1 and json.loads(refused.stderr)["error"] == "control_key_invalid"
        assert "not-the-key" not in refused.stderr + refused.stdout
        armed = cli(keyed, "fault", "arm", "--drop", key="the-control-key-1")
        assert armed.returncode == 0 and json.loads(armed.stdout)["kind"] == "drop"
        assert len(json.loads(cli(keyed, "fault", "list", key="the-control-key-1").stdout)["value"]) == 1
    finally:
        keyed.stop()


def test_no_server_on_the_port(served: Served) -> None:
    done = subprocess.run([sys.executable, "-m", "mockidp", "keys", "list", "--port", "1", "--data-dir",
                           str(served.data_dir)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "no mockidp answered at https://localhost:1/_mockidp/control/keys" in done.stderr
