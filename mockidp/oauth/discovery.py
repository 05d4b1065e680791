"""Discovery documents, keys, instance discovery and user realm, shaped as Entra serves them
(docs/entra-behaviour.md#discovery): same members, same order, URLs on this server's origin."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from mockidp.directory.snapshot import Directory
from mockidp.oauth.tenants import MSA_TENANT_ID, TenantRef
from mockidp.tokens.claims import v1_issuer, v2_issuer

AUTH_METHODS = ["client_secret_post", "private_key_jwt", "client_secret_basic"]
CLAIMS_V2 = ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
             "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name",
             "tid", "ver", "at_hash", "c_hash", "email"]
CLAIMS_V1 = ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
             "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email", "given_name",
             "family_name", "nickname"]
ENTRA_CLOUDS = [
    {"preferred_network": "login.microsoftonline.com", "preferred_cache": "login.windows.net",
     "aliases": ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"]},
    {"preferred_network": "login.partner.microsoftonline.cn", "preferred_cache": "login.partner.microsoftonline.cn",
     "aliases": ["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"]},
    {"preferred_network": "login.microsoftonline.de", "preferred_cache": "login.microsoftonline.de",
     "aliases": ["login.microsoftonline.de"]},
    {"preferred_network": "login.microsoftonline.us", "preferred_cache": "login.microsoftonline.us",
     "aliases": ["login.microsoftonline.us", "login.usgovcloudapi.net"]},
    {"preferred_network": "login-us.microsoftonline.com", "preferred_cache": "login-us.microsoftonline.com",
     "aliases": ["login-us.microsoftonline.com"]},
]


def _issuer_tenant(ref: TenantRef) -> str:
    if ref.kind == "consumers":
        return MSA_TENANT_ID
    return ref.segment if ref.tenant is not None else "{tenantid}"


def _region(ref: TenantRef) -> str | None:
    return ref.tenant.region if ref.tenant is not None else None


def openid_configuration_v2(ref: TenantRef, origin: str) -> dict[str, Any]:
    base = f"{origin}/{ref.segment}"
    return {
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": v2_issuer(origin, _issuer_tenant(ref)),
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "claims_supported": CLAIMS_V2,
        "kerberos_endpoint": f"{base}/kerberos",
        "tenant_region_scope": _region(ref),
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


def openid_configuration_v1(ref: TenantRef, origin: str) -> dict[str, Any]:
    base = f"{origin}/{ref.segment}"
    return {
        "token_endpoint": f"{base}/oauth2/token",
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "jwks_uri": f"{origin}/common/discovery/keys",  # the common v1 key set, as Entra's documents say
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": v1_issuer(_issuer_tenant(ref)),
        "microsoft_multi_refresh_token": True,
        "authorization_endpoint": f"{base}/oauth2/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/oauth2/logout",
        "claims_supported": CLAIMS_V1,
        "check_session_iframe": f"{base}/oauth2/checksession",
        "userinfo_endpoint": f"{base}/openid/userinfo",
        "kerberos_endpoint": f"{base}/kerberos",
        "tenant_region_scope": _region(ref),
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


def jwks_v2(jwks: Sequence[dict[str, Any]], ref: TenantRef, origin: str) -> dict[str, Any]:
    issuer = v2_issuer(origin, _issuer_tenant(ref))
    return {"keys": [{**jwk, "cloud_instance_name": "microsoftonline.com", "issuer": issuer} for jwk in jwks]}


def jwks_v1(jwks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"keys": [dict(jwk) for jwk in jwks]}


def instance_discovery(authorization_endpoint: str, served_hosts: set[str], origin: str,
                       api_version: str) -> dict[str, Any] | None:
    """None when the endpoint's host is not one this server answers for (AADSTS50049)."""
    try:
        parts = urlsplit(authorization_endpoint)
        host = (parts.hostname or "").lower()
        _ = parts.port  # a port that is no number, or out of range, raises here
    except ValueError:
        return None  # no URL at all (unclosed IPv6 bracket, NFKC tricks): an invalid instance
    if parts.scheme != "https" or host not in served_hosts or "@" in parts.netloc:
        return None  # user info would make the answer's origin ambiguous
    segments = [s for s in parts.path.split("/") if s]
    tenant = segments[0] if segments else "common"
    v2 = "v2.0" in segments
    # MSAL Python drops the port from authorization_endpoint: answer with the origin it reached us on.
    target_origin = origin if urlsplit(origin).hostname == host else f"https://{parts.netloc}"
    discovery = f"{target_origin}/{tenant}/{'v2.0/' if v2 else ''}.well-known/openid-configuration"
    own = urlsplit(target_origin).netloc
    metadata = [{"preferred_network": own, "preferred_cache": own, "aliases": [own]}]
    metadata += [c for c in ENTRA_CLOUDS if own not in c["aliases"]]
    return {"tenant_discovery_endpoint": discovery, "api-version": api_version, "metadata": metadata}


def user_realm(directory: Directory, username: str) -> dict[str, Any]:
    """Managed for a domain of a seeded tenant, Unknown otherwise: never Federated (no WS-Trust here)."""
    domain = username.rpartition("@")[2].lower()
    if directory.tenant_by_domain(domain) is not None:
        return {"ver": "1.0", "account_type": "Managed", "domain_name": domain,
                "cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline"}
    return {"ver": "1.0", "account_type": "Unknown", "cloud_instance_name": "microsoftonline.com",
            "cloud_audience_urn": "urn:federation:MicrosoftOnline"}
