"""Discovery, keys, instance discovery and user realm: Entra's members, order and headers."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography import x509

from mockidp.testing.entra import assert_entra_error
from tests.conftest import TENANT, Harness

ORIGIN = "https://localhost:8443"

V2_KEYS = ["token_endpoint", "token_endpoint_auth_methods_supported", "jwks_uri", "response_modes_supported",
           "subject_types_supported", "id_token_signing_alg_values_supported", "response_types_supported",
           "scopes_supported", "issuer", "request_uri_parameter_supported", "userinfo_endpoint",
           "authorization_endpoint", "device_authorization_endpoint", "http_logout_supported",
           "frontchannel_logout_supported", "end_session_endpoint", "claims_supported", "kerberos_endpoint",
           "tenant_region_scope", "cloud_instance_name", "cloud_graph_host_name", "msgraph_host", "rbac_url"]


def test_v2_tenant_document_is_entras_with_this_origin(harness: Harness) -> None:
    r = harness.client.get(f"/{TENANT}/v2.0/.well-known/openid-configuration")
    assert r.status_code == 200
    expected = (
        '{"token_endpoint":"O/T/oauth2/v2.0/token","token_endpoint_auth_methods_supported":["client_secret_post",'
        '"private_key_jwt","client_secret_basic"],"jwks_uri":"O/T/discovery/v2.0/keys","response_modes_supported":'
        '["query","fragment","form_post"],"subject_types_supported":["pairwise"],'
        '"id_token_signing_alg_values_supported":["RS256"],"response_types_supported":["code","id_token",'
        '"code id_token","id_token token"],"scopes_supported":["openid","profile","email","offline_access"],'
        '"issuer":"O/T/v2.0","request_uri_parameter_supported":false,"userinfo_endpoint":'
        '"https://graph.microsoft.com/oidc/userinfo","authorization_endpoint":"O/T/oauth2/v2.0/authorize",'
        '"device_authorization_endpoint":"O/T/oauth2/v2.0/devicecode","http_logout_supported":true,'
        '"frontchannel_logout_supported":true,"end_session_endpoint":"O/T/oauth2/v2.0/logout","claims_supported":'
        '["sub","iss","cloud_instance_name","cloud_instance_host_name","cloud_graph_host_name","msgraph_host","aud",'
        '"exp","iat","auth_time","acr","nonce","preferred_username","name","tid","ver","at_hash","c_hash","email"],'
        '"kerberos_endpoint":"O/T/kerberos","tenant_region_scope":"WW","cloud_instance_name":"microsoftonline.com",'
        '"cloud_graph_host_name":"graph.windows.net","msgraph_host":"graph.microsoft.com",'
        '"rbac_url":"https://pas.windows.net"}'
    ).replace("O/", f"{ORIGIN}/").replace("/T/", f"/{TENANT}/")
    assert r.text == expected
    assert r.headers["cache-control"] == "max-age=86400, private"
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["content-type"] == "application/json; charset=utf-8"


def test_domain_document_carries_the_guid_everywhere(harness: Harness) -> None:
    by_domain = harness.client.get("/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration").json()
    by_guid = harness.client.get(f"/{TENANT.upper()}/v2.0/.well-known/openid-configuration").json()
    assert by_domain == by_guid
    assert by_domain["issuer"] == f"{ORIGIN}/{TENANT}/v2.0"


@pytest.mark.parametrize("segment", ["common", "organizations"])
def test_multi_tenant_documents_use_the_literal_segment_and_the_issuer_template(harness: Harness,
                                                                                segment: str) -> None:
    doc = harness.client.get(f"/{segment}/v2.0/.well-known/openid-configuration").json()
    assert list(doc) == V2_KEYS
    assert doc["issuer"] == f"{ORIGIN}/{{tenantid}}/v2.0"
    assert doc["token_endpoint"] == f"{ORIGIN}/{segment}/oauth2/v2.0/token"
    assert doc["tenant_region_scope"] is None
    v1 = harness.client.get(f"/{segment}/.well-known/openid-configuration").json()
    assert v1["issuer"] == "https://sts.windows.net/{tenantid}/"


def test_v1_document(harness: Harness) -> None:
    doc = harness.client.get(f"/{TENANT}/.well-known/openid-configuration").json()
    assert list(doc) == [
        "token_endpoint", "token_endpoint_auth_methods_supported", "jwks_uri", "response_modes_supported",
        "subject_types_supported", "id_token_signing_alg_values_supported", "response_types_supported",
        "scopes_supported", "issuer", "microsoft_multi_refresh_token", "authorization_endpoint",
        "device_authorization_endpoint", "http_logout_supported", "frontchannel_logout_supported",
        "end_session_endpoint", "claims_supported", "check_session_iframe", "userinfo_endpoint",
        "kerberos_endpoint", "tenant_region_scope", "cloud_instance_name", "cloud_graph_host_name", "msgraph_host",
        "rbac_url"]
    assert doc["issuer"] == f"https://sts.windows.net/{TENANT}/"
    assert doc["jwks_uri"] == f"{ORIGIN}/common/discovery/keys"
    assert doc["token_endpoint"] == f"{ORIGIN}/{TENANT}/oauth2/token"
    assert doc["response_types_supported"] == ["code", "id_token", "code id_token", "token id_token", "token"]


def _thumbprint(x5c: str) -> str:
    der = base64.b64decode(x5c)
    return base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()


def test_v2_keys_have_entras_members_and_kid_is_the_certificate_thumbprint(harness: Harness) -> None:
    keys = harness.client.get(f"/{TENANT}/discovery/v2.0/keys").json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert list(key) == ["kty", "use", "kid", "x5t", "n", "e", "x5c", "cloud_instance_name", "issuer"]
    assert key["kid"] == key["x5t"] == _thumbprint(key["x5c"][0]) and len(key["kid"]) == 27
    assert (key["kty"], key["use"], key["e"]) == ("RSA", "sig", "AQAB")
    assert key["issuer"] == f"{ORIGIN}/{TENANT}/v2.0"
    cert = x509.load_der_x509_certificate(base64.b64decode(key["x5c"][0]))
    assert cert.subject.rfc4514_string() == "CN=accounts.accesscontrol.windows.net"
    assert cert.public_key().key_size == 2048
    common = harness.client.get("/common/discovery/v2.0/keys").json()["keys"][0]
    assert common["issuer"] == f"{ORIGIN}/{{tenantid}}/v2.0"


def test_v1_keys_have_no_issuer(harness: Harness) -> None:
    for path in (f"/{TENANT}/discovery/keys", "/common/discovery/keys"):
        key = harness.client.get(path).json()["keys"][0]
        assert list(key) == ["kty", "use", "kid", "x5t", "n", "e", "x5c"]


@pytest.mark.parametrize("path", ["/v2.0/.well-known/openid-configuration", "/.well-known/openid-configuration",
                                  "/discovery/v2.0/keys", "/discovery/keys"])
def test_unknown_tenant_is_aadsts90002_invalid_tenant(harness: Harness, path: str) -> None:
    for tenant in ("99999999-9999-4999-8999-999999999999", "nowhere.example.com"):
        r = harness.client.get(f"/{tenant}{path}")
        assert_entra_error(r, 90002, status=400, error="invalid_tenant", message=(
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
            "signing into the correct cloud. Check with your subscription administrator, this may happen if there "
            "are no active subscriptions for the tenant."))


@pytest.mark.parametrize("tenant", ["secrets", "tenant_id", "contoso"])
def test_single_word_tenant_at_discovery_is_a_tenant_name_not_found(harness: Harness, tenant: str) -> None:
    """Discovery looks a word up as a tenant name: 90002 (the catalogue's TENANT_NOT_FOUND captures), where
    the protocol endpoints call it malformed (900023, tests/errors/test_error_matrix.py)."""
    r = harness.client.get(f"/{tenant}/v2.0/.well-known/openid-configuration")
    assert_entra_error(r, 90002, status=400, error="invalid_tenant", message=(
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing "
        "into the correct cloud. Check with your subscription administrator, this may happen if there are no active "
        "subscriptions for the tenant."))


def test_malformed_tenant_is_aadsts900023(harness: Harness) -> None:
    r = harness.client.get("/not_a tenant!/v2.0/.well-known/openid-configuration")
    assert_entra_error(r, 900023, status=400)


@pytest.mark.parametrize("api_version", ["1.0", "1.1"])
def test_instance_discovery_answers_for_this_host(harness: Harness, api_version: str) -> None:
    r = harness.client.get("/common/discovery/instance", params={
        "api-version": api_version,
        "authorization_endpoint": f"https://localhost/{TENANT}/oauth2/v2.0/authorize"})
    body = r.json()
    assert list(body) == ["tenant_discovery_endpoint", "api-version", "metadata"]
    assert body["tenant_discovery_endpoint"] == f"{ORIGIN}/{TENANT}/v2.0/.well-known/openid-configuration"
    assert body["api-version"] == api_version
    assert body["metadata"][0] == {"preferred_network": "localhost:8443", "preferred_cache": "localhost:8443",
                                   "aliases": ["localhost:8443"]}
    assert body["metadata"][1]["preferred_network"] == "login.microsoftonline.com"


def test_instance_discovery_for_a_v1_authorize_endpoint_points_at_the_v1_document(harness: Harness) -> None:
    body = harness.client.get("/common/discovery/instance", params={
        "api-version": "1.1", "authorization_endpoint": f"{ORIGIN}/common/oauth2/authorize"}).json()
    assert body["tenant_discovery_endpoint"] == f"{ORIGIN}/common/.well-known/openid-configuration"


def test_instance_discovery_refuses_other_hosts(harness: Harness) -> None:
    r = harness.client.get("/common/discovery/instance", params={
        "api-version": "1.1", "authorization_endpoint": "https://evil.example/common/oauth2/v2.0/authorize"})
    assert_entra_error(r, 50049, status=400, error="invalid_instance")


def test_user_realm(harness: Harness) -> None:
    managed = harness.client.get("/common/userrealm/alice@contoso.onmicrosoft.com", params={"api-version": "1.0"})
    assert managed.json() == {"ver": "1.0", "account_type": "Managed", "domain_name": "contoso.onmicrosoft.com",
                              "cloud_instance_name": "microsoftonline.com",
                              "cloud_audience_urn": "urn:federation:MicrosoftOnline"}
    unknown = harness.client.get("/common/userrealm/x@unknown.example").json()
    assert unknown["account_type"] == "Unknown"


def test_health_and_ca(harness: Harness) -> None:
    r = harness.client.get("/_mockidp/health")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["applications"] == 6
    assert harness.client.get("/_mockidp/ca.pem").status_code == 404  # TLS off in this harness


def test_unknown_paths_get_no_framework_body(harness: Harness) -> None:
    r = harness.client.get("/nothing/here/at/all")
    assert r.status_code == 404 and "detail" not in r.text
