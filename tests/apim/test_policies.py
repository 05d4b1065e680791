"""The policies beyond validate-jwt, each run through the runtime against a real HTTP backend on 127.0.0.1:
set-variable, choose, set-query-parameter, set-backend-service, rewrite-uri, cors, rate-limit(-by-key),
return-response from a variable, validate-jwt's token-value expression."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence

import pytest

from mockidp.apim.policy import DEFAULT_GLOBAL_POLICY, PolicyDocument, PolicyError, compose, parse_policy
from mockidp.apim.rate_limit import MemoryRateLimiter
from mockidp.apim.runtime import BackendService, Context, GatewayResponse, LastError, Subscription, run
from tests.apim.backend_support import Echo, HttpxBackend, echo_server
from tests.apim.test_runtime import context
from tests.apim.test_validate_jwt import V2_CONFIG, HarnessDiscovery, v1_token, v2_token
from tests.conftest import BACKEND1_URI, BACKEND2, CLIENT, FROZEN_AT, TENANT, Harness

GLOBAL = parse_policy(DEFAULT_GLOBAL_POLICY, scope="global", source="global.xml")


@pytest.fixture
def echo() -> Iterator[Echo]:
    with echo_server() as server:
        yield server


@pytest.fixture
def other() -> Iterator[Echo]:
    with echo_server() as server:
        yield server


def doc(inbound: str, *, outbound: str = "<base />", on_error: str = "<base />", scope: str = "api") -> PolicyDocument:
    xml = f"""<policies>
    <inbound>
{inbound}
    </inbound>
    <backend><base /></backend>
    <outbound>{outbound}</outbound>
    <on-error>{on_error}</on-error>
