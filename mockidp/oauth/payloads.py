"""What oauth/ keeps with the artefacts it stores: the payload of an authorization code, a refresh token
and a device code. Each is written in one place and read by attribute; directory/ stores its to_data()
as the row's JSON `data` column, so the keys below are the stored format (databases written before these
types read back unchanged: missing keys take the defaults the readers always applied)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class SignIn:
    """How and when the user authenticated; carried by codes, refresh tokens and device codes."""

    sid: str | None
    amr: tuple[str, ...]
    auth_time: float

    def to_data(self) -> dict[str, Any]:
        return {"sid": self.sid, "amr": list(self.amr), "auth_time": self.auth_time}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> SignIn:
        return cls(data.get("sid"), tuple(data.get("amr") or ("pwd",)), float(data.get("auth_time") or 0))


@dataclass(frozen=True, slots=True)
class CodePayload:
    """An authorization code: what /authorize decided, for the redemption to check and use."""

    sign_in: SignIn
    scope: str
    nonce: str | None
    redirect_type: str | None  # "web" | "spa" | "public": who may redeem, and whether cross-origin
    code_challenge: str | None
    code_challenge_method: str | None
    resource: str | None  # v1 /authorize names the resource
    version: int  # of the /authorize endpoint

    def to_data(self) -> dict[str, Any]:
        return {**self.sign_in.to_data(), "scope": self.scope, "nonce": self.nonce,
                "redirect_type": self.redirect_type, "code_challenge": self.code_challenge,
                "code_challenge_method": self.code_challenge_method, "resource": self.resource,
                "version": self.version}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> CodePayload:
        return cls(SignIn.from_data(data), data.get("scope", ""), data.get("nonce"), data.get("redirect_type"),
                   data.get("code_challenge"), data.get("code_challenge_method"), data.get("resource"),
                   int(data.get("version") or 2))


@dataclass(frozen=True, slots=True)
class RefreshPayload:
    """A refresh token: the sign-in it continues, whether a public client holds it, the scope first asked."""

    sign_in: SignIn
    public: bool
    scope: str

    def to_data(self) -> dict[str, Any]:
        return {**self.sign_in.to_data(), "public": self.public, "scope": self.scope}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> RefreshPayload:
        return cls(SignIn.from_data(data), bool(data.get("public")), data.get("scope", ""))


@dataclass(frozen=True, slots=True)
class DevicePayload:
    """A device code: what the CLI asked for, then, once the person approved, how they signed in."""

    scope: str
    resource: str | None  # the v1 devicecode endpoint names the resource
    version: int  # of the devicecode endpoint
    sign_in: SignIn | None = None  # set by the approval

    def approved(self, sign_in: SignIn) -> DevicePayload:
        return replace(self, sign_in=sign_in)

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"scope": self.scope, "resource": self.resource, "version": self.version}
        return data if self.sign_in is None else {**data, **self.sign_in.to_data()}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> DevicePayload:
        sign_in = SignIn.from_data(data) if "auth_time" in data else None
        return cls(data.get("scope", ""), data.get("resource"), int(data.get("version") or 2), sign_in)
