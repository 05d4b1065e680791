"""Step 2 of the token pipeline: which application is calling, and is it who it says it is.

Secrets (client_secret_post and client_secret_basic) and certificate assertions (private_key_jwt,
RS256 + x5t or PS256 + x5t#S256), checked as Entra checks them (docs/entra-behaviour.md#client-authentication);
an assertion another issuer signed is a federated credential (oauth/federation.py).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from mockidp.clock import entra_instant
from mockidp.directory.ids import GUID
from mockidp.directory.model import ApplicationRecord, CertificateRecord, ServicePrincipalRecord
from mockidp.directory.passwords import secret_digest
from mockidp.directory.snapshot import Directory
from mockidp.errors import AadstsError, catalogue
from mockidp.errors.catalogue import ErrorSpec
from mockidp.oauth.context import TokenRequest
from mockidp.oauth.federation import IssuerKeys, authenticate_federated, is_federated
from mockidp.oauth.tenants import ResolvedTenant, TenantRef
from mockidp.tokens.assertions import ASSERTION_ALGORITHMS, MalformedJwt, signature_valid, unverified_parts

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_SKEW = 120  # seconds of clock skew allowed on exp/nbf: a choice (Entra's value is unknown)


@dataclass(frozen=True, slots=True)
class Client:
    app: ApplicationRecord
    sp: ServicePrincipalRecord
    acr: str  # "0" public, "1" secret, "2" certificate


def canonical_guid(value: str) -> str:
    """A 36-character GUID as Entra compares it (lower case, hyphens in place); anything else as it is."""
    if len(value) != 36:
        return value
    if GUID.fullmatch(value):  # the usual form: lower-casing is what uuid.UUID would do, at a tenth the cost
        return value.lower()
    try:
        return str(uuid.UUID(value))  # hyphens elsewhere, or a urn: prefix, as uuid.UUID reads them
    except ValueError:
        return value


def require_multi_tenant(path_tenant: TenantRef | ResolvedTenant, app: ApplicationRecord | None) -> None:
    """/common and /organizations are for multi-tenant apps only (AADSTS50194)."""
    if path_tenant.kind in ("common", "organizations") and app is not None and not app.is_multi_tenant:
        raise AadstsError(catalogue.NOT_MULTI_TENANT, app_id=app.app_id, app_name=app.display_name)


WithoutServicePrincipal = Literal["refuse", "consent_required", "allowed"]


def registered_client(directory: Directory, tenant: TenantRef | ResolvedTenant, client_id: str, *,
                      without_sp: WithoutServicePrincipal) -> tuple[ApplicationRecord, ServicePrincipalRecord | None]:
    """The one rule "this client exists in this tenant" (700016): its service principal is in the tenant.
    On /common and /organizations the app must exist and be multi-tenant (50194); its tenant is known later.

    A multi-tenant app nobody consented to in the tenant has no service principal yet. `without_sp` says what
    that means where the rule is asked: "refuse" (700016: the devicecode endpoint and client credentials),
    "consent_required" (65001: a user grant at the token endpoint, as Entra answers non-interactively; a
    choice, recorded here), or "allowed" (/authorize: the consent after sign-in may add it).
    """
    cid = canonical_guid(client_id)
    app = directory.applications.get(cid)
    known = tenant.tenant
    if known is None:
        if app is None:
            raise AadstsError(catalogue.APP_NOT_FOUND, client_id=client_id[:256], tenant_name=tenant.segment)
        require_multi_tenant(tenant, app)
        return app, None
    sp = directory.service_principal(known.id, cid)
    if sp is None:
        if app is not None and app.is_multi_tenant and without_sp == "consent_required":
            raise AadstsError(catalogue.CONSENT_REQUIRED, suberror="consent_required", client_id=app.app_id,
                              client_name=app.display_name)
        if app is None or not app.is_multi_tenant or without_sp == "refuse":
            raise AadstsError(catalogue.APP_NOT_FOUND, client_id=client_id[:256], tenant_name=known.display_name)
    if app is None:  # a service principal of an app the seed does not register: Microsoft's, never a client
        raise AadstsError(catalogue.APP_NOT_FOUND, client_id=client_id[:256], tenant_name=known.display_name)
    return app, sp


def find_client(
    directory: Directory, tenant: ResolvedTenant, client_id: str, *, for_user: bool = False,
) -> tuple[ApplicationRecord, ServicePrincipalRecord]:
    """At the token endpoint the client is registered in the tenant (registered_client), enabled (7000112)."""
    app, sp = registered_client(directory, tenant, client_id, without_sp="consent_required" if for_user else "refuse")
    if sp is None:  # registered_client answers a service principal in a resolved tenant, or raises
        raise AadstsError(catalogue.APP_NOT_FOUND, client_id=client_id[:256], tenant_name=tenant.tenant.display_name)
    if not sp.account_enabled:
        raise AadstsError(catalogue.APP_DISABLED, app_id=app.app_id, app_name=app.display_name)
    return app, sp


def authenticate_client(
    directory: Directory, tenant: ResolvedTenant, req: TokenRequest, *, client_id: str, now: float,
    missing_credential: ErrorSpec, public_allowed: Callable[[ApplicationRecord], bool] = lambda _: False,
    for_user: bool = False, federation: IssuerKeys | None = None,
) -> Client:
    """public_allowed: whether this grant, for this app, may go without a credential (public client flows);
    federation: reads an external issuer's keys (workload identity federation, oauth/federation.py)."""
    app, sp = find_client(directory, tenant, client_id, for_user=for_user)
    params = req.params
    basic_id = canonical_guid(req.basic.client_id) if req.basic else None
    if basic_id and "client_id" in params and basic_id != canonical_guid(params["client_id"]):
        raise AadstsError(catalogue.CREDENTIALS_NOT_VALIDATED, detail=catalogue.BASIC_CLIENT_MISMATCH_DETAIL)
    body_secret = params.get("client_secret")
    basic_secret = req.basic.secret if req.basic else None
    assertion = params.get("client_assertion")
    if body_secret and basic_secret:
        raise AadstsError(catalogue.MALFORMED_REQUEST)  # two client authentication methods
    secret = body_secret or basic_secret
    if secret and assertion:
        raise AadstsError(catalogue.MALFORMED_REQUEST)
    credential = secret or assertion  # at most one of them, checked above
    if app.is_public and credential:
        raise AadstsError(catalogue.PUBLIC_CLIENT_WITH_CREDENTIAL)
    if not credential:
        if public_allowed(app):
            return Client(app, sp, "0")
        raise AadstsError(missing_credential)
    if req.origin_header:
        # "Client credentials are refused in every flow when an Origin header is present."
        raise AadstsError(catalogue.CROSS_ORIGIN_REDEMPTION, origin=req.origin_header[:256])
    if secret:
        _verify_secret(app, secret, now)
        return Client(app, sp, "1")
    assertion_type = params.get("client_assertion_type")
    if assertion_type is None:
        raise AadstsError(catalogue.MISSING_PARAMETER, name="client_assertion_type")
    if assertion_type != JWT_BEARER_ASSERTION:
        raise AadstsError(catalogue.MALFORMED_REQUEST)
    audiences = {req.endpoint_url(req.tenant_segment), req.endpoint_url(tenant.segment)}
    # No secret reached here: the credential is the assertion.
    try:
        header, payload = unverified_parts(credential)
    except MalformedJwt:
        raise AadstsError(catalogue.MALFORMED_JWT) from None
    if is_federated(payload, app.app_id):  # another issuer's token: workload identity federation
        authenticate_federated(directory, app.app_id, credential, header, payload, now=now, keys=federation,
                               own_origin=req.origin)
        return Client(app, sp, "2")  # Entra's appidacr/azpacr for a federated credential: 2, as an assertion
    _verify_assertion(app, credential, header, payload, now=now, audiences=audiences)
    return Client(app, sp, "2")


