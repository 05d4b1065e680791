"""Single-use artefacts under parallel redemption, against a real server
over TLS: 16 threads, each with its own warmed-up connection, released together by a barrier.

Two servers: the in-process `LiveServer` (one event loop: handlers that do synchronous database work
cannot interleave, so it checks the protocol) and `mockidp serve --workers 4` (separate processes on
one SQLite database: the conditional UPDATE, not scheduling, must keep the invariant).

* one authorization code, 16 redemptions: exactly one succeeds, 15 get AADSTS54005 (5 rounds);
* one approved device code, 16 polls: exactly one succeeds, 15 get bad_verification_code 70018;
* R10, entra profile: one refresh token, 16 refreshes: 16 successes with 16 distinct new refresh
  tokens, each of which works afterwards;
* one sign-in form (its sealed ctx), 16 posts: exactly one signs in, 15 get AADSTS50089;
* smart lockout, 48 parallel wrong passwords (4 workers only: the lock would outlive the test on the
  shared in-process server): exactly 10 are checked (50126), the rest are locked out (50053).
"""

from __future__ import annotations

import re
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from mockidp.testing import forms
from tests.conftest import BACKEND2, CLIENT, CLIENT_SECRET, DEMO_SEED, TENANT, LiveServer, _free_port

PARALLEL = 16
ROUNDS = 5
TIMEOUT = 30.0
REDIRECT_URI = "http://localhost:5000/callback"
SCOPE = f"api://{BACKEND2}/access_as_user openid offline_access"
ALICE = {"username": "alice@contoso.onmicrosoft.com", "password": "alice-password-1"}
TOKEN = f"/{TENANT}/oauth2/v2.0/token"
_HIDDEN = re.compile(r'name="(ctx|csrf)" value="([^"]*)"')

Send = Callable[[httpx.Client], httpx.Response]


def _no_5xx(response: httpx.Response) -> None:
    assert response.status_code < 500, f"{response.request.method} {response.request.url} -> {response.status_code}"


@dataclass(frozen=True)
class Server:
    origin: str
    ca: str


def _client(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.origin, verify=ssl.create_default_context(cafile=server.ca),
                        timeout=TIMEOUT, event_hooks={"request": [], "response": [_no_5xx]})


