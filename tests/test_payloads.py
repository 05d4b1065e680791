"""The typed payloads of codes, refresh tokens and device codes read the rows earlier versions wrote (the
JSON `data` column, whose keys are unchanged) and write them back key for key."""

from __future__ import annotations

from typing import Any

from mockidp.oauth.payloads import CodePayload, DevicePayload, RefreshPayload, SignIn

SIGN_IN = {"sid": "0b5a0f4e-0000-4000-8000-000000000001", "amr": ["pwd"], "auth_time": 1700000000.0}
# As /authorize, the token endpoint and the device endpoint wrote them before the payload types.
CODE_ROW: dict[str, Any] = {**SIGN_IN, "scope": "openid api://x/read", "nonce": "n-1", "redirect_type": "spa",
                            "code_challenge": "c" * 43, "code_challenge_method": "S256", "resource": None,
                            "version": 2}
REFRESH_ROW: dict[str, Any] = {**SIGN_IN, "public": True, "scope": "openid offline_access api://x/read"}
DEVICE_PENDING_ROW: dict[str, Any] = {"scope": "", "resource": "api://x", "version": 1}
DEVICE_APPROVED_ROW: dict[str, Any] = {**DEVICE_PENDING_ROW, **SIGN_IN}


def test_a_stored_code_reads_by_attribute_and_writes_back_the_same_row() -> None:
    payload = CodePayload.from_data(CODE_ROW)
    assert (payload.redirect_type, payload.code_challenge_method, payload.nonce, payload.version) == \
        ("spa", "S256", "n-1", 2)
    assert payload.sign_in == SignIn("0b5a0f4e-0000-4000-8000-000000000001", ("pwd",), 1700000000.0)
    assert payload.to_data() == CODE_ROW


def test_a_stored_refresh_token_reads_by_attribute_and_writes_back_the_same_row() -> None:
    payload = RefreshPayload.from_data(REFRESH_ROW)
    assert (payload.public, payload.scope, payload.sign_in.auth_time) == \
        (True, "openid offline_access api://x/read", 1700000000.0)
    assert payload.to_data() == REFRESH_ROW


def test_a_refresh_row_without_public_or_scope_reads_as_a_confidential_client_with_no_scope() -> None:
    payload = RefreshPayload.from_data(dict(SIGN_IN))
    assert (payload.public, payload.scope) == (False, "")


def test_a_device_code_has_no_sign_in_until_approved_and_the_approval_adds_the_sign_in_keys() -> None:
    pending = DevicePayload.from_data(DEVICE_PENDING_ROW)
    assert (pending.scope, pending.resource, pending.version, pending.sign_in) == ("", "api://x", 1, None)
    assert pending.to_data() == DEVICE_PENDING_ROW
    approved = pending.approved(SignIn.from_data(SIGN_IN))
    assert approved.to_data() == DEVICE_APPROVED_ROW
    assert DevicePayload.from_data(DEVICE_APPROVED_ROW) == approved
