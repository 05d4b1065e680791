"""Azure's first-party resources are in every tenant without seeding, like Microsoft Graph (issue 10)."""

from __future__ import annotations

import jwt
import pytest

from tests.conftest import CLIENT, CLIENT_SECRET, TENANT, Harness


@pytest.mark.parametrize(("resource", "app_id"), [
    ("https://vault.azure.net", "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"),
    ("https://storage.azure.com/", "e406a681-f3d4-42a8-90b6-c2b029497af1"),
    ("https://management.azure.com/", "797f4846-ba00-4fd7-ba43-dac1f8f63013"),
    ("https://database.windows.net/", "022907d3-0f1b-48f7-badc-1ba6abab6d66"),
])
def test_a_first_party_resource_gives_a_v1_token_with_the_resource_as_audience(
        harness: Harness, resource: str, app_id: str) -> None:
    answer = harness.token({"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
                            "resource": resource}, version=1)
    assert answer.status_code == 200, answer.text
    claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
    assert claims["aud"] == resource
    assert claims["ver"] == "1.0"
    assert claims["iss"] == f"https://sts.windows.net/{TENANT}/"
    assert claims["appid"] == CLIENT
    assert claims["rh"].startswith("0.")
    v2 = harness.token({"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
                        "scope": f"{app_id}/.default"})
    assert v2.status_code == 200, v2.text
    assert jwt.decode(v2.json()["access_token"], options={"verify_signature": False})["ver"] == "1.0"


@pytest.mark.parametrize(("resource", "idtyp"), [
    ("https://management.azure.com/", "app"),  # ARM always includes it (a captured ARM app-only token)
    ("https://graph.microsoft.com", "app"),  # so does Microsoft Graph
    ("https://vault.azure.net", None),  # the captured Key Vault token has none
    ("https://storage.azure.com/", None),
])
def test_idtyp_is_in_the_app_only_tokens_of_resources_that_ask_for_it(
        harness: Harness, resource: str, idtyp: str | None) -> None:
    answer = harness.token({"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
                            "resource": resource}, version=1)
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False, "verify_aud": False})
    assert claims.get("idtyp") == idtyp
    if idtyp is not None:  # an optional claim sits in the captured order: alphabetical after aud..exp
        names = list(claims)[5:]
        assert names == sorted(names)
