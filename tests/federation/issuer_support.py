"""A tiny real OIDC issuer for the federation tests: an HTTP server on 127.0.0.1 serving a discovery document
and a JWKS, and the tokens it signs (PyJWT, RS256). Tests can swap its key, break its documents or stop it."""

from __future__ import annotations

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

AUDIENCE = "api://AzureADTokenExchange"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class ExternalIssuer:
    def __init__(self) -> None:
        self.key = new_key()
        self.kid = "issuer-key-1"
        self.documents: dict[str, tuple[int, bytes]] = {}
        self.requests: list[str] = []
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.requests.append(self.path)
                status, body = issuer.documents.get(self.path, (404, b"{}"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None  # quiet: the test output stays readable

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.publish()

    def publish(self, *, keys: list[dict[str, Any]] | None = None, issuer: str | None = None) -> None:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key())) | {"kid": self.kid, "use": "sig", "alg": "RS256"}
        self.documents["/.well-known/openid-configuration"] = (200, json.dumps({
            "issuer": issuer or self.url, "jwks_uri": f"{self.url}/keys", "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
        }).encode())
        self.documents["/keys"] = (200, json.dumps({"keys": [jwk] if keys is None else keys}).encode())

    def token(self, subject: str, *, audience: str | list[str] = AUDIENCE, lifetime: int = 600,
              key: rsa.RSAPrivateKey | None = None, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "sub": subject, "aud": audience, "iat": now, "nbf": now, "exp": now + lifetime,
                **claims}
        return jwt.encode(body, key or self.key, algorithm="RS256",
                          headers={"kid": self.kid, "typ": "JWT", **(headers or {})})

    def __enter__(self) -> ExternalIssuer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def federated_token_request(origin: str, tenant: str, client_id: str, scope: str, assertion: str,
                            ca_path: str) -> httpx.Response:
    """The raw client-credentials request with another issuer's token, for asserting Entra's body."""
    with httpx.Client(verify=ssl.create_default_context(cafile=ca_path)) as c:
        return c.post(f"{origin}/{tenant}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": client_id, "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion})