def _workers(data_dir: Path, workers: int) -> Iterator[Server]:
    port = _free_port()
    command = [sys.executable, "-m", "mockidp", "serve", "--seed", str(DEMO_SEED), "--data-dir", str(data_dir),
               "--port", str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning",
               "--no-gateway"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = Server(f"https://localhost:{port}", str(data_dir / "ca.pem"))
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert process.poll() is None, process.communicate()[1].decode()
            try:
                with _client(server) as client:
                    if client.get("/_mockidp/health").status_code == 200:
                        break
            except (httpx.TransportError, OSError):
                assert time.monotonic() < deadline, "mockidp serve did not answer"
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        process.wait(TIMEOUT)
        process.stderr.close()  # type: ignore[union-attr]


@pytest.fixture(scope="module", params=["in-process", "4-workers"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if request.param == "in-process":
        live: LiveServer = request.getfixturevalue("live")
        yield Server(live.origin, live.ca)
    else:
        yield from _workers(tmp_path_factory.mktemp("workers"), 4)


@pytest.fixture
def browser(server: Server) -> Iterator[httpx.Client]:
    with _client(server) as client:
        yield client


@pytest.fixture
def clients(server: Server) -> Iterator[list[httpx.Client]]:
    """One connection per thread, opened before the race so that TLS handshakes do not spread it out."""
    pool = [_client(server) for _ in range(PARALLEL)]
    for client in pool:
        client.get("/_mockidp/health").raise_for_status()
    yield pool
    for client in pool:
        client.close()


def in_parallel(clients: list[httpx.Client], send: Send) -> list[httpx.Response]:
    barrier = threading.Barrier(len(clients))

    def one(client: httpx.Client) -> httpx.Response:
        barrier.wait(TIMEOUT)
        return send(client)

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(one, clients))


def _login(browser: httpx.Client, page: httpx.Response) -> httpx.Response:
    form = forms.hidden_fields(page.text)
    assert set(form) == {"ctx", "csrf"}, page.text[:500]
    return browser.post("/_mockidp/login", data={**form, **ALICE})


def authorization_code(browser: httpx.Client) -> str:
    params = {"client_id": CLIENT, "response_type": "code", "redirect_uri": REDIRECT_URI, "scope": SCOPE,
              "prompt": "login"}
    response = _login(browser, browser.get(f"/{TENANT}/oauth2/v2.0/authorize?{urlencode(params)}"))
    assert response.status_code == 302, response.text[:500]
    return forms.code_of(response.headers["location"])


def approved_device_code(browser: httpx.Client) -> str:
    started = browser.post(f"/{TENANT}/oauth2/v2.0/devicecode", data={"client_id": CLIENT, "scope": SCOPE}).json()
    page = browser.get("/device")
    csrf = dict(_HIDDEN.findall(page.text))["csrf"]
    login_page = browser.post("/device", data={"csrf": csrf, "otc": started["user_code"]})
    done = _login(browser, login_page)
    assert "You have signed in" in done.text, done.text[:500]
    return str(started["device_code"])


def redeem(code: str) -> Send:
    data = forms.authorization_code(CLIENT, code, REDIRECT_URI, scope=SCOPE, secret=CLIENT_SECRET)
    return lambda client: client.post(TOKEN, data=data)


def poll(device_code: str) -> Send:
    data = forms.device_code(CLIENT, device_code)
    return lambda client: client.post(TOKEN, data=data)


def refresh(rt: str) -> Send:
    data = forms.refresh_token(CLIENT, rt, scope=SCOPE, secret=CLIENT_SECRET)
    return lambda client: client.post(TOKEN, data=data)


def outcomes(responses: list[httpx.Response]) -> list[tuple[int, str | None, int | None]]:
    """(status, error, first AADSTS code) per response, sorted: successes first."""
    out = []
    for r in responses:
        body = r.json()
        out.append((r.status_code, body.get("error"), (body.get("error_codes") or [None])[0]))
    return sorted(out, key=lambda o: (o[0], o[1] or "", o[2] or 0))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_one_code_redeemed_16_times_in_parallel_succeeds_exactly_once(
        browser: httpx.Client, clients: list[httpx.Client], round_: int) -> None:
    responses = in_parallel(clients, redeem(authorization_code(browser)))
    assert outcomes(responses) == [(200, None, None)] + [(400, "invalid_grant", 54005)] * (PARALLEL - 1)


def test_one_approved_device_code_polled_16_times_in_parallel_succeeds_exactly_once(
        browser: httpx.Client, clients: list[httpx.Client]) -> None:
    responses = in_parallel(clients, poll(approved_device_code(browser)))
    assert outcomes(responses) == [(200, None, None)] + [(400, "bad_verification_code", 70018)] * (PARALLEL - 1)


def test_R10_one_refresh_token_used_16_times_in_parallel_gives_16_working_refresh_tokens(
        browser: httpx.Client, clients: list[httpx.Client]) -> None:
    first = redeem(authorization_code(browser))(browser)
    assert first.status_code == 200, first.text
    rt = first.json()["refresh_token"]
    responses = in_parallel(clients, refresh(rt))
    assert outcomes(responses) == [(200, None, None)] * PARALLEL
    new_tokens = {r.json()["refresh_token"] for r in responses}
    assert len(new_tokens) == PARALLEL and rt not in new_tokens
    for token in new_tokens:
        response = refresh(token)(browser)
        assert response.status_code == 200, response.text


def test_one_sign_in_form_posted_16_times_in_parallel_signs_in_exactly_once(
        browser: httpx.Client, clients: list[httpx.Client]) -> None:
    params = {"client_id": CLIENT, "response_type": "code", "redirect_uri": REDIRECT_URI, "scope": SCOPE}
    page = browser.get(f"/{TENANT}/oauth2/v2.0/authorize?{urlencode(params)}")
    form = forms.hidden_fields(page.text)
    for client in clients:  # the captured form and its CSRF cookie, in 16 connections
        client.cookies.set("mockidp_csrf", form["csrf"])
    responses = in_parallel(clients, lambda client: client.post("/_mockidp/login", data={**form, **ALICE}))
    assert sorted(r.status_code for r in responses) == [302] + [400] * (PARALLEL - 1)
    assert all("AADSTS50089:" in r.text for r in responses if r.status_code == 400)


GUESSES = 48
LOCKOUT_THRESHOLD = 10
BOB = {"username": "bob@contoso.onmicrosoft.com", "password": "bob-password-1"}


def ropc(username: str, password: str) -> Send:
    data = {"grant_type": "password", "client_id": CLIENT, "username": username, "password": password,
            "scope": SCOPE}
    return lambda client: client.post(TOKEN, data=data)


@pytest.mark.parametrize("server", ["4-workers"], indirect=True)
def test_48_parallel_wrong_passwords_get_no_more_than_10_password_checks(server: Server) -> None:
    pool = [_client(server) for _ in range(GUESSES)]
    try:
        for client in pool:
            client.get("/_mockidp/health").raise_for_status()
        guesses = iter(range(GUESSES))
        responses = in_parallel(pool, lambda client: ropc(BOB["username"], f"guess-{next(guesses)}")(client))
        codes = sorted(code for _, _, code in outcomes(responses))
        assert codes == [50053] * (GUESSES - LOCKOUT_THRESHOLD) + [50126] * LOCKOUT_THRESHOLD
        assert outcomes([ropc(**BOB)(pool[0])]) == [(400, "invalid_grant", 50053)]  # locked: not even checked
    finally:
        for client in pool:
            client.close()
