"""validate-jwt against real mockidp tokens (v1 and v2, client credentials), with policies written as APIM
exports them; the openid-config is read from mockidp itself through the in-process harness."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from mockidp.apim.policy import ValidateJwt, parse_policy
from mockidp.apim.validate_jwt import Discovery, Failed, Passed, Request, validate_jwt
from mockidp.testing import forms
from mockidp.testing.jwts import claims_of, header_of
from mockidp.tokens.keys import generate_signing_key
from mockidp.tokens.signer import Signer
from tests.conftest import BACKEND1_URI, BACKEND2, CLIENT, CLIENT_SECRET, FROZEN_AT, ORIGIN, TENANT, Harness

V2_CONFIG = f"{ORIGIN}/{{{{tenant-id}}}}/v2.0/.well-known/openid-configuration"
V2_ISS = f"{ORIGIN}/{TENANT}/v2.0"
V1_ISS = f"https://sts.windows.net/{TENANT}/"
EXPORT_HEADER = """<!--
    - Policies are applied in the order they appear.
    - Position <base/> inside a section to inherit policies from the outer scope.
    - Comments within policies are not preserved.
-->
"""


def policy_xml(attributes: str = 'header-name="Authorization"', inner: str = "") -> str:
    """An API-scope policy as the portal exports it: every section, <base/> in each."""
    return f"""{EXPORT_HEADER}<policies>
    <inbound>
        <base />
        <validate-jwt {attributes}>
            <openid-config url="{V2_CONFIG}" />
{inner}
        </validate-jwt>
    </inbound>
    <backend>
        <base />
    </backend>
    <outbound>
        <base />
    </outbound>
    <on-error>
        <base />
    </on-error>
