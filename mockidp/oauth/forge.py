"""Tokens a test asks for (POST /_mockidp/control/tokens): what mockidp would mint for a client, a
resource, roles, scopes and a user, with what a test needs to see an API refuse: expired, not yet
valid, another audience or issuer, or signed by a key mockidp's JWKS does not hold.

No rule of Entra's decides here (a forged token is what a test wants, whatever the directory says); the
directory only fills in what it knows (the resource's token version and identifier, the client's service
principal, the user's claims). The decision trace records that the token was forged and how.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from mockidp.directory.ids import derived_id
from mockidp.oauth import trace
from mockidp.oauth.context import Services
from mockidp.oauth.delegated import identity
from mockidp.tokens.issuer import IssuedToken
from mockidp.tokens.model import Authorization

NOT_YET_VALID_BY = 600  # seconds ahead a not-yet-valid token's nbf stands (past any library's usual skew)
EXPIRED_BY = 600  # seconds ago an expired token's exp was


class ForgeRefused(ValueError):
    """What the request names does not exist, or cannot go together (a 400 saying which)."""


@dataclass(frozen=True, slots=True)
class ForgeRequest:
    client_id: str
    resource: str  # an appId or identifier URI of the tenant, or any GUID
    tenant: str | None = None  # a tenant id or domain; None: the only tenant, if there is one
    version: int | None = None  # None: the resource's requestedAccessTokenVersion (2 for an unknown resource)
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    user: str | None = None  # a userPrincipalName of the tenant: a delegated token
    lifetime: int = 3600
    expired: bool = False
    not_yet_valid: bool = False
    audience: str | None = None
    issuer: str | None = None
    foreign_key: bool = False


def forge(services: Services, req: ForgeRequest, *, origin: str) -> IssuedToken:
    directory = services.directory
    tenants = list(directory.tenants.values())
    if req.tenant is None:
        if len(tenants) != 1:
            raise ForgeRefused("name the 'tenant': the seed holds " + (f"{len(tenants)} tenants" if tenants
                                                                      else "no tenant"))
        tenant = tenants[0]
    else:
        found = directory.tenants.get(req.tenant.lower()) or directory.tenant_by_domain(req.tenant)
        if found is None:
            raise ForgeRefused(f"no tenant {req.tenant} in the seed")
        tenant = found
    resource_sp = directory.resource(tenant.id, req.resource)
    if resource_sp is not None:
        resource_app = directory.applications[resource_sp.app_id]
        resource_app_id, audience, version = resource_app.app_id, req.resource, resource_app.access_token_version
    elif _guid(req.resource):
        resource_app, resource_app_id, audience, version = None, req.resource.lower(), req.resource.lower(), 2
    else:
        raise ForgeRefused(f"no resource {req.resource} in tenant {tenant.id}: name an appId or identifier URI "
                           "of the seed, or any GUID")
    if not _guid(req.client_id):
        raise ForgeRefused("'clientId' is an application (client) ID, a GUID")
    client_id = req.client_id.lower()
    client_sp = directory.service_principal(tenant.id, client_id)
    version = req.version or version
    who = None
    subject = client_sp.id if client_sp is not None else derived_id(tenant.id, "sp", client_id)
    if req.user is not None:
        user = directory.user_by_upn(tenant.id, req.user)
        if user is None:
            raise ForgeRefused(f"no user {req.user} in tenant {tenant.id}")
        if resource_app is None:
            raise ForgeRefused("a delegated token needs a resource of the seed (its groups and claims)")
        who = identity(directory, user, client_id=client_id, resource_app=resource_app, sid=None, amr=("pwd",),
                       ipaddr=None)
        subject = user.id
    auth = Authorization(tenant_id=tenant.id, client_app_id=client_id, client_acr="1", resource_app_id=resource_app_id,
                         audience=audience, version=version, subject_id=subject, roles=req.roles,
                         scopes=req.scopes if who is not None else (), user=who,
                         optional_claims=resource_app.access_token_claims if resource_app is not None else ())
    now = int(services.clock.now())
    overrides: dict[str, object] = {}
    if req.expired:
        now -= req.lifetime + EXPIRED_BY
    if req.not_yet_valid:
        overrides["nbf"] = overrides["iat"] = now + NOT_YET_VALID_BY
    if req.audience is not None:
        overrides["aud"] = req.audience
    if req.issuer is not None:
        overrides["iss"] = req.issuer
    issued = services.issuer.forged(auth, origin=origin, now=now, lifetime=req.lifetime, overrides=overrides,
                                    foreign_key=req.foreign_key)
    trace.about(client_id=client_id, tenant=tenant.id, grant_type="forged")
    trace.step("forged", note="a token a test asked for (POST /_mockidp/control/tokens), not an Entra decision",
               client_id=client_id, resource=audience, version=f"{version}.0", user=req.user,
               roles=req.roles, scopes=req.scopes, expired=req.expired or None,
               not_yet_valid=req.not_yet_valid or None, audience=req.audience, issuer=req.issuer,
               foreign_key=req.foreign_key or None)
    return issued


def _guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36
