"""Workload identity federation: a client authenticates with a token another issuer signed (a GitHub Actions
job's, a Kubernetes service account's), presented as client_assertion, that matches one of the client's
federatedIdentityCredentials (docs/federation.md).

Which assertions are federated (a choice, Entra's exact rule is not documented): one whose `iss` is a URL
and not the client_id. A certificate assertion is self-issued, iss = sub = client_id, and a URL there could
never pass as one (700021). The checks run in the order the reference infers from the codes Entra answers
(errors/catalogue.py, "workload identity federation"): a token Entra issued first, the app's records
(issuer, audience, subject; exact, case-sensitive), then the issuer's keys and the signature, then the
time window. The owner is whatever has credentials under the request's client_id: an application, or a
user-assigned identity (Directory.federated_credentials_of).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from mockidp.clock import entra_instant
from mockidp.directory.model import FederatedCredentialRecord
from mockidp.directory.snapshot import Directory
from mockidp.errors import AadstsError, catalogue
from mockidp.oauth import trace
from mockidp.tokens.foreign_keys import from_jwk, signature_valid
from mockidp.tokens.remote_metadata import MetadataUnavailable

ALGORITHM = "RS256"  # the only algorithm Entra supports for federated tokens (reference C.3)
MAX_KEYS = 100  # Entra keeps only the first 100 signing keys of an external JWKS
SKEW = 120  # seconds allowed on exp/nbf, as for certificate assertions (oauth/client_auth.py): a choice
_TYPES = ("JWT", "http://openid.net/specs/jwt/1.0")
# Where Entra's own tokens come from: such a token is never a federated credential (700222).
ENTRA_HOSTS = ("login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net")


class IssuerKeys(Protocol):
    """The JWKS of an issuer (tokens/remote_metadata.IssuerKeys); raises MetadataUnavailable."""

    def __call__(self, issuer: str, *, refresh: bool = False) -> dict[str, Any]: ...


def is_federated(payload: dict[str, Any], client_id: str) -> bool:
    iss = payload.get("iss")
    return isinstance(iss, str) and "://" in iss and iss.lower() != client_id.lower()


def _entra_issued(iss: str, own_origin: str) -> bool:
    try:
        host = (urlsplit(iss).hostname or "").lower()
    except ValueError:
        return False
    own = iss.lower().startswith(own_origin.lower().rstrip("/") + "/")  # this mockidp's tokens are Entra's
    return own or any(host == h or host.endswith("." + h) for h in ENTRA_HOSTS)


def _audiences(aud: Any) -> tuple[str, ...] | None:
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
        return tuple(aud)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) >= 1e18:
        return None
    return float(value) if math.isfinite(value) else None


def authenticate_federated(
    directory: Directory, client_id: str, token: str, header: dict[str, Any], payload: dict[str, Any], *,
    now: float, keys: IssuerKeys | None, own_origin: str,
) -> FederatedCredentialRecord:
    """The credential the external token matches; raises the AADSTS error Entra answers otherwise."""
    iss, sub = payload["iss"], payload.get("sub")
    audiences = _audiences(payload.get("aud"))
    if not isinstance(sub, str) or audiences is None:
        raise AadstsError(catalogue.MALFORMED_JWT)
    typ = header.get("typ")
    if typ is not None and typ not in _TYPES:
        raise AadstsError(catalogue.FEDERATED_TOKEN_TYPE)
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise AadstsError(catalogue.ASSERTION_ALGORITHM, alg=str(alg)[:32])
    shown = {"issuer": iss[:600], "subject": sub[:600], "audience": ", ".join(audiences)[:600]}
    trace.step("federated credential", "presented", note="an external token as client_assertion", **shown)
    if _entra_issued(iss, own_origin):
        raise AadstsError(catalogue.FEDERATED_ENTRA_ISSUER)
    records = directory.federated_credentials_of(client_id)
    if not records:
        raise AadstsError(catalogue.FEDERATED_NO_RECORD, **shown)
    same_issuer = [r for r in records if r.issuer == iss]
    if not same_issuer:
        raise AadstsError(catalogue.FEDERATED_ISSUER, issuer=shown["issuer"])
    same_audience = [r for r in same_issuer if any(a in audiences for a in r.audiences)]
    if not same_audience:
        raise AadstsError(catalogue.FEDERATED_AUDIENCE, audience=shown["audience"])
    match = next((r for r in same_audience if r.subject == sub), None)
    if match is None:
        raise AadstsError(catalogue.FEDERATED_SUBJECT, subject=shown["subject"])
    trace.step("federated credential", name=match.name, issuer=match.issuer, subject=match.subject)
    _verify_signature(token, header, iss, keys)
    exp, nbf = _number(payload.get("exp")), _number(payload.get("nbf"))
    if exp is None or ("nbf" in payload and nbf is None):
        raise AadstsError(catalogue.MALFORMED_JWT)
    if now > exp + SKEW or (nbf is not None and nbf > now + SKEW):
        raise AadstsError(catalogue.ASSERTION_TIME_RANGE, now=entra_instant(now),
                          valid_from=entra_instant(nbf or 0), expires=entra_instant(exp))
    return match


def _verify_signature(token: str, header: dict[str, Any], iss: str, keys: IssuerKeys | None) -> None:
    kid = header.get("kid")
    shown_kid = str(kid)[:128] if kid is not None else str(header.get("x5t", ""))[:128]

    def verified(read: Callable[[], dict[str, Any]]) -> bool | None:
        """True: verified; False: a key with the kid failed; None: no key with that kid."""
        try:
            jwks = read()
        except MetadataUnavailable as exc:
            trace.step("issuer metadata", "failed", issuer=iss[:600], reason=str(exc)[:300])
            raise AadstsError(catalogue.FEDERATED_ISSUER_UNREACHABLE) from None
        members = jwks.get("keys")
        candidates = [k for k in (members if isinstance(members, list) else [])[:MAX_KEYS]
                      if isinstance(k, dict) and (kid is None or k.get("kid") == kid)]
        if not candidates:
            return None
        for jwk in candidates:
            key = from_jwk(jwk)
            if key is not None and signature_valid(token, key, ALGORITHM):
                return True
        return False

    if keys is None:  # no resolver wired (an in-process harness without one): nothing can be fetched
        trace.step("issuer metadata", "failed", issuer=iss[:600], reason="no issuer metadata reader")
        raise AadstsError(catalogue.FEDERATED_ISSUER_UNREACHABLE)
    outcome = verified(lambda: keys(iss))
    if outcome is None:  # a key rotated in since the JWKS was read: read it again, once
        outcome = verified(lambda: keys(iss, refresh=True))
    if not outcome:
        raise AadstsError(catalogue.FEDERATED_KEY_NOT_FOUND, kid=shown_kid, issuer=iss[:600])
    trace.step("federated signature", issuer=iss[:600], kid=shown_kid)
