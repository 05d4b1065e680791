"""Real, unmodified clients (MSAL Python, azure-identity, PyJWT) against a live mockidp over TLS.

Every client is made to trust the mock's CA only through in-code options, because the ambient
REQUESTS_CA_BUNDLE / SSL_CERT_FILE point at the system bundle and would otherwise win.
"""

from __future__ import annotations

import base64
import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import msal
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline import PipelineRequest
from azure.identity import CertificateCredential, ClientSecretCredential
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from mockidp.testing import forms
from mockidp.testing.entra import assert_entra_error
from mockidp.testing.jwts import header_of
from tests.conftest import (
    BACKEND1_URI,
    BACKEND2,
    CLIENT,
    CLIENT_CERT,
    CLIENT_KEY,
    CLIENT_SECRET,
    REPORTING,
    REPORTING_SECRET,
    TENANT,
    LiveServer,
)

pytestmark = pytest.mark.clients

BACKEND2_SCOPE = f"api://{BACKEND2}/.default"
BACKEND1_SCOPE = f"{BACKEND1_URI}/.default"
DOMAIN = "contoso.onmicrosoft.com"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
UNASSIGNED_501051 = (
    "AADSTS501051: Application '3f2c1a8e-5b7d-4e21-9c0a-6d4b8e2f7a13'(reportingJob) is not assigned to a "
    "role for the application 'api://8d138478-d3a3-47f5-a233-1408cd6baae4'(testBackend2)."
)


# --------------------------------------------------------------------------------------------- helpers


class Wire:
    """A requests.Session that trusts only the mock's CA (immune to REQUESTS_CA_BUNDLE, as MSAL's
    ``http_client``) and records every request it sent."""

    def __init__(self, ca: str) -> None:
        self.session = requests.Session()
        self.session.verify = ca
        self.session.trust_env = False
        self.sent: list[requests.PreparedRequest] = []
        self.session.hooks["response"].append(self._record)

    def _record(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        self.sent.append(response.request)

    def get_json(self, url: str) -> dict[str, Any]:
        response = self.session.get(url)
        assert response.status_code == 200, response.text
        return response.json()

    def token_posts(self) -> list[requests.PreparedRequest]:
        return [r for r in self.sent if r.method == "POST" and urlsplit(r.url or "").path.endswith("/token")]

    def last_token_form(self) -> dict[str, str]:
        posts = self.token_posts()
        assert posts, f"no token request was sent: {[r.url for r in self.sent]}"
        body = posts[-1].body
        text = body.decode() if isinstance(body, bytes) else str(body)
        return {k: v[0] for k, v in parse_qs(text).items()}


@pytest.fixture
def wire(live: LiveServer) -> Iterator[Wire]:
    w = Wire(live.ca)
    yield w
    w.session.close()


def msal_app(live: LiveServer, wire: Wire, credential: str | dict[str, str], *, client: str = CLIENT,
             tenant: str = TENANT, **kwargs: Any) -> msal.ConfidentialClientApplication:
    kwargs.setdefault("instance_discovery", False)
    return msal.ConfidentialClientApplication(client, client_credential=credential,
                                              authority=f"{live.origin}/{tenant}", http_client=wire.session,
                                              **kwargs)


def azure_kwargs(live: LiveServer, **extra: Any) -> dict[str, Any]:
    return {"authority": live.origin, "disable_instance_discovery": True, "connection_verify": live.ca,
            **extra}


def discovery(wire: Wire, live: LiveServer, version: int) -> dict[str, Any]:
    suffix = "/v2.0" if version == 2 else ""
    return wire.get_json(f"{live.origin}/{TENANT}{suffix}/.well-known/openid-configuration")


def verify(wire: Wire, live: LiveServer, token: str, *, audience: str, version: int = 2,
           issuer: str | None = None, jwks_uri: str | None = None) -> dict[str, Any]:
    """Signature, iss and aud checked by PyJWT with the keys (and issuer) named by the discovery document."""
    doc = discovery(wire, live, version)
    jwks = jwt.PyJWKClient(jwks_uri or doc["jwks_uri"], cache_keys=False,
                           ssl_context=ssl.create_default_context(cafile=live.ca))
    key = jwks.get_signing_key_from_jwt(token)
    assert header_of(token)["alg"] == "RS256"
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=audience,
                      issuer=issuer if issuer is not None else doc["issuer"],
                      options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]})


