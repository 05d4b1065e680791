"""`mockidp serve` as users run it: TLS with the local CA, several workers on one data dir, restarts."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography import x509

from tests.conftest import BACKEND2, CLIENT, CLIENT_SECRET, DEMO_SEED, TENANT


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """`mockidp serve` in a subprocess; its output goes to a file (a pipe nobody reads would fill up and
    block the server), read with `output()`. `preexec_fn` runs in the child before it starts (limits)."""

    def __init__(self, data_dir: Path, *extra: str, port: int | None = None,
                 preexec_fn: Callable[[], None] | None = None, env: dict[str, str] | None = None,
                 demo_seed: bool = True) -> None:
        self.port = port or _port()
        self.gateway_port = _port()  # the demo seed has a gateway: its own free port, never 8444 of a neighbour
        self.data_dir = data_dir
        self.tls = "--no-tls" not in extra
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir.parent / f"serve-{self.port}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("w")
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("MOCKIDP_")}, **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mockidp", "serve", *(["--seed", str(DEMO_SEED)] if demo_seed else []),
             "--data-dir", str(data_dir),
             "--port", str(self.port), "--gateway-port", str(self.gateway_port), "--no-access-log", *extra],
            stdout=self._log, stderr=subprocess.STDOUT, text=True, env=env, preexec_fn=preexec_fn)
        self.origin = f"{'https' if self.tls else 'http'}://localhost:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text()

    def client(self) -> httpx.Client:
        verify: ssl.SSLContext | bool = False
        if self.tls:
            verify = ssl.create_default_context(cafile=str(self.data_dir / "ca.pem"))
        return httpx.Client(verify=verify, base_url=self.origin, headers={"Connection": "close"})

    def wait(self) -> None:
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.output())
            try:
                with self.client() as c:
                    if c.get("/_mockidp/health").status_code == 200:
                        return
            except (httpx.HTTPError, OSError, ssl.SSLError):
                pass
            time.sleep(0.2)
        raise RuntimeError("mockidp serve did not become healthy")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path / "data", "--workers", "2", "--hostname", "idp.test")
    try:
        s.wait()
        yield s
    finally:
        s.stop()


def _token(c: httpx.Client) -> str:
    r = c.post(f"/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
        "scope": f"api://{BACKEND2}/.default"})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def test_workers_share_one_key_and_a_restart_keeps_it(served: Served) -> None:
    kids = set()
    for _ in range(12):  # new connection each time: both workers answer
        with served.client() as c:
            kids.add(c.get(f"/{TENANT}/discovery/v2.0/keys").json()["keys"][0]["kid"])
            token = _token(c)
    assert len(kids) == 1
    with served.client() as c:
        jwks_before = c.get(f"/{TENANT}/discovery/v2.0/keys").json()
    served.stop()

    again = Served(served.data_dir, "--workers", "1", port=served.port)
    try:
        again.wait()
        with again.client() as c:
            jwks_after = c.get(f"/{TENANT}/discovery/v2.0/keys").json()
    finally:
        again.stop()
    assert jwks_after == jwks_before
    key = jwt.PyJWK(jwks_after["keys"][0])
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=BACKEND2,
                        issuer=f"{served.origin}/{TENANT}/v2.0", options={"verify_exp": False})
    assert claims["azp"] == CLIENT


def test_the_ca_is_served_and_the_certificate_names_every_host(served: Served) -> None:
    with served.client() as c:
        pem = c.get("/_mockidp/ca.pem").content
    assert pem == (served.data_dir / "ca.pem").read_bytes()
    ca_cmd = subprocess.run([sys.executable, "-m", "mockidp", "ca", "--data-dir", str(served.data_dir)],
                            capture_output=True, text=True, check=True)
    assert ca_cmd.stdout.strip() == str((served.data_dir / "ca.pem").resolve())
    cert = x509.load_pem_x509_certificate((served.data_dir / "server.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "idp.test"} <= set(san.get_values_for_type(x509.DNSName))
    health = subprocess.run([sys.executable, "-m", "mockidp", "health", "--data-dir", str(served.data_dir),
                             "--port", str(served.port)], capture_output=True, text=True, check=False)
    assert health.returncode == 0, health.stderr


def test_plain_http_with_no_tls(tmp_path: Path) -> None:
    s = Served(tmp_path / "plain", "--no-tls")
    s.origin = f"http://localhost:{s.port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                r = httpx.get(f"{s.origin}/{TENANT}/v2.0/.well-known/openid-configuration")
                break
            except httpx.HTTPError:
                if time.time() > deadline or s.proc.poll() is not None:
                    raise
                time.sleep(0.2)
        assert r.json()["issuer"] == f"{s.origin}/{TENANT}/v2.0"
        assert not (tmp_path / "plain" / "server.pem").exists()
    finally:
        s.stop()


def test_unusual_methods_on_token_and_devicecode_get_entras_envelope_from_the_real_server(served: Served) -> None:
    """As uvicorn (httptools) parses them, not only in-process: TRACE, PROPFIND and CONNECT get 900561
    JSON, not a text/html 405. (Methods httptools does not know at all, e.g. BREW, never reach the app:
    uvicorn answers them 400 text/plain.)"""
    context = ssl.create_default_context(cafile=str(served.data_dir / "ca.pem"))
    for method in ("TRACE", "PROPFIND", "CONNECT"):
        for path in (f"/{TENANT}/oauth2/v2.0/token", f"/{TENANT}/oauth2/devicecode"):
            conn = http.client.HTTPSConnection("localhost", served.port, context=context, timeout=10)
            try:
                conn.request(method, path)
                response = conn.getresponse()
                body = json.loads(response.read())
            finally:
                conn.close()
            assert (response.status, response.getheader("content-type")) == (400, "application/json; charset=utf-8")
            assert body["error_codes"] == [900561] and f"Received a {method} request." in body["error_description"]


def test_every_worker_answers_every_workers_traces(served: Served) -> None:
    """`mockidp serve --workers 2`: a new connection per request, so both workers make traces and both
    answer for them; the sign-in page and the refusal carry their trace ids."""
    made = []
    for _ in range(12):
        with served.client() as c:
            r = c.post(f"/{TENANT}/oauth2/v2.0/token", data={
                "grant_type": "client_credentials", "client_id": CLIENT, "client_secret": "wrong",
                "scope": f"api://{BACKEND2}/.default"})
            assert r.status_code == 401
            made.append(r.headers["x-ms-request-id"])
    for trace_id in made:
        with served.client() as c:
            found = c.get(f"/_mockidp/traces/{trace_id}")
            assert found.status_code == 200, found.text
            assert (found.json()["id"], found.json()["outcome"]) == (trace_id, "AADSTS7000215")
    with served.client() as c:
        listed = c.get("/_mockidp/traces", params={"outcome": "AADSTS7000215", "limit": "50"}).json()["value"]
    assert sorted(x["id"] for x in listed) == sorted(made)


def _children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_workers_are_forked_from_the_prepared_parent_and_a_dead_one_is_replaced(served: Served) -> None:
    """A forked worker runs the parent's command line; a spawned one would be a new interpreter
    (`-c from multiprocessing.spawn import spawn_main`) importing everything again."""
    parent = served.proc.pid
    command = Path(f"/proc/{parent}/cmdline").read_bytes()
    workers = _children(parent)
    assert len(workers) == 2
    assert all(Path(f"/proc/{pid}/cmdline").read_bytes() == command for pid in workers)
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (len(_children(parent)) != 2 or workers[0] in _children(parent)):
        time.sleep(0.1)
    replaced = _children(parent)
    assert len(replaced) == 2 and workers[0] not in replaced and workers[1] in replaced
    assert all(Path(f"/proc/{pid}/cmdline").read_bytes() == command for pid in replaced)
    for _ in range(8):  # new connections: both workers, the new one too, serve tokens
        with served.client() as c:
            assert _token(c)


def test_start_up_turns_the_collector_off_and_serving_turns_it_back_on(tmp_path: Path) -> None:
    """`mockidp serve` collects nothing while it imports and loads (cli.main); serving freezes what that made
    and collects from then on (serving._collect_from_now, before the workers fork); a start that fails
    leaves the collector on."""
    import gc

    from mockidp.cli import main
    from mockidp.web import serving

    bad = tmp_path / "bad.yaml"
    bad.write_text("tenants: 3\n")
    assert main(["serve", "--seed", str(bad), "--data-dir", str(tmp_path / "data"), "--no-tls"]) == 2
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    gc.disable()
    try:
        serving._collect_from_now()
        assert gc.isenabled() and gc.get_freeze_count() > frozen
    finally:
        gc.enable()
        gc.unfreeze()


def _mapped_files(pid: int) -> set[str]:
    return {line.split(maxsplit=5)[5] for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
            if len(line.split(maxsplit=5)) == 6}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the preparation is forked on Linux only")
def test_the_seed_is_prepared_in_a_child_and_no_worker_loads_its_yaml_parser(served: Served) -> None:
    """forked_preparation: the seed (YAML, its schema) is read by a child of `mockidp serve` while the parent
    imports the app, so neither the parent nor any worker forked from it maps PyYAML's C extension; the
    seed was loaded all the same (its tenant answers). (Graph writes import the seed's schema in such workers
    when they need it: tests/graph.)"""
    yaml_ext = pytest.importorskip("yaml._yaml").__file__
    assert yaml_ext
    parent = served.proc.pid
    for pid in (parent, *_children(parent)):
        assert yaml_ext not in _mapped_files(pid), pid
    with served.client() as c:
        assert c.get(f"/{TENANT}/v2.0/.well-known/openid-configuration").status_code == 200
        assert _token(c).count(".") == 2
    assert "1 tenants, 6 applications, 2 users" in served.output()


def test_a_preparation_that_fails_exits_1_with_its_error_and_serves_nothing(tmp_path: Path) -> None:
    """An error of the forked preparation other than the seed's (here the data dir is a file) is printed
    by the child as a traceback; `mockidp serve` exits 1 without starting a worker."""
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory\n")
    out = subprocess.run([sys.executable, "-m", "mockidp", "serve", "--seed", str(DEMO_SEED), "--data-dir",
                          str(blocked / "data"), "--no-tls", "--port", str(_port())], capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 1, out.stderr
    assert "Traceback" in out.stderr and "NotADirectoryError" in out.stderr
    assert "serving" not in out.stderr and "Uvicorn running" not in out.stderr
