"""Faults armed through the control API: the next N matching requests answer a chosen failure, counted
once across every worker; MSAL and azure-identity meet them as they would meet Entra's."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import msal
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential

from mockidp.testing.entra import assert_entra_error
from tests.conftest import BACKEND2, CLIENT, CLIENT_SECRET, REPORTING, TENANT
from tests.serving.test_serve import Served

CC = {"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
      "scope": f"api://{BACKEND2}/.default"}


@pytest.fixture(autouse=True)
def cleared(served: Served) -> Iterator[None]:
    yield
    with served.client() as c:
        c.delete("/_mockidp/control/faults")


def arm(served: Served, **body: object) -> dict[str, object]:
    with served.client() as c:
        r = c.post("/_mockidp/control/faults", json=body)
    assert r.status_code == 201, r.text
    answer: dict[str, object] = r.json()
    return answer


def token(served: Served, data: dict[str, str] = CC) -> httpx.Response:
    with served.client() as c:  # a new connection each time: either worker answers
        return c.post(f"/{TENANT}/oauth2/v2.0/token", data=data)


def test_three_armed_errors_answer_exactly_three_of_twelve_parallel_requests(served: Served) -> None:
    armed = arm(served, error=50196, count=3)
    assert armed["kind"] == "error" and armed["code"] == 50196 and armed["remaining"] == 3
    answers: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: answers.append(token(served))) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [r for r in answers if r.status_code != 200]
    assert len(refused) == 3 and len(answers) == 12
    for r in refused:
        assert_entra_error(r, 50196, status=400)
        assert r.json()["error_description"].startswith(
            "AADSTS50196: The server terminated an operation because it encountered a client request loop.")
    with served.client() as c:
        assert c.get("/_mockidp/control/faults").json()["value"] == []  # used up
        trace = c.get(f"/_mockidp/traces/{refused[0].json()['trace_id']}").json()
    assert [s["rule"] for s in trace["steps"]][-2:] == ["fault", "LOOP_DETECTED"]
    assert "injected by a test" in trace["fix"]["portal"]


def test_a_fault_for_one_client_and_grant_leaves_the_others_alone(served: Served) -> None:
    arm(served, error=50196, clientId=REPORTING.upper(), grantType="client_credentials")
    assert token(served).status_code == 200  # another client
    with served.client() as c:
        listed = c.get("/_mockidp/control/faults").json()["value"]
    assert [(f["clientId"], f["remaining"]) for f in listed] == [(REPORTING, 1)]
    r = token(served, {**CC, "client_id": REPORTING, "client_secret": "reportingJob-secret-value-1"})
    assert_entra_error(r, 50196)


def test_msal_meets_a_503_with_retry_after_and_then_the_token(served: Served) -> None:
    arm(served, status=503, retryAfter=1)
    r = token(served)
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert_entra_error(r, 90033, status=503)
    assert r.json()["error"] == "temporarily_unavailable"
    arm(served, status=429, retryAfter=2)
    session = requests.Session()
    session.trust_env = False
    session.verify = str(served.data_dir / "ca.pem")
    app = msal.ConfidentialClientApplication(CLIENT, client_credential=CLIENT_SECRET, http_client=session,
                                             authority=f"{served.origin}/{TENANT}", instance_discovery=False)
    first = app.acquire_token_for_client([f"api://{BACKEND2}/.default"])
    assert first.get("error") == "temporarily_unavailable" and "AADSTS90033" in first["error_description"]
    time.sleep(2.1)  # MSAL holds a 429 for its Retry-After
    assert "access_token" in app.acquire_token_for_client([f"api://{BACKEND2}/.default"])


def test_azure_identity_sees_the_injected_refusal(served: Served) -> None:
    arm(served, error=7000215)
    with ClientSecretCredential(TENANT, CLIENT, CLIENT_SECRET, authority=served.origin,
                                disable_instance_discovery=True, connection_verify=str(served.data_dir / "ca.pem")) \
            as credential, pytest.raises(ClientAuthenticationError) as refused:
        credential.get_token(f"api://{BACKEND2}/.default")
    assert "AADSTS7000215: Invalid client secret provided." in str(refused.value)


def test_a_delay_answers_late_and_a_drop_answers_nothing(served: Served) -> None:
    arm(served, delaySeconds=1.5)
    started = time.monotonic()
    assert token(served).status_code == 200
    assert time.monotonic() - started >= 1.5
    arm(served, drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        token(served)
    assert token(served).status_code == 200


def test_a_device_code_fault_and_reset_clearing_faults(served: Served) -> None:
    arm(served, endpoint="devicecode", status=500, count=5)
    with served.client() as c:
        r = c.post(f"/{TENANT}/oauth2/v2.0/devicecode", data={"client_id": CLIENT, "scope": "openid"})
        assert r.status_code == 500 and r.json()["error_codes"] == [90033]
        assert token(served).status_code == 200  # the token endpoint is another endpoint
        cleared = c.post("/_mockidp/control/reset").json()["reset"]
        assert cleared == ["directory", "artefacts", "faults", "traces", "clock"]
        assert c.get("/_mockidp/control/faults").json()["value"] == []
        assert c.post(f"/{TENANT}/oauth2/v2.0/devicecode", data={"client_id": CLIENT, "scope": "openid"}) \
            .status_code == 200


@pytest.mark.parametrize(("body", "why"), [
    ({}, "Send {"), ({"error": 50196, "status": 503}, "Send {"), ({"error": 12345}, "catalogue holds"),
    ({"error": "50196"}, "catalogue holds"), ({"status": 404}, "'status' is one of"),
    ({"status": 503, "retryAfter": -1}, "whole seconds"), ({"delaySeconds": 31}, "at most 30"),
    ({"drop": False}, "'drop' is true"), ({"error": 50196, "count": 0}, "'count'"),
    ({"error": 50196, "endpoint": "logout"}, "'endpoint'"), ({"error": 50196, "clientId": "x"}, "GUID"),
    ({"error": 50196, "params": {"a": 1}}, "'params'"), ({"status": 503, "params": {}}, "goes with 'error'"),
    ({"error": 50196, "color": "red"}, "Send {"),
    ({"error": 50196, "endpoint": "authorize", "grantType": "authorization_code"}, "goes with the token endpoint"),
])
def test_a_bad_fault_is_a_400_that_says_why_and_arms_nothing(served: Served, body: dict[str, object],
                                                           why: str) -> None:
    with served.client() as c:
        r = c.post("/_mockidp/control/faults", json=body)
        assert r.status_code == 400 and r.json()["error"] == "invalid_request" and why in r.json()["message"]
        assert c.get("/_mockidp/control/faults").json()["value"] == []


AUTHORIZE = {"client_id": CLIENT, "response_type": "code", "redirect_uri": "http://localhost:5000/callback",
             "scope": "openid", "state": "s-1"}


def authorize(served: Served, **params: str) -> httpx.Response:
    with served.client() as c:
        return c.get(f"/{TENANT}/oauth2/v2.0/authorize", params={**AUTHORIZE, **params})


def test_an_authorize_fault_is_entras_error_redirect_to_the_registered_uri(served: Served) -> None:
    arm(served, endpoint="authorize", error=50196, clientId=CLIENT)
    r = authorize(served)
    assert r.status_code == 302
    location = httpx.URL(r.headers["location"])
    assert str(location).startswith("http://localhost:5000/callback?")
    assert location.params["error"] == "invalid_request" and location.params["state"] == "s-1"
    assert location.params["error_description"].startswith("AADSTS50196: The server terminated an operation")
    assert location.params["error_uri"].endswith("/error?code=50196")
    assert authorize(served).status_code == 200  # used up: the sign-in page again


def test_an_authorize_status_fault_redirects_temporarily_unavailable(served: Served) -> None:
    arm(served, endpoint="authorize", status=503, retryAfter=5)
    location = httpx.URL(authorize(served).headers["location"])
    assert location.params["error"] == "temporarily_unavailable"
    assert location.params["error_description"].startswith("AADSTS90033: A transient error has occurred.")


def test_an_authorize_fault_entra_never_redirects_is_its_error_page(served: Served) -> None:
    arm(served, endpoint="authorize", error=50011, params={"uri": "http://localhost:5000/callback"})
    r = authorize(served)
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert "AADSTS50011: The redirect URI &#39;http://localhost:5000/callback&#39;" in r.text \
        or "AADSTS50011: The redirect URI 'http://localhost:5000/callback'" in r.text


def test_a_request_entra_refuses_itself_keeps_the_authorize_fault_armed(served: Served) -> None:
    arm(served, endpoint="authorize", error=50196)
    r = authorize(served, redirect_uri="https://evil.example/cb")
    assert r.status_code == 400 and "AADSTS50011" in r.text  # its own refusal, on the page
    with served.client() as c:
        assert [f["remaining"] for f in c.get("/_mockidp/control/faults").json()["value"]] == [1]
    assert authorize(served).status_code == 302  # the next good request meets the fault
    assert authorize(served).status_code == 200  # used up: the sign-in page