def access_token(result: dict[str, Any]) -> str:
    assert "access_token" in result, result
    return str(result["access_token"])


def assert_backend2_app_token(claims: dict[str, Any], *, azpacr: str) -> None:
    assert claims["aud"] == BACKEND2
    assert claims["azp"] == CLIENT
    assert claims["azpacr"] == azpacr
    assert claims["ver"] == "2.0"
    assert claims["roles"] == ["Provisioning.ReadWrite", "Data.Read"]
    assert claims["oid"] == claims["sub"]
    assert GUID.match(claims["oid"])
    assert claims["tid"] == TENANT
    assert claims["iat"] == claims["nbf"]
    assert claims["exp"] - claims["iat"] == 3900


def cert_pem() -> bytes:
    return CLIENT_CERT.read_bytes()


def cert_der() -> bytes:
    return x509.load_pem_x509_certificate(cert_pem()).public_bytes(Encoding.DER)


def sha1_thumbprint_hex() -> str:
    return x509.load_pem_x509_certificate(cert_pem()).fingerprint(hashes.SHA1()).hex()


b64url = forms.b64url


# ------------------------------------------------------------------------------------------ MSAL Python


def test_msal_secret_gets_a_v2_app_token_for_backend2_that_verifies_against_the_v2_discovery_keys(
        live: LiveServer, wire: Wire) -> None:
    result = msal_app(live, wire, CLIENT_SECRET).acquire_token_for_client([BACKEND2_SCOPE])

    token = access_token(result)
    doc = discovery(wire, live, 2)
    assert doc["issuer"] == f"{live.origin}/{TENANT}/v2.0"
    claims = verify(wire, live, token, audience=BACKEND2)
    assert claims["iss"] == doc["issuer"]
    assert_backend2_app_token(claims, azpacr="1")
    assert result["token_type"] == "Bearer"
    assert 3590 <= result["expires_in"] <= 3600
    assert wire.last_token_form()["client_secret"] == CLIENT_SECRET


def test_msal_authority_by_domain_name_still_gets_a_token_with_the_tenant_guid(
        live: LiveServer, wire: Wire) -> None:
    result = msal_app(live, wire, CLIENT_SECRET, tenant=DOMAIN).acquire_token_for_client([BACKEND2_SCOPE])

    token = access_token(result)
    assert wire.sent[0].url == f"{live.origin}/{DOMAIN}/v2.0/.well-known/openid-configuration"
    assert wire.token_posts()[-1].url == f"{live.origin}/{TENANT}/oauth2/v2.0/token"  # as Entra's document says
    claims = verify(wire, live, token, audience=BACKEND2)
    assert claims["iss"] == f"{live.origin}/{TENANT}/v2.0"
    assert_backend2_app_token(claims, azpacr="1")


@pytest.mark.parametrize(("proof", "alg", "header_keys", "absent_keys"), [
    pytest.param("public_certificate", "PS256", {"x5t#S256", "x5c"}, {"x5t"}, id="public_certificate-PS256"),
    pytest.param("thumbprint", "RS256", {"x5t"}, {"x5c", "x5t#S256"}, id="thumbprint-RS256"),
])
def test_msal_certificate_credential_gets_a_token_with_azpacr_2(
        live: LiveServer, wire: Wire, proof: str, alg: str, header_keys: set[str],
        absent_keys: set[str]) -> None:
    credential = {"private_key": CLIENT_KEY.read_text(),
                  proof: cert_pem().decode() if proof == "public_certificate" else sha1_thumbprint_hex()}

    result = msal_app(live, wire, credential).acquire_token_for_client([BACKEND2_SCOPE])

    claims = verify(wire, live, access_token(result), audience=BACKEND2)
    assert_backend2_app_token(claims, azpacr="2")
    form = wire.last_token_form()
    assert "client_secret" not in form
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    header = header_of(form["client_assertion"])
    assert header["alg"] == alg
    assert header_keys <= header.keys()
    assert not absent_keys & header.keys()