</policies>
"""


SEED_POLICY = policy_xml(
    'header-name="Authorization" failed-validation-httpcode="401" require-scheme="Bearer"',
    f"""            <audiences>
                <audience>{BACKEND2}</audience>
            </audiences>
            <issuers>
                <issuer>{ORIGIN}/{{{{tenant-id}}}}/v2.0</issuer>
            </issuers>
            <required-claims>
                <claim name="azp" match="any">
                    <value>{CLIENT}</value>
                </claim>
            </required-claims>""")


def statement(xml: str) -> ValidateJwt:
    doc = parse_policy(xml, named_values={"tenant-id": TENANT})
    jwt = doc.sections["inbound"][1]
    assert isinstance(jwt, ValidateJwt)
    return jwt


class HarnessDiscovery:
    """openid-config read from mockidp over its own routes; counts fetches, and can serve a stale JWKS
    (the cache before a key rotation) until asked to refresh."""

    def __init__(self, harness: Harness, stale_jwks: dict[str, Any] | None = None) -> None:
        self.harness = harness
        self.stale = stale_jwks
        self.refreshes = 0

    def __call__(self, url: str, *, refresh: bool) -> Discovery:
        self.refreshes += refresh
        meta = self.harness.client.get(urlsplit(url).path).json()
        if self.stale is not None and not refresh:
            return Discovery(meta["issuer"], self.stale)
        self.stale = None
        return Discovery(meta["issuer"], self.harness.client.get(urlsplit(meta["jwks_uri"]).path).json())


def v2_token(h: Harness) -> str:
    r = h.token(forms.client_credentials(CLIENT, CLIENT_SECRET, scope=f"api://{BACKEND2}/.default"))
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def v1_token(h: Harness) -> str:
    r = h.token(forms.client_credentials(CLIENT, CLIENT_SECRET, scope=f"{BACKEND1_URI}/.default"))
    assert r.status_code == 200, r.text
    token = str(r.json()["access_token"])
    assert claims_of(token)["iss"] == V1_ISS
    return token


Run = Callable[..., Passed | Failed]


@pytest.fixture
def run(harness: Harness) -> Run:
    def go(xml: str, token: str | None, *, now: int = FROZEN_AT, header: str = "Authorization",
           scheme: str = "Bearer ", discovery: HarnessDiscovery | None = None) -> Passed | Failed:
        headers = {} if token is None else {header: scheme + token}
        return validate_jwt(statement(xml), Request.of(headers), now=now,
                            discovery=discovery or HarnessDiscovery(harness))
    return go


def failed(outcome: Passed | Failed) -> Failed:
    assert isinstance(outcome, Failed), outcome
    return outcome


def test_a_valid_v2_token_passes_the_seed_policy(harness: Harness, run: Run) -> None:
    token = v2_token(harness)
    outcome = run(SEED_POLICY, token)
    assert isinstance(outcome, Passed), outcome
    assert outcome.claims["azp"] == CLIENT and outcome.claims["aud"] == BACKEND2
    assert outcome.checks == ("token found", f"signature (RS256, kid '{header_of(token)['kid']}' (openid-config "
                              f"{ORIGIN}/{TENANT}/v2.0/.well-known/openid-configuration))", "lifetime", "audience",
                              "issuer", "required claims")


def test_output_token_variable_name_carries_the_claims(harness: Harness, run: Run) -> None:
    xml = policy_xml('header-name="Authorization" output-token-variable-name="jwt"')
    outcome = run(xml, v2_token(harness))
    assert isinstance(outcome, Passed) and outcome.variable_name == "jwt"
    assert outcome.claims["roles"] == ["Provisioning.ReadWrite", "Data.Read"]
    jwt = outcome.jwt
    assert jwt.claims["roles"] == ("Provisioning.ReadWrite", "Data.Read")
    assert jwt.claim("roles") == "Provisioning.ReadWrite,Data.Read" and jwt.claim("scp", "none") == "none"
    assert (jwt.algorithm, jwt.audiences, jwt.issuer, jwt.type) == ("RS256", (BACKEND2,), V2_ISS, "JWT")
    assert jwt.expiration_time is not None and jwt.expiration_time.timestamp() == FROZEN_AT + 3600


def test_a_v1_token_against_the_v2_issuer_is_idx10205_with_the_version_fix(harness: Harness, run: Run) -> None:
    xml = policy_xml(inner=f"<audiences><audience>{BACKEND1_URI}</audience></audiences>")
    f = failed(run(xml, v1_token(harness)))
    assert f.body == '{ "statusCode": 401, "message": "Invalid JWT." }'
    assert (f.status, f.reason, f.idx) == (401, "TokenIssuerNotAllowed", "IDX10205")
    assert f.detail == (f"IDX10205: Issuer validation failed. Issuer: '{V1_ISS}'. Did not match: validationParameters."
                        f"ValidIssuer: 'null' or validationParameters.ValidIssuers: '{V2_ISS}'.")
    assert f.message == f.detail + " Access denied."
    assert f.trace == "JWT Validation Failed: " + f.detail
    assert f.fix == (f"the token is v1 (iss {V1_ISS}) because the API's registration has requestedAccessTokenVersion "
                     f"null or 1: set it to 2, or add {V1_ISS} to <issuers>")


def test_adding_the_v1_issuer_then_fails_on_azp_which_v1_tokens_lack(harness: Harness, run: Run) -> None:
    xml = policy_xml(inner=f"""<audiences><audience>{BACKEND1_URI}</audience></audiences>
            <issuers><issuer>{V1_ISS}</issuer></issuers>
            <required-claims><claim name="azp" match="any"><value>{CLIENT}</value></claim></required-claims>""")
    f = failed(run(xml, v1_token(harness)))
    assert (f.reason, f.idx) == ("TokenClaimNotFound", None)
    assert f.message == "JWT token is missing the following claims: azp. Access denied."
    assert f.fix.startswith("azp missing: the token is v1, whose client claim is appid")


def test_a_v2_token_for_another_audience_is_idx10214(harness: Harness, run: Run) -> None:
    xml = policy_xml(inner=f"<audiences><audience>api://{BACKEND2}</audience></audiences>")
    f = failed(run(xml, v2_token(harness)))
    assert (f.reason, f.idx) == ("TokenAudienceNotAllowed", "IDX10214")
    assert f.detail == (f"IDX10214: Audience validation failed. Audiences: '{BACKEND2}'. Did not match: "
                        f"validationParameters.ValidAudience: 'null' or validationParameters.ValidAudiences: "
                        f"'api://{BACKEND2}'.")
    assert "a v2 token's aud is the API's appId (GUID)" in f.fix


def test_audience_tolerates_one_trailing_slash_but_not_case(harness: Harness, run: Run) -> None:
    token = v2_token(harness)
    assert isinstance(run(policy_xml(inner=f"<audiences><audience>{BACKEND2}/</audience></audiences>"), token),
                      Passed)
    f = failed(run(policy_xml(inner=f"<audiences><audience>{BACKEND2.upper()}</audience></audiences>"), token))
    assert f.idx == "IDX10214" and "only in case" in f.fix


def test_azp_not_in_required_claims_is_a_claim_mismatch(harness: Harness, run: Run) -> None:
    xml = policy_xml(inner="""<required-claims>
                <claim name="azp" match="any"><value>00000000-0000-0000-0000-000000000000</value></claim>
            </required-claims>""")
    f = failed(run(xml, v2_token(harness)))
    assert f.body == '{ "statusCode": 401, "message": "Invalid JWT." }'
    assert (f.reason, f.message) == ("TokenClaimValueNotAllowed",
                                     "Claim value mismatch: azp=00000000-0000-0000-0000-000000000000.")
    assert f.fix == f"the calling client is {CLIENT}; add its appId as a <value> of azp"


def test_expired_beyond_the_clock_skew_is_idx10223(harness: Harness, run: Run) -> None:
    token = v2_token(harness)
    exp = claims_of(token)["exp"]
    assert isinstance(run(policy_xml(), token, now=exp), Passed)  # exp itself is still valid (IdentityModel's <)
    f = failed(run(policy_xml(), token, now=exp + 1))
    assert (f.reason, f.idx) == ("TokenExpired", "IDX10223")
    assert f.detail == ("IDX10223: Lifetime validation failed. The token is expired. ValidTo: '2026-01-01T01:00:00Z', "
                        "Current time: '2026-01-01T01:00:01Z'.")
    assert isinstance(run(policy_xml('header-name="Authorization" clock-skew="60"'), token, now=exp + 60), Passed)
    assert failed(run(policy_xml('header-name="Authorization" clock-skew="60"'), token, now=exp + 61)).idx == "IDX10223"


def test_a_token_not_yet_valid_is_idx10222(harness: Harness, run: Run) -> None:
    token = v2_token(harness)
    f = failed(run(policy_xml(), token, now=claims_of(token)["nbf"] - 1))
    assert f.idx == "IDX10222" and f.body == '{ "statusCode": 401, "message": "Invalid JWT." }'


def test_no_token_is_jwt_not_present(run: Run) -> None:
    f = failed(run(SEED_POLICY, None))
    assert f.body == '{ "statusCode": 401, "message": "JWT not present." }'
    assert (f.reason, f.message) == ("TokenNotPresent", "JWT not present.")
    assert f.fix == "the Authorization header is missing or empty: send Authorization: Bearer <access token>"


def test_the_configured_message_and_status_are_answered_verbatim(run: Run) -> None:
    xml = policy_xml('header-name="Authorization" failed-validation-httpcode="403" '
                     'failed-validation-error-message="Unauthorized. Access token is missing or invalid."')
    f = failed(run(xml, None))
    assert f.status == 403
    assert f.body == '{ "statusCode": 403, "message": "Unauthorized. Access token is missing or invalid." }'


def test_require_scheme_refuses_a_token_without_bearer(harness: Harness, run: Run) -> None:
    token = v2_token(harness)
    f = failed(run(SEED_POLICY, token, scheme=""))
    assert f.body == '{ "statusCode": 401, "message": "JWT not present." }' and f.reason == "TokenNotPresent"
    f = failed(run(SEED_POLICY, token, scheme="Basic "))
    assert "the Authorization scheme is 'Basic', the policy requires 'Bearer'" in f.fix
    assert isinstance(run(SEED_POLICY, token, scheme="bearer "), Passed)  # auth schemes are case-insensitive


def test_a_custom_header_holds_the_bare_token(harness: Harness, run: Run) -> None:
    xml = policy_xml('header-name="X-Token" require-scheme="Bearer"')  # require-scheme ignored there
    token = v2_token(harness)
    assert isinstance(run(xml, token, header="x-token", scheme=""), Passed)
    f = failed(run(xml, token, header="X-Token"))
    assert f.reason == "JwtInvalid" and "without 'Bearer '" in f.fix


def test_an_unknown_kid_is_idx10511_after_one_refetch(harness: Harness, run: Run) -> None:
    real = v2_token(harness)
    other = Signer(generate_signing_key())
    forged = other.sign(other.header(with_x5t=False), claims_of(real))
    discovery = HarnessDiscovery(harness)
    f = failed(run(SEED_POLICY, forged, discovery=discovery))
    assert (f.reason, f.idx) == ("TokenSignatureKeyNotFound", "IDX10511")
    assert f.body == '{ "statusCode": 401, "message": "Invalid JWT." }'
    assert f"kid: '{other.kid}'" in f.detail and f"the token's kid {other.kid} is in none of the keys" in f.fix
    assert discovery.refreshes == 1


def test_a_rotated_key_is_found_by_refetching_the_openid_config(harness: Harness, run: Run) -> None:
    stale = {"keys": [{"kty": "RSA", "use": "sig", "kid": "old", "n": "sXch", "e": "AQAB"}]}
    discovery = HarnessDiscovery(harness, stale_jwks=stale)
    outcome = run(SEED_POLICY, v2_token(harness), discovery=discovery)
    assert isinstance(outcome, Passed), outcome
    assert discovery.refreshes == 1 and any("re-fetched" in c for c in outcome.checks)


def test_a_tampered_signature_is_idx10511_signature_invalid(harness: Harness, run: Run) -> None:
    token = v2_token(harness)
    head, _, sig = token.split(".")
    claims = claims_of(token) | {"azp": "00000000-0000-0000-0000-000000000000"}
    body = forms.b64url(json.dumps(claims).encode())
    f = failed(run(SEED_POLICY, f"{head}.{body}.{sig}"))
    assert (f.reason, f.idx) == ("TokenSignatureInvalid", "IDX10511")


def test_an_unsigned_token_is_refused(harness: Harness, run: Run) -> None:
    claims = claims_of(v2_token(harness))
    none = forms.b64url(b'{"alg":"none","typ":"JWT"}') + "." + forms.b64url(json.dumps(claims).encode()) + "."
    f = failed(run(SEED_POLICY, none))
    assert (f.reason, f.idx) == ("TokenSignatureInvalid", "IDX10504")


@pytest.mark.parametrize(("match", "values", "passes"), [
    ("any", ["Data.Read", "Reader"], True),
    ("all", ["Data.Read", "Reader"], False),
    ("all", ["Data.Read", "Provisioning.ReadWrite"], True),
    ("any", ["Reader"], False),
])
def test_roles_match_any_versus_all(harness: Harness, run: Run, match: str, values: list[str],
                                    passes: bool) -> None:
    xml = policy_xml(inner=f"""<required-claims><claim name="roles" match="{match}">
                {"".join(f"<value>{v}</value>" for v in values)}
            </claim></required-claims>""")
    outcome = run(xml, v2_token(harness))
    if passes:
        assert isinstance(outcome, Passed), outcome
    else:
        f = failed(outcome)
        shown = "Reader" if match == "all" else ",".join(values)
        assert f.message == f"Claim value mismatch: roles={shown}."


def test_an_app_only_token_lacks_scp(harness: Harness, run: Run) -> None:
    xml = policy_xml(inner='<required-claims><claim name="scp"><value>access_as_user</value></claim>'
                           '</required-claims>')
    f = failed(run(xml, v2_token(harness)))
    assert f.reason == "TokenClaimNotFound" and "app-only token" in f.fix


def test_issuer_signing_keys_with_n_and_e_verify_without_openid_config(harness: Harness) -> None:
    jwk = harness.client.get(f"/{TENANT}/discovery/v2.0/keys").json()["keys"][0]
    xml = f"""<policies><inbound><validate-jwt header-name="Authorization">
        <issuer-signing-keys><key id="{jwk["kid"]}" n="{jwk["n"]}" e="{jwk["e"]}" /></issuer-signing-keys>
        <issuers><issuer>{V2_ISS}</issuer></issuers>
    </validate-jwt></inbound></policies>"""
    jwt = parse_policy(xml).sections["inbound"][0]
    assert isinstance(jwt, ValidateJwt)
    token = v2_token(harness)
    assert isinstance(validate_jwt(jwt, Request.of({"Authorization": f"Bearer {token}"}), now=FROZEN_AT), Passed)
    f = validate_jwt(jwt, Request.of({"Authorization": f"Bearer {v1_token(harness)}"}), now=FROZEN_AT)
    assert isinstance(f, Failed) and f.idx == "IDX10205"


def test_a_symmetric_key_verifies_hs256(harness: Harness) -> None:
    import base64
    import hashlib
    import hmac

    secret = b"0123456789abcdef0123456789abcdef"
    head = forms.b64url(b'{"alg":"HS256","typ":"JWT"}')
    body = forms.b64url(json.dumps({"exp": FROZEN_AT + 60, "iss": "me"}).encode())
    sig = forms.b64url(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
    xml = """<policies><inbound><validate-jwt header-name="Authorization">
        <issuer-signing-keys><key>{{jwt-signing-key}}</key></issuer-signing-keys></validate-jwt></inbound></policies>"""
    doc = parse_policy(xml, named_values={"jwt-signing-key": base64.b64encode(secret).decode()})
    jwt = doc.sections["inbound"][0]
    assert isinstance(jwt, ValidateJwt)
    request = Request.of({"Authorization": f"Bearer {head}.{body}.{sig}"})
    assert isinstance(validate_jwt(jwt, request, now=FROZEN_AT), Passed)
    bad = Request.of({"Authorization": f"Bearer {head}.{body}.{sig[:-2]}AA"})
    assert isinstance(validate_jwt(jwt, bad, now=FROZEN_AT), Failed)


def test_the_token_may_come_from_a_query_parameter_or_token_value(harness: Harness) -> None:
    token = v2_token(harness)
    discovery = HarnessDiscovery(harness)
    by_query = statement(policy_xml('query-parameter-name="access_token"'))
    assert isinstance(validate_jwt(by_query, Request.of(query={"access_token": token}), now=FROZEN_AT,
                                   discovery=discovery), Passed)
    f = validate_jwt(by_query, Request.of({"Authorization": f"Bearer {token}"}), now=FROZEN_AT, discovery=discovery)
    assert isinstance(f, Failed) and f.fix == "the query parameter access_token is missing or empty: send the " \
                                              "token in the query parameter access_token"
    by_value = statement(policy_xml(f'token-value="{token}"'))
    assert isinstance(validate_jwt(by_value, Request(), now=FROZEN_AT, discovery=discovery), Passed)


class MultiTenantDiscovery(HarnessDiscovery):
    """The organizations document: its issuer holds a literal {tenantid}."""

    def __call__(self, url: str, *, refresh: bool) -> Discovery:
        real = super().__call__(url, refresh=refresh)
        return Discovery(real.issuer.replace(TENANT, "{tenantid}"), real.jwks)


def test_a_multi_tenant_issuer_takes_the_tokens_tid(harness: Harness, run: Run) -> None:
    token = v2_token(harness)
    assert isinstance(run(policy_xml(), token, discovery=MultiTenantDiscovery(harness)), Passed)
    f = failed(run(policy_xml(), v1_token(harness), discovery=MultiTenantDiscovery(harness)))
    assert f.idx == "IDX10205" and f"ValidIssuers: '{V2_ISS}'" in f.detail


@pytest.mark.parametrize(("claims", "idx"), [
    ({"nbf": 10**20, "exp": 10**21}, "IDX10222"),
    ({"nbf": 0, "exp": -(10**20)}, "IDX10223"),
    ({"exp": "tomorrow"}, "IDX14101"),
    ({"exp": 1e400}, None),  # JSON's overflow is +inf in Python: never expired, and no crash
])
def test_hostile_lifetimes_answer_rather_than_crash(harness: Harness, claims: dict[str, Any], idx: str | None) -> None:
    secret = b"k" * 32
    import base64
    import hashlib
    import hmac

    head = forms.b64url(b'{"alg":"HS256"}')
    body = forms.b64url(json.dumps(claims).encode())
    sig = forms.b64url(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
    xml = f"""<policies><inbound><validate-jwt header-name="Authorization"><issuer-signing-keys>
        <key>{base64.b64encode(secret).decode()}</key></issuer-signing-keys></validate-jwt></inbound></policies>"""
    jwt = parse_policy(xml).sections["inbound"][0]
    assert isinstance(jwt, ValidateJwt)
    outcome = validate_jwt(jwt, Request.of({"Authorization": f"Bearer {head}.{body}.{sig}"}), now=FROZEN_AT)
    if idx is None:
        assert isinstance(outcome, Passed) and outcome.jwt.expiration_time is None
    else:
        assert isinstance(outcome, Failed) and outcome.idx == idx
