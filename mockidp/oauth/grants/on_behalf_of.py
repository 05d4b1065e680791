"""on-behalf-of: a middle-tier API trades the user's access token it was called with for a token to a
downstream API, as the same user (docs/entra-behaviour.md#on-behalf-of).

Confidential clients only (7000218). The `assertion` must be a token mockidp signed (50013), a user's
access token (240002 for an ID token, 7000114 for an app-only one), within its lifetime (500133),
addressed to the calling app (500131) and of the request's tenant (50013). Then the usual user-grant
rules: the user exists and is enabled, assignment to the middle tier, consent for the downstream
scopes (65001). Entra's order between these checks is not documented; this one is a choice: the kind
of token first (an ID token's `aud` is never the middle tier, and Entra answers it with 240002),
then the lifetime before the audience, in the order of Microsoft.IdentityModel's validators.
"""

from __future__ import annotations

from typing import Any

from mockidp.clock import entra_instant
from mockidp.directory.model import ApplicationRecord, TenantRecord, UserRecord
from mockidp.errors import AadstsError, catalogue
from mockidp.oauth import trace
from mockidp.oauth.context import Services, TokenRequest
from mockidp.oauth.grants.base import Grant, GrantInput, Located, UserRequest
from mockidp.oauth.payloads import SignIn
from mockidp.oauth.tenants import ResolvedTenant, TenantRef
from mockidp.oauth.users import check_enabled
from mockidp.tokens.assertions import MalformedJwt, unverified_parts
from mockidp.tokens.own_tokens import NotOwnToken, Rejection, token_kind, verify_own_token

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ON_BEHALF_OF = "on_behalf_of"
_REASONS: dict[Rejection, str] = {
    "malformed": catalogue.OBO_MALFORMED,
    "unknown_key": catalogue.OBO_KEY_NOT_FOUND,
    "bad_signature": catalogue.OBO_SIGNATURE_MISMATCH,
}


# ------------------------------------------------------------------------------- step 3: the tenant


def locate(req: TokenRequest, tenant: TenantRef, services: Services) -> Located:
    """A named tenant is the one. On /common and /organizations the assertion names it (its `tid`):
    Entra's 50059 says tenant information may be "implied by any provided credentials". The `tid` is
    only a hint here; authorize() verifies the signature and requires the same tenant again."""
    if req.params["requested_token_use"] != ON_BEHALF_OF:
        # Entra documents no code for a wrong value; the catalogue's malformed-request entry is the choice.
        raise AadstsError(catalogue.MALFORMED_REQUEST)
    if (known := tenant.resolved()) is not None:
        return Located(known)
    if tenant.kind == "consumers":
        # The Microsoft-account tenant: mockidp never issues its tokens, so no assertion belongs there.
        raise _invalid_assertion(catalogue.OBO_OTHER_TENANT)
    home = _named_tenant(services, req.params["assertion"])
    if home is None:
        raise AadstsError(catalogue.NO_TENANT_INFORMATION)
    return Located(ResolvedTenant(home))


def _named_tenant(services: Services, assertion: str) -> TenantRecord | None:
    try:
        _, payload = unverified_parts(assertion)
    except MalformedJwt:
        return None
    tid = payload.get("tid")
    return services.directory.tenants.get(tid) if isinstance(tid, str) else None


# ----------------------------------------------------------------------------- step 5: the decision


def authorize(g: GrantInput) -> UserRequest:
    services, params, app = g.services, g.req.params, g.client.app
    now = services.clock.now()
    claims = _verified_claims(services, params["assertion"])
    _check_kind(claims, app)
    _check_lifetime(claims, now)
    _check_audience(claims, app)
    if claims.get("tid") != g.tenant.tenant.id:
        raise _invalid_assertion(catalogue.OBO_OTHER_TENANT)
    user = _user(services, claims, g.tenant.tenant)
    trace.step("assertion", user=user.user_principal_name, aud=str(claims.get("aud", "")),
               note="a user's access token signed by mockidp, unexpired, addressed to this client, of this tenant")
    # v2 names the downstream scopes in `scope`; v1 names the downstream resource in `resource`.
    # OBO responses carry no id_token (docs/entra-behaviour.md#on-behalf-of); a refresh token only for offline_access.
    return UserRequest(user, params.get("scope", ""), params.get("resource"), _sign_in(claims, now),
                       with_id_token=False)