def test_msal_unassigned_client_is_refused_by_backend2_with_aadsts501051(
        live: LiveServer, wire: Wire) -> None:
    app = msal_app(live, wire, REPORTING_SECRET, client=REPORTING)

    result = app.acquire_token_for_client([BACKEND2_SCOPE])

    assert "access_token" not in result
    assert_entra_error(result, 501051, error="invalid_grant")
    assert result["error_description"].startswith(UNASSIGNED_501051), result["error_description"]


def test_msal_unassigned_client_gets_a_v1_token_without_roles_for_backend1(
        live: LiveServer, wire: Wire) -> None:
    app = msal_app(live, wire, REPORTING_SECRET, client=REPORTING)

    result = app.acquire_token_for_client([BACKEND1_SCOPE])

    token = access_token(result)
    doc = discovery(wire, live, 1)
    assert doc["issuer"] == f"https://sts.windows.net/{TENANT}/"
    assert doc["jwks_uri"] == f"{live.origin}/common/discovery/keys"  # as Entra's v1 document says
    claims = verify(wire, live, token, audience=BACKEND1_URI, version=1,
                    jwks_uri=f"{live.origin}/{TENANT}/discovery/keys")
    assert verify(wire, live, token, audience=BACKEND1_URI, version=1) == claims
    assert claims["iss"] == f"https://sts.windows.net/{TENANT}/"
    assert claims["aud"] == BACKEND1_URI
    assert claims["appid"] == REPORTING
    assert claims["ver"] == "1.0"
    assert claims["tid"] == TENANT
    assert "roles" not in claims
    assert "azp" not in claims


def test_msal_wrong_secret_is_invalid_client_7000215_echoing_the_client_request_id(
        live: LiveServer, wire: Wire) -> None:
    result = msal_app(live, wire, "not-the-secret").acquire_token_for_client([BACKEND2_SCOPE])

    assert "access_token" not in result
    assert_entra_error(result, 7000215, error="invalid_client", starts="Invalid client secret provided.")
    sent_id = wire.token_posts()[-1].headers["client-request-id"]
    assert GUID.match(sent_id)
    assert result["correlation_id"] == sent_id


def test_msal_instance_discovery_at_the_mock_leads_to_a_token(live: LiveServer, wire: Wire) -> None:
    app = msal_app(live, wire, CLIENT_SECRET, instance_discovery=f"{live.origin}/common/discovery/instance")

    result = app.acquire_token_for_client([BACKEND2_SCOPE])

    claims = verify(wire, live, access_token(result), audience=BACKEND2)
    assert_backend2_app_token(claims, azpacr="1")
    instance, tenant_config = (urlsplit(r.url or "") for r in wire.sent[:2])
    assert f"{instance.scheme}://{instance.netloc}{instance.path}" == f"{live.origin}/common/discovery/instance"
    # MSAL drops the port from the authority it asks about; the mock answers with the origin it was reached on
    assert parse_qs(instance.query)["authorization_endpoint"] == [
        f"https://localhost/{TENANT}/oauth2/v2.0/authorize"]
    assert tenant_config.geturl() == f"{live.origin}/{TENANT}/v2.0/.well-known/openid-configuration"
    assert wire.token_posts()[-1].url == f"{live.origin}/{TENANT}/oauth2/v2.0/token"


# ----------------------------------------------------------------------------------------- azure-identity


