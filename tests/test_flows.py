"""The sealed context of the sign-in and consent forms: one type per kind, sealed with the keys it always
had, and anything else refused as malformed."""

from __future__ import annotations

from typing import Any

import pytest

from mockidp.oauth.authorize import AuthorizeRequest
from mockidp.oauth.payloads import SignIn
from mockidp.web.flows import AuthorizeFlow, DeviceFlow, asking_consent, flow_from_data, signed_in

REQ = AuthorizeRequest(tenant_segment="72f988bf-0000-4000-8000-000000000001", version=2,
                       client_id="1df771d6-ef9c-473e-af87-cafa8928e024", redirect_uri="http://localhost",
                       redirect_type="public", response_type="code", response_mode="query", scope="openid")
SIGN_IN = SignIn("sid-1", ("pwd",), 1700000000.0)


def test_an_authorize_flow_seals_as_before_and_reads_back() -> None:
    flow = asking_consent(signed_in(AuthorizeFlow(REQ), "user-1", SIGN_IN), ("read", ".default"))
    data = flow.to_data()
    assert data == {"kind": "authorize", "req": REQ.to_data(), "user": "user-1", "sign_in": SIGN_IN.to_data(),
                    "consent": ["read", ".default"]}
    assert flow_from_data(data) == flow
    assert (flow.tenant_segment, flow.client_id, flow.redirect_uri) == \
        (REQ.tenant_segment, REQ.client_id, "http://localhost")


def test_a_device_flow_seals_as_before_and_reads_back() -> None:
    flow = DeviceFlow("hash-1", "organizations", REQ.client_id)
    assert flow.to_data() == {"kind": "device", "device": "hash-1", "tenant": "organizations",
                              "client_id": REQ.client_id}
    assert flow_from_data(flow.to_data()) == flow
    assert flow.redirect_uri is None
    later = signed_in(flow, "user-1", SIGN_IN)
    assert flow_from_data(later.to_data()) == later


@pytest.mark.parametrize("data", [
    {},
    {"kind": "other"},
    {"kind": "device", "device": "h"},
    {"kind": "authorize", "req": {"unknown": 1}},
    {"kind": "authorize", "req": REQ.to_data(), "user": 5},
    {"kind": "authorize", "req": REQ.to_data(), "sign_in": "x"},
], ids=["empty", "unknown-kind", "device-partial", "req-unknown-field", "user-not-text", "sign-in-not-object"])
def test_anything_else_is_no_flow(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        flow_from_data(data)
