"""What a JWT says, claim by claim, and whether mockidp's key signed it: the one explanation shared by
the console's token decoder and `mockidp explain --token`. Framework-free; it never logs.

A token pasted from anywhere is untrusted input: every step tolerates garbage and reports it as a
problem instead of raising.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry

from mockidp.tokens.signer import hashed_nonce

MAX_TOKEN_CHARS = 32_768  # far above any Entra token (a few KiB with groups), small enough to parse at once
_REGISTRY = JWSRegistry(algorithms=["RS256"], strict_check_header=False)
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]*$")
_V1_ISSUER = re.compile(r"^https://sts\.windows\.net/([^/]+)/$")
_V2_ISSUER = re.compile(r"^(https?://[^/]+)/([^/]+)/v2\.0$")

HEADER_MEANINGS = {
    "typ": "Media type: JWT.",
    "alg": "Signature algorithm. Entra (and mockidp) sign with RS256 only; `none` or HS256 is never Entra's.",
    "kid": "Id of the signing key: look it up in the tenant's JWKS (jwks_uri of the discovery document).",
    "x5t": "SHA-1 thumbprint of the signing certificate; v1 tokens carry it beside kid, v2 tokens only kid.",
    "nonce": ("Microsoft Graph's header nonce: the signature covers the header with base64url(SHA-256(nonce)) in "
              "its place, so generic JWT libraries refuse Graph tokens by design (README, \"Microsoft Graph "
              "tokens\"). Graph tokens are Graph's to validate; request a token for your own API instead."),
}

CLAIM_MEANINGS = {
    "aud": "Audience: the API the token is for. It must be your API's appId (v2) or the identifier it was requested "
           "by, appId or App ID URI (v1).",
    "iss": "Issuer: who issued it, and in which tenant. Its form names the token version.",
    "iat": "Issued at (seconds since 1970, UTC). Entra back-dates it by 5 minutes for clock skew.",
    "nbf": "Not before: the token is not valid earlier.",
    "exp": "Expiry: the token is not valid from this time on.",
    "aio": "Opaque internal value of Entra; ignore it.",
    "azp": "Authorized party (v2): the appId of the client that asked for the token.",
    "azpacr": "How the client authenticated (v2): 0 public client, 1 client secret, 2 certificate or assertion.",
    "appid": "The appId of the client that asked for the token (v1).",
    "appidacr": "How the client authenticated (v1): 0 public client, 1 client secret, 2 certificate or assertion.",
    "idp": "Identity provider that authenticated the subject; app-only v1 tokens carry the issuer itself.",
    "oid": "Object id of the subject in this tenant: the user, or the client's service principal.",
    "sub": "Subject: for apps the service principal's object id; for users a pairwise id, unique per application.",
    "rh": "Opaque internal value of Entra; ignore it.",
    "tid": "Tenant id: the directory that issued the token.",
    "uti": "Unique token id (opaque).",
    "ver": "Token version: 1.0 or 2.0, chosen by the API's requestedAccessTokenVersion (null means 1).",
    "roles": "App roles granted: to an app by admin consent (app role assignments), to a user by assignment to the "
             "enterprise application. Absent when nothing is assigned.",
    "scp": "Delegated scopes the user (or an admin) consented to, space separated. Only in tokens with a user.",
    "name": "The user's display name.",
    "preferred_username": "The user's sign-in name (v2). Display only: never authorize on it.",
    "upn": "User principal name (v1).",
    "unique_name": "The user's sign-in name (v1). Display only: never authorize on it.",
    "given_name": "First name.",
    "family_name": "Last name.",
    "email": "The user's email address (with the email scope).",
    "amr": "How the user authenticated (pwd: password).",
    "acr": "Authentication context class (v1); 1 for a normal sign-in.",
    "ipaddr": "IP address the user signed in from (v1).",
    "groups": "Object ids of the user's groups, per groupMembershipClaims of the application.",
    "wids": "Directory roles of the user (role template ids).",
    "sid": "Session id of the sign-in; logout and continuous access evaluation use it.",
    "nonce": "The nonce the client sent to /authorize, echoed so the client can detect replayed ID tokens.",
    "c_hash": "Hash of the authorization code issued beside this ID token.",
    "at_hash": "Hash of the access token issued beside this ID token.",
    "xms_cc": "Client capabilities the client declared (cp1: it handles continuous access evaluation claims "
              "challenges), which made this a long-lived CAE token.",
    "xms_mirid": "The ARM resource id of the managed identity this token was issued to (a system-assigned "
                 "identity's is its resource's).",
    "xms_az_rid": "The ARM resource id of the Azure resource that used this user-assigned managed identity.",
    "auth_time": "When the user last entered credentials.",
    "login_hint": "An opaque hint for signing the same user in again.",
    "hasgroups": "The user has too many groups to list: query Microsoft Graph for them.",
    "_claim_names": "The user is in more groups than a token lists (200): groups is left out, and this names "
                    "the source in _claim_sources to read them from.",
    "_claim_sources": "Where to read the user's groups instead (their getMemberObjects in the directory).",
    "idtyp": "Token type: app for an app-only token, user for a delegated one.",
}


@dataclass(frozen=True, slots=True)
class Item:
    """One header parameter or claim: its name, its value as shown, and what it means here."""

    name: str
    value: str
    meaning: str
    note: str = ""  # what this token's value says in particular (a time, an issuer version, a match)


@dataclass(frozen=True, slots=True)
class Signature:
    status: str  # verified | not-ours | invalid | unsigned | not-checked
    text: str

    @property
    def verified(self) -> bool:
        return self.status == "verified"


@dataclass(frozen=True, slots=True)
class Explanation:
    problem: str | None = None  # set when the text is no readable JWT; nothing else is then filled
    header: dict[str, Any] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)
    header_items: tuple[Item, ...] = ()
    claim_items: tuple[Item, ...] = ()
    kind: str = ""  # access token | ID token
    version: str = ""  # v1.0 | v2.0 | unknown
    issuer: str = ""  # the issuer's form and which discovery document validates it
    discovery: str | None = None
    audience: str = ""
    expiry: str = ""
    signature: Signature = Signature("not-checked", "")
    graph_nonce: bool = False

    @property
    def summary(self) -> tuple[tuple[str, str], ...]:
        return (("Token", f"{self.kind}, {self.version}"), ("Issuer", self.issuer), ("Audience", self.audience),
                ("Expiry", self.expiry), ("Signature", self.signature.text))


def _b64json(segment: str) -> Any:
    if not _SEGMENT.match(segment):
        raise ValueError("not base64url")
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _when(value: Any, now: float) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or not -1e11 < value < 1e11:
        return "not a time"
    delta = int(value - now)
    at = dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    span = abs(delta)
    amount = f"{span // 3600} h {span % 3600 // 60} min" if span >= 3600 else f"{span // 60} min {span % 60} s"
    return f"{at} ({'in ' + amount if delta > 0 else amount + ' ago'})"


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _signature(token: str, header: dict[str, Any], keys: Sequence[dict[str, Any]]) -> Signature:
    alg = header.get("alg")
    if alg != "RS256":
        return Signature("unsigned" if alg in (None, "none") else "invalid",
                         f"alg {alg!r}: not RS256, so not a token of Entra or mockidp; no key can verify it.")
    if not keys:
        return Signature("not-checked", "not checked: no mockidp signing key at hand.")
    kid = header.get("kid")
    key_data = next((k for k in keys if k.get("kid") == kid), None)
    if key_data is None:
        return Signature("not-ours", f"kid {_show(kid)} is not mockidp's signing key "
                                     f"({', '.join(str(k.get('kid')) for k in keys)}): issued by someone else "
                                     "(Entra itself?), so mockidp cannot check it.")
    signed = token
    nonce = header.get("nonce")
    if isinstance(nonce, str):  # Graph's scheme: the signature covers the header with the nonce hashed
        first = token.partition(".")[0]
        hashed = {**header, "nonce": hashed_nonce(nonce)}
        signed = base64.urlsafe_b64encode(json.dumps(hashed, separators=(",", ":")).encode()).rstrip(b"=").decode()
        signed += token[len(first):]
    try:
        jws.deserialize_compact(signed, RSAKey.import_key({"kty": "RSA", "n": key_data["n"], "e": key_data["e"]}),
                                registry=_REGISTRY)
    except (JoseError, ValueError, KeyError, TypeError):
        return Signature("invalid", f"does NOT verify with mockidp's key {kid}: the token was altered, or signed "
                                    "by another key with the same kid.")
    how = " over the header with the nonce hashed (Graph's scheme)" if isinstance(nonce, str) else ""
    return Signature("verified", f"verified with mockidp's key {kid}{how}.")


def _issuer(iss: Any, origin: str | None) -> tuple[str, str, str | None]:
    """(version, text, discovery URL) from the issuer's form."""
    if not isinstance(iss, str):
        return "unknown", "no iss claim: no Entra token lacks one.", None
    if m := _V1_ISSUER.match(iss):
        base = origin or "https://login.microsoftonline.com"
        url = f"{base}/{m.group(1)}/.well-known/openid-configuration"
        return "v1.0", (f"v1 issuer (sts.windows.net): validate with the v1 discovery document {url}, whose issuer "
                        "is this one. A validator configured with the v2.0 document rejects it (\"Invalid token\", "
                        "IDX10205)."), url
    if m := _V2_ISSUER.match(iss):
        url = f"{iss}/.well-known/openid-configuration"
        return "v2.0", (f"v2.0 issuer (…/{m.group(2)}/v2.0): validate with the v2.0 discovery document {url}. "
                        "A validator configured with the v1 document (sts.windows.net) rejects it."), url
    return "unknown", f"{iss}: not an Entra issuer form (v1 sts.windows.net/…/ or v2 …/v2.0).", None