def _verify_secret(app: ApplicationRecord, secret: str, now: float) -> None:
    digest = secret_digest(secret)
    matches = [s for s in app.secrets if hmac.compare_digest(s.sha256, digest)]
    if not matches:
        raise AadstsError(catalogue.INVALID_CLIENT_SECRET, client_id=app.app_id)
    if any((s.start is None or s.start <= now) and (s.end is None or now < s.end) for s in matches):
        return
    if any(s.end is not None and s.end <= now for s in matches):
        raise AadstsError(catalogue.EXPIRED_CLIENT_SECRET, client_id=app.app_id)
    raise AadstsError(catalogue.INVALID_CLIENT_SECRET, client_id=app.app_id)  # not valid yet


def _thumbprint_hex(value: Any, size: int) -> str | None:
    """The hex of a base64url thumbprint of exactly `size` bytes (SHA-1 20, SHA-256 32); None otherwise."""
    if not isinstance(value, str) or not value or len(value) > 128:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw.hex().upper() if len(raw) == size else None


def _key_failure(app: ApplicationRecord, variant: tuple[str, str], details: str) -> AadstsError:
    statement, reason = variant
    return AadstsError(catalogue.ASSERTION_KEY, statement=statement, reason=reason, key_details=details,
                       client_id=app.app_id)