</policies>"""
    return parse_policy(xml, scope=scope, source=f"{scope}.xml", named_values={"tenant-id": TENANT})  # type: ignore[arg-type]


def go(documents: Sequence[PolicyDocument], ctx: Context, *, now: float = FROZEN_AT,
       limiter: MemoryRateLimiter | None = None, backends: Mapping[str, str | BackendService] | None = None,
       harness: Harness | None = None) -> GatewayResponse:
    return asyncio.run(run(compose(documents), ctx, backend=HttpxBackend(), now=now,
                           discovery=HarnessDiscovery(harness) if harness else None,
                           rate_limiter=limiter or MemoryRateLimiter(), backends=backends))


# --- set-variable, choose ---------------------------------------------------------------------------

CHOOSE = """        <set-variable name="tier"
                      value="@(context.Request.Headers.GetValueOrDefault("X-Tier", "free"))" />
        <set-variable name="literal" value="42" />
        <choose>
            <when condition="@((string)context.Variables[&quot;tier&quot;] == &quot;gold&quot;)">
                <set-header name="X-Lane" exists-action="override"><value>fast</value></set-header>
            </when>
            <when condition="@(context.Variables.GetValueOrDefault<string>("tier", "").StartsWith("s"))">
                <set-header name="X-Lane" exists-action="override"><value>medium</value></set-header>
                <choose>
                    <when condition="@(context.Request.Method == &quot;POST&quot;)">
                        <return-response><set-status code="405" reason="Silver reads only" /></return-response>
                    </when>
                </choose>
            </when>
            <otherwise>
                <set-header name="X-Lane" exists-action="override"><value>slow</value></set-header>
            </otherwise>
        </choose>
        <base />"""


@pytest.mark.parametrize(("tier", "method", "lane", "status"), [
    ("gold", "GET", "fast", 200), ("silver", "GET", "medium", 200), (None, "GET", "slow", 200),
    ("silver", "POST", "medium", 405),
])
def test_choose_takes_the_first_true_when_or_otherwise(echo: Echo, tier: str | None, method: str, lane: str,
                                                       status: int) -> None:
    ctx = context(echo.url, method=method, headers=[("X-Tier", tier)] if tier else [])
    response = go([GLOBAL, doc(CHOOSE)], ctx)
    assert response.status == status
    assert ctx.variables["tier"] == (tier or "free") and ctx.variables["literal"] == "42"
    assert [s.detail for s in ctx.steps[:2]] == [f"tier = {tier or 'free'!r}", "literal = '42'"]
    assert ctx.request.header("X-Lane") == lane
    assert len(echo.received) == (1 if status == 200 else 0)
    chosen = [s.detail for s in ctx.steps if s.policy == "choose"]
    expected = {"fast": ['when[1] (line 7): @((string)context.Variables["tier"] == "gold")'],
                "slow": ["otherwise"],
                "medium": ['when[2] (line 10): @(context.Variables.GetValueOrDefault<string>("tier", "").StartsWith('
                           '"s"))', 'when[1] (line 13): @(context.Request.Method == "POST")' if status == 405
                           else "no condition held and there is no otherwise"]}
    assert chosen == expected[lane]
    if status == 405:
        assert response.reason == "Silver reads only"


def test_a_failure_inside_nested_choose_reports_its_path(echo: Echo) -> None:
    inbound = """        <set-header name="X-A" exists-action="override"><value>a</value></set-header>
        <choose>
            <when condition="@(false)">
                <set-header name="X-No" exists-action="override"><value>n</value></set-header>
            </when>
        </choose>
        <choose>
            <when condition="@(false)" />
            <when condition="@(true)">
                <choose>
                    <otherwise>
                        <check-header name="X-Required" failed-check-httpcode="400" failed-check-error-message="Need it"
                                      ignore-case="false" id="needs-x" />
                    </otherwise>
                </choose>
            </when>
        </choose>"""
    with pytest.raises(PolicyError, match="<otherwise>"):
        doc(inbound)  # <otherwise> without a <when> first is refused
    inbound = inbound.replace("<choose>\n                    <otherwise>", "<choose>\n                    <when "
                              "condition=\"@(false)\" />\n                    <otherwise>")
    ctx = context(echo.url)
    response = go([GLOBAL, doc(inbound, scope="operation")], ctx)
    assert (response.status, response.body) == (400, b'{ "statusCode": 400, "message": "Need it" }')
    assert ctx.last_error == LastError("check-header", "HeaderNotFound", "Header X-Required was not found in the "
                                       "request. Access denied.", "operation", "inbound",
                                       "choose[2]/when[2]/choose[1]/otherwise", "needs-x")


# --- set-query-parameter ----------------------------------------------------------------------------

def test_set_query_parameter_actions_reach_the_backend(echo: Echo) -> None:
    inbound = """        <set-query-parameter name="api-version" exists-action="override">
            <value>2024-01-01</value>
        </set-query-parameter>
        <set-query-parameter name="keep" exists-action="skip"><value>no</value></set-query-parameter>
        <set-query-parameter name="tag" exists-action="append">
            <value>b</value>
            <value>@(context.Request.Method)</value>
        </set-query-parameter>
        <set-query-parameter name="subscription-key" exists-action="delete" />
        <base />"""
    ctx = context(echo.url, query=[("keep", "yes"), ("tag", "a"), ("subscription-key", "secret"),
                                   ("api-version", "old")])
    go([GLOBAL, doc(inbound)], ctx)
    assert echo.received[0]["path"] == "/hello?keep=yes&tag=a&api-version=2024-01-01&tag=b&tag=GET"


# --- set-backend-service ----------------------------------------------------------------------------

def test_set_backend_service_base_url_with_an_expression(echo: Echo, other: Echo) -> None:
    inbound = f"""        <set-backend-service
            base-url="@(context.Request.Headers.GetValueOrDefault("X-Region", "") == "eu" ? "{other.url}/eu"
                       : "{echo.url}")" />
        <base />"""
    ctx = context(echo.url, path="/echo/items/7", headers=[("X-Region", "eu")])
    go([GLOBAL, doc(inbound)], ctx)
    assert echo.received == [] and other.received[0]["path"] == "/eu/items/7"
    assert ctx.backend_url == f"{other.url}/eu"


def test_set_backend_service_backend_id_adds_the_backends_credentials(echo: Echo) -> None:
    inbound = """        <set-backend-service backend-id="func-backend" />
        <base />"""
    backends: dict[str, str | BackendService] = {
        "func-backend": BackendService(echo.url + "/api", (("x-functions-key", "fn-secret"),), (("code", "c1"),))}
    ctx = context("http://127.0.0.1:9", headers=[("x-functions-key", "from-client")])
    assert go([GLOBAL, doc(inbound)], ctx, backends=backends).status == 200
    seen = echo.received[0]
    assert seen["path"] == "/api/hello?code=c1"
    assert [v for k, v in seen["headers"] if k.lower() == "x-functions-key"] == ["fn-secret"]  # type: ignore[union-attr]


def test_an_unknown_backend_id_is_a_500_with_last_error(echo: Echo) -> None:
    ctx = context(echo.url)
    response = go([GLOBAL, doc('        <set-backend-service backend-id="nowhere" id="pick" />')], ctx)
    assert (response.status, response.body) == (500, b'{ "statusCode": 500, "message": "Internal server error" }')
    assert ctx.last_error == LastError("set-backend-service", "BackendNotFound", "Backend with id 'nowhere' could not "
                                       "be found.", "api", "inbound", "", "pick")


# --- rewrite-uri ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("copy", "path"), [
    ("true", "/v2/orders/7/lines/a%20b?view=full&extra=1&other=2"),
    ("false", "/v2/orders/7/lines/a%20b?view=full"),
])
def test_rewrite_uri_fills_the_template_from_the_operations_parameters(echo: Echo, copy: str, path: str) -> None:
    inbound = f"""        <rewrite-uri template="/v2/orders/{{orderId}}/lines/{{line}}?view={{mode}}"
                     copy-unmatched-params="{copy}" />
        <base />"""
    ctx = context(echo.url, path="/echo/orders/7/a%20b", query=[("mode", "full"), ("extra", "1"), ("other", "2")])
    ctx.operation.url_template = "/orders/{orderId}/{line}?mode={mode}"
    go([GLOBAL, doc(inbound)], ctx)
    assert echo.received[0]["path"] == path
    assert ctx.request.path == "/echo" + path.split("?")[0] and ctx.request.original_path == "/echo/orders/7/a%20b"


# --- cors -------------------------------------------------------------------------------------------

CORS = """        <cors allow-credentials="{credentials}" terminate-unmatched-request="{terminate}">
            <allowed-origins>
                <origin>https://app.contoso.com</origin>
                <origin>http://localhost:5173</origin>
            </allowed-origins>
            <allowed-methods preflight-result-max-age="300">
                <method>GET</method>
                <method>POST</method>
            </allowed-methods>
            <allowed-headers>
                <header>Authorization</header>
                <header>Content-Type</header>
            </allowed-headers>
            <expose-headers>
                <header>X-Request-Id</header>
            </expose-headers>
        </cors>
        <base />"""


def cors(credentials: str = "true", terminate: str = "true") -> PolicyDocument:
    return doc(CORS.format(credentials=credentials, terminate=terminate))


def test_a_preflight_is_answered_by_the_gateway(echo: Echo) -> None:
    ctx = context(echo.url, method="OPTIONS", headers=[
        ("Origin", "https://app.contoso.com"), ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "authorization, content-type")])
    response = go([GLOBAL, cors()], ctx)
    assert (response.status, response.body) == (200, b"")
    assert response.headers == [("Access-Control-Allow-Origin", "https://app.contoso.com"),
                                ("Access-Control-Allow-Credentials", "true"), ("Access-Control-Allow-Methods", "POST"),
                                ("Access-Control-Allow-Headers", "authorization,content-type"),
                                ("Access-Control-Max-Age", "300")]
    assert echo.received == []


@pytest.mark.parametrize(("origin", "method", "headers", "why"), [
    ("https://evil.example", "GET", "", "the origin is not allowed"),
    ("https://app.contoso.com", "DELETE", "", "the method DELETE is not allowed"),
    ("https://app.contoso.com", "GET", "X-Custom", "a header of X-Custom is not allowed"),
])
def test_an_unmatched_preflight_gets_an_empty_200_without_cors_headers(echo: Echo, origin: str, method: str,
                                                                       headers: str, why: str) -> None:
    ctx = context(echo.url, method="OPTIONS", headers=[("Origin", origin), ("Access-Control-Request-Method", method),
                                                       *([("Access-Control-Request-Headers", headers)]
                                                         if headers else [])])
    response = go([GLOBAL, cors()], ctx)
    assert (response.status, response.body, response.headers) == (200, b"", [])
    assert ctx.steps[0].outcome == "failed" and ctx.steps[0].detail == (
        f"preflight from {origin}: {why}: answered an empty 200 (terminate-unmatched-request)")
    assert echo.received == []


def test_an_allowed_cross_origin_request_gets_the_cors_headers_even_on_error(echo: Echo) -> None:
    ctx = context(echo.url, headers=[("Origin", "http://localhost:5173")])
    response = go([GLOBAL, cors()], ctx)
    assert response.status == 200 and len(echo.received) == 1
    assert response.headers[-3:] == [("Access-Control-Allow-Origin", "http://localhost:5173"),
                                     ("Access-Control-Allow-Credentials", "true"),
                                     ("Access-Control-Expose-Headers", "X-Request-Id")]
    failing = doc(CORS.format(credentials="false", terminate="true").replace(
        "<base />", '<check-header name="X-Need" failed-check-httpcode="401" failed-check-error-message="No" '
                    'ignore-case="true" />'))
    ctx = context(echo.url, headers=[("Origin", "http://localhost:5173")])
    response = go([GLOBAL, failing], ctx)
    assert response.status == 401 and response.headers == [("Content-Type", "application/json"),
                                                           ("Access-Control-Allow-Origin", "http://localhost:5173"),
                                                           ("Access-Control-Expose-Headers", "X-Request-Id")]


def test_an_unmatched_origin_with_terminate_false_proceeds_without_cors_headers(echo: Echo) -> None:
    ctx = context(echo.url, headers=[("Origin", "https://evil.example")])
    response = go([GLOBAL, cors(terminate="false")], ctx)
    assert response.status == 200 and len(echo.received) == 1
    assert not any(k.startswith("Access-Control") for k, _ in response.headers)
    ctx = context(echo.url, headers=[("Origin", "https://evil.example")])
    response = go([GLOBAL, cors(terminate="true")], ctx)
    assert (response.status, response.body, response.headers, len(echo.received)) == (200, b"", [], 1)


def test_a_wildcard_origin_without_credentials_answers_star(echo: Echo) -> None:
    xml = """        <cors><allowed-origins><origin>*</origin></allowed-origins></cors>
        <base />"""
    ctx = context(echo.url, headers=[("Origin", "https://anyone.example")])
    response = go([GLOBAL, doc(xml)], ctx)
    assert response.headers[-1] == ("Access-Control-Allow-Origin", "*")
    assert ctx.request.header("Origin") == "https://anyone.example"


# --- rate-limit -------------------------------------------------------------------------------------

def test_rate_limit_by_key_answers_429_with_retry_after_and_apims_body(echo: Echo) -> None:
    inbound = """        <rate-limit-by-key calls="2" renewal-period="60" counter-key="@(context.Request.IpAddress)"
                           retry-after-variable-name="wait" id="per-ip" />
        <base />"""
    on_error = """<set-header name="X-Waited" exists-action="override">
            <value>@(context.Variables.GetValueOrDefault<int>("wait").ToString())</value>
        </set-header>"""
    policy = doc(inbound, on_error=on_error)
    limiter = MemoryRateLimiter()
    assert go([GLOBAL, policy], context(echo.url), now=FROZEN_AT, limiter=limiter).status == 200
    assert go([GLOBAL, policy], context(echo.url), now=FROZEN_AT + 2.5, limiter=limiter).status == 200
    ctx = context(echo.url)
    response = go([GLOBAL, policy], ctx, now=FROZEN_AT + 3, limiter=limiter)
    assert response.status == 429
    assert response.body == b'{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds." }'
    assert len(response.body) == 84  # the Content-Length of APIM's captured 429
    assert response.headers == [("Content-Type", "application/json"), ("Retry-After", "57"), ("X-Waited", "57")]
    assert ctx.last_error == LastError("rate-limit-by-key", "RateLimitExceeded", "Rate limit is exceeded", "api",
                                       "inbound", "", "per-ip")
    other_ip = context(echo.url)
    other_ip.request.ip = "10.0.0.9"
    assert go([GLOBAL, policy], other_ip, now=FROZEN_AT + 3, limiter=limiter).status == 200
    # The window slides: at +60 s the first call left it.
    assert go([GLOBAL, policy], context(echo.url), now=FROZEN_AT + 60, limiter=limiter).status == 200
    assert len(echo.received) == 4


def test_increment_condition_false_is_not_counted(echo: Echo) -> None:
    inbound = """        <rate-limit-by-key calls="1" renewal-period="10" counter-key="k"
                           increment-condition="@(context.Request.Method == "POST")"
                           retry-after-header-name="X-Retry" total-calls-header-name="X-Total" />
        <base />"""
    policy = doc(inbound)
    limiter = MemoryRateLimiter()
    for _ in range(3):
        response = go([GLOBAL, policy], context(echo.url, method="GET"), limiter=limiter)
        assert response.status == 200 and response.header("X-Total") == "1"
    assert go([GLOBAL, policy], context(echo.url, method="POST"), limiter=limiter).status == 200
    response = go([GLOBAL, policy], context(echo.url, method="GET"), now=FROZEN_AT + 4, limiter=limiter)
    assert (response.status, response.header("X-Retry")) == (429, "6")


def test_rate_limit_counts_per_subscription(echo: Echo) -> None:
    policy = doc('        <rate-limit calls="1" renewal-period="30" />\n        <base />')
    limiter = MemoryRateLimiter()

    def call(sub: str) -> int:
        ctx = context(echo.url)
        ctx.subscription = Subscription(sub, sub, "k", "k", "k2", False)
        return go([GLOBAL, policy], ctx, limiter=limiter).status

    assert [call("a"), call("b"), call("a")] == [200, 200, 429]


# --- return-response from a variable; token-value ---------------------------------------------------

def test_return_response_starts_from_the_response_a_variable_holds(echo: Echo) -> None:
    outbound = """<base />
        <set-variable name="saved" value="@(context.Response)" />
        <set-header name="X-After" exists-action="override"><value>changed later</value></set-header>
        <return-response response-variable-name="saved">
            <set-header name="X-From" exists-action="override"><value>saved</value></set-header>
        </return-response>"""
    ctx = context(echo.url, path="/echo/status/202")
    response = go([GLOBAL, doc("        <base />", outbound=outbound)], ctx)
    assert response.status == 202 and response.header("X-From") == "saved" and response.header("X-After") is None
    assert response.header("X-Powered-By") == "echo"


def test_return_response_from_a_missing_variable_fails(echo: Echo) -> None:
    ctx = context(echo.url)
    response = go([GLOBAL, doc('        <return-response response-variable-name="nothing" />')], ctx)
    assert response.status == 500 and ctx.last_error is not None
    assert ctx.last_error.message == "Expression evaluation failed. The variable 'nothing' does not exist."


def test_validate_jwt_token_value_from_an_expression(harness: Harness, echo: Echo) -> None:
    inbound = f"""        <validate-jwt token-value="@(context.Request.Headers.GetValueOrDefault("X-Token", ""))">
            <openid-config url="{V2_CONFIG}" />
            <required-claims><claim name="azp"><value>{CLIENT}</value></claim></required-claims>
        </validate-jwt>
        <base />"""
    policy = doc(inbound)
    ok = context(echo.url, headers=[("X-Token", v2_token(harness))])
    assert go([GLOBAL, policy], ok, harness=harness).status == 200
    missing = context(echo.url)
    response = go([GLOBAL, policy], missing, harness=harness)
    assert (response.status, response.body) == (401, b'{ "statusCode": 401, "message": "JWT not present." }')


# --- validate-azure-ad-token ------------------------------------------------------------------------

BACKEND1_APP = "b6c2d8e4-1f3a-4b5c-8d7e-9a0b1c2d3e4f"


def aad(inner: str, attributes: str = "") -> PolicyDocument:
    return doc(f"""        <validate-azure-ad-token tenant-id="{{{{tenant-id}}}}" {attributes} id="aad">
{inner}
        </validate-azure-ad-token>
        <base />""")


AAD = f"""            <client-application-ids><application-id>{CLIENT}</application-id></client-application-ids>
            <audiences><audience>{BACKEND2}</audience><audience>{BACKEND1_URI}</audience></audiences>"""


def test_validate_azure_ad_token_passes_a_v2_token_of_a_listed_client(harness: Harness, echo: Echo) -> None:
    ctx = context(echo.url, headers=[("Authorization", "Bearer " + v2_token(harness))])
    assert go([GLOBAL, aad(AAD)], ctx, harness=harness).status == 200
    step = ctx.steps[0]
    assert (step.policy, step.outcome) == ("validate-azure-ad-token", "passed")
    assert step.detail.endswith("lifetime; audience; issuer; client application")


def test_validate_azure_ad_token_accepts_the_v1_issuer_and_appid(harness: Harness, echo: Echo) -> None:
    ctx = context(echo.url, headers=[("Authorization", "Bearer " + v1_token(harness))])
    assert go([GLOBAL, aad(AAD)], ctx, harness=harness).status == 200


def test_backend_application_ids_are_audiences(harness: Harness, echo: Echo) -> None:
    inner = f"<backend-application-ids><application-id>{BACKEND2}</application-id></backend-application-ids>"
    ctx = context(echo.url, headers=[("Authorization", "Bearer " + v2_token(harness))])
    assert go([GLOBAL, aad(inner)], ctx, harness=harness).status == 200
    inner = f"<backend-application-ids><application-id>{BACKEND1_APP}</application-id></backend-application-ids>"
    ctx = context(echo.url, headers=[("Authorization", "Bearer " + v2_token(harness))])
    response = go([GLOBAL, aad(inner)], ctx, harness=harness)
    assert (response.status, response.body) == (401, b'{ "statusCode": 401, "message": "Invalid JWT." }')
    assert ctx.last_error is not None and ctx.last_error.reason == "TokenAudienceNotAllowed"
    assert ctx.steps[0].detail.startswith("JWT Validation Failed: IDX10214: Audience validation failed.")


def test_a_client_not_listed_is_a_claim_mismatch(harness: Harness, echo: Echo) -> None:
    inner = f"""            <client-application-ids>
                <application-id>{BACKEND1_APP}</application-id>
            </client-application-ids>
            <audiences><audience>{BACKEND2}</audience></audiences>"""
    ctx = context(echo.url, headers=[("Authorization", "Bearer " + v2_token(harness))])
    response = go([GLOBAL, aad(inner, 'failed-validation-error-message="Unauthorized client"')], ctx, harness=harness)
    assert (response.status, response.body) == (401, b'{ "statusCode": 401, "message": "Unauthorized client" }')
    assert ctx.last_error == LastError("validate-azure-ad-token", "TokenClaimValueNotAllowed",
                                       f"Claim value mismatch: azp={BACKEND1_APP}.", "api", "inbound", "", "aad")
    assert ctx.steps[0].fix == f"the calling client is {CLIENT} (azp, a v2 token); add its appId to " \
                               "<client-application-ids>"
    assert echo.received == []


@pytest.mark.parametrize(("headers", "code"), [([], 401), ([("Authorization", "TOKEN")], 403)])
def test_validate_azure_ad_token_without_a_bearer_token(harness: Harness, echo: Echo,
                                                        headers: list[tuple[str, str]], code: int) -> None:
    if headers:
        headers = [("Authorization", v2_token(harness))]  # the bare token, no Bearer scheme
    ctx = context(echo.url, headers=headers)
    response = go([GLOBAL, aad(AAD, f'failed-validation-httpcode="{code}"')], ctx, harness=harness)
    assert (response.status, response.body) == (
        code, b'{ "statusCode": %d, "message": "JWT not present." }' % code)
    assert ctx.last_error is not None and (ctx.last_error.source, ctx.last_error.reason) == (
        "validate-azure-ad-token", "TokenNotPresent")


def test_validate_azure_ad_token_reads_the_tenants_v2_metadata() -> None:
    (placed,) = compose([aad(AAD)])["inbound"]
    assert placed.statement.openid_config_url == (  # type: ignore[attr-defined]
        f"https://login.microsoftonline.com/{TENANT}/v2.0/.well-known/openid-configuration")
    xml = f"""<policies><inbound><validate-azure-ad-token tenant-id="https://login.microsoftonline.com/{TENANT}/"
        authentication-endpoint="https://login.microsoftonline.us" header-name="X-Token">
        <required-claims><claim name="roles"><value>Data.Read</value></claim></required-claims>
    </validate-azure-ad-token></inbound></policies>"""
    (statement,) = parse_policy(xml).sections["inbound"]
    assert statement.openid_config_url == (  # type: ignore[attr-defined]
        f"https://login.microsoftonline.us/{TENANT}/v2.0/.well-known/openid-configuration")


@pytest.mark.parametrize(("inner", "message"), [
    ("<decryption-keys><key>c2VjcmV0</key></decryption-keys>", "certificate-id is required on each decryption "
                                                                "key of validate-azure-ad-token"),
    ("<audiences><audience>a</audience></audiences><client-application-ids><application-id>c</application-id>"
     "</client-application-ids>", "<client-application-ids> is out of order or repeated"),
    ("<frob/>", "<frob> is not allowed inside <validate-azure-ad-token>"),
])
def test_validate_azure_ad_token_refusals(inner: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(f'<policies><inbound><validate-azure-ad-token tenant-id="t">{inner}</validate-azure-ad-token>'
                     "</inbound></policies>")
    assert message in str(caught.value)


def test_validate_azure_ad_token_for_organizations_takes_the_tenant_from_the_token(harness: Harness,
                                                                                     echo: Echo) -> None:
    inner = f"<client-application-ids><application-id>{CLIENT}</application-id></client-application-ids>"
    policy = parse_policy(f"""<policies><inbound><validate-azure-ad-token tenant-id="organizations">{inner}
        </validate-azure-ad-token><base /></inbound></policies>""")
    for token in (v2_token(harness), v1_token(harness)):
        ctx = context(echo.url, headers=[("Authorization", "Bearer " + token)])
        assert go([GLOBAL, policy], ctx, harness=harness).status == 200, ctx.steps


# --- set-method, trace ------------------------------------------------------------------------------

def test_set_method_and_trace(echo: Echo) -> None:
    inbound = """        <set-method>@(context.Request.Headers.GetValueOrDefault("X-Method", "post"))</set-method>
        <trace source="audit" severity="information">
            <message>@("caller " + context.Request.IpAddress)</message>
            <metadata name="api" value="echo" />
        </trace>
        <base />"""
    ctx = context(echo.url, headers=[("X-Method", "put")])
    assert go([GLOBAL, doc(inbound)], ctx).status == 200
    assert echo.received[0]["method"] == "PUT"
    assert [(s.policy, s.detail) for s in ctx.steps[:2]] == [
        ("set-method", "PUT"), ("trace", "audit (information): caller 127.0.0.1; api=echo")]


@pytest.mark.parametrize(("inner", "message"), [
    ("<set-method>GET POST</set-method>", "the method must be a word"),
    ('<trace source="s"><metadata name="a" value="b"/></trace>', "<trace> holds one <message>"),
    ('<trace source="s" severity="loud"><message>m</message></trace>', "severity must be verbose, information"),
    ('<trace source="s" />', "<trace> needs a <message>"),
])
def test_set_method_and_trace_refusals(inner: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(f"<policies><inbound>{inner}</inbound></policies>")
    assert message in str(caught.value)


# --- ip-filter --------------------------------------------------------------------------------------

IP_FILTER = """        <ip-filter action="{action}" id="ips">
            <address>127.0.0.1</address>
            <address-range from="10.0.0.0" to="10.0.255.255" />
            <address>2001:db8::1</address>
        </ip-filter>
        <base />"""


@pytest.mark.parametrize(("action", "ip", "status"), [
    ("allow", "127.0.0.1", 200), ("allow", "10.0.7.9", 200), ("allow", "::ffff:10.0.0.1", 200),
    ("allow", "2001:db8::1", 200), ("allow", "192.168.1.1", 403), ("forbid", "10.0.0.1", 403),
    ("forbid", "192.168.1.1", 200),
])
def test_ip_filter(echo: Echo, action: str, ip: str, status: int) -> None:
    ctx = context(echo.url)
    ctx.request.ip = ip
    response = go([GLOBAL, doc(IP_FILTER.format(action=action))], ctx)
    assert response.status == status
    if status == 403:
        shown = ip.removeprefix("::ffff:")
        assert response.body == b'{ "statusCode": 403, "message": "Forbidden" }' and echo.received == []
        assert ctx.last_error == LastError("ip-filter", "CallerIpNotAllowed", f"Caller IP address {shown} is not "
                                           "allowed. Access denied.", "api", "inbound", "", "ips")


def test_ip_filter_with_an_unreadable_caller_address(echo: Echo) -> None:
    ctx = context(echo.url)
    ctx.request.ip = "unknown"
    assert go([GLOBAL, doc(IP_FILTER.format(action="allow"))], ctx).status == 403
    assert ctx.last_error is not None and ctx.last_error.reason == "FailedToParseCallerIP"


@pytest.mark.parametrize(("inner", "message"), [
    ('<ip-filter action="deny"><address>1.2.3.4</address></ip-filter>', "action must be allow or forbid"),
    ('<ip-filter action="allow"><address>1.2.3</address></ip-filter>', "'1.2.3' is not an IP address"),
    ('<ip-filter action="allow"><address-range from="10.0.0.9" to="10.0.0.1"/></ip-filter>', "is empty or mixes"),
    ('<ip-filter action="allow"></ip-filter>', "needs at least one <address>"),
])
def test_ip_filter_refusals(inner: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(f"<policies><inbound>{inner}</inbound></policies>")
    assert message in str(caught.value)
