"""The token path's cheaper helpers (issue 11) give what the standard library gave: JSON bytes, GUID
canonical forms, form decoding. Each case is checked against the standard library's own answer."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from mockidp import compact_json
from mockidp.errors import AadstsError
from mockidp.oauth.client_auth import canonical_guid
from mockidp.oauth.form import parse_form

FORM = "application/x-www-form-urlencoded"


def _stdlib(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize("value", [
    {"aud": "api://x", "iss": "https://login.microsoftonline.com/t/v2.0", "iat": 1796409767, "nbf": 1796409767,
     "roles": ["a", "b"], "xms_ftd": None, "verified": True, "name": "Zoë Åström 日本", "empty": {}},
    {"quote": 'say "hi"\\', "controls": "\n\t\r\b\f\x01\x1f", "separators": "\u2028\u2029", "emoji": "🔑"},
    [1, -2, 0, 2**63 - 1, -(2**63), 1.5, 0.1, [], [{}]],
    {"error": "invalid_client", "error_codes": [7000215], "timestamp": "2026-12-04 18:00:00Z"},
])
def test_json_bytes_are_the_standard_librarys(value: Any) -> None:
    assert compact_json.dumps(value) == _stdlib(value)


@pytest.mark.parametrize("value", [{1: "int key"}, {"big": 2**64}, {"nested": {"k": [2**70]}}])
def test_what_orjson_refuses_is_written_by_the_standard_library(value: Any) -> None:
    assert compact_json.dumps(value) == _stdlib(value)


@pytest.mark.parametrize("value", [
    "1df771d6-ef9c-473e-af87-cafa8928e024", "1DF771D6-EF9C-473E-AF87-CAFA8928E024",
    "1df771d6ef9c-473e-af87-cafa-8928e024", "urn:1df771d6ef9c473eaf87cafa8928e024",
    "1df771d6-ef9c-473e-af87-cafa8928e02g", "not-a-guid-but-thirty-six-characters", "short", "",
])
def test_canonical_guid_is_what_uuid_makes_of_a_36_character_value(value: str) -> None:
    try:
        expected = str(uuid.UUID(value)) if len(value) == 36 else value
    except ValueError:
        expected = value
    assert canonical_guid(value) == expected


def test_plain_fields_decode_as_escaped_ones_and_bad_ones_are_refused() -> None:
    plain = parse_form(b"grant_type=client_credentials&client_id=abc&scope=api%3A%2F%2Fx%2F.default", FORM)
    assert plain == {"grant_type": "client_credentials", "client_id": "abc", "scope": "api://x/.default"}
    assert parse_form("name=Zo\u00eb&a+b=c+d".encode(), FORM) == {"name": "Zoë", "a b": "c d"}
    for bad in (b"a=\x00", b"a=\xff", b"a=%00", b"a=%zz", b"\xc3=1"):
        with pytest.raises(AadstsError):
            parse_form(bad, FORM)


def test_guids_are_random_version_4_guids_as_uuid_makes_them() -> None:
    from mockidp.clock import IdFactory

    made = [IdFactory().guid() for _ in range(2000)]
    assert len(set(made)) == 2000
    for value in made:
        parsed = uuid.UUID(value)
        assert str(parsed) == value and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    # every bit but the version's and the variant's varies
    ints = [uuid.UUID(v).int for v in made]
    fixed = (0xF << 76) | (0x3 << 62)
    varying = 0
    for i in ints:
        varying |= i ^ ints[0]
    assert varying == ((1 << 128) - 1) & ~fixed
