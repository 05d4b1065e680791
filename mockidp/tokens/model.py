"""What the protocol layer decided, as the input of minting."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UserIdentity:
    oid: str
    upn: str
    name: str
    pairwise_sub: str
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    groups: tuple[str, ...] | None = None
    wids: tuple[str, ...] | None = None
    amr: tuple[str, ...] = ("pwd",)
    ipaddr: str | None = None
    sid: str | None = None


@dataclass(frozen=True, slots=True)
class Authorization:
    """Who gets a token for which resource, with what. Versions: the resource decides (`version`)."""

    tenant_id: str
    client_app_id: str
    client_acr: str  # "0" public client, "1" secret, "2" certificate
    resource_app_id: str
    audience: str  # the identifier as requested: the v1 `aud`
    version: int
    subject_id: str  # the client's service principal (app-only) or the user's object id
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    user: UserIdentity | None = None
    header_nonce: bool = False  # Microsoft Graph's tokens: a hashed-nonce signature (see Signer.sign)
    client_capabilities: tuple[str, ...] = ()  # CAE (oauth/cae.py): the token's `xms_cc`
    mi_resource_id: str | None = None  # a managed identity's ARM id: `xms_mirid` (oauth/managed_identity.py)
    calling_resource_id: str | None = None  # the resource using a user-assigned identity: `xms_az_rid`
    optional_claims: tuple[str, ...] = ()  # the resource's optionalClaims.accessToken (claims.py honours idtyp)