def _invalid_assertion(reason: str) -> AadstsError:
    return AadstsError(catalogue.OBO_INVALID_ASSERTION, reason=reason)


def _verified_claims(services: Services, assertion: str) -> dict[str, Any]:
    try:
        return verify_own_token(services.issuer.keys.verifier, assertion)
    except NotOwnToken as exc:
        raise _invalid_assertion(_REASONS[exc.reason]) from None


def _check_kind(claims: dict[str, Any], app: ApplicationRecord) -> None:
    """Only a user's access token stands for a user: an ID token proves a sign-in to its client, an
    app-only token has no user behind it."""
    kind = token_kind(claims)
    if kind == "id":
        raise AadstsError(catalogue.OBO_ID_TOKEN)
    if kind == "app_access":
        raise AadstsError(catalogue.OBO_APP_ONLY, app_id=app.app_id)


def _number(value: Any) -> float | None:
    """A NumericDate. Verified tokens of ours always carry ints; read defensively all the same."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not abs(value) < 1e18:
        return None  # also NaN and infinities
    return float(value)


def _check_lifetime(claims: dict[str, Any], now: float) -> None:
    """No clock skew on `exp`: Entra refused an assertion 21 s past it (captured 500133). A `nbf` still
    ahead (only if mockidp's clock went back) gets the same answer."""
    exp, nbf = _number(claims.get("exp")), _number(claims.get("nbf"))
    if exp is None or now >= exp or (nbf is not None and now < nbf):
        raise AadstsError(catalogue.OBO_ASSERTION_EXPIRED, now=entra_instant(now), expires=entra_instant(exp or 0))


def audience_matches(aud: str, app: ApplicationRecord, token_version: Any) -> bool:
    """v2 tokens carry the appId as `aud`; v1 tokens the identifier as it was requested: the appId or one
    of the identifierUris, in any case (the resource lookup ignores case, so `aud` keeps the caller's)."""
    if token_version == "2.0":
        return aud == app.app_id
    return aud.lower() in {app.app_id, *(uri.lower() for uri in app.identifier_uris)}


def _check_audience(claims: dict[str, Any], app: ApplicationRecord) -> None:
    aud = claims.get("aud")
    shown = aud if isinstance(aud, str) else ""
    if not audience_matches(shown, app, claims.get("ver")):
        raise AadstsError(catalogue.OBO_AUDIENCE_MISMATCH, aud=shown[:512], client_id=app.app_id,
                          app_name=app.display_name)


def _user(services: Services, claims: dict[str, Any], tenant: TenantRecord) -> UserRecord:
    """The assertion's `oid`, still in the directory and enabled (the seed may have changed since)."""
    oid = claims.get("oid")
    user = services.directory.users.get(oid) if isinstance(oid, str) else None
    if user is None or user.tenant_id != tenant.id:
        raise AadstsError(catalogue.USER_NOT_FOUND, tenant_id=tenant.id)
    check_enabled(user)
    return user


def _sign_in(claims: dict[str, Any], now: float) -> SignIn:
    """The downstream token keeps how the user signed in. v1 assertions carry `amr`; v2 ones do not,
    and then a password is assumed (as for refresh tokens stored without one). The assertion's `iat`
    stands for the sign-in time: the refresh-token chain starts no later than the token it came from."""
    amr = claims.get("amr")
    methods = tuple(m for m in amr if isinstance(m, str)) if isinstance(amr, list) else ()
    sid = claims.get("sid")
    iat = _number(claims.get("iat"))
    return SignIn(sid if isinstance(sid, str) else None, methods or ("pwd",), iat if iat is not None else now)


GRANT = Grant(
    grant_type=GRANT_TYPE,
    parameters_v1=("assertion", "resource", "requested_token_use"),
    parameters_v2=("assertion", "scope", "requested_token_use"),
    missing_credential=catalogue.CREDENTIAL_REQUIRED,
    authorize=authorize,
    locate=locate,
)