def test_azure_identity_client_secret_credential_gets_a_verifiable_backend2_token(
        live: LiveServer, wire: Wire) -> None:
    with ClientSecretCredential(TENANT, CLIENT, CLIENT_SECRET, **azure_kwargs(live)) as credential:
        token = credential.get_token(BACKEND2_SCOPE)

    claims = verify(wire, live, token.token, audience=BACKEND2)
    assert_backend2_app_token(claims, azpacr="1")
    assert 0 <= claims["exp"] - token.expires_on <= 5  # expires_on = local clock + expires_in


@pytest.mark.parametrize("send_chain", [False, True], ids=["default", "send_certificate_chain"])
def test_azure_identity_certificate_credential_from_a_key_and_cert_pem_gets_a_token(
        live: LiveServer, wire: Wire, tmp_path: Path, send_chain: bool) -> None:
    pem = tmp_path / "testClient.pem"
    pem.write_bytes(CLIENT_KEY.read_bytes() + cert_pem())
    sent: list[dict[str, Any]] = []

    def record(request: PipelineRequest) -> None:
        if request.http_request.method == "POST":
            sent.append(dict(request.http_request.data or {}))

    with CertificateCredential(TENANT, CLIENT, str(pem), send_certificate_chain=send_chain,
                               **azure_kwargs(live, raw_request_hook=record)) as credential:
        token = credential.get_token(BACKEND2_SCOPE)

    claims = verify(wire, live, token.token, audience=BACKEND2)
    assert_backend2_app_token(claims, azpacr="2")
    assert len(sent) == 1
    header = header_of(sent[0]["client_assertion"])
    assert header["alg"] == "RS256"
    assert header["x5t"].rstrip("=") == b64url(bytes.fromhex(sha1_thumbprint_hex()))
    if send_chain:
        assert base64.b64decode(header["x5c"][0]) == cert_der()
    else:
        assert "x5c" not in header


def test_azure_identity_unassigned_client_raises_client_authentication_error_with_aadsts501051(
        live: LiveServer) -> None:
    # "Connection: close": azure-identity keeps its last error response on the credential, pytest's log
    # capture keeps the logged exception, and (urllib3 2) that response keeps its pool and keep-alive
    # TLS socket open until a gc pass; the live server's shutdown would wait 10 s for it.
    credential = ClientSecretCredential(TENANT, REPORTING, REPORTING_SECRET,
                                        **azure_kwargs(live, headers={"Connection": "close"}))

    with credential, pytest.raises(ClientAuthenticationError) as excinfo:
        credential.get_token(BACKEND2_SCOPE)

    assert "AADSTS501051" in excinfo.value.message
    assert UNASSIGNED_501051 in excinfo.value.message


# ----------------------------------------------------------------------------------------------- PyJWT


@pytest.mark.parametrize(("override", "error"), [
    pytest.param({"audience": f"api://{BACKEND2}"}, jwt.InvalidAudienceError, id="audience-is-the-uri"),
    pytest.param({"audience": CLIENT}, jwt.InvalidAudienceError, id="audience-is-the-client"),
    pytest.param({"issuer": f"https://sts.windows.net/{TENANT}/"}, jwt.InvalidIssuerError, id="v1-issuer"),
    pytest.param({"version": 1}, jwt.InvalidIssuerError, id="v1-discovery-issuer"),
])
def test_pyjwt_rejects_a_backend2_token_checked_for_the_wrong_audience_or_issuer(
        live: LiveServer, wire: Wire, override: dict[str, Any], error: type[Exception]) -> None:
    token = access_token(msal_app(live, wire, CLIENT_SECRET).acquire_token_for_client([BACKEND2_SCOPE]))
    assert verify(wire, live, token, audience=BACKEND2)["aud"] == BACKEND2  # the control: right values pass

    with pytest.raises(error):
        verify(wire, live, token, **{"audience": BACKEND2, **override})
