"""The fast path (web/fast.py) answers discovery and JWKS as the framework path does, byte for byte,
headers included, and hands everything else (errors, other methods, odd paths) to the framework."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

import pytest

from mockidp.web import fast
from tests.conftest import BACKEND2, CLIENT, CLIENT_SECRET, TENANT, Harness

FORM = "application/x-www-form-urlencoded"

ENDPOINTS = ["/v2.0/.well-known/openid-configuration", "/.well-known/openid-configuration",
             "/discovery/v2.0/keys", "/discovery/keys"]
TENANTS = [TENANT, TENANT.upper(), "contoso.onmicrosoft.com", "common", "organizations", "consumers",
           "00000000-0000-4000-8000-00000000dead", "no-such-tenant.example", "%2e%2e", "a%2Fb", "9188040d-6c67-4c5b"
           "-b112-36a304b66dad"]


@pytest.fixture
def pair(harness: Harness) -> tuple[Harness, Harness]:
    """The app as served, and the same app on the same data dir without the fast path."""
    framework = Harness(harness.settings.data_dir, list(harness.settings.seed))
    assert isinstance(harness.app.front.app, fast.FastPaths)  # the decision trace, then the fast path
    framework.app.front.app = framework.app.framework  # the decision trace, then the framework
    return harness, framework


def _same(pair: tuple[Harness, Harness], method: str, path: str, **kw: Any) -> int:
    served, framework = pair
    a = served.client.request(method, path, **kw)
    b = framework.client.request(method, path, **kw)
    assert (a.status_code, a.content) == (b.status_code, b.content), path
    assert a.headers.multi_items() == b.headers.multi_items(), path  # the same headers in the same order
    return a.status_code


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_tenant_form_answers_as_the_framework_does(pair: tuple[Harness, Harness], endpoint: str) -> None:
    statuses = {_same(pair, "GET", f"/{tenant}{endpoint}") for tenant in TENANTS}
    assert statuses >= {200, 400}  # answered ones and AADSTS errors (rendered by the framework path) alike


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_methods_query_strings_hosts_and_odd_paths_alike(pair: tuple[Harness, Harness], endpoint: str) -> None:
    for method in ("HEAD", "POST", "PUT", "OPTIONS", "DELETE", "TRACE"):
        _same(pair, method, f"/{TENANT}{endpoint}")
    assert _same(pair, "GET", f"/{TENANT}{endpoint}?appid=x&p=&%zz=1&" + "q=1&" * 500) == 200
    for host in ("evil.example:1", "[::1]:8443", "a" * 300, "bad host/x", ""):
        assert _same(pair, "GET", f"/{TENANT}{endpoint}", headers={"Host": host}) == 200
    for path in (f"/{TENANT}{endpoint}/", f"//{TENANT}{endpoint}", f"{endpoint}", f"/x/{TENANT}{endpoint}",
                 f"/{TENANT}{endpoint}x"):
        _same(pair, "GET", path)
    assert _same(pair, "GET", f"/{TENANT}{endpoint}", content=b"x" * 70_000) == 200


def test_route_matches_one_tenant_segment_and_the_four_suffixes_only() -> None:
    assert fast.route(f"/{TENANT}/discovery/v2.0/keys") == ("keys2", TENANT)
    assert fast.route("/common/discovery/keys") == ("keys1", "common")
    assert fast.route("/c/v2.0/.well-known/openid-configuration") == ("oidc2", "c")
    assert fast.route("/c/.well-known/openid-configuration") == ("oidc1", "c")
    for path in ("/discovery/keys", "//discovery/keys", "/a/b/discovery/keys", "/c/discovery/keys/", "",
                 "c/discovery/keys", "/c/oauth2/v2.0/token", "/c/discovery/v2.0/keys?x"):
        assert fast.route(path) is None, path


async def _refuse(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("the framework path was reached")


def test_a_known_tenant_never_reaches_the_framework_and_an_unknown_one_does(harness: Harness) -> None:
    # in a thread of its own: a test before this one may leave an event loop running in this thread
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _known_and_unknown(harness)).result()


async def _known_and_unknown(harness: Harness) -> None:
    layer = fast.FastPaths(_refuse, runtime=harness.app.state.runtime)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    def scope(path: str) -> dict[str, Any]:
        return {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
                "headers": [(b"host", b"localhost:8443")], "scheme": "https", "server": ("127.0.0.1", 8443),
                "client": ("127.0.0.1", 1), "root_path": "", "http_version": "1.1"}

    await layer(scope(f"/{TENANT}/discovery/v2.0/keys"), receive, send)
    assert sent[0]["status"] == 200 and b'"keys":[' in sent[1]["body"]
    with pytest.raises(RuntimeError, match="framework path"):
        await layer(scope("/no-such-tenant.example/discovery/v2.0/keys"), receive, send)


TOKEN_FORM = {"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
              "scope": f"api://{BACKEND2}/.default"}


@pytest.mark.parametrize("endpoint", ["/oauth2/v2.0/token", "/oauth2/token"])
def test_token_answers_as_the_framework_does(pair: tuple[Harness, Harness], endpoint: str) -> None:
    path = f"/{TENANT}{endpoint}"
    v1 = {**TOKEN_FORM, "resource": f"api://{BACKEND2}"}
    statuses = {
        _same(pair, "POST", path, data=TOKEN_FORM if "v2.0" in endpoint else v1),
        _same(pair, "POST", path, data={**TOKEN_FORM, "client_secret": "wrong"}),
        _same(pair, "POST", path, data={"grant_type": "client_credentials"}),
        _same(pair, "POST", path, data={}),
        _same(pair, "POST", path, content=b"\xff\x00=%zz&&==", headers={"Content-Type": "text/plain"}),
        _same(pair, "POST", path, content=b"x" * 2_000_000, headers={"Content-Type": FORM}),
        _same(pair, "POST", path, content=b"a=b", headers={"Content-Type": FORM, "Content-Length": "-1"}),
        _same(pair, "POST", path + "?client-request-id=6e7c0a3c-1f42-4b62-9f56-0c3d3c7f8d11", data={}),
        _same(pair, "POST", f"/no-such-tenant.example{endpoint}", data=TOKEN_FORM),
        _same(pair, "POST", f"/common{endpoint}", data=TOKEN_FORM),
        _same(pair, "POST", f"/a%2Fb{endpoint}", data=TOKEN_FORM),
        _same(pair, "POST", f"/{TENANT}{endpoint}/", data=TOKEN_FORM),
        _same(pair, "OPTIONS", path, headers={"Origin": "http://localhost:3000",
                                             "Access-Control-Request-Method": "POST"}),
        _same(pair, "POST", path, data=TOKEN_FORM, headers={"Origin": "http://localhost:3000"}),
    }
    for method in ("GET", "HEAD", "PUT", "DELETE", "PATCH", "TRACE", "PROPFIND"):
        statuses.add(_same(pair, method, path))
    assert {200, 400} <= statuses


def test_hot_paths_are_answered_before_the_framework_and_the_rest_goes_through_it(harness: Harness) -> None:
    """The front (FrontedApp): discovery, JWKS and token requests never enter FastAPI's entry and
    middleware stack; every other request does."""
    harness.app.middleware_stack = _refuse  # type: ignore[assignment]
    c = harness.client
    assert c.get(f"/{TENANT}/discovery/v2.0/keys").status_code == 200
    assert c.get(f"/{TENANT}/v2.0/.well-known/openid-configuration").status_code == 200
    assert c.post(f"/{TENANT}/oauth2/v2.0/token", data=TOKEN_FORM).status_code == 200
    # (the harness's client answers what the app raised with a bare 500)
    assert c.get("/_mockidp/health").status_code == 500
    assert c.get("/no-such-tenant.example/discovery/v2.0/keys").status_code == 500
