"""The proof of possession of Graph's addKey and removeKey: a JWT the caller signs with the private key of a
certificate the application already holds (Graph's documented rules): `aud` 00000002-0000-0000-c000-000000000000,
`iss` the application's object id, `nbf` and `exp` at most 10 minutes apart with now between them, signed
(RS256) by one of the app's certificates valid now, chosen by the header's `x5t` (or `kid` as the hex thumbprint)
when it names one."""

from __future__ import annotations

import base64
import binascii

from mockidp.directory.model import ApplicationRecord, CertificateRecord
from mockidp.tokens.assertions import ASSERTION_ALGORITHMS, MalformedJwt, signature_valid, unverified_parts

PROOF_AUDIENCE = "00000002-0000-0000-c000-000000000000"  # Azure AD Graph's appId, as Graph's docs require
MAX_LIFETIME = 600  # seconds between nbf and exp
SKEW = 300  # a choice: the clock skew allowed around nbf and exp (Entra's usual five minutes)


def valid_certificates(app: ApplicationRecord, now: float) -> list[CertificateRecord]:
    return [c for c in app.certificates if (c.start is None or c.start <= now) and (c.end is None or now < c.end)]


def _thumbprint(header: dict[str, object]) -> str | None:
    x5t, kid = header.get("x5t"), header.get("kid")
    if isinstance(x5t, str):
        try:
            return base64.urlsafe_b64decode(x5t + "=" * (-len(x5t) % 4)).hex().upper()
        except (binascii.Error, ValueError):
            return ""
    return kid.upper() if isinstance(kid, str) else None


def proof_problem(proof: object, app: ApplicationRecord, *, now: float) -> str | None:
    """Why the proof does not prove possession (for a trace or a test; Graph's answer names none), or None."""
    if not isinstance(proof, str):
        return "no proof"
    try:
        header, payload = unverified_parts(proof)
    except MalformedJwt as exc:
        return f"not a JWT ({exc})"
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ASSERTION_ALGORITHMS:
        return "not signed with an RSA algorithm"
    if payload.get("aud") != PROOF_AUDIENCE or payload.get("iss") != app.object_id:
        return "aud or iss is not the proof's"
    nbf, exp = payload.get("nbf"), payload.get("exp")
    if not isinstance(nbf, int) or not isinstance(exp, int) or isinstance(nbf, bool) or isinstance(exp, bool):
        return "nbf and exp are required"
    if exp - nbf > MAX_LIFETIME or not nbf - SKEW <= now < exp + SKEW:
        return "outside its time window (at most 10 minutes)"
    thumbprint = _thumbprint(header)
    candidates = [c for c in valid_certificates(app, now) if thumbprint is None or c.sha1 == thumbprint]
    if not any(signature_valid(proof, c.public_key_pem, alg) for c in candidates):
        return "not signed by a certificate of the application"
    return None
