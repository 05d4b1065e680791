"""A JWKS member is imported once (tokens/foreign_keys.py, issue 11): the same JWK gives the same parsed
key, another JWK (even one field apart) another key, and unusable members stay refused."""

from __future__ import annotations

from mockidp.tokens import foreign_keys
from mockidp.tokens.keys import generate_signing_key


def test_the_same_jwk_is_parsed_once_and_another_one_apart() -> None:
    jwk = generate_signing_key().public_jwk()
    first = foreign_keys.from_jwk(dict(jwk))
    assert first is not None
    assert foreign_keys.from_jwk(dict(reversed(list(jwk.items())))) is first  # field order does not matter
    other = generate_signing_key().public_jwk()
    assert foreign_keys.from_jwk(other) is not first
    assert foreign_keys.from_jwk({**jwk, "use": "enc"}) is None
    assert foreign_keys.from_jwk({**jwk, "n": "not-base64!"}) is None
    assert foreign_keys.from_jwk({"kty": "RSA", "n": object()}) is None
