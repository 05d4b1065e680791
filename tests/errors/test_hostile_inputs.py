"""Hostile and negative inputs of the token service; rows by prefix: T transport
and parsing, C client credentials, I injection and seed data, G discovery, X3 size bounds.

Every row expects what Entra answers, as mockidp/errors/catalogue.py encodes it. Rows name their
expectation by catalogue entry, so a corrected entry corrects the tests too. One invariant holds for
every row and is checked by `check`: no 5xx, an answer within TIME_BUDGET, JSON, and on the token
endpoint `Cache-Control: no-store` + `Pragma: no-cache` (T38); every error is Entra's envelope, 401
exactly for `invalid_client` and 400 otherwise (T39).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from mockidp.directory.seed import SeedError, load_seed
from mockidp.directory.store import Store, make_engine
from mockidp.errors import catalogue
from mockidp.errors.catalogue import ErrorSpec
from mockidp.testing import forms, jwts
from mockidp.testing.entra import assert_entra_error
from tests.conftest import (
    BACKEND1_URI,
    BACKEND2,
    CLIENT,
    CLIENT_CERT,
    CLIENT_KEY,
    CLIENT_SECRET,
    FROZEN_AT,
    ORIGIN,
    REPORTING,
    REPORTING_SECRET,
    TENANT,
    Harness,
    make_harness,
)
from tests.connection_support import connect, send_until_answered
from tests.serving.test_serve import Served

NOW = FROZEN_AT
TIME_BUDGET = 2.0  # seconds: "a response within the request timeout", generously
FORM = "application/x-www-form-urlencoded"
JWT_BEARER = forms.JWT_BEARER_ASSERTION
OTHER_TENANT = "00000000-0000-4000-8000-0000000000ff"
MSA_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
DOMAIN = "contoso.onmicrosoft.com"


# --- key material ---------------------------------------------------------------------------------

b64url = forms.b64url


def _private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def self_signed(public_key: rsa.RSAPublicKey, signer: rsa.RSAPrivateKey, name: str = "hostile") -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2099, 1, 1, tzinfo=dt.UTC))
        .sign(signer, hashes.SHA256())
    )


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


CLIENT_PRIVATE = _private_key(CLIENT_KEY.read_bytes())
CLIENT_DER = x509.load_pem_x509_certificate(CLIENT_CERT.read_bytes()).public_bytes(serialization.Encoding.DER)
CLIENT_PUBLIC_PEM = CLIENT_PRIVATE.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
X5T = b64url(hashlib.sha1(CLIENT_DER).digest())
X5T_S256 = b64url(hashlib.sha256(CLIENT_DER).digest())
ATTACKER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ATTACKER_X5T = b64url(hashlib.sha1(self_signed(ATTACKER.public_key(), ATTACKER).public_bytes(
    serialization.Encoding.DER)).digest())
WEAK = rsa.generate_private_key(public_exponent=65537, key_size=1024)


# --- client assertions, built by hand so that every byte can be wrong -----------------------------

Signer = Callable[[bytes], bytes]


def rsa_signer(key: rsa.RSAPrivateKey, alg: str = "RS256") -> Signer:
    pad: padding.AsymmetricPadding = padding.PKCS1v15()
    if alg == "PS256":
        pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
    return lambda data: key.sign(data, pad, hashes.SHA256())


def hmac_signer(secret: bytes) -> Signer:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def json_b64(value: object) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def jws(header: object, payload: object, sign: Signer | None = None) -> str:
    """Compact JWS of any JSON values (not only objects); no signature when `sign` is None."""
    signing_input = f"{json_b64(header)}.{json_b64(payload)}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()) if sign else b'')}"


def _merged(base: Mapping[str, Any], changes: Mapping[str, Any] | None) -> dict[str, Any]:
    """`changes` over `base`; a None value removes the member."""
    merged = {**base, **(changes or {})}
    return {k: v for k, v in merged.items() if v is not None}


def assertion_claims(changes: Mapping[str, Any] | None = None, *, client: str = CLIENT) -> dict[str, Any]:
    base = {"aud": token_url(), "iss": client, "sub": client, "jti": str(uuid.uuid4()),
            "nbf": NOW, "iat": NOW, "exp": NOW + 600}
    return _merged(base, changes)


def assertion(header: Mapping[str, Any] | None = None, claims: Mapping[str, Any] | None = None, *,
              sign: Signer | None = None, client: str = CLIENT) -> str:
    """An RS256 + x5t assertion for testClient signed with the demo key, unless told otherwise."""
    return jws(_merged({"alg": "RS256", "typ": "JWT", "x5t": X5T}, header),
               assertion_claims(claims, client=client), sign or rsa_signer(CLIENT_PRIVATE))


# --- requests -------------------------------------------------------------------------------------

def token_path(tenant: str = TENANT, version: int = 2) -> str:
    return forms.token_path(tenant, version)


def token_url(tenant: str = TENANT, version: int = 2) -> str:
    """What a client assertion's `aud` must be: the token endpoint it is posted to."""
    return ORIGIN + token_path(tenant, version)


def cc(**changes: str | None) -> dict[str, str]:
    """A valid v2 client_credentials form for testClient -> testBackend2; None removes a parameter."""
    base = {"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
            "scope": f"{BACKEND2}/.default"}
    return _merged(base, changes)


def cc_assertion(token: str, **changes: str | None) -> dict[str, str]:
    return forms.with_assertion(cc(), token, **changes)


def basic(client_id: str, secret: str, *, urlencoded: bool = True) -> dict[str, str]:
    """client_secret_basic as RFC 6749 §2.3.1 says: each part form-urlencoded, then base64."""
    enc = quote_plus if urlencoded else str
    return {"Authorization": "Basic " + base64.b64encode(f"{enc(client_id)}:{enc(secret)}".encode()).decode()}


@dataclass(frozen=True)
class Call:
    body: Mapping[str, str] | bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    path: str = token_path()
    method: str = "POST"


def post(body: Mapping[str, str] | bytes | None = None, *, headers: Mapping[str, str] | None = None,
         tenant: str = TENANT, version: int = 2) -> Call:
    return Call(body, headers or {}, token_path(tenant, version))


def get(path: str = token_path()) -> Call:
    return Call(method="GET", path=path)


def raw(text: str | bytes, *, content_type: str = FORM, headers: Mapping[str, str] | None = None) -> Call:
    """A body sent byte for byte (repeated or badly encoded parameters, other content types)."""
    body = text.encode() if isinstance(text, str) else text
    return post(body, headers={"Content-Type": content_type, **(headers or {})})


def send(h: Harness, call: Call) -> httpx.Response:
    kw: dict[str, Any] = {"content": call.body} if isinstance(call.body, bytes) else {"data": call.body}
    started = time.monotonic()
    response = h.client.request(call.method, call.path, headers=dict(call.headers), **kw)
    assert time.monotonic() - started < TIME_BUDGET, f"{call.method} {call.path} took too long"
    return response


# --- expectations and the global invariant -------------------------------------------------------

@dataclass(frozen=True)
class Expect:
    status: int
    error: str | None = None
    code: int | None = None  # None: any code (the catalogue has no entry for the case yet)


OK = Expect(200)
INVALID_CLIENT = Expect(401, "invalid_client")


def denied(spec: ErrorSpec, *, at_token_endpoint: bool = True) -> Expect:
    error = spec.token_error if at_token_endpoint and spec.token_error else spec.error
    return Expect(spec.status, error, spec.code)


def _detail(response: httpx.Response) -> str:
    return f"got {response.status_code} {response.text[:600]}"


def assert_no_store(response: httpx.Response) -> None:
    """T38: token responses, success or error, are never cached."""
    assert "no-store" in response.headers.get("cache-control", ""), _detail(response)
    assert response.headers.get("pragma") == "no-cache", _detail(response)


def assert_envelope(response: httpx.Response, code: int | None, error: str | None) -> dict[str, Any]:
    """T39: Entra's error body (mockidp.testing.entra checks every member and the trace header); one AADSTS
    code; 401 exactly for invalid_client."""
    codes = response.json().get("error_codes")
    assert isinstance(codes, list) and len(codes) == 1 and isinstance(codes[0], int), _detail(response)
    body = assert_entra_error(response, codes[0] if code is None else code, error=error)
    assert response.status_code == (401 if error == "invalid_client" else 400), _detail(response)
    return body


