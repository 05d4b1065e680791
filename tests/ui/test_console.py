"""The console (README, "The console"): `/` and /_mockidp/console/..., read-only pages over the
directory in the admin center's terms, and the token decoder, in-process. The browser tests are in
tests/ui/test_console_browser.py."""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from mockidp.cli import main
from mockidp.errors import catalogue
from mockidp.testing import forms
from mockidp.testing.jwts import claims_of
from mockidp.tokens.explain import MAX_TOKEN_CHARS, explain_token
from mockidp.web.access_log import redact
from tests.conftest import (
    BACKEND1_URI,
    BACKEND2,
    CLIENT,
    CLIENT_SECRET,
    DEMO_SEED,
    FROZEN_AT,
    ORIGIN,
    REPORTING,
    REPORTING_SECRET,
    ROOT,
    TENANT,
    Harness,
    make_harness,
)

CONSOLE = "/_mockidp/console"
_FOREIGN_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # "Entra's" key
DECODER = f"{CONSOLE}/decoder"


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def _crawl(harness: Harness) -> dict[str, str]:
    """Every console page reachable from `/` by its links: path -> HTML."""
    pages: dict[str, str] = {}
    todo = ["/"]
    while todo:
        path = todo.pop()
        if path in pages:
            continue
        r = harness.client.get(path)
        assert r.status_code == 200, (path, r.status_code)
        pages[path] = r.text
        todo += [link for link in re.findall(r'href="(/[^"#]*)', r.text) if link not in pages]
    return pages


