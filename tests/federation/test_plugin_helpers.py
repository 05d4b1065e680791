"""The pytest plugin's federation helpers (mockidp/testing/plugin.py) against the plugin's own served mockidp."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from mockidp.testing.plugin import Mockidp, MockidpError
from tests.federation.conftest import FABRIKAM
from tests.federation.test_federation_seed import PIPELINE


def test_federation_token_and_workload_credential(mockidp: Mockidp, tmp_path: Path) -> None:
    token = mockidp.federation_token("repo:fabrikam/orders:environment:production", lifetime=120)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iss"], claims["environment"], claims["exp"] - claims["iat"]) == (
        "https://token.actions.githubusercontent.com", "production", 120)
    token_file = tmp_path / "token"
    token_file.write_text(token)
    access = mockidp.workload_credential(FABRIKAM, PIPELINE, token_file).get_token("api://fabrikam-orders/.default")
    assert jwt.decode(access.token, options={"verify_signature": False})["azp"] == PIPELINE


def test_a_refused_federation_token_raises_with_the_body(mockidp: Mockidp) -> None:
    with pytest.raises(MockidpError) as caught:
        mockidp.federation_token("x", issuer="gitlab")
    assert caught.value.status == 400
    assert "not a built-in issuer" in caught.value.body["message"]