def check(response: httpx.Response, expect: Expect, *, token_endpoint: bool = True) -> dict[str, Any]:
    assert response.status_code < 500, _detail(response)
    assert response.headers.get("content-type", "").startswith("application/json"), _detail(response)
    if token_endpoint:
        assert_no_store(response)
    if expect.status == 200:
        assert response.status_code == 200, _detail(response)
        body: dict[str, Any] = response.json()
        return body
    body = assert_envelope(response, expect.code, expect.error)
    assert response.status_code == expect.status, _detail(response)
    return body


def claims_of(body: Mapping[str, Any]) -> dict[str, Any]:
    return jwts.claims_of(body["access_token"])


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """T32 and in general: nothing a request carries (jku, x5u, URLs) makes mockidp connect anywhere."""
    attempts: list[object] = []

    def refuse(*args: object, **kw: object) -> None:
        attempts.append(args)
        raise OSError("network access from a hostile-input test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield
    assert attempts == [], "mockidp tried to reach the network"


# --- a seed of our own: the cases the demo seed has no registration for ---------------------------

OPEN_API = "0a000000-0000-4000-8000-00000000a001"
DISABLED_API = "0a000000-0000-4000-8000-00000000a002"
FOUR_ROLES = "0c000000-0000-4000-8000-00000000c001"
NO_ROLES = "0c000000-0000-4000-8000-00000000c002"
SPECIAL = "0c000000-0000-4000-8000-00000000c003"
EXPIRED = "0c000000-0000-4000-8000-00000000c004"
PUBLIC = "0c000000-0000-4000-8000-00000000c005"
DISABLED = "0c000000-0000-4000-8000-00000000c006"
WORLD_SECRET = "world-secret-value-0001"
SPECIAL_SECRET = "p+l%u:s s/ecret=value%2B1"  # + % : space / = and an escape-looking %2B


def application(app_id: str, name: str, *, secret: str | None = WORLD_SECRET, **props: Any) -> dict[str, Any]:
    app: dict[str, Any] = {"appId": app_id, "displayName": name, **props}
    if secret is not None:
        app.setdefault("passwordCredentials", [{"secretText": secret}])
    return app


def seed_text(applications: list[dict[str, Any]], **tenant: Any) -> str:
    doc = {"tenants": [{"tenantId": TENANT, "displayName": "Fabrikam", "applications": applications, **tenant}]}
    return yaml.safe_dump(doc, sort_keys=False, width=4096)


WORLD_SEED = seed_text(
    [
        application(OPEN_API, "openApi", secret=None, identifierUris=["api://openApi"],
                    api={"requestedAccessTokenVersion": 2},
                    appRoles=[{"value": f"Role.{n}", "allowedMemberTypes": ["Application"]}
                              for n in ("One", "Two", "Three", "Four")]),
        application(DISABLED_API, "disabledApi", secret=None, identifierUris=["api://disabledApi"],
                    servicePrincipal={"accountEnabled": False}),
        application(FOUR_ROLES, "fourRoles"),
        application(NO_ROLES, "noRoles"),
        application(SPECIAL, "specialSecret", secret=SPECIAL_SECRET),
        application(EXPIRED, "expiredSecret", secret=None,
                    passwordCredentials=[{"secretText": WORLD_SECRET, "endDateTime": "2020-01-01T00:00:00Z"}]),
        application(PUBLIC, "publicApp", secret=None, isFallbackPublicClient=True,
                    publicClient={"redirectUris": ["http://localhost"]}),
        application(DISABLED, "disabledApp", servicePrincipal={"accountEnabled": False}),
    ],
    appRoleAssignments=[{"principal": "fourRoles", "resource": "openApi", "appRole": role}
                        for role in ("Role.One", "Role.Three")],
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, signing_dir: Path) -> Harness:
    return make_harness(tmp_path_factory.mktemp("world"), WORLD_SEED, signing_dir)


def world_cc(client: str, secret: str | None = WORLD_SECRET, **changes: str | None) -> dict[str, str]:
    return cc(**{"client_id": client, "client_secret": secret, "scope": "api://openApi/.default", **changes})


# --- §2.1 token endpoint: transport and parsing --------------------------------------------------

CC_FORM = urlencode(cc())
NO_SECRET_FORM = urlencode(cc(client_secret=None))
TOO_BIG = b"a" * (1024 * 1024)

TRANSPORT = [
    pytest.param(get(), denied(catalogue.POST_ONLY), id="T1-get-v2"),
    pytest.param(get(token_path(version=1)), denied(catalogue.POST_ONLY), id="T1-get-v1"),
    pytest.param(Call(method="PUT", body=cc()), denied(catalogue.POST_ONLY), id="T1-put"),
    # Methods outside the route's list get Entra's envelope too, never a text/html 405 (catalogue POST_ONLY).
    *(pytest.param(Call(method=method, path=path), denied(catalogue.POST_ONLY), id=f"T1-{method.lower()}-{name}")
      for method in ("TRACE", "PROPFIND", "CONNECT", "MKCOL", "BREW")
      for name, path in (("token-v2", token_path()), ("token-v1", token_path(version=1)),
                         ("devicecode-v2", f"/{TENANT}/oauth2/v2.0/devicecode"),
                         ("devicecode-v1", "/common/oauth2/devicecode"))),
    pytest.param(raw(json.dumps(cc()), content_type="application/json"), denied(catalogue.MISSING_PARAMETER),
                 id="T2-json-body"),
    pytest.param(post(), denied(catalogue.MISSING_PARAMETER), id="T3-no-body"),
    pytest.param(raw(b""), denied(catalogue.MISSING_PARAMETER), id="T3-empty-form"),
    pytest.param(post(cc(grant_type=None)), denied(catalogue.MISSING_PARAMETER), id="T3-no-grant_type"),
    pytest.param(post(cc(grant_type="foo")), denied(catalogue.UNSUPPORTED_GRANT_TYPE), id="T4-unknown-grant"),
    pytest.param(raw(f"{CC_FORM}&grant_type=client_credentials"), denied(catalogue.MALFORMED_REQUEST),
                 id="T5-grant_type-twice"),
    pytest.param(raw(f"{CC_FORM}&client_id={REPORTING}"), denied(catalogue.MALFORMED_REQUEST),
                 id="T5-two-client_ids"),
    pytest.param(post(cc(client_secret="")), denied(catalogue.CLIENT_CREDENTIALS_NEED_CREDENTIAL),
                 id="T6-empty-secret"),
    pytest.param(raw(f"{NO_SECRET_FORM}&client_secret=&client_assertion="),
                 denied(catalogue.CLIENT_CREDENTIALS_NEED_CREDENTIAL), id="T6-empty-secret-and-assertion"),
    pytest.param(raw(TOO_BIG), denied(catalogue.MALFORMED_REQUEST), id="T7-1MiB"),
    pytest.param(post(cc(padding="a" * 70_000)), denied(catalogue.MALFORMED_REQUEST), id="T7-just-over-64KiB"),
    pytest.param(post(cc(padding="a" * 60_000)), OK, id="T7-just-under-64KiB"),
    pytest.param(raw(TOO_BIG, headers={"Content-Length": "10"}), denied(catalogue.MALFORMED_REQUEST),
                 id="T7-understated-content-length"),
    *(pytest.param(raw(f"{NO_SECRET_FORM}&client_secret={bad}"), denied(catalogue.MALFORMED_REQUEST), id=f"T8-{name}")
      for name, bad in (("bad-escape", "%ZZ"), ("truncated-escape", "abc%4"), ("invalid-utf8", "%FF%FE"),
                        ("nul", "a%00b"), ("lone-surrogate", "%ED%A0%80"))),
    pytest.param(raw(NO_SECRET_FORM.encode() + b"&client_secret=\xff\xfe"), denied(catalogue.MALFORMED_REQUEST),
                 id="T8-raw-non-utf8-bytes"),
    pytest.param(post(cc(client_assertion_type=JWT_BEARER, client_assertion=assertion())),
                 denied(catalogue.MALFORMED_REQUEST), id="T9-secret-and-assertion"),
    pytest.param(post(cc(), headers=basic(CLIENT, CLIENT_SECRET)), denied(catalogue.MALFORMED_REQUEST),
                 id="T10-basic-and-body-secret"),
    pytest.param(post(cc(client_secret=None), headers=basic(REPORTING, REPORTING_SECRET)), INVALID_CLIENT,
                 id="T11-basic-other-app-own-secret"),
    pytest.param(post(cc(client_secret=None), headers=basic(REPORTING, CLIENT_SECRET)), INVALID_CLIENT,
                 id="T11-basic-other-app-body-apps-secret"),
    pytest.param(post(cc(client_secret=None, client_id=REPORTING), headers=basic(CLIENT, CLIENT_SECRET)),
                 INVALID_CLIENT, id="T11-body-other-app"),
    pytest.param(post(cc(client_secret=None), headers={"Authorization": "Basic !!!"}),
                 denied(catalogue.MALFORMED_REQUEST), id="T12-basic-not-base64"),
    pytest.param(post(cc(client_secret=None), headers={"Authorization": "Basic " + b64url(b"no-colon-here")}),
                 denied(catalogue.MALFORMED_REQUEST), id="T12-basic-no-colon"),
    pytest.param(post(cc(client_secret=None), headers={"Authorization": "Basic " + b64url(b":secret-only")}),
                 denied(catalogue.MALFORMED_REQUEST), id="T12-basic-empty-id"),
    pytest.param(post(cc(client_secret=None), headers={"Authorization": "Basic " + "!" * 10_240}),
                 denied(catalogue.MALFORMED_REQUEST), id="T12-basic-10KB"),
    pytest.param(post(cc(), headers={"Authorization": "Bearer x"}), OK, id="T12-bearer-ignored"),
    pytest.param(post(cc(), headers={"Authorization": "Bearer " + "x" * 10_240}), OK, id="T12-bearer-10KB-ignored"),
    pytest.param(post(cc(client_secret=None), headers=basic(CLIENT, CLIENT_SECRET)), OK, id="T13-basic-control"),
    # An unusable `claims` value declares no capability (a choice recorded in oauth/cae.py): a plain token.
    pytest.param(post(cc(claims="{" * 7_000, scope="https://graph.microsoft.com/.default")), OK, id="T13-claims-deep"),
    pytest.param(post(cc(claims="not json", scope="https://graph.microsoft.com/.default")), OK,
                 id="T13-claims-not-json"),
    pytest.param(post(cc(client_secret="wrong-secret-value-123")), denied(catalogue.INVALID_CLIENT_SECRET),
                 id="T14-wrong-secret"),
    pytest.param(post(cc(client_secret=REPORTING_SECRET)), denied(catalogue.INVALID_CLIENT_SECRET),
                 id="T14-another-apps-secret"),
    pytest.param(post(cc(client_secret=CLIENT_SECRET.upper())), denied(catalogue.INVALID_CLIENT_SECRET),
                 id="T14-secret-other-case"),
    pytest.param(post(cc(client_secret=None)), denied(catalogue.CLIENT_CREDENTIALS_NEED_CREDENTIAL),
                 id="T16-no-credential"),
    pytest.param(post(cc(client_id=REPORTING, client_secret=None)),
                 denied(catalogue.CLIENT_CREDENTIALS_NEED_CREDENTIAL), id="T16-no-credential-other-app"),
    pytest.param(post(cc(client_id=str(uuid.UUID(int=7)))), denied(catalogue.APP_NOT_FOUND), id="T18-unknown-guid"),
    pytest.param(post(cc(client_id="a" * 5_000)), denied(catalogue.APP_NOT_FOUND), id="T18-5KB-id"),
    # GUIDs compare case-insensitively (client_auth.canonical_guid), as Entra parses them.
    pytest.param(post(cc(client_id=CLIENT.upper())), OK, id="T18-guid-upper-case"),
    pytest.param(post(cc(), headers={"Origin": "https://evil.example"}), denied(catalogue.CROSS_ORIGIN_REDEMPTION),
                 id="T36-origin-with-secret"),
    pytest.param(post(cc_assertion(assertion()), headers={"Origin": "https://localhost:3000"}),
                 denied(catalogue.CROSS_ORIGIN_REDEMPTION), id="T36-origin-with-assertion"),
    pytest.param(post(cc(), headers={"Origin": "https://" + "o" * 8_000}), denied(catalogue.CROSS_ORIGIN_REDEMPTION),
                 id="T36-origin-8KB"),
    pytest.param(post(cc(scope="api://x/" + "s" * 200_000)), denied(catalogue.MALFORMED_REQUEST),
                 id="T37-200KB-scope"),
    pytest.param(post(cc(scope=" ".join(f"s{i}" for i in range(10_000)))), denied(catalogue.DEFAULT_SCOPE_REQUIRED),
                 id="T37-10000-scopes"),
    pytest.param(post(cc(scope=" ".join(f"r{i}/.default" for i in range(3_000)))),
                 denied(catalogue.MULTIPLE_RESOURCES), id="T37-3000-resources"),
]


@pytest.mark.parametrize(("call", "expect"), TRANSPORT)
def test_token_endpoint_transport_and_parsing(harness: Harness, call: Call, expect: Expect) -> None:
    check(send(harness, call), expect)


# T36 (preflight): what a page's browser asks before a cross-origin POST, made hostile. The answer is
# always 200 with the caller's origin echoed; only well-formed header names (32 at most) are allowed.
PREFLIGHT = [
    pytest.param({"Origin": "https://" + "o" * 8_000}, "https://" + "o" * 8_000, None, id="T36-preflight-8KB-origin"),
    pytest.param({"Origin": "null"}, "null", None, id="T36-preflight-opaque-origin"),
    pytest.param({"Origin": "https://spa.example", "Access-Control-Request-Headers": "content-type, x a, <b>, x-ok,,"},
                 "https://spa.example", "content-type,x-ok", id="T36-preflight-junk-header-names"),
    pytest.param({"Origin": "https://spa.example",
                  "Access-Control-Request-Headers": ",".join(f"x-h{i}" for i in range(2_000))},
                 "https://spa.example", ",".join(f"x-h{i}" for i in range(32)), id="T36-preflight-2000-header-names"),
    pytest.param({"Access-Control-Request-Method": "POST"}, None, None, id="T36-preflight-without-origin"),
]


@pytest.mark.parametrize(("headers", "allow_origin", "allow_headers"), PREFLIGHT)
def test_preflight_with_hostile_headers(harness: Harness, headers: dict[str, str], allow_origin: str | None,
                                        allow_headers: str | None) -> None:
    response = send(harness, Call(headers={"Access-Control-Request-Method": "POST", **headers}, method="OPTIONS"))
    assert response.status_code == 200, _detail(response)
    assert_no_store(response)
    assert response.headers.get("access-control-allow-origin") == allow_origin
    assert response.headers.get("access-control-allow-headers") == allow_headers
    assert response.headers["access-control-allow-methods"] == "POST, OPTIONS"


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    chunk = b"a" * size
    for _ in range(total // size):
        yield chunk


@pytest.mark.parametrize("total", [pytest.param(1 << 20, id="T7-chunked-1MiB"),
                                   pytest.param(20 << 20, id="T7-chunked-20MiB")])
def test_chunked_body_without_content_length_is_capped(harness: Harness, total: int) -> None:
    started = time.monotonic()
    response = harness.client.post(token_path(), content=_chunks(total), headers={"Content-Type": FORM})
    assert time.monotonic() - started < TIME_BUDGET
    check(response, denied(catalogue.MALFORMED_REQUEST))


WORLD_CLIENTS = [
    pytest.param(post(world_cc(SPECIAL, None), headers=basic(SPECIAL, SPECIAL_SECRET)), OK, id="T13-basic-urlencoded"),
    pytest.param(post(world_cc(SPECIAL, SPECIAL_SECRET)), OK, id="T13-body-secret"),
    # Not form-urlencoded: decoded per RFC 6749 §2.3.1 anyway, so '+' is a space and the secret is wrong.
    pytest.param(post(world_cc(SPECIAL, None), headers=basic(SPECIAL, SPECIAL_SECRET, urlencoded=False)),
                 denied(catalogue.INVALID_CLIENT_SECRET), id="T13-basic-not-urlencoded"),
    pytest.param(post(world_cc(EXPIRED)), denied(catalogue.EXPIRED_CLIENT_SECRET), id="T15-expired-secret"),
    pytest.param(post(world_cc(PUBLIC, "any-secret-value-000")), denied(catalogue.PUBLIC_CLIENT_WITH_CREDENTIAL),
                 id="T17-public-client-secret"),
    pytest.param(post(world_cc(PUBLIC, None, client_assertion_type=JWT_BEARER,
                               client_assertion=assertion(client=PUBLIC))),
                 denied(catalogue.PUBLIC_CLIENT_WITH_CREDENTIAL), id="T17-public-client-assertion"),
    pytest.param(post(world_cc(DISABLED)), denied(catalogue.APP_DISABLED), id="C10-client-disabled"),
    pytest.param(post(world_cc(NO_ROLES, scope="api://disabledApi/.default")), denied(catalogue.APP_DISABLED),
                 id="C10-resource-disabled"),
]


@pytest.mark.parametrize(("call", "expect"), WORLD_CLIENTS)
def test_client_registrations(world: Harness, call: Call, expect: Expect) -> None:
    check(send(world, call), expect)


# --- §2.1 client assertions (T19-T35) ------------------------------------------------------------

def nested(depth: int) -> object:
    value: object = []
    for _ in range(depth):
        value = [value]
    return value


GOOD_HEADER = {"alg": "RS256", "typ": "JWT", "x5t": X5T}
CLAIMS = assertion_claims()
ASSERTION_OUTSIDE_SKEW = NOW + 300  # the skew is 120 s (catalogue ASSERTION_TIME_RANGE, a choice)
ASSERTION_INSIDE_SKEW = NOW + 60
MALFORMED = denied(catalogue.MALFORMED_JWT)
BAD_KEY = denied(catalogue.ASSERTION_KEY)
BAD_ALG = denied(catalogue.ASSERTION_ALGORITHM)

ASSERTIONS = [
    pytest.param(cc(client_secret=None, client_assertion=assertion()), denied(catalogue.MISSING_PARAMETER),
                 id="T19-assertion-type-missing"),
    pytest.param(cc_assertion(assertion(), client_assertion_type=JWT_BEARER.replace("jwt", "saml2")),
                 denied(catalogue.MALFORMED_REQUEST), id="T19-assertion-type-wrong"),
    pytest.param(cc_assertion(assertion()), OK, id="T19-control-RS256-x5t"),
    pytest.param(cc_assertion(jws({**GOOD_HEADER, "alg": "none"}, CLAIMS)), BAD_ALG, id="T20-alg-none"),
    pytest.param(cc_assertion(jws({**GOOD_HEADER, "alg": "NONE"}, CLAIMS, rsa_signer(CLIENT_PRIVATE))), BAD_ALG,
                 id="T20-alg-NONE-signed"),
    pytest.param(cc_assertion(jws({**GOOD_HEADER, "alg": "HS256"}, CLAIMS, hmac_signer(CLIENT_PUBLIC_PEM))), BAD_ALG,
                 id="T21-HS256-keyed-with-public-key"),
    pytest.param(cc_assertion(jws({**GOOD_HEADER, "alg": "HS256"}, CLAIMS, hmac_signer(CLIENT_DER))), BAD_ALG,
                 id="T21-HS256-keyed-with-cert-der"),
    pytest.param(cc_assertion(assertion(sign=rsa_signer(ATTACKER))), BAD_KEY, id="T22-unregistered-key-our-x5t"),
    pytest.param(cc_assertion(assertion({"x5t": ATTACKER_X5T}, sign=rsa_signer(ATTACKER))), BAD_KEY,
                 id="T22-unregistered-key-own-x5t"),
    pytest.param(cc_assertion(assertion({"x5t": b64url(secrets.token_bytes(20))})), BAD_KEY, id="T23-unknown-x5t"),
    pytest.param(cc_assertion(assertion({"alg": "PS256", "x5t": None, "x5t#S256": b64url(secrets.token_bytes(32))},
                                        sign=rsa_signer(CLIENT_PRIVATE, "PS256"))), BAD_KEY,
                 id="T23-unknown-x5t#S256"),
    pytest.param(cc_assertion(assertion({"x5t#S256": b64url(secrets.token_bytes(32))})), BAD_KEY,
                 id="T23-x5t-right-x5t#S256-wrong"),
    pytest.param(cc_assertion(assertion({"x5t": ATTACKER_X5T, "x5t#S256": X5T_S256})), BAD_KEY,
                 id="T23-x5t-wrong-x5t#S256-right"),
    pytest.param(cc_assertion(assertion({"x5t": None})), denied(catalogue.ASSERTION_NO_THUMBPRINT),
                 id="T23-no-thumbprint"),
    # A thumbprint that cannot be a real one (too long, not a string, not 20/32 bytes) names no key: it
    # never falls back to the app's first certificate.
    pytest.param(cc_assertion(assertion({"x5t": X5T * 5})), BAD_KEY, id="T23-x5t-over-128-chars"),
    pytest.param(cc_assertion(assertion({"x5t": X5T + "AAAA"})), BAD_KEY, id="T23-x5t-longer-than-sha1"),
    pytest.param(cc_assertion(assertion({"x5t": 5})), BAD_KEY, id="T23-x5t-not-a-string"),
    pytest.param(cc_assertion(assertion({"x5t": ""})), BAD_KEY, id="T23-x5t-empty"),
    pytest.param(cc_assertion(assertion({"x5t": None, "kid": "x", "x5t#S256": X5T_S256 * 4})), BAD_KEY,
                 id="T23-x5t#S256-over-128-chars-beside-kid"),
    pytest.param(cc_assertion(assertion({"x5t#S256": X5T_S256 * 4})), BAD_KEY,
                 id="T23-x5t-right-x5t#S256-over-128-chars"),
    pytest.param(cc_assertion(assertion({"alg": "PS256", "x5t": None, "x5t#S256": X5T_S256 + "AAAA"},
                                        sign=rsa_signer(CLIENT_PRIVATE, "PS256"))), BAD_KEY,
                 id="T23-x5t#S256-longer-than-sha256"),
    pytest.param(cc_assertion(assertion({"alg": "PS256", "x5t": None, "x5t#S256": X5T_S256},
                                        sign=rsa_signer(CLIENT_PRIVATE, "PS256"))), OK,
                 id="T23-control-PS256-x5t#S256"),
    pytest.param(cc_assertion(assertion(claims={"exp": NOW - 300, "nbf": NOW - 900, "iat": NOW - 900})),
                 denied(catalogue.ASSERTION_TIME_RANGE), id="T24-expired-5min"),
    pytest.param(cc_assertion(assertion(claims={"exp": NOW - 60})), OK, id="T24-expired-inside-skew"),
    pytest.param(cc_assertion(assertion(claims={"nbf": ASSERTION_INSIDE_SKEW})), OK, id="T25-nbf-inside-skew"),
    pytest.param(cc_assertion(assertion(claims={"nbf": ASSERTION_OUTSIDE_SKEW})),
                 denied(catalogue.ASSERTION_TIME_RANGE), id="T25-nbf-outside-skew"),
    pytest.param(cc_assertion(assertion(claims={"iat": ASSERTION_INSIDE_SKEW, "nbf": None})), OK,
                 id="T25-iat-inside-skew"),
    # Documented choice: 700024 looks at exp and nbf only (catalogue ASSERTION_TIME_RANGE); MSAL sends no nbf.
    pytest.param(cc_assertion(assertion(claims={"iat": ASSERTION_OUTSIDE_SKEW, "nbf": None})), OK,
                 id="T25-iat-outside-skew-not-checked"),
    pytest.param(cc_assertion(assertion(claims={"exp": None})), MALFORMED, id="T26-exp-missing"),
    pytest.param(cc_assertion(assertion(claims={"exp": "tomorrow"})), MALFORMED, id="T26-exp-not-a-number"),
    pytest.param(cc_assertion(assertion(claims={"exp": NOW + 600.25, "iat": NOW + 0.5, "nbf": None})), OK,
                 id="T26-fractional-times-as-MSAL-sends"),
    pytest.param(cc_assertion(assertion(claims={"sub": REPORTING})),
                 denied(catalogue.ASSERTION_SUBJECT_ISSUER_MISMATCH), id="T27-iss-not-sub"),
    pytest.param(cc_assertion(assertion(claims={"iss": REPORTING, "sub": REPORTING})),
                 denied(catalogue.ASSERTION_CLIENT_MISMATCH), id="T27-iss-not-client_id"),
    pytest.param(cc_assertion(assertion(claims={"sub": None})), denied(catalogue.ASSERTION_CLIENT_MISMATCH),
                 id="T28-sub-missing"),
    pytest.param(cc_assertion(assertion(claims={"iss": None})), denied(catalogue.ASSERTION_CLIENT_MISMATCH),
                 id="T28-iss-missing"),
    *(pytest.param(cc_assertion(assertion(claims={"aud": aud})), denied(catalogue.ASSERTION_AUDIENCE), id=f"T29-{name}")
      for name, aud in (("other-tenant", token_url(OTHER_TENANT)), ("v1-endpoint", token_url(version=1)),
                        ("issuer", f"{ORIGIN}/{TENANT}/v2.0"), ("array-with-non-string", [token_url(), 5]),
                        ("entra-host", f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"))),
    pytest.param(cc_assertion("a.b"), MALFORMED, id="T31-two-segments"),
    pytest.param(cc_assertion("!!!.###.$$$"), MALFORMED, id="T31-bad-base64"),
    pytest.param(cc_assertion(jws(GOOD_HEADER, [CLAIMS], rsa_signer(CLIENT_PRIVATE))), MALFORMED,
                 id="T31-payload-json-array"),
    pytest.param(cc_assertion(jws(None, CLAIMS, rsa_signer(CLIENT_PRIVATE))), MALFORMED, id="T31-header-null"),
    pytest.param(cc_assertion(jws(GOOD_HEADER, nested(50), rsa_signer(CLIENT_PRIVATE))), MALFORMED,
                 id="T31-50-nested-levels"),
    pytest.param(cc_assertion(f"{json_b64(GOOD_HEADER)}.{b64url(b'[' * 5_000)}.c2ln"), MALFORMED,
                 id="T31-5000-nested-levels"),
    pytest.param(cc_assertion(assertion(claims={"pad": "x" * 20_000})), MALFORMED, id="T31-oversized"),
    pytest.param(cc_assertion(assertion({"jku": "https://attacker.example/keys"})), OK, id="T32-jku-not-fetched"),
    pytest.param(cc_assertion(assertion({"x5u": "https://attacker.example/cert.pem"})), OK, id="T32-x5u-not-fetched"),
    pytest.param(cc_assertion(assertion({"jwk": {"kty": "RSA", "n": b64url(ATTACKER.public_key().public_numbers().n
                                                                           .to_bytes(256, "big")), "e": "AQAB"}},
                                        sign=rsa_signer(ATTACKER))), BAD_KEY, id="T32-embedded-jwk-not-trusted"),
    pytest.param(cc_assertion(assertion({"crit": ["foo"], "foo": 1})), MALFORMED, id="T32-crit-unknown"),
    pytest.param(cc_assertion(assertion({"x5t": None, "kid": "' OR 1=1 --"})), BAD_KEY, id="T33-kid-sql"),
    pytest.param(cc_assertion(assertion({"x5t": None, "kid": "../../etc/passwd"})), BAD_KEY, id="T33-kid-path"),
    pytest.param(cc_assertion(assertion({"kid": "' OR 1=1 --"})), OK, id="T33-kid-opaque-beside-x5t"),
    pytest.param(cc_assertion(assertion(sign=rsa_signer(WEAK))), BAD_KEY, id="T34-1024-bit-signature"),
]


@pytest.mark.parametrize(("form", "expect"), ASSERTIONS)
def test_client_assertions(harness: Harness, form: dict[str, str], expect: Expect) -> None:
    check(send(harness, post(form)), expect)


@pytest.mark.parametrize("version", [pytest.param(2, id="T30-v2"), pytest.param(1, id="T30-v1")])
def test_same_assertion_twice_is_accepted(harness: Harness, version: int) -> None:
    """MSAL reuses one assertion (same jti) for minutes: the entra profile accepts the replay."""
    target = {"scope": f"{BACKEND2}/.default"} if version == 2 else {"scope": None, "resource": BACKEND2}
    form = cc_assertion(assertion(claims={"aud": token_url(version=version)}), **target)
    for _ in range(2):
        check(send(harness, post(form, version=version)), OK)


@pytest.mark.parametrize(("scope", "version"), [pytest.param(f"{BACKEND2}/.default", 2, id="T35-v2-access-token"),
                                                pytest.param(f"{BACKEND1_URI}/.default", 1, id="T35-v1-access-token")])
def test_issued_token_is_no_client_assertion(harness: Harness, scope: str, version: int) -> None:
    """An access token's iss is Entra's (v2: this server's origin, v1: sts.windows.net): as client_assertion it
    is taken for a federated credential, and Entra refuses its own tokens there (700222)."""
    issued = check(send(harness, post(cc(scope=scope))), OK)
    assert claims_of(issued)["ver"] == f"{version}.0"
    check(send(harness, post(cc_assertion(issued["access_token"]))), denied(catalogue.FEDERATED_ENTRA_ISSUER))


def weak_certificates() -> Iterator[Any]:
    yield pytest.param(pem(self_signed(WEAK.public_key(), WEAK)), id="T34-seed-1024-bit")
    modulus = secrets.randbits(16_384) | (1 << 16_383) | 1  # a 16384-bit public key costs nothing to make
    huge = rsa.RSAPublicNumbers(65_537, modulus).public_key()
    yield pytest.param(pem(self_signed(huge, CLIENT_PRIVATE)), id="T34-seed-16384-bit")


@pytest.mark.parametrize("certificate", list(weak_certificates()))
def test_weak_or_huge_key_in_seed_is_refused(tmp_path: Path, certificate: str) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(seed_text([application(NO_ROLES, "weakCert", keyCredentials=[{"key": certificate}])]))
    started = time.monotonic()
    with pytest.raises(SeedError) as caught:
        load_seed([seed])
    assert time.monotonic() - started < TIME_BUDGET
    [problem] = caught.value.problems
    assert problem.path == "tenants[0].applications[0].keyCredentials[0].key"
    assert "RSA key" in problem.message


# --- T38/T39: every token response, success or error ---------------------------------------------

ANY_TOKEN_RESPONSE = [
    pytest.param(post(cc()), OK, id="T38-success-v2"),
    pytest.param(post(cc(scope=None, resource=BACKEND1_URI), version=1), OK, id="T38-success-v1"),
    pytest.param(get(), denied(catalogue.POST_ONLY), id="T38-get"),
    pytest.param(post(cc(client_secret="wrong-secret-value-123")), denied(catalogue.INVALID_CLIENT_SECRET),
                 id="T38-401"),
    pytest.param(post(cc(grant_type="foo")), denied(catalogue.UNSUPPORTED_GRANT_TYPE), id="T39-unsupported_grant_type"),
    pytest.param(post(cc(client_id=REPORTING, client_secret=REPORTING_SECRET)), denied(catalogue.APP_NOT_ASSIGNED),
                 id="T39-invalid_grant"),
    pytest.param(post(cc(scope="api://nowhere/.default")), denied(catalogue.RESOURCE_NOT_FOUND),
                 id="T39-invalid_resource"),
    pytest.param(post(cc(scope="api://nowhere/read")), denied(catalogue.DEFAULT_SCOPE_REQUIRED),
                 id="T39-invalid_scope"),
    pytest.param(post(cc(client_id=str(uuid.UUID(int=8)))), denied(catalogue.APP_NOT_FOUND),
                 id="T39-unauthorized_client"),
    pytest.param(post(cc(), tenant=OTHER_TENANT), denied(catalogue.TENANT_NOT_FOUND), id="T39-unknown-tenant-v2"),
    pytest.param(post(cc(scope=None, resource=BACKEND1_URI), tenant=OTHER_TENANT, version=1),
                 denied(catalogue.TENANT_NOT_FOUND), id="T39-unknown-tenant-v1"),
]


@pytest.mark.parametrize(("call", "expect"), ANY_TOKEN_RESPONSE)
def test_every_token_response_is_uncacheable_json_and_errors_are_entras(
        harness: Harness, call: Call, expect: Expect) -> None:
    response = send(harness, call)
    check(response, expect)
    assert response.headers["content-type"] == "application/json; charset=utf-8"


# --- §2.2 client_credentials ----------------------------------------------------------------------

CLIENT_CREDENTIALS = [
    pytest.param(post(cc(scope=f"api://{BACKEND2}/access_as_user")), denied(catalogue.DEFAULT_SCOPE_REQUIRED),
                 id="C1-named-scope"),
    pytest.param(post(cc(scope="openid profile")), denied(catalogue.DEFAULT_SCOPE_REQUIRED), id="C1-oidc-scopes-only"),
    pytest.param(post(cc(scope=f"{BACKEND2}/.default {BACKEND1_URI}/.default")), denied(catalogue.MULTIPLE_RESOURCES),
                 id="C2-two-resources"),
    pytest.param(post(cc(scope=f"{BACKEND2}/.default openid offline_access")), OK, id="C2-oidc-scopes-do-not-count"),
    pytest.param(post(cc(client_id=REPORTING, client_secret=REPORTING_SECRET)), denied(catalogue.APP_NOT_ASSIGNED),
                 id="C3-assignment-required"),
    pytest.param(post(cc(client_id=REPORTING, client_secret=REPORTING_SECRET, scope=None, resource=BACKEND2),
                      version=1), denied(catalogue.APP_NOT_ASSIGNED), id="C3-assignment-required-v1"),
    pytest.param(post(cc(), tenant="common"), denied(catalogue.GRANT_NOT_ON_COMMON), id="C6-common"),
    pytest.param(post(cc(), tenant="consumers"), denied(catalogue.GRANT_NOT_ON_COMMON), id="C6-consumers"),
    pytest.param(post(cc(scope=None, resource=BACKEND2), tenant="common", version=1),
                 denied(catalogue.GRANT_NOT_ON_COMMON), id="C6-common-v1"),
    # Documented choice (evidence I): /organizations names no tenant either -> 50059.
    pytest.param(post(cc(), tenant="organizations"), denied(catalogue.NO_TENANT_INFORMATION), id="C6-organizations"),
    pytest.param(post(cc(scope="api://nowhere/.default")), denied(catalogue.RESOURCE_NOT_FOUND), id="C7-unknown-v2"),
    pytest.param(post(cc(scope=None, resource="api://nowhere"), version=1), denied(catalogue.RESOURCE_NOT_FOUND),
                 id="C7-unknown-v1"),
    pytest.param(post(cc(resource=BACKEND2)), denied(catalogue.RESOURCE_PARAMETER_NOT_SUPPORTED),
                 id="C8-resource-on-v2"),
    pytest.param(post(cc(), version=1), denied(catalogue.MISSING_PARAMETER), id="C8-scope-only-on-v1"),
]


@pytest.mark.parametrize(("call", "expect"), CLIENT_CREDENTIALS)
def test_client_credentials_rules(harness: Harness, call: Call, expect: Expect) -> None:
    check(send(harness, call), expect)


@pytest.mark.parametrize(("seed", "form", "roles"), [
    pytest.param("world", world_cc(NO_ROLES), None, id="C4-not-required-no-roles"),
    pytest.param("harness", cc(client_id=REPORTING, client_secret=REPORTING_SECRET, scope=f"{BACKEND1_URI}/.default"),
                 None, id="C4-demo-testBackend1"),
    pytest.param("world", world_cc(FOUR_ROLES), ["Role.One", "Role.Three"], id="C5-two-of-four"),
    pytest.param("harness", cc(), ["Provisioning.ReadWrite", "Data.Read"], id="C5-demo-application-roles-only"),
])
def test_app_only_roles(request: pytest.FixtureRequest, seed: str, form: dict[str, str],
                        roles: list[str] | None) -> None:
    claims = claims_of(check(send(request.getfixturevalue(seed), post(form)), OK))
    if roles is None:
        assert "roles" not in claims
    else:
        assert sorted(claims["roles"]) == sorted(roles)


@pytest.mark.parametrize("resource", [pytest.param(f"api://{BACKEND2}", id="C9-app-id-uri"),
                                      pytest.param(BACKEND2, id="C9-app-id")])
def test_v2_resource_through_the_v1_endpoint_gets_a_v2_token(harness: Harness, resource: str) -> None:
    body = check(send(harness, post(cc(scope=None, resource=resource), version=1)), OK)
    assert body["resource"] == resource and isinstance(body["expires_in"], str)  # v1 response shape
    claims = claims_of(body)
    assert (claims["iss"], claims["ver"], claims["aud"]) == (f"{ORIGIN}/{TENANT}/v2.0", "2.0", BACKEND2)


# --- §2.13 discovery ------------------------------------------------------------------------------

def discovery_path(segment: str, version: int) -> str:
    return f"/{segment}/v2.0/.well-known/openid-configuration" if version == 2 else (
        f"/{segment}/.well-known/openid-configuration")


V2_TEMPLATE = f"{ORIGIN}/{{tenantid}}/v2.0"
V1_TEMPLATE = "https://sts.windows.net/{tenantid}/"


@pytest.mark.parametrize(("segment", "version", "url_segment", "issuer"), [
    pytest.param(TENANT, 2, TENANT, f"{ORIGIN}/{TENANT}/v2.0", id="G1-v2-guid"),
    pytest.param(DOMAIN, 2, TENANT, f"{ORIGIN}/{TENANT}/v2.0", id="G1-v2-domain-shows-guid"),
    pytest.param(DOMAIN.upper(), 2, TENANT, f"{ORIGIN}/{TENANT}/v2.0", id="G1-v2-domain-upper-case"),
    pytest.param("common", 2, "common", V2_TEMPLATE, id="G1-v2-common"),
    pytest.param("organizations", 2, "organizations", V2_TEMPLATE, id="G1-v2-organizations"),
    pytest.param("consumers", 2, "consumers", f"{ORIGIN}/{MSA_TENANT}/v2.0", id="G1-v2-consumers"),
    pytest.param(TENANT, 1, TENANT, f"https://sts.windows.net/{TENANT}/", id="G1-v1-guid"),
    pytest.param(DOMAIN, 1, TENANT, f"https://sts.windows.net/{TENANT}/", id="G1-v1-domain-shows-guid"),
    pytest.param("common", 1, "common", V1_TEMPLATE, id="G1-v1-common"),
    pytest.param("organizations", 1, "organizations", V1_TEMPLATE, id="G1-v1-organizations"),
])
def test_discovery_documents(harness: Harness, segment: str, version: int, url_segment: str, issuer: str) -> None:
    doc = check(send(harness, get(discovery_path(segment, version))), OK, token_endpoint=False)
    base = f"{ORIGIN}/{url_segment}"
    oauth2 = f"{base}/oauth2/v2.0" if version == 2 else f"{base}/oauth2"
    jwks = f"{base}/discovery/v2.0/keys" if version == 2 else f"{ORIGIN}/common/discovery/keys"
    assert doc["issuer"] == issuer
    assert (doc["token_endpoint"], doc["authorization_endpoint"], doc["end_session_endpoint"]) == (
        f"{oauth2}/token", f"{oauth2}/authorize", f"{oauth2}/logout")
    assert (doc["device_authorization_endpoint"], doc["jwks_uri"]) == (f"{oauth2}/devicecode", jwks)
    assert doc["tenant_region_scope"] == ("WW" if url_segment == TENANT else None)
    assert doc["token_endpoint_auth_methods_supported"] == ["client_secret_post", "private_key_jwt",
                                                            "client_secret_basic"]
    assert "code_challenge_methods_supported" not in doc and "grant_types_supported" not in doc
    urls = [v for k, v in doc.items() if isinstance(v, str) and v.startswith("https://") and k != "issuer"]
    assert all(u.startswith((ORIGIN, "https://graph.microsoft.com", "https://pas.windows.net")) for u in urls), urls


NOT_A_TENANT = [
    pytest.param(segment, spec, id=f"G2-{name}") for name, segment, spec in (
        ("unknown-guid", OTHER_TENANT, catalogue.TENANT_NOT_FOUND),
        ("unknown-domain", "nosuch.example.com", catalogue.TENANT_NOT_FOUND),
        ("malformed-spaces", quote("not a tenant", safe=""), catalogue.INVALID_TENANT_IDENTIFIER),
        ("malformed-300-chars", "a" * 300, catalogue.INVALID_TENANT_IDENTIFIER),
        # Discovery takes a word of name characters for a tenant name (catalogue TENANT_NOT_FOUND): 90002.
        ("word-guid-suffix", f"{TENANT}x", catalogue.TENANT_NOT_FOUND),
        ("word", "secrets", catalogue.TENANT_NOT_FOUND),
        ("malformed-braces", quote("{{tenantid}}", safe=""), catalogue.INVALID_TENANT_IDENTIFIER),
    )
]


@pytest.mark.parametrize("kind", ["v2.0/.well-known/openid-configuration", ".well-known/openid-configuration",
                                  "discovery/v2.0/keys", "discovery/keys"])
@pytest.mark.parametrize(("segment", "spec"), NOT_A_TENANT)
def test_discovery_for_no_tenant(harness: Harness, segment: str, spec: ErrorSpec, kind: str) -> None:
    response = send(harness, get(f"/{segment}/{kind}"))
    body = check(response, denied(spec, at_token_endpoint=False), token_endpoint=False)
    assert body["error"] == ("invalid_tenant" if spec is catalogue.TENANT_NOT_FOUND else "invalid_request")


@pytest.mark.parametrize(("segment", "call", "version"), [
    pytest.param(TENANT, post(cc()), 2, id="G3-v2"),
    pytest.param(DOMAIN, post(cc(), tenant=DOMAIN), 2, id="G3-v2-domain"),
    pytest.param(TENANT, post(cc(scope=None, resource=BACKEND1_URI), version=1), 1, id="G3-v1"),
    pytest.param(TENANT, post(cc(scope=f"{BACKEND1_URI}/.default")), 1, id="G3-v1-token-from-v2-endpoint"),
])
def test_discovery_issuer_is_the_issued_iss(harness: Harness, segment: str, call: Call, version: int) -> None:
    """The discovery document of the token's version names the token's `iss` as its issuer."""
    claims = claims_of(check(send(harness, call), OK))
    doc = check(send(harness, get(discovery_path(segment, version))), OK, token_endpoint=False)
    assert claims["ver"] == f"{version}.0"
    assert doc["issuer"] == claims["iss"]


INSTANCE = "/common/discovery/instance"
UNKNOWN_INSTANCE = denied(catalogue.UNKNOWN_INSTANCE, at_token_endpoint=False)
ODD_AUTHORIZATION_ENDPOINTS = [
    ("unclosed-ipv6", "https://[::1/x", UNKNOWN_INSTANCE),
    ("ipv6-garbage", "https://[zz::1]/common/oauth2/v2.0/authorize", UNKNOWN_INSTANCE),
    ("ipvfuture", "https://[v1.x]/common", UNKNOWN_INSTANCE),
    ("ipv6-port-out-of-range", "https://[::1]:99999/common", UNKNOWN_INSTANCE),
    ("port-not-a-number", "https://localhost:abc/common", UNKNOWN_INSTANCE),
    ("port-out-of-range", "https://localhost:65536/common", UNKNOWN_INSTANCE),
    ("port-40-digits", f"https://localhost:{'9' * 40}/x", UNKNOWN_INSTANCE),
    ("nfkc-netloc", "https://local\uff03host/common", UNKNOWN_INSTANCE),
    ("fullwidth-slash", "https://localhost\uff0fcommon", UNKNOWN_INSTANCE),
    ("userinfo", "https://user:pw@evil.example@localhost/common", UNKNOWN_INSTANCE),
    ("user-only", "https://evil.example@localhost/common", UNKNOWN_INSTANCE),
    ("only-scheme", "https://", UNKNOWN_INSTANCE),
    ("no-scheme", "//localhost/common", UNKNOWN_INSTANCE),
    ("http", "http://localhost/common", UNKNOWN_INSTANCE),
    ("javascript", "javascript:alert(1)", UNKNOWN_INSTANCE),
    ("nul-in-host", "https://local\x00host/", UNKNOWN_INSTANCE),
    ("percent-host", "https://%6c%6fcalhost/common", UNKNOWN_INSTANCE),
    ("many-brackets", "https://" + "[" * 500, UNKNOWN_INSTANCE),
    ("unicode-host", "https://l\u00f6calhost/common", UNKNOWN_INSTANCE),
    ("bare-word", "localhost", UNKNOWN_INSTANCE),
    ("spaces", "   ", UNKNOWN_INSTANCE),
    # The path is not checked (the tenant's own discovery answers for it): these still get an answer.
    ("crlf-in-path", "https://localhost/\r\nX-Injected: 1", OK),
    ("10KB-path", "https://localhost/" + "a" * 10_000, OK),
    ("control", "https://localhost/common/oauth2/v2.0/authorize", OK),
]


@pytest.mark.parametrize(("endpoint", "expect"), [pytest.param(e, x, id=f"G4-{name}")
                                                  for name, e, x in ODD_AUTHORIZATION_ENDPOINTS])
@pytest.mark.parametrize("api_version", ["1.1", "1.0"])
def test_instance_discovery_of_odd_urls_is_never_a_5xx(harness: Harness, endpoint: str, expect: Expect,
                                                       api_version: str) -> None:
    """A little fuzzing of instance discovery: an authorization_endpoint that is no https URL of this
    server's hosts (unparseable, bad port, user info) is AADSTS50049, as for an unknown host."""
    query = urlencode({"api-version": api_version, "authorization_endpoint": endpoint})
    body = check(send(harness, get(f"{INSTANCE}?{query}")), expect, token_endpoint=False)
    if expect is OK:
        assert body["tenant_discovery_endpoint"].startswith(f"{ORIGIN}/")


@pytest.mark.parametrize("query", [
    pytest.param("api-version=1.1", id="G4-no-endpoint"),
    pytest.param("api-version=9.9&authorization_endpoint=https://localhost/common", id="G4-unknown-api-version"),
    pytest.param("api-version=1.1&authorization_endpoint=", id="G4-empty-endpoint"),
    *(pytest.param(urlencode({"api-version": v, "authorization_endpoint": f"{ORIGIN}/common/oauth2/authorize"}),
                   id=f"G4-api-version-{name}")
      for name, v in (("empty", ""), ("nul", "1.1\x00"), ("10KB", "1" * 10_000), ("sql", "1.1' OR 1=1 --"),
                      ("unicode", "\u0661.\u0661"), ("spaces", " 1.1 "))),
])
def test_instance_discovery_without_a_usable_request_is_malformed(harness: Harness, query: str) -> None:
    check(send(harness, get(f"{INSTANCE}?{query}")), denied(catalogue.MALFORMED_INSTANCE_REQUEST,
                                                            at_token_endpoint=False), token_endpoint=False)


# --- §2.10 injection and seed data ----------------------------------------------------------------

@pytest.mark.parametrize("template", [
    pytest.param('tenants: !!python/object/apply:os.system ["touch {marker}"]\n', id="I1-apply-os-system"),
    pytest.param('tenants:\n  - !!python/object/new:os.system ["touch {marker}"]\n', id="I1-new-os-system"),
    pytest.param("tenants: !!python/name:os.system\n", id="I1-name"),
])
def test_python_tags_are_refused_and_never_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               template: str) -> None:
    ran: list[object] = []
    monkeypatch.setattr(os, "system", lambda *a: ran.append(a))
    marker = tmp_path / "pwned"
    seed = tmp_path / "seed.yaml"
    seed.write_text(template.format(marker=marker))
    with pytest.raises(SeedError) as caught:
        load_seed([seed])
    assert caught.value.problems and str(seed) in str(caught.value)
    assert not marker.exists() and ran == []


def billion_laughs(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\ntenants: []\n"


@pytest.mark.parametrize("text", [
    pytest.param(billion_laughs(), id="I2-billion-laughs"),
    pytest.param("tenants: &t []\nmore: *t\n", id="I2-single-alias"),
    pytest.param("tenants: []\n" + "# padding\n" * 120_000, id="I2-over-1MiB"),
])
def test_alias_bombs_and_huge_seeds_are_refused_quickly(tmp_path: Path, text: str) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(text)
    started = time.monotonic()
    with pytest.raises(SeedError):
        load_seed([seed])
    assert time.monotonic() - started < 1.0


I3_APP: dict[str, Any] = application("0b000000-0000-4000-8000-00000000b001", "seedApp",
                                     web={"redirectUris": ["https://app.example.com/callback"]})
BROKEN_PEM = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
APP0 = "tenants[0].applications[0]"


def i3_app(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(I3_APP), **changes}


def redirect(uri: str) -> list[dict[str, Any]]:
    return [i3_app(web={"redirectUris": [uri]})]


@pytest.mark.parametrize(("apps", "path", "needle", "nth"), [
    pytest.param([i3_app(colour="blue")], f"{APP0}.colour", "colour:", 1, id="I3-unknown-key"),
    pytest.param([i3_app(isFallbackPublicClient="maybe")], f"{APP0}.isFallbackPublicClient", "isFallbackPublicClient",
                 1, id="I3-wrong-type"),
    pytest.param([i3_app(appRoles="Admin")], f"{APP0}.appRoles", "appRoles:", 1, id="I3-wrong-type-list"),
    pytest.param([I3_APP, i3_app(displayName="seedApp2")], "tenants[0].applications[1].appId", "appId:", 2,
                 id="I3-duplicate-appId"),
    pytest.param(redirect("https://app.example.com/cb#fragment"), f"{APP0}.web.redirectUris[0]", "#fragment", 1,
                 id="I3-fragment"),
    pytest.param(redirect("http://app.example.com/cb"), f"{APP0}.web.redirectUris[0]", "http://app.example.com", 1,
                 id="I3-http-not-localhost"),
    pytest.param(redirect("https://*.example.com/cb"), f"{APP0}.web.redirectUris[0]", "*.example.com", 1,
                 id="I3-wildcard"),
    pytest.param(redirect("https://app.example.com/" + "a" * 250), f"{APP0}.web.redirectUris[0]", "a" * 250, 1,
                 id="I3-uri-over-256"),
    # No URL at all for urlsplit: a problem at its path, not a ValueError traceback.
    pytest.param(redirect("https://[::1/cb"), f"{APP0}.web.redirectUris[0]", "[::1/cb", 1, id="I3-unclosed-ipv6"),
    pytest.param(redirect("https://app\uff03example.com/cb"), f"{APP0}.web.redirectUris[0]", "example.com/cb", 1,
                 id="I3-nfkc-host"),
    pytest.param([i3_app(publicClient={"redirectUris": ["http://[zz::1]/cb"]})],
                 f"{APP0}.publicClient.redirectUris[0]", "zz::1", 1, id="I3-public-client-bad-ipv6"),
    pytest.param([i3_app(passwordCredentials=[{"secretText": "short-secret"}])],
                 f"{APP0}.passwordCredentials[0].secretText", "short-secret", 1, id="I3-secret-under-16"),
    pytest.param([i3_app(keyCredentials=[{"key": BROKEN_PEM}])], f"{APP0}.keyCredentials[0].key",
                 "BEGIN CERTIFICATE", 1, id="I3-broken-pem"),
])
def test_seed_problems_name_path_and_line_and_store_nothing(
        tmp_path: Path, signing_dir: Path, apps: list[dict[str, Any]], path: str, needle: str, nth: int) -> None:
    good = make_harness(tmp_path, seed_text([I3_APP]), signing_dir)
    url = good.settings.resolved_database_url
    before = Store(make_engine(url)).load_directory()
    text = seed_text(apps)
    line = [i for i, row in enumerate(text.splitlines(), 1) if needle in row][nth - 1]
    with pytest.raises(SeedError) as caught:
        make_harness(tmp_path, text, signing_dir)  # same data dir: a start-up with the broken seed
    problems = [p for p in caught.value.problems if p.path == path]
    assert problems, f"no problem at {path}: {caught.value}"
    assert problems[0].line == line and f":{line}: {path}: " in str(caught.value), str(caught.value)
    assert Store(make_engine(url)).load_directory() == before  # the earlier seed is intact, nothing half-stored


I4 = [
    *(pytest.param(post(cc(client_id=value)), denied(catalogue.APP_NOT_FOUND), id=f"I4-client_id-{name}")
      for name, value in (("sql", "' OR 1=1 --"), ("percent", "%"), ("underscore", "_"),
                          ("like-one-char", CLIENT[:-1] + "_"), ("like-suffix", CLIENT[:-4] + "%"),
                          ("union", f"{CLIENT}' UNION SELECT * FROM application --"))),
    *(pytest.param(post(cc(), tenant=quote(value, safe="")),
                   denied(catalogue.INVALID_TENANT_IDENTIFIER), id=f"I4-tenant-{name}")
      for name, value in (("sql", "' OR 1=1 --"), ("percent", "%"), ("underscore", "_"),
                          ("like-one-char", TENANT[:-1] + "_"), ("like-domain", "%.onmicrosoft.com"),
                          ("domain-underscore", "contoso.onmicrosoft.co_"))),
    *(pytest.param(post(cc(scope=f"{value}/.default")), denied(catalogue.RESOURCE_NOT_FOUND), id=f"I4-scope-{name}")
      for name, value in (("sql", "api://x';DROP-TABLE-application;--"), ("percent", "%"), ("underscore", "_"),
                          ("like-one-char", BACKEND2[:-1] + "_"), ("like-suffix", "api://%"))),
    pytest.param(post(cc(scope=None, resource="%"), version=1), denied(catalogue.RESOURCE_NOT_FOUND),
                 id="I4-resource-percent"),
]


@pytest.mark.parametrize(("call", "expect"), I4)
def test_sql_and_like_metacharacters_are_literals(harness: Harness, call: Call, expect: Expect) -> None:
    check(send(harness, call), expect)



# --- X3: request heads over the limits, against `mockidp serve` over real sockets ----------------
# The in-process harness has no HTTP parser: these rows go through the server's, byte by byte.

def _request(*fields: bytes, target: bytes = b"/_mockidp/health") -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        yield b"\r\n".join([b"GET " + target + b" HTTP/1.1", b"Host: localhost", *fields, b"", b""])
    return chunks


def _one_header_of(size: int) -> Callable[[], Iterator[bytes]]:
    """One header field of `size` bytes, sent 64 KiB at a time (a client that would send it all)."""
    def chunks() -> Iterator[bytes]:
        yield b"GET /_mockidp/health HTTP/1.1\r\nHost: localhost\r\nX-Big: "
        piece = b"a" * 65536
        for _ in range(size // len(piece)):
            yield piece
        yield b"\r\n\r\n"
    return chunks


HEADS = [
    pytest.param(_one_header_of(8 << 20), 400, id="X3-8MB-header"),
    pytest.param(_one_header_of(300 << 20), 400, id="X3-300MB-header"),
    pytest.param(_request(*(b"X-%d: a" % i for i in range(50_000))), 400, id="X3-50000-headers"),
    pytest.param(_request(*(b"X-%d: a" % i for i in range(100))), 400, id="X3-101-header-fields"),
    pytest.param(_request(b"X-Big: " + b"a" * 40_000), 400, id="X3-40KB-header-in-one-piece"),
    pytest.param(_request(target=b"/_mockidp/health?" + b"a" * 40_000), 400, id="X3-40KB-request-line"),
    pytest.param(_request(*(b"X-%d: a" % i for i in range(99))), 200, id="X3-100-header-fields-control"),
    pytest.param(_request(b"X-Big: " + b"a" * 30_000), 200, id="X3-30KB-header-control"),
]


@pytest.fixture(scope="module", params=["tls", "plain"])
def head_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tls = () if request.param == "tls" else ("--no-tls",)
    served = Served(tmp_path_factory.mktemp("heads") / "data", "--workers", "2", *tls)
    try:
        served.wait()
        yield served
    finally:
        served.stop()


class TestRequestHeadsOverRealSockets:
    @pytest.fixture(autouse=True)
    def no_network(self) -> Iterator[None]:
        """Replaces the module's guard: these tests connect to a `mockidp serve` subprocess on loopback
        (mockidp's own outbound connections would happen in that subprocess, not here)."""
        yield

    @pytest.mark.parametrize(("chunks", "status"), HEADS)
    def test_request_heads_over_the_limits_get_400_at_once(
            self, head_server: Served, chunks: Callable[[], Iterator[bytes]], status: int) -> None:
        with connect(head_server) as sock:
            answer = send_until_answered(sock, chunks())
        assert answer.status == status, answer.head[:200]
        assert answer.seconds < 2 * TIME_BUDGET
        if status == 400:
            assert b"The size of the request headers is too long." in answer.head
            assert answer.sent < 32 << 20  # answered long before the end of what the client would send
        with head_server.client() as c:  # and no worker is left busy with it
            started = time.monotonic()
            assert c.get("/_mockidp/health").status_code == 200
            assert time.monotonic() - started < TIME_BUDGET
