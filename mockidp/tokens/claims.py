"""Pure functions from an Authorization to the claims of an access token (docs/entra-behaviour.md#access-tokens).

Order: aud, iss, iat, nbf, exp, then the rest alphabetically, as in every captured Entra token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mockidp.tokens.model import Authorization, UserIdentity

BACKDATE_SECONDS = 300  # Entra back-dates iat/nbf by 5 minutes for clock skew
GROUPS_OVERAGE = 200  # the most groups a JWT lists (Entra's limit); beyond, the overage claims


@dataclass(frozen=True, slots=True)
class Opaque:
    """Per-token opaque values (random in production, sequenced in tests)."""

    aio: str
    uti: str
    rh: str


def v1_issuer(tenant_id: str) -> str:
    return f"https://sts.windows.net/{tenant_id}/"


def v2_issuer(origin: str, tenant_id: str) -> str:
    return f"{origin}/{tenant_id}/v2.0"


def _v1_person(user: UserIdentity) -> dict[str, Any]:
    """What v1 tokens (access and ID) say of a person beyond name: how they signed in, UPN, names, IP."""
    person: dict[str, Any] = {"amr": list(user.amr), "unique_name": user.upn, "upn": user.upn}
    optional = {"ipaddr": user.ipaddr, "given_name": user.given_name, "family_name": user.family_name}
    person.update((k, v) for k, v in optional.items() if v)
    return person


def group_claims(user: UserIdentity, tenant_id: str) -> dict[str, Any]:
    """`groups`; past GROUPS_OVERAGE groups, Entra's overage claims instead: where to read them (Graph's
    getMemberObjects of the user, under the Azure AD Graph address Entra still writes there)."""
    if user.groups is None:
        return {}
    if len(user.groups) <= GROUPS_OVERAGE:
        return {"groups": list(user.groups)}
    return {"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {
        "endpoint": f"https://graph.windows.net/{tenant_id}/users/{user.oid}/getMemberObjects"}}}


def access_token_claims(
    auth: Authorization, *, origin: str, now: int, expires: int, opaque: Opaque,
) -> dict[str, Any]:
    v2 = auth.version == 2
    iss = v2_issuer(origin, auth.tenant_id) if v2 else v1_issuer(auth.tenant_id)
    head: dict[str, Any] = {
        "aud": auth.resource_app_id if v2 else auth.audience,
        "iss": iss,
        "iat": now - BACKDATE_SECONDS,
        "nbf": now - BACKDATE_SECONDS,
        "exp": expires,
    }
    rest: dict[str, Any] = {"aio": opaque.aio, "oid": auth.subject_id, "rh": opaque.rh,
                            "tid": auth.tenant_id, "uti": opaque.uti, "ver": "2.0" if v2 else "1.0"}
    if v2:
        rest["azp"] = auth.client_app_id
        rest["azpacr"] = auth.client_acr
    else:
        rest["appid"] = auth.client_app_id
        rest["appidacr"] = auth.client_acr
    if auth.roles:
        rest["roles"] = list(auth.roles)
    if auth.client_capabilities:
        rest["xms_cc"] = list(auth.client_capabilities)
    if auth.mi_resource_id:
        rest["xms_mirid"] = auth.mi_resource_id
    if auth.calling_resource_id:
        rest["xms_az_rid"] = auth.calling_resource_id
    user = auth.user
    if user is None:
        rest["sub"] = auth.subject_id
        if "idtyp" in auth.optional_claims:
            rest["idtyp"] = "app"  # delegated tokens say "user" only with include_user_token: not modelled
        if not v2:
            rest["idp"] = iss  # app-only v1 tokens carry idp = iss
    else:
        rest["sub"] = user.pairwise_sub
        rest["scp"] = " ".join(auth.scopes)
        rest["name"] = user.name
        if v2:
            rest["preferred_username"] = user.upn
        else:
            rest.update(acr="1", **_v1_person(user))
        rest.update(group_claims(user, auth.tenant_id))
        if user.wids:
            rest["wids"] = list(user.wids)
        if user.sid and v2:
            rest["sid"] = user.sid
    head.update(sorted(rest.items()))
    return head


@dataclass(frozen=True, slots=True)
class IdTokenInput:
    """What an ID token says (docs/entra-behaviour.md#id-tokens): aud is the client; the version is the endpoint's."""

    tenant_id: str
    client_id: str
    user: UserIdentity
    resource_app_id: str
    nonce: str | None = None
    profile: bool = True
    email: bool = False
    c_hash: str | None = None
    at_hash: str | None = None
    roles: tuple[str, ...] = ()


def id_token_claims(
    idt: IdTokenInput, *, version: int, origin: str, now: int, expires: int, opaque: Opaque,
) -> dict[str, Any]:
    user = idt.user
    v2 = version == 2
    head: dict[str, Any] = {
        "aud": idt.client_id,
        "iss": v2_issuer(origin, idt.tenant_id) if v2 else v1_issuer(idt.tenant_id),
        "iat": now - BACKDATE_SECONDS,
        "nbf": now - BACKDATE_SECONDS,
        "exp": expires,
    }
    rest: dict[str, Any] = {"oid": user.oid, "rh": opaque.rh, "sub": user.pairwise_sub, "tid": idt.tenant_id,
                            "uti": opaque.uti, "ver": "2.0" if v2 else "1.0"}
    if v2:
        rest["aio"] = opaque.aio
        if idt.profile:
            rest["name"] = user.name
            rest["preferred_username"] = user.upn
        if user.sid:
            rest["sid"] = user.sid
    else:
        rest.update(name=user.name, **_v1_person(user))
    if idt.email and user.email:
        rest["email"] = user.email
    if idt.nonce is not None:
        rest["nonce"] = idt.nonce
    if idt.c_hash:
        rest["c_hash"] = idt.c_hash
    if idt.at_hash:
        rest["at_hash"] = idt.at_hash
    if idt.roles:
        rest["roles"] = list(idt.roles)
    rest.update(group_claims(user, idt.tenant_id))
    if user.wids:
        rest["wids"] = list(user.wids)
    head.update(sorted(rest.items()))
    return head
