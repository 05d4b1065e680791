"""Minting for users: access token (the resource's version), ID token (the endpoint's version),
refresh token (stored hashed) and client_info; the body's shape is oauth/responses.py's."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from mockidp.directory.builtin import GRAPH_APP_ID
from mockidp.directory.model import UserRecord
from mockidp.oauth import claim_reasons
from mockidp.oauth.cae import USER_LIFETIME_RANGE, cae_capabilities
from mockidp.oauth.client_auth import Client
from mockidp.oauth.context import Services
from mockidp.oauth.delegated import DelegatedGrant, identity
from mockidp.oauth.payloads import RefreshPayload, SignIn
from mockidp.oauth.responses import user_response
from mockidp.oauth.tenants import ResolvedTenant
from mockidp.tokens.claims import IdTokenInput
from mockidp.tokens.issuer import IssuedToken
from mockidp.tokens.keys import b64url
from mockidp.tokens.model import Authorization


@dataclass(frozen=True, slots=True)
class UserOutcome:
    """What a user grant decided; the pipeline mints it."""

    user: UserRecord
    grant: DelegatedGrant
    sign_in: SignIn
    requested_scope: str  # as asked (kept with the refresh token)
    nonce: str | None = None
    spa: bool = False
    chain_issued_at: float | None = None  # first sign-in of a refresh-token chain
    with_refresh_token: bool = True
    with_id_token: bool = True


def client_info(user: UserRecord) -> str:
    raw = json.dumps({"uid": user.id, "utid": user.tenant_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_secret_value(services: Services) -> str:
    """Codes, refresh tokens, device codes: 256 random bits from `secrets` (sequenced in tests)."""
    return b64url(services.ids.token_bytes(32))


def user_access_token(services: Services, *, user: UserRecord, grant: DelegatedGrant, client: Client,
                      tenant_id: str, sign_in: SignIn, origin: str, ipaddr: str | None,
                      claims: str | None = None) -> IssuedToken:
    """The delegated access token: the resource's version, a random 60-90 minute lifetime (20-28 h for a
    CAE-capable client and resource: oauth/cae.py)."""
    resource_app = grant.resource.app
    who = identity(services.directory, user, client_id=client.app.app_id, resource_app=resource_app,
                   sid=sign_in.sid, amr=sign_in.amr, ipaddr=ipaddr)
    auth = Authorization(
        tenant_id=tenant_id, client_app_id=client.app.app_id, client_acr=client.acr,
        resource_app_id=resource_app.app_id, audience=grant.resource.identifier,
        version=resource_app.access_token_version, subject_id=user.id, roles=grant.roles, scopes=grant.scp, user=who,
        header_nonce=resource_app.app_id == GRAPH_APP_ID, optional_claims=resource_app.access_token_claims,
        client_capabilities=cae_capabilities(claims, resource_app.app_id),
    )
    claim_reasons.record(services.directory, auth)
    issuer = services.issuer
    lifetime = issuer.user_lifetime(*USER_LIFETIME_RANGE) if auth.client_capabilities else issuer.user_lifetime()
    return issuer.access_token(auth, origin=origin, lifetime=lifetime)


def mint_user_tokens(services: Services, *, outcome: UserOutcome, tenant: ResolvedTenant, client: Client, origin: str,
                     endpoint_version: int, want_client_info: bool, ipaddr: str | None,
                     claims: str | None = None) -> dict[str, Any]:
    directory, issuer = services.directory, services.issuer
    user, grant, sign_in = outcome.user, outcome.grant, outcome.sign_in
    access = user_access_token(services, user=user, grant=grant, client=client, tenant_id=tenant.tenant.id,
                               sign_in=sign_in, origin=origin, ipaddr=ipaddr, claims=claims)
    body = user_response(access, version=endpoint_version, v2_scope=grant.response_scope,
                         v1_scope=" ".join(grant.scp), resource=grant.resource.identifier)
    # v2 gives a refresh token for offline_access; v1 always does for user grants.
    if outcome.with_refresh_token and ("offline_access" in grant.oidc or endpoint_version == 1):
        token = new_secret_value(services)
        services.artefacts.save_refresh_token(
            token, tenant_id=tenant.tenant.id, client_id=client.app.app_id, user_id=user.id,
            now=services.clock.now(), spa=outcome.spa, issued_at=outcome.chain_issued_at or sign_in.auth_time,
            data=RefreshPayload(sign_in, public=client.acr == "0", scope=outcome.requested_scope).to_data(),
        )
        body["refresh_token"] = token
    if outcome.with_id_token and "openid" in grant.oidc:
        id_who = identity(directory, user, client_id=client.app.app_id, resource_app=client.app, sid=sign_in.sid,
                          amr=sign_in.amr, ipaddr=ipaddr)
        body["id_token"] = issuer.id_token(
            IdTokenInput(tenant.tenant.id, client.app.app_id, id_who, client.app.app_id, nonce=outcome.nonce,
                         profile="profile" in grant.oidc or endpoint_version == 1, email="email" in grant.oidc),
            version=endpoint_version, origin=origin)
    if want_client_info and endpoint_version == 2:
        body["client_info"] = client_info(user)
    return body