def _find_certificate(app: ApplicationRecord, header: dict[str, Any]) -> tuple[CertificateRecord | None, str]:
    sha1 = _thumbprint_hex(header.get("x5t"), 20)
    sha256 = _thumbprint_hex(header.get("x5t#S256"), 32)
    kid = header.get("kid") if isinstance(header.get("kid"), str) else None
    # A thumbprint that is present but can be no real one names no key (700027), like an unknown one.
    bad = next((str(header[k])[:128] for k, v in (("x5t", sha1), ("x5t#S256", sha256)) if k in header and v is None),
               None)
    shown = bad or sha1 or sha256 or (kid or "")[:128]
    if bad is not None:
        return None, shown
    for cert in app.certificates:
        if sha1 is not None and cert.sha1 != sha1:
            continue
        if sha256 is not None and cert.sha256 != sha256:
            continue
        if sha1 is None and sha256 is None and kid is not None and kid.upper() not in (cert.key_id.upper(), cert.sha1):
            continue
        return cert, shown
    return None, shown


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value) if abs(value) < 1e18 else None
    return number if number is not None and math.isfinite(number) else None


def _portal_date(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%m/%d/%Y %H:%M:%S")


def _verify_assertion(app: ApplicationRecord, token: str, header: dict[str, Any], payload: dict[str, Any], *,
                      now: float, audiences: set[str]) -> None:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ASSERTION_ALGORITHMS:
        raise AadstsError(catalogue.ASSERTION_ALGORITHM, alg=str(alg)[:32])
    if "crit" in header:
        raise AadstsError(catalogue.MALFORMED_JWT)  # no critical extension is understood here
    if not any(k in header for k in ("x5t", "x5t#S256", "kid")):
        raise AadstsError(catalogue.ASSERTION_NO_THUMBPRINT)
    cert, shown = _find_certificate(app, header)
    if cert is None:
        raise _key_failure(app, catalogue.KEY_NOT_REGISTERED, f"Thumbprint of key used by client: '{shown}', ")
    if (cert.end is not None and cert.end <= now) or (cert.start is not None and now < cert.start):
        found = f"Found key 'Start={_portal_date(cert.start or 0)}, End={_portal_date(cert.end or 0)}', "
        raise _key_failure(app, catalogue.KEY_EXPIRED, f"Thumbprint of key used by client: '{shown}', {found}")
    if not signature_valid(token, cert.public_key_pem, alg):
        raise _key_failure(app, catalogue.BAD_SIGNATURE, "")
    iss, sub = payload.get("iss"), payload.get("sub")
    if not isinstance(iss, str) or not isinstance(sub, str):
        raise AadstsError(catalogue.ASSERTION_CLIENT_MISMATCH)
    if iss != sub:
        raise AadstsError(catalogue.ASSERTION_SUBJECT_ISSUER_MISMATCH)
    if canonical_guid(iss) != app.app_id:
        raise AadstsError(catalogue.ASSERTION_CLIENT_MISMATCH)
    aud = payload.get("aud")
    if not isinstance(aud, str) or aud not in audiences:
        raise AadstsError(catalogue.ASSERTION_AUDIENCE)
    exp, nbf = _number(payload.get("exp")), _number(payload.get("nbf"))
    if exp is None or ("nbf" in payload and nbf is None):
        raise AadstsError(catalogue.MALFORMED_JWT)
    if now > exp + ASSERTION_SKEW or (nbf is not None and nbf > now + ASSERTION_SKEW):
        # Entra reports nbf as the start, the Unix epoch without one (catalogue ASSERTION_TIME_RANGE).
        raise AadstsError(
            catalogue.ASSERTION_TIME_RANGE, now=entra_instant(now), valid_from=entra_instant(nbf or 0),
            expires=entra_instant(exp),
        )
