"""Requests a test sends to mockidp: token-endpoint forms, PKCE pairs, client assertions, and reading the
sign-in page and the redirect back.

Each form builder returns a fresh dict of strings; a keyword given as None leaves that parameter out, so a
test can drop a required one (`client_credentials(CLIENT, SECRET, scope=None)`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

__all__ = [
    "DEVICE_CODE_GRANT", "JWT_BEARER", "JWT_BEARER_ASSERTION", "RFC7636_CHALLENGE", "RFC7636_VERIFIER",
    "authorization_code", "authorize_path", "b64url", "client_assertion", "client_credentials", "code_of",
    "device_code", "devicecode_path", "hidden_fields", "on_behalf_of", "password", "pkce_pair",
    "redirect_fields", "refresh_token", "token_path", "with_assertion", "x5t",
]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"  # the OBO grant_type
JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"  # client_assertion_type
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# RFC 7636 appendix B's pair: a fixed verifier and its S256 challenge.
RFC7636_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC7636_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
_HIDDEN = re.compile(r'name="(ctx|csrf)" value="([^"]*)"')


# --- paths ----------------------------------------------------------------------------------------

def token_path(tenant: str, version: int = 2) -> str:
    """The token endpoint's path: /{tenant}/oauth2/v2.0/token, or /{tenant}/oauth2/token for v1."""
    return f"/{tenant}/oauth2/v2.0/token" if version == 2 else f"/{tenant}/oauth2/token"


def devicecode_path(tenant: str, version: int = 2) -> str:
    return f"/{tenant}/oauth2/v2.0/devicecode" if version == 2 else f"/{tenant}/oauth2/devicecode"


def authorize_path(tenant: str, version: int = 2) -> str:
    return f"/{tenant}/oauth2/v2.0/authorize" if version == 2 else f"/{tenant}/oauth2/authorize"


# --- token-endpoint forms -------------------------------------------------------------------------

def _form(base: Mapping[str, str | None], extra: Mapping[str, str | None]) -> dict[str, str]:
    """`extra` over `base`; a None value leaves the parameter out."""
    return {k: v for k, v in {**base, **extra}.items() if v is not None}


def client_credentials(client_id: str | None, secret: str | None = None, *, scope: str | None = None,
                       **extra: str | None) -> dict[str, str]:
    """grant_type=client_credentials (client_secret_post when `secret` is given)."""
    return _form({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
                  "scope": scope}, extra)


def password(client_id: str | None, username: str | None, password: str | None, *, scope: str | None = None,
             resource: str | None = None, secret: str | None = None, **extra: str | None) -> dict[str, str]:
    """grant_type=password (ROPC): `scope` for v2, `resource` for v1."""
    return _form({"grant_type": "password", "client_id": client_id, "client_secret": secret,
                  "username": username, "password": password, "scope": scope, "resource": resource}, extra)


def authorization_code(client_id: str | None, code: str | None, redirect_uri: str | None, *,
                       scope: str | None = None, secret: str | None = None, verifier: str | None = None,
                       **extra: str | None) -> dict[str, str]:
    """grant_type=authorization_code; `verifier` is the PKCE code_verifier."""
    return _form({"grant_type": "authorization_code", "client_id": client_id, "client_secret": secret,
                  "code": code, "redirect_uri": redirect_uri, "scope": scope, "code_verifier": verifier}, extra)


def refresh_token(client_id: str | None, token: str | None, *, scope: str | None = None,
                  secret: str | None = None, **extra: str | None) -> dict[str, str]:
    """grant_type=refresh_token."""
    return _form({"grant_type": "refresh_token", "client_id": client_id, "client_secret": secret,
                  "refresh_token": token, "scope": scope}, extra)


def device_code(client_id: str | None, code: str | None, **extra: str | None) -> dict[str, str]:
    """The device-code poll: grant_type=urn:ietf:params:oauth:grant-type:device_code."""
    return _form({"grant_type": DEVICE_CODE_GRANT, "client_id": client_id, "device_code": code}, extra)


def on_behalf_of(client_id: str | None, assertion: str | None, *, scope: str | None = None,
                 secret: str | None = None, **extra: str | None) -> dict[str, str]:
    """The on-behalf-of grant: the incoming user token as `assertion`, requested_token_use=on_behalf_of."""
    return _form({"grant_type": JWT_BEARER, "client_id": client_id, "assertion": assertion,
                  "requested_token_use": "on_behalf_of", "scope": scope, "client_secret": secret}, extra)


def with_assertion(form: Mapping[str, str], assertion: str, **extra: str | None) -> dict[str, str]:
    """`form` authenticated by a client assertion (private_key_jwt) instead of a secret."""
    return _form({**form, "client_secret": None, "client_assertion_type": JWT_BEARER_ASSERTION,
                  "client_assertion": assertion}, extra)


# --- PKCE and client assertions -------------------------------------------------------------------

def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pkce_pair(verifier: str | None = None) -> tuple[str, str]:
    """(code_verifier, S256 code_challenge); a fresh 43-character verifier unless one is given."""
    verifier = verifier if verifier is not None else b64url(secrets.token_bytes(32))
    return verifier, b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def x5t(certificate_pem: bytes | str) -> str:
    """The certificate's SHA-1 thumbprint as a JWS `x5t` header carries it (base64url)."""
    pem = certificate_pem.encode() if isinstance(certificate_pem, str) else certificate_pem
    der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    return b64url(hashlib.sha1(der).digest())  # the x5t thumbprint is SHA-1 by definition


def client_assertion(private_key_pem: bytes | str, *, client_id: str, audience: str, now: int,
                     certificate_pem: bytes | str | None = None, alg: str = "RS256", lifetime: int = 600,
                     jti: str | None = None, headers: Mapping[str, Any] | None = None,
                     claims: Mapping[str, Any] | None = None) -> str:
    """A signed client assertion as MSAL builds one: iss = sub = client_id, aud the token endpoint's URL,
    iat, exp = iat + lifetime, a jti, and `x5t` of `certificate_pem` when given. `claims` and `headers` are
    laid over that (a None value removes the member)."""
    body: dict[str, Any] = {"aud": audience, "iss": client_id, "sub": client_id, "jti": jti or str(uuid.uuid4()),
                            "iat": now, "exp": now + lifetime}
    head: dict[str, Any] = {"x5t": x5t(certificate_pem)} if certificate_pem is not None else {}
    body = {k: v for k, v in {**body, **(claims or {})}.items() if v is not None}
    head = {k: v for k, v in {**head, **(headers or {})}.items() if v is not None}
    key = private_key_pem.decode() if isinstance(private_key_pem, bytes) else private_key_pem
    return jwt.encode(body, key, algorithm=alg, headers=head)


# --- the sign-in page and the redirect back -------------------------------------------------------

def hidden_fields(page: str) -> dict[str, str]:
    """The sealed `ctx` and `csrf` fields of mockidp's sign-in (or device) page, unescaped."""
    return {k: html.unescape(v) for k, v in _HIDDEN.findall(page)}


def redirect_fields(location: str) -> dict[str, list[str]]:
    """The parameters of a redirect back to the client: the query, else the fragment."""
    parts = urlsplit(location)
    return parse_qs(parts.query or parts.fragment)


def code_of(location: str) -> str:
    """The authorization code in a redirect back to the client; KeyError when there is none."""
    return redirect_fields(location)["code"][0]