def _seed_secrets() -> list[str]:
    """Every secretText and password of the demo seed, read from the file itself."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("secretText", "password") and isinstance(value, str):
                    found.append(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(DEMO_SEED.read_text()))
    return found


def _token(harness: Harness, scope: str) -> str:
    r = harness.token({"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
                       "scope": scope})
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def _decode(harness: Harness, token: str) -> str:
    r = harness.client.post(DECODER, data={"token": token})
    assert r.status_code == 200
    assert "no-store" in r.headers["cache-control"]
    return _text(r.text)


# ------------------------------------------------------------------------------------------ pages


def test_the_root_is_the_console_listing_the_tenants(harness: Harness) -> None:
    r = harness.client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    text = _text(r.text)
    assert "mockidp console" in text and "Contoso" in text and TENANT in text
    assert f'href="{CONSOLE}/tenants/{TENANT}"' in r.text
    assert harness.client.get(CONSOLE).text.count(TENANT) == r.text.count(TENANT)


def test_every_console_page_is_self_contained_and_read_only(harness: Harness) -> None:
    pages = _crawl(harness)
    assert len(pages) >= 15  # overview, tenant, 6 registrations, 7 enterprise apps, users, consent, decoder
    for path, html in pages.items():
        csp = harness.client.get(path).headers["content-security-policy"]
        assert "default-src 'none'" in csp and "http" not in csp, (path, csp)
        assert not re.search(r'(src|href|action)="(https?:)?//', html), path  # nothing fetched from elsewhere
        assert set(re.findall(r'method="(\w+)"', html)) <= {"get", "post"}
        assert re.findall(r'action="([^"]*)"', html) in ([], [DECODER], [f"{CONSOLE}/requests"]), path


def test_no_console_page_shows_a_secret_a_password_or_a_hash(harness: Harness) -> None:
    secrets = _seed_secrets()
    assert "testClient-secret-value-1" in secrets and "alice-password-1" in secrets  # the reader works
    content = harness.app.state.runtime.services.directory.content
    hashes = [u.password_hash for u in content.users if u.password_hash]
    hashes += [s.sha256 for a in content.applications for s in a.secrets]
    assert len(hashes) >= 5
    pages = _crawl(harness)
    for path, html in pages.items():
        for value in secrets + hashes + [h[:16] for h in hashes]:
            assert value not in html and value.upper() not in html, (path, value)
    assert "Client secret" in _text(pages[f"{CONSOLE}/tenants/{TENANT}/app-registrations/{CLIENT}"])


def test_app_registrations_say_what_their_settings_do_to_tokens(harness: Harness) -> None:
    v2 = _text(harness.client.get(f"{CONSOLE}/tenants/{TENANT}/app-registrations/{BACKEND2}").text)
    assert f"api://{BACKEND2}" in v2
    assert f"v2.0 access tokens: iss {ORIGIN}/{TENANT}/v2.0, aud is always the appId {BACKEND2}" in v2
    assert "Provisioning.ReadWrite" in v2 and "access_as_user" in v2 and "SecurityGroup" in v2
    v1 = _text(harness.client.get(f"{CONSOLE}/tenants/{TENANT}/app-registrations/b6c2d8e4-1f3a-4b5c-8d7e-9a0b1c2d3e4f"
                                  ).text)
    assert "null (or 1)" in v1
    assert f"v1.0 access tokens: iss https://sts.windows.net/{TENANT}/, aud as requested" in v1
    assert BACKEND1_URI in v1
    client = _text(harness.client.get(f"{CONSOLE}/tenants/{TENANT}/app-registrations/{CLIENT}").text)
    assert "Web http://localhost:5000/callback" in client
    assert "Mobile and desktop applications http://localhost" in client
    assert "Certificate" in client and "thumbprint" in client and "2099-01-01" in client


def test_enterprise_applications_show_assignment_and_its_refusal(harness: Harness) -> None:
    backend2 = _text(harness.client.get(f"{CONSOLE}/tenants/{TENANT}/enterprise-applications/{BACKEND2}").text)
    assert "Assignment required Yes" in backend2
    assert "Clients without an assignment get AADSTS501051" in backend2
    assert "testClient ServicePrincipal Provisioning.ReadWrite" in backend2
    assert "alice@contoso.onmicrosoft.com User Reader" in backend2
    hr = _text(harness.client.get(f"{CONSOLE}/tenants/{TENANT}/enterprise-applications/"
                                  "5a7c3e9b-2d4f-4b6a-8c1e-0f9d8b7a6c5e").text)
    assert "Provisioning Admins Group Default Access" in hr
    reporting = _text(harness.client.get(f"{CONSOLE}/tenants/{TENANT}/enterprise-applications/{REPORTING}").text)
    assert "Assignment required No" in reporting and "Nobody is assigned" in reporting


def test_users_groups_and_consent(harness: Harness) -> None:
    people = _text(harness.client.get(f"{CONSOLE}/tenants/{TENANT}/users-and-groups").text)
    assert "alice@contoso.onmicrosoft.com Alice Example Yes Provisioning Admins" in people
    assert "Members alice@contoso.onmicrosoft.com" in people or "Security alice@contoso.onmicrosoft.com" in people
    consent = _text(harness.client.get(f"{CONSOLE}/tenants/{TENANT}/consent").text)
    assert "spaApp testBackend2 Delegated Admin consent: every user access_as_user" in consent
    assert "testClient testBackend2 Application Admin consent (app role assignment) Data.Read" in consent


@pytest.mark.parametrize("path", [
    f"{CONSOLE}/tenants/00000000-0000-0000-0000-00000000dead",
    f"{CONSOLE}/tenants/{TENANT}/app-registrations/nope",
    f"{CONSOLE}/tenants/{TENANT}/app-registrations/00000003-0000-0000-c000-000000000000",  # Microsoft's, not ours
    f"{CONSOLE}/tenants/{TENANT}/enterprise-applications/%00%ff",
    f"{CONSOLE}/tenants/{'a' * 3000}/consent",
    f"{CONSOLE}/tenants/<script>/users-and-groups",
])
def test_unknown_objects_get_the_console_404(harness: Harness, path: str) -> None:
    r = harness.client.get(path)
    assert r.status_code == 404
    assert "is not in the directory mockidp serves" in r.text and "<script>" not in r.text


# ------------------------------------------------------------------------------------------ decoder


def test_the_decoder_explains_a_v2_token_and_verifies_it(harness: Harness) -> None:
    text = _decode(harness, _token(harness, f"{BACKEND2}/.default"))
    assert "access token, v2.0" in text
    assert "verified verified with mockidp's key" in text
    assert f"validate with the v2.0 discovery document {ORIGIN}/{TENANT}/v2.0/.well-known/openid-configuration" in text
    assert f"{BACKEND2}: the appId of testBackend2" in text
    assert "azp 1df771d6-ef9c-473e-af87-cafa8928e024 the appId of testClient" in text
    assert 'roles ["Provisioning.ReadWrite", "Data.Read"]' in text
    assert "valid until 2026-01-01 01:00:00 UTC (in 1 h 0 min)" in text


def test_the_decoder_explains_a_v1_token_without_roles(harness: Harness) -> None:
    text = _decode(harness, _token(harness, f"{BACKEND1_URI}/.default"))
    assert "access token, v1.0" in text
    assert f"v1 discovery document {ORIGIN}/{TENANT}/.well-known/openid-configuration, whose issuer is this one" in text
    assert f"{BACKEND1_URI}: an App ID URI of testBackend1" in text
    assert "roles (absent)" in text and "verified with mockidp's key" in text


def test_the_decoder_explains_the_graph_nonce(harness: Harness) -> None:
    text = _decode(harness, _token(harness, "https://graph.microsoft.com/.default"))
    assert "Microsoft Graph's header nonce" in text
    assert "over the header with the nonce hashed (Graph's scheme)" in text


def _resign(token: str, **changes: object) -> str:
    head, _payload, sig = token.split(".")
    forged = forms.b64url(json.dumps(claims_of(token) | changes).encode())
    return f"{head}.{forged}.{sig}"


@pytest.mark.parametrize(("alter", "expected"), [
    (lambda t: _resign(t, roles=["Admin"]), "invalid does NOT verify with mockidp's key"),
    (lambda t: t[:-6] + ("AAAAAA" if not t.endswith("AAAAAA") else "BBBBBB"), "invalid does NOT verify"),
    (lambda t: forms.b64url(b'{"alg":"none","typ":"JWT"}') + "."
     + t.split(".")[1] + ".", "unsigned alg 'none'"),
    (lambda t: forms.b64url(b'{"alg":"RS256","kid":"someone-else"}') + "."
     + t.split(".", 1)[1], "not-ours kid someone-else is not mockidp's signing key"),
])
def test_the_decoder_names_a_bad_signature(harness: Harness, alter, expected: str) -> None:  # type: ignore[no-untyped-def]
    text = _decode(harness, alter(_token(harness, f"{BACKEND2}/.default")))
    assert expected in text
    assert "verified verified" not in text


def test_the_decoder_explains_an_id_token_and_expiry(harness: Harness) -> None:
    r = harness.token({"grant_type": "password", "client_id": CLIENT, "username": "alice@contoso.onmicrosoft.com",
                       "password": "alice-password-1", "scope": "openid profile"})
    assert r.status_code == 200, r.text
    text = _decode(harness, r.json()["id_token"])
    assert "ID token, v2.0" in text and "verified with mockidp's key" in text
    assert f"{CLIENT}: the appId of testClient (an ID token's audience is the client" in text
    assert "preferred_username alice@contoso.onmicrosoft.com" in text
    access = _token(harness, f"{BACKEND2}/.default")
    harness.clock.advance(2 * 3600)
    assert "expired 2026-01-01 01:00:00 UTC (1 h 0 min ago)" in _decode(harness, access)


def test_the_decoder_escapes_what_a_token_says(harness: Harness) -> None:
    evil = "<script>alert(1)</script>"
    head = forms.b64url(json.dumps({"alg": "RS256", "kid": evil}).encode())
    body = forms.b64url(json.dumps({"iss": evil, evil: evil}).encode())
    r = harness.client.post(DECODER, data={"token": f"{head}.{body}.x"})
    assert r.status_code == 200 and evil not in r.text and "&lt;script&gt;" in r.text
    assert "not mockidp's signing key" in _text(r.text)


def test_a_token_from_elsewhere_is_explained_against_entras_documents(harness: Harness) -> None:
    jwk = harness.app.state.runtime.jwk
    token = jwt.encode({"aud": "api://x", "iss": f"https://sts.windows.net/{TENANT}/", "ver": "1.0", "appid": "y",
                        "exp": FROZEN_AT + 60}, _FOREIGN_KEY, algorithm="RS256", headers={"kid": "entra-key"})
    e = explain_token(token, keys=[jwk], now=FROZEN_AT, origin=ORIGIN)
    assert e.signature.status == "not-ours" and e.version == "v1.0"
    assert e.discovery == f"https://login.microsoftonline.com/{TENANT}/.well-known/openid-configuration"
    ours = explain_token(_token(harness, f"{BACKEND1_URI}/.default"), keys=[jwk], now=FROZEN_AT, origin=ORIGIN)
    assert ours.discovery == f"{ORIGIN}/{TENANT}/.well-known/openid-configuration" and ours.signature.verified


@pytest.mark.parametrize(("body", "expected"), [
    ({"token": ""}, "Paste a token"),
    ({"token": "not a token"}, "1 part(s): a JWT has three"),
    ({"token": "a.b.c.d.e"}, "Five parts: an encrypted token (JWE)"),
    ({"token": "!!.??.xx"}, "not base64url-encoded JSON"),
    ({"token": "W10.W10.x"}, "not a JSON object"),  # [] and []
    ({"token": "e30." + "W" * 4 + ".x"}, "not base64url-encoded JSON"),
    ({"token": "x" * (MAX_TOKEN_CHARS + 1)}, f"Longer than {MAX_TOKEN_CHARS} characters"),
    ({"other": "field"}, "Paste a token"),
])
def test_the_decoder_refuses_garbage_on_its_page(harness: Harness, body: dict[str, str], expected: str) -> None:
    r = harness.client.post(DECODER, data=body)
    assert r.status_code == 200 and expected in _text(r.text)


@pytest.mark.parametrize("content", [b"\xff\xfe", b"token=%ZZ&token=%00", b"a=" + b"x" * 300_000, b"&" * 5000])
def test_the_decoder_survives_hostile_bodies(harness: Harness, content: bytes) -> None:
    r = harness.client.post(DECODER, content=content, headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and "Token decoder" in r.text


def test_the_decoder_logs_nothing_of_the_token(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = _token(harness, f"{BACKEND2}/.default")
    caplog.clear()
    tampered = _resign(token, roles=["Admin"])
    for pasted in (token, tampered, "Bearer " + token, token.split(".")[1], "x" * (MAX_TOKEN_CHARS + 1)):
        harness.client.post(DECODER, data={"token": pasted})
    harness.client.get(f"{DECODER}?token={token}")
    # mockidp's records (the test's own HTTP client logs the URLs it requests: not the server's log)
    logged = "\n".join(r.getMessage() + str(r.args) for r in caplog.records if not r.name.startswith("httpx"))
    for part in token.split(".") + tampered.split("."):
        assert part[:40] not in logged
    # a token in the URL is not decoded (nobody is invited to put one there), and the access log
    # redacts it should someone try
    assert redact(f"{DECODER}?token={token}") == f"{DECODER}?token=[redacted]"
    assert "verified" not in _text(harness.client.get(f"{DECODER}?token={token}").text)


def test_the_console_changes_nothing(harness: Harness) -> None:
    before = harness.app.state.runtime.services.directory.content
    _crawl(harness)
    _decode(harness, _token(harness, f"{BACKEND2}/.default"))
    assert harness.app.state.runtime.services.directory.content is before
    for path in ("/", f"{CONSOLE}/tenants/{TENANT}"):
        assert harness.client.post(path, data={"x": "y"}).status_code in (404, 405)
        assert harness.client.delete(path).status_code in (404, 405)


# ------------------------------------------------------------------------------------------ mockidp explain --token


def _explain(harness: Harness, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["explain", *args, "--data-dir", str(harness.settings.data_dir)])
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_token_prints_the_decoders_explanation(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    token = _token(harness, f"{BACKEND2}/.default")
    page = _decode(harness, token)
    code, out, _ = _explain(harness, capsys, "--token", token)
    assert code == 0
    assert "Token: access token, v2.0" in out
    assert "Signature: verified with mockidp's key" in out
    assert f"v2.0 discovery document {ORIGIN}/{TENANT}/v2.0/.well-known/openid-configuration" in out
    assert f"Audience: {BACKEND2}: the appId of testBackend2" in out  # names from the stored directory
    assert "  azp: 1df771d6-ef9c-473e-af87-cafa8928e024  [the appId of testClient]" in out
    for line in ("Authorized party (v2): the appId of the client that asked for the token.",
                 "App roles granted: to an app by admin consent"):
        assert line in out and line in page  # one explanation, two surfaces


def test_explain_token_reads_stdin_and_names_a_v1_token(harness: Harness, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(_token(harness, f"{BACKEND1_URI}/.default") + "\n"))
    code, out, _ = _explain(harness, capsys, "--token", "-")
    assert code == 0 and "Token: access token, v1.0" in out and "v1 issuer (sts.windows.net)" in out
    assert "  roles: (absent)" in out


def test_explain_token_says_a_bad_signature(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _explain(harness, capsys, "--token", _resign(_token(harness, f"{BACKEND2}/.default"), roles=["x"]))
    assert code == 0 and "Signature: does NOT verify with mockidp's key" in out


def test_explain_token_without_a_key_or_a_token(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                harness: Harness) -> None:
    token = _token(harness, f"{BACKEND2}/.default")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["explain", "--token", token, "--data-dir", str(empty)]) == 0
    out, err = capsys.readouterr()
    assert "Signature: not checked" in out and "no mockidp signing certificate" in err
    assert not list(empty.iterdir())  # nothing created: no key, no database
    assert main(["explain", "--token", "garbage", "--data-dir", str(empty)]) == 1
    assert "Not a readable token: 1 part(s)" in capsys.readouterr().out


def test_explain_runs_as_a_command(harness: Harness) -> None:
    token = _token(harness, f"{BACKEND2}/.default")
    run = subprocess.run([sys.executable, "-m", "mockidp", "explain", "--token", "-", "--data-dir",
                          str(harness.settings.data_dir)], input=token, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "Signature: verified" in run.stdout


# ------------------------------------------------------------------------------------------ README


def test_the_readme_walkthrough_why_was_i_refused(harness: Harness, signing_dir: Path, tmp_path: Path) -> None:
    """Its steps as written: the refusal, the console's rule, the seed fix, the token in the decoder."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Why was I refused?"):]
    section = section[:section.index("\n## ")]
    refused = harness.token({"grant_type": "client_credentials", "client_id": REPORTING,
                             "client_secret": REPORTING_SECRET, "scope": f"api://{BACKEND2}/.default"})
    assert "AADSTS501051" in refused.json()["error_description"]
    # 2. the trace, by the Trace ID of the message, as the README's commands ask for it
    trace_id = refused.json()["error_description"].split("Trace ID: ")[1].split()[0]
    assert "mockidp explain 1c0a…" in section and "/_mockidp/traces/1c0a…" in section
    trace = harness.client.get(f"/_mockidp/traces/{trace_id}").json()
    said = re.search(r"then the one that failed: `(\w+)`, AADSTS(\d+)", " ".join(section.split()))
    assert said is not None
    assert (trace["steps"][-1]["rule"], str(trace["steps"][-1]["code"])) == (said.group(1), said.group(2))
    passed = re.search(r"passed \((.*?)\), then", " ".join(section.split()))
    assert passed is not None
    assert [s["rule"] for s in trace["steps"][:-1]] == re.findall(r"`([a-z ]+)`", passed.group(1))
    assert all(s["outcome"] == "passed" for s in trace["steps"][:-1])
    assert trace["fix"]["portal"].split(" (")[0] in " ".join(section.split())
    rule = _text(harness.client.get(f"{CONSOLE}/tenants/{TENANT}/enterprise-applications/{BACKEND2}").text)
    quoted = re.search(r'"(Assignment required: Yes → clients without an assignment get AADSTS501051)"', section)
    assert quoted is not None
    consequence = quoted.group(1).split("→ ")[1]
    assert "Assignment required Yes" in rule and consequence[0].upper() + consequence[1:] in rule
    assert catalogue.APP_NOT_ASSIGNED.fix is not None
    portal = catalogue.APP_NOT_ASSIGNED.fix.portal.format(client_name="reportingJob", resource_name="testBackend2")
    assert portal.split(" (")[0] in " ".join(section.split())  # the README says what the catalogue says
    fix = re.search(r"```yaml\n\s*appRoleAssignments:\n(\s*- \{.*?\})\n", section)
    assert fix is not None
    seed = DEMO_SEED.read_text().replace("    appRoleAssignments:\n", "    appRoleAssignments:\n"
                                         f"      {fix.group(1).strip()}\n", 1)
    shutil.copytree(DEMO_SEED.parent / "certs", tmp_path / "fixed" / "certs")  # the seed names certs/...
    fixed = make_harness(tmp_path / "fixed", seed, signing_dir)
    ok = fixed.token({"grant_type": "client_credentials", "client_id": REPORTING, "client_secret": REPORTING_SECRET,
                      "scope": f"api://{BACKEND2}/.default"})
    assert ok.status_code == 200, ok.text
    text = _decode(fixed, ok.json()["access_token"])
    assert "access token, v2.0" in text and "verified with mockidp's key" in text
    assert f"{BACKEND2}: the appId of testBackend2" in text and f"{REPORTING} the appId of reportingJob" in text
    assert 'roles ["Data.Read"]' in text
    for claim in ("access token, v2.0", "signature verified with mockidp's", "`roles` `[\"Data.Read\"]`"):
        assert claim in " ".join(section.split())
