"""Secrets and tokens never reach the logs; errors never show internals (tracebacks, paths, SQL)."""

from __future__ import annotations

import logging
import re

import pytest

from tests.conftest import BACKEND2, CLIENT, CLIENT_SECRET, TENANT, Harness

INTERNALS = re.compile(r"Traceback|File \"|sqlalchemy|sqlite|/mockidp/|object at 0x|pydantic|\{'detail'|\"detail\"")


def test_secrets_codes_and_tokens_are_not_logged(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    password = "alice-password-1"
    scope = f"api://{BACKEND2}/access_as_user offline_access openid"
    ok = harness.token({"grant_type": "password", "client_id": CLIENT, "username": "alice@contoso.onmicrosoft.com",
                        "password": password, "scope": scope}).json()
    refreshed = harness.token({"grant_type": "refresh_token", "client_id": CLIENT, "refresh_token": ok["refresh_token"],
                               "scope": scope}).json()
    harness.token({"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
                   "scope": f"api://{BACKEND2}/.default"})
    harness.token({"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": "wrong-" + CLIENT_SECRET,
                   "scope": f"api://{BACKEND2}/.default"})
    device = harness.client.post(f"/{TENANT}/oauth2/v2.0/devicecode", data={"client_id": CLIENT, "scope": scope}).json()
    assert caplog.records, "the app logs something (errors at least)"
    logged = "\n".join(r.getMessage() + str(r.args) for r in caplog.records)
    for secret in (password, CLIENT_SECRET, ok["access_token"], ok["refresh_token"], refreshed["refresh_token"],
                   ok["id_token"], device["device_code"]):
        assert secret not in logged
    assert "AADSTS7000215" in logged  # errors are logged by code and trace id


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("POST", f"/{TENANT}/oauth2/v2.0/token", {"content": b"grant_type=%ZZ&x=\xff", "headers": {
        "content-type": "application/x-www-form-urlencoded"}}),
    ("POST", f"/{TENANT}/oauth2/v2.0/token", {"json": {"grant_type": "client_credentials"}}),
    ("POST", f"/{TENANT}/oauth2/v2.0/token", {"data": {"grant_type": "client_credentials", "client_id": CLIENT,
                                                       "client_assertion": "a.b.c", "scope": "x/.default",
                                                       "client_assertion_type": "x"}}),
    ("POST", f"/{TENANT}/oauth2/v2.0/token", {"data": {"grant_type": "authorization_code", "client_id": CLIENT,
                                                       "code": "\u00e9" * 300, "redirect_uri": "x", "scope": "y"}}),
    ("POST", f"/{TENANT}/oauth2/v2.0/devicecode", {"data": {"client_id": "' OR 1=1 --", "scope": "x"}}),
    ("GET", f"/{TENANT}/oauth2/v2.0/authorize?client_id={CLIENT}&redirect_uri=%00", {}),
    ("GET", "/%2e%2e/v2.0/.well-known/openid-configuration", {}),
    ("GET", "/" + "a" * 5000 + "/discovery/v2.0/keys", {}),
    ("POST", "/_mockidp/login", {"data": {"ctx": "x.y", "csrf": "z"}}),
    ("POST", "/_mockidp/consent", {"data": {"ctx": "x.y"}}),
    ("POST", "/device", {"data": {"otc": "ABC"}}),
    ("GET", "/common/discovery/instance?authorization_endpoint=%ff", {}),
])
def test_malformed_input_gets_no_internals(harness: Harness, method: str, path: str, kwargs: dict) -> None:  # type: ignore[type-arg]
    r = harness.client.request(method, path, **kwargs)
    assert r.status_code < 500
    assert not INTERNALS.search(r.text), r.text[:500]


def test_the_access_log_redacts_secrets_in_query_strings() -> None:
    from mockidp.web.access_log import RedactSecrets

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", f"/{TENANT}/oauth2/v2.0/logout?id_token_hint=eyJ.a.b&state=s"
                                "&post_logout_redirect_uri=x&code=abc#f", "1.1", 302), None)
    assert RedactSecrets().filter(record)
    message = record.getMessage()
    assert "eyJ.a.b" not in message and "abc" not in message
    assert "id_token_hint=[redacted]&state=s" in message and "code=[redacted]#f" in message
