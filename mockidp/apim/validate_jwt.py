"""The `validate-jwt` policy evaluated against one request, in Microsoft.IdentityModel's order.

Order, as IdentityModel's token handler runs it and APIM after it: the token is found (header, query or
token-value; `require-scheme`), parsed, its signature checked (keys whose `kid` matches first, then every
key; an unknown `kid` re-fetches the openid-config once), then lifetime (IDX10225, IDX10222, IDX10223
with `clock-skew`), audience (IDX10214), issuer (IDX10205), and last APIM's own `required-claims`.
The first failure answers. Choices not confirmed against APIM: docs/apim.md#choices-not-confirmed-against-apim.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from mockidp.apim.jwe import decrypt, decryption_keys
from mockidp.apim.jws import (
    CompactJws,
    MalformedToken,
    VerificationKey,
    key_from_certificate,
    key_from_jwk,
    key_from_numbers,
    key_from_secret,
    signature_valid,
    split,
)
from mockidp.apim.jwt_claims import Jwt, _datetime, _strings
from mockidp.apim.policy import RequiredClaim, ValidateJwt

V1_ISSUER_PREFIX = "https://sts.windows.net/"
NOT_PRESENT = "JWT not present."
INVALID = "Invalid JWT."


# --- inputs -----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Request:
    """What validate-jwt reads of a request: its headers and query parameters, in order, repeats kept."""

    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
           query: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> Request:
        return cls(_pairs(headers), _pairs(query))

    def header(self, name: str) -> str | None:
        """All values of a header (names case-insensitive, as HTTP's), comma-joined as APIM's Headers do."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None

    def query_parameter(self, name: str) -> str | None:
        values = [v for k, v in self.query if k == name]
        return ",".join(values) if values else None


def _pairs(items: Mapping[str, str] | Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(items.items()) if isinstance(items, Mapping) else tuple(items)


@dataclass(frozen=True, slots=True)
class Discovery:
    """An OpenID Provider's metadata as validate-jwt uses it: its issuer and its JWKS."""

    issuer: str
    jwks: Mapping[str, Any]


class DiscoveryUnavailable(Exception):
    """The openid-config URL could not be read (or is no OIDC metadata with a JWKS)."""


class DiscoverySource(Protocol):
    """The metadata behind an openid-config URL. refresh=True asks for a fresh copy rather than a cached
    one: APIM re-fetches when a token's kid is in none of its cached keys."""

    def __call__(self, url: str, *, refresh: bool) -> Discovery: ...


# --- outcomes ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Passed:
    claims: Mapping[str, Any]  # as the token carries them (JSON types)
    header: Mapping[str, Any]
    token: str
    variable_name: str | None  # output-token-variable-name: where the gateway stores `jwt`
    checks: tuple[str, ...]  # what was checked, in order, for the trace
    jwt: Jwt


@dataclass(frozen=True, slots=True)
class Failed:
    status: int
    body: str  # APIM's single-line `{ "statusCode": N, "message": "..." }`
    reason: str  # context.LastError.Reason
    message: str  # context.LastError.Message
    idx: str | None  # the Microsoft.IdentityModel code, when the library would give one
    detail: str  # the library's text; the trace says "JWT Validation Failed: " + detail
    fix: str  # what to change, on the token's side or the policy's
    checks: tuple[str, ...] = ()
    content_type: str = field(default="application/json")

    @property
    def trace(self) -> str:
        """The trace and gateway-log text: APIM prefixes the library's message so."""
        return f"JWT Validation Failed: {self.detail}"


Outcome = Passed | Failed


def apim_body(status: int, message: str) -> str:
    """APIM's gateway error layout, spaces and all: `{ "statusCode": 401, "message": "JWT not present." }`."""
    return f'{{ "statusCode": {status}, "message": {json.dumps(message, ensure_ascii=False)} }}'


# --- evaluation -------------------------------------------------------------------------------------

class _Fail(Exception):
    def __init__(self, reason: str, idx: str | None, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.reason, self.idx, self.detail, self.fix = reason, idx, detail, fix


def validate_jwt(policy: ValidateJwt, request: Request, *, now: int, discovery: DiscoverySource | None = None,
                 certificates: Mapping[str, bytes] | None = None) -> Outcome:
    """Run one validate-jwt statement. `now` is Unix seconds (the caller's clock, frozen in tests);
    `certificates` maps certificate-id to a PEM or DER certificate."""
    checks: list[str] = []
    try:
        token = _extract(policy, request)
        checks.append("token found")
        if token.count(".") == 4:
            token = _decrypt(policy, token, certificates or {}, checks)
        jws = _parse(token)
        _check_signature(policy, jws, discovery, certificates or {}, checks)
        _check_lifetime(policy, jws.claims, now)
        checks.append("lifetime")
        if policy.audiences is not None:
            _check_audience(policy.audiences, jws.claims)
            checks.append("audience")
        _check_issuer(policy, jws.claims, discovery)
        checks.append("issuer")
        _check_claims(policy.required_claims, jws.claims)
        if policy.required_claims:
            checks.append("required claims")
    except _Fail as f:
        default = NOT_PRESENT if f.reason == "TokenNotPresent" else INVALID
        shown = policy.failed_validation_error_message
        message = f.detail if f.reason in ("TokenNotPresent", "TokenClaimNotFound", "TokenClaimValueNotAllowed") \
            else f"{f.detail} Access denied."
        return Failed(policy.failed_validation_httpcode,
                      apim_body(policy.failed_validation_httpcode, default if shown is None else shown),
                      f.reason, message, f.idx, f.detail, f.fix, tuple(checks))
    return Passed(jws.claims, jws.header, token, policy.output_token_variable_name, tuple(checks),
                  Jwt.of(jws.header, jws.claims))


def _extract(policy: ValidateJwt, request: Request) -> str:
    source = policy.token
    if source.kind == "value":
        value: str | None = source.value
    elif source.kind == "query":
        value = request.query_parameter(source.value)
    else:
        value = request.header(source.value)
    where = {"header": f"the {source.value} header", "query": f"the query parameter {source.value}",
             "value": "token-value"}[source.kind]
    if value is None or not value.strip():
        fix = ("send Authorization: Bearer <access token>" if source.kind == "header"
               and source.value.lower() == "authorization" else f"send the token in {where}")
        raise _Fail("TokenNotPresent", None, NOT_PRESENT, f"{where} is missing or empty: {fix}")
    if source.kind == "header" and source.value.lower() == "authorization":
        # Authorization is `<scheme> <token>`; require-scheme is ignored on any other header.
        scheme, _, rest = value.strip().partition(" ")
        if not rest.strip():
            raise _Fail("TokenNotPresent", None, NOT_PRESENT,
                        "the Authorization header holds no '<scheme> <token>': send Authorization: Bearer <token>")
        if policy.require_scheme is not None and scheme.lower() != policy.require_scheme.lower():
            raise _Fail("TokenNotPresent", None, NOT_PRESENT,
                        f"the Authorization scheme is {scheme!r}, the policy requires {policy.require_scheme!r}: "
                        f"send Authorization: {policy.require_scheme} <token>")
        return rest.strip()
    return value.strip()


def _decrypt(policy: ValidateJwt, token: str, certificates: Mapping[str, bytes], checks: list[str]) -> str:
    """A compact JWE (five parts) opened with <decryption-keys>: the signed token inside."""
    keys, unusable = decryption_keys(policy.decryption_keys, certificates)
    if not keys:
        raise _Fail("JwtInvalid", "IDX10609", "IDX10609: Decryption failed. No Keys tried: token: '[encrypted]'.",
                    "the token is encrypted (JWE), as Entra encrypts tokens for an app with a token encryption "
                    "key: add <decryption-keys> with that certificate's id"
                    + (f" ({'; '.join(unusable)})" if unusable else ""))
    opened = decrypt(token, keys)
    if opened is None:
        tried = ", ".join(k.origin for k in keys)
        raise _Fail("JwtInvalid", "IDX10603", f"IDX10603: Decryption failed. Keys tried: '{tried}'.",
                    "no configured key decrypts the token: it was encrypted for another key (the app's token "
                    "encryption certificate), or with an algorithm mockidp does not read (RSA-OAEP, "
                    "RSA-OAEP-256, AES key wrap and dir are read)")
    inner, origin = opened
    checks.append(f"decrypted ({origin})")
    return inner


def _parse(token: str) -> CompactJws:
    try:
        return split(token)
    except MalformedToken as exc:
        fix = "the value is not a JWT" + (
            ": a custom header holds the bare token, without 'Bearer '" if token.lower().startswith("bearer ")
            else "; send the access token itself (an id_token or opaque token will not do either)")
        raise _Fail("JwtInvalid", "IDX14100" if "dots" in str(exc) else "IDX14102", str(exc), fix) from None


def _policy_keys(policy: ValidateJwt, certificates: Mapping[str, bytes]) -> list[VerificationKey]:
    keys: list[VerificationKey] = []
    for i, spec in enumerate(policy.issuer_signing_keys, 1):
        origin = f"issuer-signing-keys key {i}"
        key: VerificationKey | None = None
        if spec.n is not None and spec.e is not None:
            key = key_from_numbers(spec.n, spec.e, spec.id, origin)
        elif spec.value is not None:
            key = key_from_secret(spec.value, spec.id, origin)
        elif spec.certificate_id is not None and spec.certificate_id in certificates:
            key = key_from_certificate(certificates[spec.certificate_id], spec.id, origin)
        if key is not None:
            keys.append(key)
    return keys


def _discovered(policy: ValidateJwt, discovery: DiscoverySource | None, *, refresh: bool) -> list[Discovery]:
    out = []
    for config in policy.openid_configs:
        if discovery is None:
            raise _Fail("TokenSignatureKeyNotFound", "IDX10500", "IDX10500: Signature validation failed. No security "
                        "keys were provided to validate the signature.", "no openid-config source is configured")
        try:
            out.append(discovery(config.url, refresh=refresh))
        except DiscoveryUnavailable as exc:
            raise _Fail("TokenSignatureKeyNotFound", "IDX10500", "IDX10500: Signature validation failed. No "
                        "security keys were provided to validate the signature.",
                        f"the openid-config {config.url} could not be read ({exc}): check the URL") from None
    return out


def _jwks_keys(found: list[Discovery], policy: ValidateJwt) -> list[VerificationKey]:
    keys = []
    for config, meta in zip(policy.openid_configs, found, strict=True):
        members = meta.jwks.get("keys")
        for jwk in members if isinstance(members, list) else []:
            key = key_from_jwk(jwk, f"openid-config {config.url}") if isinstance(jwk, dict) else None
            if key is not None:
                keys.append(key)
    return keys


def _check_signature(policy: ValidateJwt, jws: CompactJws, discovery: DiscoverySource | None,
                     certificates: Mapping[str, bytes], checks: list[str]) -> None:
    if jws.alg.lower() == "none" or not jws.signature:
        if policy.require_signed_tokens:
            raise _Fail("TokenSignatureInvalid", "IDX10504", "IDX10504: Unable to validate signature, token does "
                        "not have a signature.", "an unsigned token (alg none) is refused while "
                        "require-signed-tokens is true")
        checks.append("unsigned token accepted (require-signed-tokens false)")
        return
    kid = jws.kid
    keys = _policy_keys(policy, certificates) + _jwks_keys(_discovered(policy, discovery, refresh=False), policy)
    if kid is not None and policy.openid_configs and not any(k.kid == kid for k in keys):
        # APIM re-reads the configuration when a token names a key it has not cached (key rotation).
        keys = _policy_keys(policy, certificates) + _jwks_keys(_discovered(policy, discovery, refresh=True), policy)
        checks.append(f"kid {kid} not cached: openid-config re-fetched")
    if not keys:
        raise _Fail("TokenSignatureKeyNotFound", "IDX10500", "IDX10500: Signature validation failed. No security "
                    "keys were provided to validate the signature.",
                    "give <openid-config url=...> or <issuer-signing-keys>")
    matching = [k for k in keys if kid is not None and k.kid == kid]
    # Keys whose id matches the kid first; with none matching, every key (APIM's docs for <key>).
    for key in matching or keys:
        if signature_valid(jws, key):
            checks.append(f"signature ({jws.alg}, {key.describe()})")
            return
    tried = ", ".join(k.describe() for k in (matching or keys))
    if kid is None:
        raise _Fail("TokenSignatureInvalid", "IDX10503", f"IDX10503: Signature validation failed. Keys tried: "
                    f"'{tried}'.", "the token has no kid and no configured key verifies it: it was signed by "
                    "another issuer, or altered")
    if not matching:
        raise _Fail("TokenSignatureKeyNotFound", "IDX10511", f"IDX10511: Signature validation failed. Keys tried: "
                    f"'{tried}'. kid: '{kid}'.",
                    f"the token's kid {kid} is in none of the keys: it comes from another issuer or instance "
                    "(point <openid-config> at the tenant that issued it), or the key rotated away")
    raise _Fail("TokenSignatureInvalid", "IDX10511", f"IDX10511: Signature validation failed. Keys tried: "
                f"'{tried}'. kid: '{kid}'.",
                f"the key {kid} does not verify the signature: the token was altered, or its alg {jws.alg} "
                "does not fit the key")


def _when(seconds: float) -> str:
    moment = _datetime(seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else str(seconds)


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Fail("JwtInvalid", "IDX14101", f"IDX14101: the '{name}' claim is not a number.",
                    f"{name} must be NumericDate seconds")
    return float(value)


def _check_lifetime(policy: ValidateJwt, claims: Mapping[str, Any], now: int) -> None:
    exp, nbf = _number(claims, "exp"), _number(claims, "nbf")
    skew = policy.clock_skew
    if exp is None and policy.require_expiration_time:
        raise _Fail("TokenExpired", "IDX10225", "IDX10225: Lifetime validation failed. The token is missing an "
                    "Expiration Time. Tokentype: 'JWT'.",
                    "the token has no exp: get a token from the issuer, or set require-expiration-time=\"false\"")
    if nbf is not None and nbf > now + skew:
        raise _Fail("TokenNotYetValid", "IDX10222", f"IDX10222: Lifetime validation failed. The token is not yet "
                    f"valid. ValidFrom: '{_when(nbf)}', Current time: '{_when(now)}'.",
                    f"nbf is {int(nbf - now)} s ahead of the gateway's clock: sync clocks or raise clock-skew")
    if exp is not None and exp + skew < now:
        raise _Fail("TokenExpired", "IDX10223", f"IDX10223: Lifetime validation failed. The token is expired. "
                    f"ValidTo: '{_when(exp)}', Current time: '{_when(now)}'.",
                    f"the token expired {int(now - exp)} s ago (clock-skew {skew} s): get a new token; clients "
                    "such as MSAL refresh five minutes before exp")


def _audience_matches(token_aud: str, valid: str) -> bool:
    """Ordinal, and one trailing slash of difference tolerated (IdentityModel's defaults)."""
    if token_aud == valid:
        return True
    short, long = sorted((token_aud, valid), key=len)
    return len(long) == len(short) + 1 and long.endswith("/") and long.startswith(short)


def _version(claims: Mapping[str, Any]) -> int:
    iss = claims.get("iss")
    if claims.get("ver") == "1.0" or (isinstance(iss, str) and iss.startswith(V1_ISSUER_PREFIX)):
        return 1
    return 2


def _check_audience(audiences: tuple[str, ...], claims: Mapping[str, Any]) -> None:
    valid = [a for a in audiences if a.strip()]
    token_auds = [a for a in _strings(claims.get("aud")) if a.strip()]
    shown = ", ".join(valid)
    if not token_auds:
        raise _Fail("TokenAudienceNotAllowed", "IDX10206", "IDX10206: Unable to validate audience. The 'audiences' "
                    "parameter is empty.", "the token has no aud claim")
    if any(_audience_matches(t, v) for t in token_auds for v in valid):
        return
    aud = token_auds[0]
    if _version(claims) == 2:
        fix = (f"the token's aud is {aud}: a v2 token's aud is the API's appId (GUID), whatever scope was "
               f"requested; add {aud} to <audiences>")
    else:
        fix = (f"the token's aud is {aud}: a v1 token's aud is the resource exactly as the client requested it "
               f"(an api:// URI or the appId); add {aud} to <audiences>, or request one of: {shown}")
    if any(v.lower() == aud.lower() for v in valid):
        fix = f"the token's aud {aud} differs from <audiences> only in case, and the match is case-sensitive"
    raise _Fail("TokenAudienceNotAllowed", "IDX10214", f"IDX10214: Audience validation failed. Audiences: "
                f"'{', '.join(token_auds)}'. Did not match: validationParameters.ValidAudience: 'null' or "
                f"validationParameters.ValidAudiences: '{shown}'.", fix)


def _check_issuer(policy: ValidateJwt, claims: Mapping[str, Any], discovery: DiscoverySource | None) -> None:
    configured = [d.issuer for d in _discovered(policy, discovery, refresh=False)]
    tid = claims.get("tid")
    # Multi-tenant metadata (organizations, common) carries a literal {tenantid}: the token's tid fills it.
    configured = [i.replace("{tenantid}", tid) if isinstance(tid, str) else i for i in configured]
    valid = [i for i in [*configured, *(policy.issuers or ())] if i.strip()]
    if not valid:
        return
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss.strip():
        raise _Fail("TokenIssuerNotAllowed", "IDX10211", "IDX10211: Unable to validate issuer. The 'issuer' "
                    "parameter is null or whitespace.", "the token has no iss claim")
    if iss in valid:
        return
    version = _version(claims)
    v2_expected = any(v.rstrip("/").endswith("/v2.0") for v in valid)
    if version == 1 and v2_expected:
        fix = (f"the token is v1 (iss {iss}) because the API's registration has requestedAccessTokenVersion null "
               f"or 1: set it to 2, or add {iss} to <issuers>")
    elif version == 2 and any(v.startswith(V1_ISSUER_PREFIX) for v in valid):
        fix = (f"the token is v2 (iss {iss}) because the API's registration has requestedAccessTokenVersion 2: "
               f"add {iss} to <issuers>, or use the v2.0 openid-config")
    elif any(v.rstrip("/") == iss.rstrip("/") for v in valid):
        fix = f"iss {iss} differs from the configured issuer by a trailing slash; issuers match exactly"
    else:
        fix = (f"add {iss} to <issuers>, or point <openid-config> at the tenant that issued the token"
               + (f" (tid {tid})" if isinstance(tid, str) else ""))
    raise _Fail("TokenIssuerNotAllowed", "IDX10205", f"IDX10205: Issuer validation failed. Issuer: '{iss}'. Did not "
                f"match: validationParameters.ValidIssuer: 'null' or validationParameters.ValidIssuers: "
                f"'{', '.join(valid)}'.", fix)


def _claim_values(rule: RequiredClaim, value: Any) -> list[str]:
    values = _strings(value)
    if rule.separator is not None:
        values = [part for v in values for part in v.split(rule.separator)]
    return values


def _missing_fix(name: str, claims: Mapping[str, Any]) -> str:
    if name == "azp" and "appid" in claims:
        return "azp missing: the token is v1, whose client claim is appid; set requestedAccessTokenVersion 2 on " \
               "the API's registration, or require appid instead"
    if name == "appid" and "azp" in claims:
        return "appid missing: the token is v2, whose client claim is azp; require azp instead"
    if name == "roles":
        return "the token has no roles: the client holds no app role of this API; assign it one (an app role " \
               "assignment, admin consent) and get a new token"
    if name == "scp":
        return "the token has no scp: it is an app-only token (client credentials), which carries roles instead"
    return f"the token has no {name} claim"


def _check_claims(rules: tuple[RequiredClaim, ...], claims: Mapping[str, Any]) -> None:
    missing = [r.name for r in rules if r.name not in claims]
    if missing:
        raise _Fail("TokenClaimNotFound", None, f"JWT token is missing the following claims: {', '.join(missing)}. "
                    "Access denied.", "; ".join(_missing_fix(n, claims) for n in missing))
    for rule in rules:
        have = _claim_values(rule, claims[rule.name])
        if not rule.values:
            continue
        absent = [v for v in rule.values if v not in have]
        ok = not absent if rule.match == "all" else len(absent) < len(rule.values)
        if ok:
            continue
        shown = absent[0] if rule.match == "all" else ",".join(rule.values)
        fix = f"the token's {rule.name} is {have}; match=\"{rule.match}\" needs " + (
            f"every one of {list(rule.values)}" if rule.match == "all" else f"one of {list(rule.values)}")
        if rule.separator is None and any(" " in v for v in have):
            fix += f"; {rule.name} is one space-separated string: add separator=\" \" to the <claim>"
        elif rule.name == "azp" or rule.name == "appid":
            fix = f"the calling client is {have[0] if have else '?'}; add its appId as a <value> of {rule.name}"
        raise _Fail("TokenClaimValueNotAllowed", None, f"Claim value mismatch: {rule.name}={shown}.", fix)
