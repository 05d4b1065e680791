"""The signer builds the compact JWS itself and signs with the parsed key (tokens/signer.py, issue 11): the
bytes are exactly what joserfc's serialize_compact gives for the same header and payload (RS256 is
deterministic), the Graph nonce scheme included, and what it signs verifies."""

from __future__ import annotations

import json

import pytest
from joserfc import jws
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry

from mockidp.tokens.keys import generate_signing_key
from mockidp.tokens.signer import InvalidSignature, Signer, hashed_nonce

KEY = generate_signing_key()
CLAIMS = {"aud": "api://x", "iss": "https://sts.windows.net/t/", "iat": 1767225600, "name": "Zoë ✓ \u2028",
          "roles": ["a", "b"], "nested": {"n": 1}}


def _joserfc(header: dict[str, str], claims: dict[str, object]) -> str:
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
    registry = JWSRegistry(algorithms=["RS256"], strict_check_header=False)
    return jws.serialize_compact(header, payload, RSAKey.import_key(KEY.private_pem), registry=registry)


@pytest.mark.parametrize("with_x5t", [True, False])
def test_the_same_bytes_as_joserfc_for_v1_and_v2_headers(with_x5t: bool) -> None:
    signer = Signer(KEY)
    header = signer.header(with_x5t=with_x5t)
    for _ in range(2):  # the second from the cached header segment
        assert signer.sign(header, CLAIMS) == _joserfc(header, CLAIMS)
    assert signer.verify(signer.sign(header, CLAIMS)) == CLAIMS


def test_a_graph_nonce_is_shown_and_its_hash_signed() -> None:
    signer = Signer(KEY)
    header = signer.header(with_x5t=False, nonce="n0nce-value")
    token = signer.sign(header, CLAIMS)
    reference = _joserfc({**header, "nonce": hashed_nonce("n0nce-value")}, CLAIMS)
    assert token.split(".")[1:] == reference.split(".")[1:]
    assert token.split(".")[0] != reference.split(".")[0]
    assert jws.extract_compact(token.encode()).protected == header
    assert signer.verify(token) == CLAIMS


def test_another_keys_token_and_other_algorithms_are_refused() -> None:
    signer, other = Signer(KEY), Signer(generate_signing_key())
    with pytest.raises(InvalidSignature):
        signer.verify(other.sign(other.header(with_x5t=False), CLAIMS))
    with pytest.raises(ValueError, match="RS256"):
        signer.sign({"typ": "JWT", "alg": "HS256", "kid": signer.kid}, CLAIMS)
    with pytest.raises(ValueError, match="RS256"):  # a Graph nonce header takes the other path: the same rule
        signer.sign({"typ": "JWT", "nonce": "n", "alg": "none", "kid": signer.kid}, CLAIMS)