def explain_token(text: str, *, keys: Sequence[dict[str, Any]], now: float, origin: str | None = None,
                  name_of: Callable[[str, str], str | None] | None = None) -> Explanation:
    """keys: mockidp's public JWKs; origin: mockidp's, for the v1 discovery URL; name_of(tid, identifier):
    the directory's name for an application (by appId or App ID URI), when a directory is at hand."""
    token = text.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if not token:
        return Explanation(problem="Paste a token (three base64url parts separated by dots).")
    if len(token) > MAX_TOKEN_CHARS:
        return Explanation(problem=f"Longer than {MAX_TOKEN_CHARS} characters: no Entra token is.")
    parts = token.split(".")
    if len(parts) == 5:
        return Explanation(problem="Five parts: an encrypted token (JWE). Only its recipient can read it.")
    if len(parts) != 3:
        return Explanation(problem=f"{len(parts)} part(s): a JWT has three (header.payload.signature).")
    try:
        header, payload = _b64json(parts[0]), _b64json(parts[1])
    except (ValueError, RecursionError):
        return Explanation(problem="The header or payload is not base64url-encoded JSON.")
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return Explanation(problem="The header or payload is not a JSON object.")
    header_items = tuple(Item(k, _show(v), HEADER_MEANINGS.get(k, "Not a header parameter Entra sets.")) for k, v in
                         header.items())
    # A token signed by another key (Entra's own, say) is validated by Entra's v1 document, not ours.
    foreign = bool(keys) and all(k.get("kid") != header.get("kid") for k in keys)
    version, issuer_text, discovery = _issuer(payload.get("iss"), None if foreign else origin)
    if payload.get("ver") in ("1.0", "2.0") and f"v{payload['ver']}" != version and version != "unknown":
        issuer_text += f" (ver says {payload['ver']}: the issuer and ver disagree, which Entra never does.)"
    access = any(k in payload for k in ("scp", "roles", "appid", "azp", "idtyp"))
    kind = "access token" if access else "ID token"
    tid = str(payload["tid"]) if isinstance(payload.get("tid"), str) else ""
    aud = payload.get("aud")
    named = name_of(tid, aud) if name_of and isinstance(aud, str) else None
    audience = f"{_show(aud)}" + (f": {named}" if named else "")
    if kind == "ID token" and isinstance(aud, str):
        audience += " (an ID token's audience is the client that signed the user in: never send it to an API)"
    notes: dict[str, str] = {}
    for k in ("iat", "nbf", "exp", "auth_time"):
        if k in payload:
            notes[k] = _when(payload[k], now)
    notes["iss"] = version
    if named:
        notes["aud"] = named
    for k in ("azp", "appid"):
        if name_of and isinstance(payload.get(k), str) and (client := name_of(tid, payload[k])):
            notes[k] = client
    exp = payload.get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        expiry = ("expired " if exp <= now else "valid until ") + _when(exp, now)
    else:
        expiry = "no exp claim: no Entra token lacks one."
    claim_items = tuple(Item(k, _show(v), CLAIM_MEANINGS.get(k, "Not a claim mockidp explains (optional claims, "
                                                                "xms_* and the like are Entra's internals)."),
                             notes.get(k, "")) for k, v in payload.items())
    if access and "roles" not in payload:
        claim_items += (Item("roles", "(absent)", "No app role is assigned to this client or user for this API; when "
                             "the API does not require assignment, Entra issues the token anyway. Check roles in your "
                             "API, not only the signature."),)
    return Explanation(None, header, payload, header_items, claim_items, kind, version, issuer_text, discovery,
                       audience, expiry, _signature(token, header, keys), isinstance(header.get("nonce"), str))


def as_text(e: Explanation) -> str:
    """The explanation for a terminal."""
    if e.problem:
        return f"Not a readable token: {e.problem}\n"
    lines = [f"{label}: {value}" for label, value in e.summary]
    lines += ["", "Header:"]
    lines += [f"  {i.name}: {i.value}\n      {i.meaning}" for i in e.header_items]
    lines += ["", "Claims:"]
    for i in e.claim_items:
        lines.append(f"  {i.name}: {i.value}" + (f"  [{i.note}]" if i.note else ""))
        lines.append(f"      {i.meaning}")
    return "\n".join(lines) + "\n"
