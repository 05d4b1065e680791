"""The decision trace (README, "Why was I refused?"): every token, authorize, devicecode and sign-in
request records its rules, the claims' reasons and, on a refusal, the fix; /_mockidp/traces answers
them from any worker; the console and `mockidp explain ID` show them; no secret is ever kept."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from starlette.testclient import TestClient

from mockidp.cli import main
from mockidp.directory import traces as trace_store
from mockidp.directory.store import make_engine
from mockidp.directory.traces import TraceStore
from mockidp.oauth.trace import Step, Trace
from mockidp.testing.entra import assert_entra_error
from mockidp.testing.jwts import claims_of as jwt_claims
from tests.conftest import (
    BACKEND1_URI,
    BACKEND2,
    CLIENT,
    CLIENT_SECRET,
    DEMO_SEED,
    FROZEN_AT,
    REPORTING,
    REPORTING_SECRET,
    TENANT,
    Harness,
    make_harness,
)

ALICE = ("alice@contoso.onmicrosoft.com", "alice-password-1")
REPORTING_CC = {"grant_type": "client_credentials", "client_id": REPORTING, "client_secret": REPORTING_SECRET,
                "scope": f"api://{BACKEND2}/.default"}
CLIENT_CC = {"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
             "scope": f"api://{BACKEND2}/.default"}
CONSOLE = "/_mockidp/console"


def trace_of(h: Harness, trace_id: str) -> dict[str, Any]:
    r = h.client.get(f"/_mockidp/traces/{trace_id}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    return body


def claims_of(t: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["claim"]: c for c in t["claims"]}


# ------------------------------------------------------------------------------------------ refusals


def test_a_501051_is_traced_under_the_id_the_response_carries_and_ends_with_the_fix(harness: Harness) -> None:
    r = harness.token(REPORTING_CC)
    assert_entra_error(r, 501051, status=400)
    trace_id = r.headers["x-ms-request-id"]
    assert r.json()["trace_id"] == trace_id and f"Trace ID: {trace_id}" in r.json()["error_description"]
    t = trace_of(harness, trace_id)
    assert (t["id"], t["outcome"], t["status"], t["clientId"], t["grantType"]) == (
        trace_id, "AADSTS501051", 400, REPORTING, "client_credentials")
    last = t["steps"][-1]
    assert (last["rule"], last["outcome"], last["code"]) == ("APP_NOT_ASSIGNED", "failed", 501051)
    assert last["inputs"]["client_name"] == "reportingJob" and last["inputs"]["resource_name"] == "testBackend2"
    assert t["fix"]["portal"].startswith("App registrations › reportingJob › API permissions › Add a permission › "
                                         "My APIs › testBackend2 › Application permissions, then Grant admin consent")
    assert "appRoleAssignments:" in t["fix"]["seed"] and "principal: reportingJob" in t["fix"]["seed"]
    assert t["claims"] == []


def test_a_request_side_refusal_has_a_request_side_fix(harness: Harness) -> None:
    r = harness.token({"client_id": CLIENT, "client_secret": CLIENT_SECRET})
    assert r.status_code == 400
    t = trace_of(harness, r.headers["x-ms-request-id"])
    assert t["outcome"] == "AADSTS900144" and t["steps"][-1]["inputs"] == {"name": "grant_type"}
    assert t["fix"] is not None and t["fix"]["seed"] == "" and t["fix"]["portal"].startswith("Nothing to change")


def test_a_directory_refusal_names_the_credential_to_add(harness: Harness) -> None:
    r = harness.token({**CLIENT_CC, "client_secret": "wrong"})
    assert r.status_code == 401
    t = trace_of(harness, r.headers["x-ms-request-id"])
    assert t["outcome"] == "AADSTS7000215" and t["steps"][-1]["code"] == 7000215
    assert t["fix"] is not None and "passwordCredentials:" in t["fix"]["seed"]


# ------------------------------------------------------------------------------------------ claim reasons


def test_a_success_says_why_v2_and_which_assignments_give_the_roles(harness: Harness) -> None:
    r = harness.token(CLIENT_CC)
    assert r.status_code == 200
    t = trace_of(harness, r.headers["x-ms-request-id"])
    assert (t["outcome"], t["status"], t["fix"]) == ("success", 200, None)
    c = claims_of(t)
    assert c["ver"]["value"] == "2.0" and "requestedAccessTokenVersion 2" in c["ver"]["why"]
    assert c["aud"]["value"] == BACKEND2
    assert c["roles"]["value"] == ["Provisioning.ReadWrite", "Data.Read"]
    assert c["roles"]["why"].count("app role assignment") == 2 and "testClient" in c["roles"]["why"]


def test_no_roles_claim_is_explained_by_assignment_not_required(harness: Harness) -> None:
    r = harness.token({**REPORTING_CC, "scope": f"{BACKEND1_URI}/.default"})
    assert r.status_code == 200
    c = claims_of(trace_of(harness, r.headers["x-ms-request-id"]))
    assert c["ver"]["value"] == "1.0" and "null (or 1)" in c["ver"]["why"]
    assert c["aud"]["value"] == BACKEND1_URI
    assert c["roles"]["value"] is None
    assert "does not require assignment (appRoleAssignmentRequired: false)" in c["roles"]["why"]


def test_a_user_token_says_where_scp_roles_and_groups_come_from(harness: Harness) -> None:
    r = harness.token({"grant_type": "password", "client_id": CLIENT, "username": ALICE[0], "password": ALICE[1],
                       "scope": f"api://{BACKEND2}/access_as_user"})
    assert r.status_code == 200, r.text
    t = trace_of(harness, r.headers["x-ms-request-id"])
    c = claims_of(t)
    assert c["scp"]["value"] == "access_as_user" and "admin consent (oauth2PermissionGrant" in c["scp"]["why"]
    assert c["roles"]["value"] == ["Reader"] and ALICE[0] in c["roles"]["why"]
    assert c["groups"]["value"] is not None and "groupMembershipClaims SecurityGroup" in c["groups"]["why"]


# ------------------------------------------------------------------------------------------ listing


def test_the_list_is_newest_first_and_filters_by_client_and_outcome(harness: Harness) -> None:
    ids = [harness.token(d).headers["x-ms-request-id"] for d in (REPORTING_CC, CLIENT_CC, REPORTING_CC)]
    listed = harness.client.get("/_mockidp/traces").json()["value"]
    assert [x["id"] for x in listed] == ids[::-1]
    refused = harness.client.get("/_mockidp/traces", params={"outcome": "AADSTS501051"}).json()["value"]
    assert [x["id"] for x in refused] == [ids[2], ids[0]]
    mine = harness.client.get("/_mockidp/traces", params={"client_id": CLIENT.upper()}).json()["value"]
    assert [x["id"] for x in mine] == [ids[1]] and mine[0]["outcome"] == "success"
    one = harness.client.get("/_mockidp/traces", params={"limit": "1"}).json()["value"]
    assert [x["id"] for x in one] == [ids[2]]


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "client_id=%3Cscript%3E", "outcome=a%27b"])
def test_a_bad_filter_is_a_json_400(harness: Harness, query: str) -> None:
    r = harness.client.get(f"/_mockidp/traces?{query}")
    assert r.status_code == 400 and r.json()["error"] in ("invalid_limit", "invalid_filter")


@pytest.mark.parametrize("trace_id", ["00000000-0000-4000-8000-0000000000ff", "x" * 65, "%3Cscript%3E"])
def test_an_unknown_trace_is_a_json_404(harness: Harness, trace_id: str) -> None:
    r = harness.client.get(f"/_mockidp/traces/{trace_id}")
    assert r.status_code == 404 and r.json()["error"] == "trace_not_found" and "<script>" not in r.text


def test_what_decides_nothing_is_not_traced(harness: Harness) -> None:
    harness.client.get(f"/{TENANT}/v2.0/.well-known/openid-configuration")
    harness.client.options(f"/{TENANT}/oauth2/v2.0/token", headers={"Origin": "http://localhost:3000",
                                                                    "Access-Control-Request-Method": "POST"})
    harness.client.get("/_mockidp/health")
    assert harness.client.get("/_mockidp/traces").json()["value"] == []


# ------------------------------------------------------------------------------------------ no secrets


def test_no_secret_password_code_or_token_is_ever_kept(harness: Harness) -> None:
    """Every credential mockidp saw in these requests, searched for in every trace it kept."""
    seen = [CLIENT_SECRET, REPORTING_SECRET, ALICE[1], "wrong-secret-value-9"]
    harness.token(REPORTING_CC)
    harness.token({**CLIENT_CC, "client_secret": "wrong-secret-value-9"})
    r = harness.token({"grant_type": "password", "client_id": CLIENT, "username": ALICE[0], "password": ALICE[1],
                       "scope": f"api://{BACKEND2}/access_as_user offline_access"})
    body = r.json()
    seen += [body["access_token"], body["refresh_token"]]
    r = harness.token({"grant_type": "refresh_token", "client_id": CLIENT, "refresh_token": body["refresh_token"]})
    seen += [r.json()["access_token"], r.json()["refresh_token"]]
    harness.token({"grant_type": "password", "client_id": CLIENT, "username": ALICE[0],
                   "password": "not-alices-password", "scope": f"api://{BACKEND2}/access_as_user"})
    seen.append("not-alices-password")
    harness.token({"grant_type": "authorization_code", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
                   "code": "made-up-code-value-1", "redirect_uri": "http://localhost:5000/callback"})
    seen.append("made-up-code-value-1")
    listed = harness.client.get("/_mockidp/traces", params={"limit": "200"}).json()["value"]
    assert len(listed) == 6
    dumped = json.dumps([trace_of(harness, x["id"]) for x in listed])
    for secret in seen:
        assert secret not in dumped
        assert secret[:24] not in dumped
    with sqlite3.connect(harness.settings.data_dir / "mockidp.db") as db:  # what the store wrote, as written
        stored = json.dumps([db.execute(f"SELECT * FROM {table}").fetchall()
                             for table in ("trace_record", "trace_shape")])
    assert stored.count("steps") >= 2
    for secret in seen:
        assert secret[:24] not in stored


# ------------------------------------------------------------------------------------------ pages


def _authorize(h: Harness, **params: str) -> Any:
    q = {"client_id": CLIENT, "response_type": "code", "redirect_uri": "http://localhost:5000/callback",
         "scope": "openid", **params}
    return h.client.get(f"/{TENANT}/oauth2/v2.0/authorize?{urlencode(q)}", follow_redirects=False)


def test_the_error_page_links_its_trace_and_the_trace_page_shows_rule_and_fix(harness: Harness) -> None:
    r = _authorize(harness, redirect_uri="http://localhost:5000/elsewhere")
    assert r.status_code == 400
    request_id = re.search(r'id="request-id">([^<]+)<', r.text)
    assert request_id is not None and r.headers["x-ms-request-id"] == request_id.group(1)
    link = re.search(r'id="trace-link" href="([^"]+)"', r.text)
    assert link is not None and link.group(1) == f"{CONSOLE}/traces/{request_id.group(1)}"
    page = harness.client.get(link.group(1))
    assert page.status_code == 200
    text = unescape(page.text)
    assert "UNREGISTERED_REDIRECT_URI" in text and "failed: AADSTS50011" in text
    assert f"App registrations › <the app {CLIENT}> › Authentication › Add a platform › Web" in text
    assert 'id="fix-seed"' in page.text


def test_an_error_sent_to_the_client_carries_the_trace_id_of_its_trace(harness: Harness) -> None:
    r = _authorize(harness, scope=f"api://{BACKEND2}/no_such_scope")
    assert r.status_code == 302
    description = parse_qs(urlsplit(r.headers["location"]).query)["error_description"][0]
    found = re.search(r"Trace ID: ([0-9a-f-]{36})", description)
    assert found is not None
    t = trace_of(harness, found.group(1))
    assert t["outcome"] == "AADSTS650053" and t["endpoint"].startswith("GET /") and t["clientId"] == CLIENT


def test_a_page_that_succeeds_carries_its_trace_id_too(harness: Harness) -> None:
    r = _authorize(harness)
    assert r.status_code == 200 and "x-ms-request-id" in r.headers
    t = trace_of(harness, r.headers["x-ms-request-id"])
    assert t["outcome"] == "success" and t["status"] == 200


def test_the_console_lists_recent_requests_and_opens_their_traces(harness: Harness) -> None:
    refused = harness.token(REPORTING_CC).headers["x-ms-request-id"]
    harness.token(CLIENT_CC)
    assert "Recent requests" in harness.client.get("/").text
    page = harness.client.get(f"{CONSOLE}/requests", params={"outcome": "501051"})
    assert page.status_code == 200
    assert page.text.count(f'href="{CONSOLE}/traces/') == 1 and f"{CONSOLE}/traces/{refused}" in page.text
    everything = harness.client.get(f"{CONSOLE}/requests").text
    assert everything.count(f'href="{CONSOLE}/traces/') == 2 and ">success<" in everything
    trace_page = unescape(harness.client.get(f"{CONSOLE}/traces/{refused}").text)
    assert "APP_NOT_ASSIGNED" in trace_page and "principal: reportingJob" in trace_page
    assert harness.client.get(f"{CONSOLE}/traces/nope").status_code == 404


# ------------------------------------------------------------------------------------------ workers, retention


def test_a_trace_made_by_one_worker_is_answered_by_another(harness: Harness, tmp_path: Path) -> None:
    """Two apps on one database, each with its own buffer and flush task (the lifespan runs)."""
    other = Harness(harness.settings.data_dir, [DEMO_SEED])
    with TestClient(harness.app, base_url="https://localhost:8443") as a, \
            TestClient(other.app, base_url="https://localhost:8443") as b:
        r = a.post(f"/{TENANT}/oauth2/v2.0/token", data=REPORTING_CC)
        found = b.get(f"/_mockidp/traces/{r.headers['x-ms-request-id']}")
        assert found.status_code == 200 and found.json()["outcome"] == "AADSTS501051"


def made(trace_id: str, created_at: float = FROZEN_AT, *, client_id: str = "", steps: int = 0) -> Trace:
    t = Trace("POST /t/oauth2/v2.0/token", created_at, id=trace_id, client_id=client_id, status=200,
              outcome="success")
    for i in range(steps):
        t.steps.append(Step(f"rule-{i}", "passed", {"n": i}))
    return t


def test_retention_keeps_a_day_and_at_most_the_newest_n(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    store = TraceStore(make_engine(harness.settings.resolved_database_url))
    monkeypatch.setattr(trace_store, "KEEP_AT_MOST", 3)
    store.add(made("old", FROZEN_AT - trace_store.KEEP_FOR - 1))
    store.add(made("t-0", FROZEN_AT - 10))
    store.flush()
    store.purge(now=FROZEN_AT)
    assert [s.trace_id for s in store.recent(limit=10)] == ["t-0"]  # the day's bound
    for i in range(1, 5):
        store.add(made(f"t-{i}", FROZEN_AT - 10 + i))
    store.flush()
    store.purge(now=FROZEN_AT)
    assert [s.trace_id for s in store.recent(limit=10)] == ["t-4", "t-3", "t-2"]  # the count's bound
    assert store.get("old") is None and store.get("t-1") is None


def test_no_traces_records_nothing_and_says_so(tmp_path: Path, signing_dir: Path) -> None:
    h = Harness(tmp_path, [DEMO_SEED])
    h.app = __import__("mockidp.app", fromlist=["create_app"]).create_app(
        h.settings.model_copy(update={"traces": False}), clock=h.clock, ids=h.ids)
    client = TestClient(h.app, base_url="https://localhost:8443")
    r = client.post(f"/{TENANT}/oauth2/v2.0/token", data=REPORTING_CC)
    assert r.status_code == 400 and r.headers["x-ms-request-id"] == r.json()["trace_id"]
    assert client.get(f"/_mockidp/traces/{r.json()['trace_id']}").json()["error"] == "traces_off"
    assert "Recent requests" not in client.get("/").text
    assert "--no-traces" in client.get(f"{CONSOLE}/requests").text


# ------------------------------------------------------------------------------------------ mockidp explain ID


def test_mockidp_explain_prints_a_trace(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    trace_id = harness.token(REPORTING_CC).headers["x-ms-request-id"]
    assert harness.settings.traces and harness.app.state.runtime.traces.flush() == 1
    assert main(["explain", trace_id, "--data-dir", str(harness.settings.data_dir)]) == 0
    out = capsys.readouterr().out
    assert f"Trace {trace_id}" in out and "FAIL APP_NOT_ASSIGNED (AADSTS501051)" in out
    assert "Fix, in the Entra admin center:" in out and "principal: reportingJob" in out
    assert main(["explain", "00000000-0000-4000-8000-0000000000ff", "--data-dir",
                 str(harness.settings.data_dir)]) == 1
    assert main(["explain", "--data-dir", str(harness.settings.data_dir)]) == 2
    assert main(["explain", trace_id, "--token", "x", "--data-dir", str(harness.settings.data_dir)]) == 2


def test_every_write_keeps_the_count_bound(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    store = TraceStore(make_engine(harness.settings.resolved_database_url))
    monkeypatch.setattr(trace_store, "KEEP_AT_MOST", 4)
    for i in range(7):
        store.add(made(f"w-{i}"))
        store.flush()
    assert [s.trace_id for s in store.recent(limit=10)] == ["w-6", "w-5", "w-4", "w-3"]


def test_requests_decided_alike_share_one_stored_shape_and_keep_their_own_ids(harness: Harness) -> None:
    ids = [harness.token(CLIENT_CC).headers["x-ms-request-id"] for _ in range(20)]
    ids.append(harness.token(REPORTING_CC).headers["x-ms-request-id"])
    harness.app.state.runtime.traces.flush()
    with sqlite3.connect(harness.settings.data_dir / "mockidp.db") as db:
        assert db.execute("SELECT count(*) FROM trace_record").fetchone() == (21,)
        assert db.execute("SELECT count(*) FROM trace_shape").fetchone() == (2,)  # 20 alike, 1 refused
    found = [trace_of(harness, i) for i in ids]
    assert [t["id"] for t in found] == ids
    assert list(found[0]) == ["id", "endpoint", "startedAt", "durationMs", "status", "outcome", "clientId",
                              "tenant", "grantType", "steps", "claims", "fix"]
    assert all(t["steps"] == found[0]["steps"] and t["claims"] == found[0]["claims"] for t in found[:20])
    assert found[0]["outcome"] == "success" and found[20]["outcome"] == "AADSTS501051"
    assert found[20]["steps"] != found[0]["steps"] and found[20]["fix"] is not None


def test_a_shape_no_trace_refers_to_is_purged_after_its_grace(harness: Harness,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    store = TraceStore(make_engine(harness.settings.resolved_database_url))
    monkeypatch.setattr(trace_store, "KEEP_AT_MOST", 2)
    store.add(made("a", steps=1))
    store.flush()
    store.add(made("b", steps=2))
    store.add(made("c", steps=2))
    store.flush()  # "a" falls out by the count: its shape is unreferenced now

    def shapes() -> int:
        with sqlite3.connect(harness.settings.data_dir / "mockidp.db") as db:
            count: int = db.execute("SELECT count(*) FROM trace_shape").fetchone()[0]
        return count
    before = shapes()
    store.purge(now=FROZEN_AT + trace_store.SHAPE_GRACE - 1)
    assert shapes() == before  # within its grace a shape stays: a flush may be about to refer to it
    store.purge(now=FROZEN_AT + trace_store.SHAPE_GRACE + 1)
    assert shapes() == before - 1 and [x["rule"] for x in store.get("c")["steps"]] == ["rule-0", "rule-1"]
    store.add(made("d", steps=1))  # the purged shape again: this worker still knows it, and writes it again
    store.flush()
    assert store.get("d") is not None and [x["rule"] for x in store.get("d")["steps"]] == ["rule-0"]


class _OwnShaped:
    """A trace whose shape is its own (a gateway trace's: shape_key None), as directory/traces.Recorded reads."""

    def __init__(self, trace_id: str, created_at: float = FROZEN_AT) -> None:
        self.id, self.started_at, self.duration_ms, self.client_id, self.outcome = (trace_id, created_at, 1.0,
                                                                                    "", "success")

    def shape_key(self) -> None:
        return None

    def shape(self) -> dict[str, Any]:
        return {"endpoint": "GET /backend2/hello", "status": 200, "apim": {"traceId": self.id}}


def test_a_shape_of_its_own_goes_with_its_trace(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Gateway traces share no shape: each one's leaves with its row, by the count at the flush that drops
    the row and by age at the purge, not SHAPE_GRACE later (at 1,000 gateway requests a second that grace
    was some 1.2 GB of shapes); a shared shape keeps its grace."""
    store = TraceStore(make_engine(harness.settings.resolved_database_url))
    monkeypatch.setattr(trace_store, "KEEP_AT_MOST", 3)

    def count(table: str) -> int:
        with sqlite3.connect(harness.settings.data_dir / "mockidp.db") as db:
            n: int = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        return n
    store.add(made("shared", steps=1))
    store.flush()
    for i in range(8):
        store.add(_OwnShaped(f"g-{i}"))
        store.flush()
    assert count("trace_record") == 3 and [s.trace_id for s in store.recent(limit=5)] == ["g-7", "g-6", "g-5"]
    assert count("trace_shape") == 3 + 1  # the three kept gateway traces' own, the shared one in its grace
    assert store.get("g-7") is not None and store.get("g-7")["apim"] == {"traceId": "g-7"}
    store.add(_OwnShaped("g-old", FROZEN_AT - trace_store.KEEP_FOR - 1))
    store.flush()
    assert count("trace_shape") == 3 + 1  # g-5 left by the count at that flush, its shape with it
    store.purge(now=FROZEN_AT)
    assert store.get("g-old") is None and count("trace_record") == 2 and count("trace_shape") == 2 + 1
    store.purge(now=FROZEN_AT + trace_store.SHAPE_GRACE + 1)
    assert count("trace_shape") == 2  # now the unreferenced shared shape too


# ------------------------------------------------------------------------------------------ steps, in order


def rules(t: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["rule"], s["outcome"]) for s in t["steps"]]


def test_a_501051_passes_tenant_parameters_client_and_resource_first(harness: Harness) -> None:
    t = trace_of(harness, harness.token(REPORTING_CC).headers["x-ms-request-id"])
    assert rules(t) == [("tenant", "passed"), ("parameters", "passed"), ("client", "passed"),
                        ("resource", "passed"), ("APP_NOT_ASSIGNED", "failed")]
    client = t["steps"][2]["inputs"]
    assert (client["name"], client["authentication"]) == ("reportingJob", "client secret")


def test_an_app_without_required_assignment_gets_a_not_applicable_step(harness: Harness) -> None:
    r = harness.token({**REPORTING_CC, "scope": f"{BACKEND1_URI}/.default"})
    steps = {s["rule"]: s for s in trace_of(harness, r.headers["x-ms-request-id"])["steps"]}
    assert steps["assignment"]["outcome"] == "not applicable" and steps["assignment"]["inputs"]["required"] == "False"
    assert steps["token"]["inputs"] == {"version": "1.0", "response": "v2"}


def _sign_in(h: Harness, username: str, password: str, **params: str) -> Any:
    page = _authorize(h, **params)
    ctx = re.search(r'name="ctx" value="([^"]+)"', page.text)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert ctx and csrf, page.text[:300]
    return h.client.post("/_mockidp/login", data={"ctx": ctx.group(1), "csrf": csrf.group(1),
                                                  "username": username, "password": password},
                         follow_redirects=False)


def test_a_wrong_password_on_the_page_is_traced_with_its_form_and_user(harness: Harness) -> None:
    r = _sign_in(harness, ALICE[0], "not-alices-password")
    assert r.status_code == 200 and "AADSTS50126" in r.text  # the page answers in place, as Entra's does
    t = trace_of(harness, r.headers["x-ms-request-id"])
    assert t["endpoint"] == "POST /_mockidp/login" and t["clientId"] == CLIENT and t["outcome"] == "AADSTS50126"
    assert rules(t) == [("form", "passed"), ("user", "passed"), ("INVALID_CREDENTIALS", "failed")]
    assert "not-alices-password" not in json.dumps(t)


def test_a_code_flow_is_traced_from_authorize_to_the_token(harness: Harness) -> None:
    shown = _authorize(harness, scope=f"api://{BACKEND2}/access_as_user")
    t = trace_of(harness, shown.headers["x-ms-request-id"])
    assert rules(t) == [("tenant", "passed"), ("client", "passed"), ("redirect URI", "passed"),
                        ("request", "passed"), ("session", "not applicable")]
    signed_in = _sign_in(harness, *ALICE, scope=f"api://{BACKEND2}/access_as_user")
    assert signed_in.status_code == 302
    t = trace_of(harness, signed_in.headers["x-ms-request-id"])
    assert [r for r, _ in rules(t)] == ["form", "user", "password", "user assignment", "resource", "consent",
                                        "response"]
    code = parse_qs(urlsplit(signed_in.headers["location"]).query)["code"][0]
    r = harness.token({"grant_type": "authorization_code", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
                       "code": code, "redirect_uri": "http://localhost:5000/callback",
                       "scope": f"api://{BACKEND2}/access_as_user"})
    assert r.status_code == 200
    t = trace_of(harness, r.headers["x-ms-request-id"])
    assert [r for r, _ in rules(t)] == ["tenant", "parameters", "client", "authorization code", "user assignment",
                                        "resource", "consent", "token"]
    assert code not in json.dumps(t)
    assert claims_of(t)["scp"]["value"] == "access_as_user"


def test_an_optional_idtyp_claim_is_explained_and_only_app_only_tokens_carry_it(
        tmp_path: Path, signing_dir: Path) -> None:
    seed = DEMO_SEED.read_text().replace("        groupMembershipClaims: SecurityGroup\n", """\
        groupMembershipClaims: SecurityGroup
        optionalClaims:                                # testBackend2's: its app-only tokens say idtyp "app"
          accessToken:
            - {name: idtyp, essential: false}
          idToken: [{name: email}]
""", 1)
    shutil.copytree(DEMO_SEED.parent / "certs", tmp_path / "certs")  # the seed's keyFile, beside it
    h = make_harness(tmp_path, seed, signing_dir)
    r = h.token(CLIENT_CC)
    assert r.status_code == 200, r.text
    assert jwt_claims(r.json()["access_token"])["idtyp"] == "app"
    reason = claims_of(trace_of(h, r.headers["x-ms-request-id"]))["idtyp"]
    assert reason["value"] == "app" and "optionalClaims.accessToken" in reason["why"]
    user = h.token({"grant_type": "password", "client_id": CLIENT, "username": ALICE[0], "password": ALICE[1],
                    "client_secret": CLIENT_SECRET, "scope": f"api://{BACKEND2}/access_as_user"})
    assert user.status_code == 200, user.text
    assert "idtyp" not in jwt_claims(user.json()["access_token"])  # "user" needs include_user_token


def test_gateway_traces_are_kept_whole_without_the_worker_remembering_their_shapes(harness: Harness) -> None:
    """No two gateway traces share a shape (APIM's entries carry their own times): remembering each one's
    encoding until 4,096 of them, as for token traces, only held memory (some 11 MB a worker, issue 11)."""
    from mockidp.apim.runtime import GatewayRequest
    from mockidp.web.gateway.trace import Recorder

    store = TraceStore(make_engine(harness.settings.resolved_database_url))
    for i in range(30):
        recorder = Recorder(FROZEN_AT, GatewayRequest(headers=[("Host", "gw")], body=b"", method="GET",
                                                      scheme="https", host="gw", path=f"/echo/{i}", query=[],
                                                      ip="127.0.0.1"))
        recorder.gateway_step("operation", "passed", f"GET /echo/{i}", "")
        recorder.finish(f"gw-{i}", 200, 0.001)
        store.add(recorder)
    store.add(made("alike-1"))
    store.add(made("alike-2"))
    assert store.remembered_shapes == 1  # the two token traces' one shape; none of the gateway's
    store.flush()
    kept = [store.get(f"gw-{i}") for i in range(30)]
    assert [k["apim"]["traceId"] if k else None for k in kept] == [f"gw-{i}" for i in range(30)]
    assert [k["steps"][0]["note"] if k else None for k in kept] == [f"GET /echo/{i}" for i in range(30)]
    assert [t.trace_id for t in store.recent(limit=2)] == ["alike-2", "alike-1"]
