"""Encrypted tokens: mockidp's real v2 token wrapped in a compact JWE (as Entra encrypts for an app with a
token encryption key), opened by validate-jwt's and validate-azure-ad-token's <decryption-keys>."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwe
from joserfc.jwk import OctKey, RSAKey

from mockidp.apim.policy import DEFAULT_GLOBAL_POLICY, compose, parse_policy
from mockidp.apim.rate_limit import MemoryRateLimiter
from mockidp.apim.runtime import run
from mockidp.apim.validate_jwt import Failed, Passed, Request, validate_jwt
from tests.apim.backend_support import Echo, HttpxBackend, echo_server
from tests.apim.test_runtime import context
from tests.apim.test_validate_jwt import V2_CONFIG, HarnessDiscovery, statement, v2_token
from tests.conftest import BACKEND2, CLIENT, FROZEN_AT, TENANT, Harness

SECRET = bytes(range(32))


def private_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def pem() -> bytes:
    return private_pem()


def encrypt_rsa(token: str, pem: bytes) -> str:
    public = RSAKey.import_key(pem)
    registry = jwe.JWERegistry(algorithms=["RSA-OAEP-256", "A256GCM"])
    return jwe.encrypt_compact({"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT"}, token.encode(), public,
                               registry=registry)


def encrypt_secret(token: str) -> str:
    registry = jwe.JWERegistry(algorithms=["A256KW", "A128CBC-HS256"])
    return jwe.encrypt_compact({"alg": "A256KW", "enc": "A128CBC-HS256", "cty": "JWT"}, token.encode(),
                               OctKey.import_key(SECRET), registry=registry)


def policy(keys: str) -> str:
    return f"""<policies><inbound><validate-jwt header-name="Authorization">
        <openid-config url="{V2_CONFIG}" />
        <decryption-keys>{keys}</decryption-keys>
        <audiences><audience>{BACKEND2}</audience></audiences>
    </validate-jwt></inbound></policies>"""


def check(harness: Harness, xml: str, token: str, certificates: dict[str, bytes]) -> Passed | Failed:
    return validate_jwt(statement(xml.replace("<inbound>", "<inbound><base/>")),
                        Request.of({"Authorization": "Bearer " + token}), now=FROZEN_AT,
                        discovery=HarnessDiscovery(harness), certificates=certificates)


def test_a_token_encrypted_to_the_certificate_is_opened_and_then_validated(harness: Harness, pem: bytes) -> None:
    inner = v2_token(harness)
    outcome = check(harness, policy('<key certificate-id="enc-cert" />'), encrypt_rsa(inner, pem),
                    {"enc-cert": pem})
    assert isinstance(outcome, Passed), outcome
    assert outcome.token == inner and outcome.claims["azp"] == CLIENT
    assert outcome.checks[:2] == ("token found", "decrypted (decryption-keys key 1 (certificate enc-cert))")


def test_a_symmetric_key_opens_a_key_wrapped_token(harness: Harness) -> None:
    key = base64.b64encode(SECRET).decode()
    outcome = check(harness, policy(f'<key certificate-id="absent" /><key>{key}</key>'),
                    encrypt_secret(v2_token(harness)), {})
    assert isinstance(outcome, Passed), outcome
    assert outcome.checks[1] == "decrypted (decryption-keys key 2 (symmetric))"


def test_the_wrong_key_is_idx10603(harness: Harness, pem: bytes) -> None:
    outcome = check(harness, policy('<key certificate-id="enc-cert" />'), encrypt_rsa(v2_token(harness), pem),
                    {"enc-cert": private_pem()})
    assert isinstance(outcome, Failed)
    assert outcome.body == '{ "statusCode": 401, "message": "Invalid JWT." }'
    assert (outcome.reason, outcome.idx) == ("JwtInvalid", "IDX10603")
    assert outcome.detail == "IDX10603: Decryption failed. Keys tried: 'decryption-keys key 1 (certificate enc-cert)'."


def test_a_tampered_token_is_not_opened(harness: Harness, pem: bytes) -> None:
    token = encrypt_rsa(v2_token(harness), pem)
    head, key, iv, ciphertext, tag = token.split(".")
    tampered = ".".join([head, key, iv, ("A" if ciphertext[0] != "A" else "B") + ciphertext[1:], tag])
    outcome = check(harness, policy('<key certificate-id="enc-cert" />'), tampered, {"enc-cert": pem})
    assert isinstance(outcome, Failed) and outcome.idx == "IDX10603"


def test_an_encrypted_token_without_decryption_keys_is_idx10609(harness: Harness, pem: bytes) -> None:
    xml = f"""<policies><inbound><validate-jwt header-name="Authorization">
        <openid-config url="{V2_CONFIG}" /></validate-jwt></inbound></policies>"""
    outcome = check(harness, xml, encrypt_rsa(v2_token(harness), pem), {})
    assert isinstance(outcome, Failed) and (outcome.reason, outcome.idx) == ("JwtInvalid", "IDX10609")
    assert outcome.fix.startswith("the token is encrypted (JWE)")


def test_a_certificate_without_a_private_key_is_named_in_the_fix(harness: Harness, pem: bytes) -> None:
    outcome = check(harness, policy('<key certificate-id="enc-cert" />'), encrypt_rsa(v2_token(harness), pem),
                    {"enc-cert": b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"})
    assert isinstance(outcome, Failed) and outcome.idx == "IDX10609"
    assert outcome.fix.endswith("(decryption-keys key 1 (certificate enc-cert): no RSA private key in it)")


@pytest.fixture
def echo() -> Iterator[Echo]:
    with echo_server() as server:
        yield server


def test_validate_azure_ad_token_decrypts_too(harness: Harness, echo: Echo, pem: bytes) -> None:
    xml = f"""<policies><inbound><validate-azure-ad-token tenant-id="{TENANT}">
        <client-application-ids><application-id>{CLIENT}</application-id></client-application-ids>
        <decryption-keys><key certificate-id="enc-cert" /></decryption-keys>
    </validate-azure-ad-token><base /></inbound></policies>"""
    documents = [parse_policy(DEFAULT_GLOBAL_POLICY, scope="global"), parse_policy(xml)]
    ctx = context(echo.url, headers=[("Authorization", "Bearer " + encrypt_rsa(v2_token(harness), pem))])
    response = asyncio.run(run(compose(documents), ctx, backend=HttpxBackend(), now=FROZEN_AT,
                               discovery=HarnessDiscovery(harness), rate_limiter=MemoryRateLimiter(),
                               certificates={"enc-cert": pem}))
    assert response.status == 200, ctx.steps
    assert "decrypted (decryption-keys key 1 (certificate enc-cert))" in ctx.steps[0].detail


def test_a_pem_bundle_of_certificate_and_key_decrypts(harness: Harness, pem: bytes) -> None:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "token-encryption")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    bundle = cert.public_bytes(serialization.Encoding.PEM) + pem
    outcome = check(harness, policy('<key certificate-id="enc-cert" />'), encrypt_rsa(v2_token(harness), pem),
                    {"enc-cert": bundle})
    assert isinstance(outcome, Passed), outcome
