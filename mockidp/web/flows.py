"""What a sign-in or consent form carries to the next page, sealed in the form (web/sealing.py): the
authorize request or the device code it continues and, once the person signed in, who and how. One type
per kind, read by attribute; to_data() is the sealed JSON, with the keys it always had."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from mockidp.oauth.authorize import AuthorizeRequest
from mockidp.oauth.payloads import SignIn


@dataclass(frozen=True, slots=True)
class AuthorizeFlow:
    """A sign-in for /authorize: its answer goes to the client's redirect URI."""

    req: AuthorizeRequest
    user: str | None = None  # set once the person signed in
    sign_in: SignIn | None = None
    consent: tuple[str, ...] = ()  # the scopes the consent page asks for

    @property
    def tenant_segment(self) -> str:
        return self.req.tenant_segment

    @property
    def client_id(self) -> str:
        return self.req.client_id

    @property
    def redirect_uri(self) -> str | None:
        return self.req.redirect_uri

    def to_data(self) -> dict[str, Any]:
        return {"kind": "authorize", "req": self.req.to_data(), **_progress(self)}


@dataclass(frozen=True, slots=True)
class DeviceFlow:
    """A sign-in on the /device page: it approves the device code the person typed."""

    device: str  # the device code's hash
    tenant_segment: str  # of the devicecode endpoint
    client_id: str
    user: str | None = None
    sign_in: SignIn | None = None
    consent: tuple[str, ...] = ()

    @property
    def redirect_uri(self) -> str | None:
        return None

    def to_data(self) -> dict[str, Any]:
        return {"kind": "device", "device": self.device, "tenant": self.tenant_segment, "client_id": self.client_id,
                **_progress(self)}


BrowserFlow = AuthorizeFlow | DeviceFlow


def _progress(flow: BrowserFlow) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if flow.user is not None:
        data["user"] = flow.user
    if flow.sign_in is not None:
        data["sign_in"] = flow.sign_in.to_data()
    if flow.consent:
        data["consent"] = list(flow.consent)
    return data


def signed_in(flow: BrowserFlow, user_id: str, sign_in: SignIn) -> BrowserFlow:
    return replace(flow, user=user_id, sign_in=sign_in)


def asking_consent(flow: BrowserFlow, scopes: tuple[str, ...]) -> BrowserFlow:
    return replace(flow, consent=scopes)


def flow_from_data(data: dict[str, Any]) -> BrowserFlow:
    """The flow a sealed form carried; ValueError when it is none (the seal makes that a bug, not input)."""
    try:
        user = data.get("user")
        if user is not None and not isinstance(user, str):
            raise ValueError("user")
        sign_in = SignIn.from_data(data["sign_in"]) if data.get("sign_in") is not None else None
        consent = tuple(str(s) for s in data.get("consent") or ())
        if data["kind"] == "authorize":
            return AuthorizeFlow(AuthorizeRequest.from_data(data["req"]), user, sign_in, consent)
        if data["kind"] == "device":
            return DeviceFlow(str(data["device"]), str(data["tenant"]), str(data["client_id"]), user, sign_in,
                              consent)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a sign-in flow: {exc!r}") from None
    raise ValueError(f"not a sign-in flow: kind {data.get('kind')!r}")
