"""Composed policies run against one request with a real HTTP backend on 127.0.0.1 and real mockidp tokens:
inbound → backend → outbound, on-error with context.LastError, APIM's answer bodies, the step records."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence

import pytest

from mockidp.apim.policy import DEFAULT_GLOBAL_POLICY, PolicyDocument, compose, parse_policy
from mockidp.apim.rate_limit import MemoryRateLimiter
from mockidp.apim.runtime import (
    Api,
    Context,
    GatewayRequest,
    GatewayResponse,
    LastError,
    Operation,
    StepRecord,
    run,
)
from tests.apim.backend_support import Echo, HttpxBackend, closed_port_url, echo_server
from tests.apim.test_validate_jwt import V1_ISS, V2_CONFIG, V2_ISS, HarnessDiscovery, v1_token, v2_token
from tests.conftest import BACKEND2, CLIENT, FROZEN_AT, TENANT, Harness

GLOBAL = parse_policy(DEFAULT_GLOBAL_POLICY, scope="global", source="global.xml")
JWT_API = f"""<policies>
    <inbound>
        <base />
        <validate-jwt header-name="Authorization" require-scheme="Bearer" output-token-variable-name="jwt"
                      id="check-token">
            <openid-config url="{V2_CONFIG}" />
            <audiences><audience>{BACKEND2}</audience></audiences>
            <required-claims><claim name="azp" match="any"><value>{CLIENT}</value></claim></required-claims>
        </validate-jwt>
        <set-header name="x-functions-key" exists-action="override"><value>fn-key</value></set-header>
    </inbound>
    <backend>
        <base />
    </backend>
    <outbound>
        <base />
        <set-header name="X-Powered-By" exists-action="delete" />
        <set-header name="X-Gateway" exists-action="override"><value>mockidp</value></set-header>
    </outbound>
    <on-error>
        <base />
        <set-header name="X-Error" exists-action="override"><value>handled</value></set-header>
    </on-error>
</policies>"""


@pytest.fixture
def echo() -> Iterator[Echo]:
    with echo_server() as server:
        yield server


def api(xml: str, scope: str = "api") -> PolicyDocument:
    return parse_policy(xml, scope=scope, source=f"{scope}.xml", named_values={"tenant-id": TENANT})  # type: ignore[arg-type]


def context(url: str, *, path: str = "/echo/hello", headers: Sequence[tuple[str, str]] = (),
            query: Sequence[tuple[str, str]] = (), method: str = "GET", body: bytes = b"") -> Context:
    request = GatewayRequest(list(headers), body, method, "https", "localhost:8444", path, list(query), "127.0.0.1")
    return Context(request, Api("echo", "echo", "echo", url), Operation("hello", "hello", "GET", "/hello"), None, url)


def go(documents: Sequence[PolicyDocument], ctx: Context, harness: Harness | None = None,
       backend: HttpxBackend | None = None) -> GatewayResponse:
    return asyncio.run(run(compose(documents), ctx, backend=backend or HttpxBackend(), now=FROZEN_AT,
                           discovery=HarnessDiscovery(harness) if harness else None,
                           rate_limiter=MemoryRateLimiter()))


def echoed(response: GatewayResponse) -> dict[str, object]:
    return json.loads(response.body)  # type: ignore[no-any-return]


def test_a_valid_token_reaches_the_backend_with_the_function_key_and_outbound_headers(
        harness: Harness, echo: Echo) -> None:
    token = v2_token(harness)
    ctx = context(echo.url, path="/echo/hello/world", query=[("a", "1"), ("b", "x y")],
                  headers=[("Host", "localhost:8444"), ("Authorization", f"Bearer {token}"),
                           ("Connection", "keep-alive"), ("X-Multi", "1"), ("X-Multi", "2")])
    backend = HttpxBackend()
    response = go([GLOBAL, api(JWT_API)], ctx, harness, backend)
    assert response.status == 200
    (seen,) = echo.received
    assert seen["method"] == "GET" and seen["path"] == "/hello/world?a=1&b=x%20y"
    sent = [(k.lower(), v) for k, v in seen["headers"]]  # type: ignore[union-attr]
    assert ("authorization", f"Bearer {token}") in sent and ("x-functions-key", "fn-key") in sent
    assert [v for k, v in sent if k == "x-multi"] == ["1", "2"]
    # Hop-by-hop headers and Host stay behind: the backend gets its own Host, from its URL.
    assert [k for k, _ in backend.sent[0].headers] == ["Authorization", "X-Multi", "X-Multi", "x-functions-key"]
    assert ("host", echo.url.removeprefix("http://")) in sent
    assert response.header("X-Powered-By") is None and response.header("X-Gateway") == "mockidp"
    assert response.header("Content-Type") == "application/json"
    assert ctx.last_error is None and ctx.variables["jwt"].subject is not None  # type: ignore[attr-defined]
    assert [(s.policy, s.scope, s.section, s.line, s.outcome) for s in ctx.steps] == [
        ("validate-jwt", "api", "inbound", 4, "passed"), ("set-header", "api", "inbound", 10, "applied"),
        ("forward-request", "global", "backend", 4, "applied"), ("set-header", "api", "outbound", 17, "applied"),
        ("set-header", "api", "outbound", 18, "applied")]
    assert ctx.steps[2].detail == f"GET {echo.url}/hello/world?a=1&b=x%20y -> 200 (timeout 300 s)"


def test_no_token_is_apims_401_and_on_error_runs_with_last_error(harness: Harness, echo: Echo) -> None:
    ctx = context(echo.url)
    response = go([GLOBAL, api(JWT_API)], ctx, harness)
    assert (response.status, response.body) == (401, b'{ "statusCode": 401, "message": "JWT not present." }')
    assert response.headers == [("Content-Type", "application/json"), ("X-Error", "handled")]
    assert echo.received == []  # the backend and outbound were skipped
    assert ctx.last_error == LastError("validate-jwt", "TokenNotPresent", "JWT not present.", "api", "inbound", "",
                                       "check-token")
    assert ctx.steps == [
        StepRecord("validate-jwt", "api", "inbound", 4, "failed", "JWT Validation Failed: JWT not present.",
                   "the Authorization header is missing or empty: send Authorization: Bearer <access token>"),
        StepRecord("set-header", "api", "on-error", 22, "applied", "override X-Error")]


def test_a_v1_token_is_invalid_jwt_with_the_idx_reason_and_fix_in_the_step(harness: Harness, echo: Echo) -> None:
    xml = JWT_API.replace(f"<audience>{BACKEND2}</audience>", "<audience>api://contoso.onmicrosoft.com/testBackend1"
                                                              "</audience>")
    ctx = context(echo.url, headers=[("Authorization", "Bearer " + v1_token(harness))])
    response = go([GLOBAL, api(xml)], ctx, harness)
    assert (response.status, response.body) == (401, b'{ "statusCode": 401, "message": "Invalid JWT." }')
    step = ctx.steps[0]
    assert step.detail == (f"JWT Validation Failed: IDX10205: Issuer validation failed. Issuer: '{V1_ISS}'. Did not "
                           f"match: validationParameters.ValidIssuer: 'null' or validationParameters.ValidIssuers: "
                           f"'{V2_ISS}'.")
    assert step.fix.startswith(f"the token is v1 (iss {V1_ISS}) because the API's registration")
    assert ctx.last_error is not None and ctx.last_error.reason == "TokenIssuerNotAllowed"
    assert ctx.last_error.message == step.detail.removeprefix("JWT Validation Failed: ") + " Access denied."


CHECK = """<policies>
    <inbound>
        <check-header name="X-Tenant" failed-check-httpcode="403" failed-check-error-message="Wrong tenant"
                      ignore-case="{case}">
            <value>Contoso</value>
            <value>Fabrikam</value>
        </check-header>
    </inbound>
</policies>"""


@pytest.mark.parametrize(("headers", "case", "status", "reason"), [
    ([], "false", 403, "HeaderNotFound"),
    ([("X-Tenant", "contoso")], "false", 403, "HeaderValueNotAllowed"),
    ([("X-Tenant", "contoso")], "true", 200, None),
    ([("x-tenant", "Fabrikam")], "false", 200, None),
])
def test_check_header(echo: Echo, headers: list[tuple[str, str]], case: str, status: int, reason: str | None) -> None:
    ctx = context(echo.url, headers=headers)
    response = go([GLOBAL, api(CHECK.replace("{case}", case), "operation")], ctx)
    assert response.status == status
    if reason is None:
        assert ctx.last_error is None and len(echo.received) == 1
        assert ctx.steps[0] == StepRecord("check-header", "operation", "inbound", 3, "passed", "Header validated.")
        return
    assert response.body == b'{ "statusCode": 403, "message": "Wrong tenant" }' and echo.received == []
    message = ("Header X-Tenant was not found in the request. Access denied." if reason == "HeaderNotFound"
               else "Header X-Tenant does not contain required value. Access denied.")
    assert ctx.last_error == LastError("check-header", reason, message, "operation", "inbound", "", "")


def test_return_response_ends_the_pipeline_before_backend_and_outbound(echo: Echo) -> None:
    xml = """<policies>
    <inbound>
        <return-response>
            <set-status code="418" reason="I'm a teapot" />
            <set-header name="Content-Type" exists-action="override"><value>text/plain</value></set-header>
            <set-header name="X-Tea" exists-action="append"><value>green</value><value>black</value></set-header>
            <set-body>short and stout</set-body>
        </return-response>
        <set-header name="X-Never" exists-action="override"><value>x</value></set-header>
    </inbound>
    <outbound><set-header name="X-Never" exists-action="override"><value>x</value></set-header></outbound>
</policies>"""
    ctx = context(echo.url)
    response = go([GLOBAL, api(xml)], ctx)
    assert (response.status, response.reason, response.body) == (418, "I'm a teapot", b"short and stout")
    assert response.headers == [("Content-Type", "text/plain"), ("X-Tea", "green"), ("X-Tea", "black")]
    assert echo.received == [] and ctx.request.header("X-Never") is None
    assert [s.policy for s in ctx.steps] == ["set-status", "set-header", "set-header", "set-body", "return-response"]


def test_outbound_set_status_and_set_body_change_the_backends_answer(echo: Echo) -> None:
    xml = """<policies>
    <inbound><base /><set-body>sent on</set-body></inbound>
    <backend><base /></backend>
    <outbound><base /><set-status code="201" reason="Made" /><set-body>{"replaced": true}</set-body></outbound>
</policies>"""
    ctx = context(echo.url + "/", method="POST", body=b"original")
    response = go([GLOBAL, api(xml)], ctx)
    assert echo.received[0]["body"] == "sent on" and echo.received[0]["path"] == "/hello"
    assert (response.status, response.reason, response.body) == (201, "Made", b'{"replaced": true}')


def test_the_backends_error_status_passes_through_outbound(echo: Echo) -> None:
    ctx = context(echo.url, path="/echo/status/503")
    response = go([GLOBAL], ctx)
    assert response.status == 503 and echoed(response)["path"] == "/status/503" and ctx.last_error is None


def test_an_unreachable_backend_is_a_500_with_backend_connection_failure() -> None:
    url = closed_port_url()
    xml = """<policies><inbound><base /></inbound>
    <on-error><set-header name="X-Reason" exists-action="override"><value>handled</value></set-header></on-error>
</policies>"""
    ctx = context(url)
    response = go([GLOBAL, api(xml)], ctx)
    assert (response.status, response.body) == (500, b'{ "statusCode": 500, "message": "Internal server error" }')
    assert response.header("X-Reason") == "handled"
    assert ctx.last_error == LastError("forward-request", "BackendConnectionFailure",
                                       "the backend refused the connection (ConnectError)", "global", "backend", "",
                                       "")
    assert ctx.steps[0].outcome == "failed" and ctx.steps[0].detail.startswith(f"GET {url}/hello: ")


def test_a_backend_slower_than_the_timeout_is_reason_timeout(echo: Echo) -> None:
    # A listening socket that never answers: the connect succeeds and the response never comes.
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        g = parse_policy('<policies><backend><forward-request timeout="1" /></backend></policies>', scope="global")
        ctx = context(url)
        response = go([g], ctx)
    assert response.status == 500 and ctx.last_error is not None
    assert (ctx.last_error.source, ctx.last_error.reason) == ("forward-request", "Timeout")


def test_without_forward_request_nothing_is_forwarded_and_outbound_sees_an_empty_200(echo: Echo) -> None:
    xml = """<policies><inbound /><backend /><outbound>
        <set-header name="X-Out" exists-action="override"><value>1</value></set-header></outbound></policies>"""
    ctx = context(echo.url)
    response = go([GLOBAL, api(xml)], ctx)  # the API's empty <backend/> drops the global forward-request
    assert (response.status, response.body, response.headers) == (200, b"", [("X-Out", "1")])
    assert echo.received == []


def test_a_global_policy_without_backend_keeps_apims_default_forward_request(echo: Echo) -> None:
    g = parse_policy("<policies><inbound /></policies>", scope="global")
    ctx = context(echo.url)
    assert go([g], ctx).status == 200 and len(echo.received) == 1
    assert ctx.steps[0].policy == "forward-request" and ctx.steps[0].line == 0


def test_set_header_actions_on_the_request(echo: Echo) -> None:
    xml = """<policies><inbound>
        <set-header name="X-Skip" exists-action="skip"><value>new</value></set-header>
        <set-header name="X-Absent" exists-action="skip"><value>added</value></set-header>
        <set-header name="X-Append" exists-action="append"><value>b</value></set-header>
        <set-header name="X-Over" exists-action="override"><value>1</value><value>2</value></set-header>
        <set-header name="Ocp-Apim-Subscription-Key" exists-action="delete" />
        <base />
    </inbound></policies>"""
    ctx = context(echo.url, headers=[("X-Skip", "old"), ("X-Append", "a"), ("x-over", "0"), ("X-Keep", "k"),
                                     ("ocp-apim-subscription-key", "secret")])
    go([GLOBAL, api(xml)], ctx)
    assert ctx.request.headers == [("X-Skip", "old"), ("X-Append", "a"), ("X-Over", "1"), ("X-Over", "2"),
                                   ("X-Keep", "k"), ("X-Absent", "added"), ("X-Append", "b")]
    assert ctx.steps[0] == StepRecord("set-header", "api", "inbound", 2, "not applicable",
                                      "X-Skip is present (exists-action skip)")


def test_on_error_return_response_replaces_the_error_answer(harness: Harness, echo: Echo) -> None:
    xml = JWT_API.replace('<set-header name="X-Error" exists-action="override"><value>handled</value></set-header>',
                          """<return-response>
            <set-status code="403" reason="Forbidden" />
            <set-body>no entry</set-body>
        </return-response>""")
    ctx = context(echo.url)
    response = go([GLOBAL, api(xml)], ctx, harness)
    assert (response.status, response.reason, response.body, response.headers) == (403, "Forbidden", b"no entry", [])
    assert ctx.last_error is not None and ctx.last_error.reason == "TokenNotPresent"


def test_expressions_as_microsoft_writes_them_raw_quotes_and_generics_in_attributes(harness: Harness,
                                                                                     echo: Echo) -> None:
    xml = f"""<policies>
    <inbound>
        <validate-jwt header-name="Authorization" output-token-variable-name="jwt">
            <openid-config url="{V2_CONFIG}" />
        </validate-jwt>
        <set-variable name="isMobile"
            value="@(context.Request.Headers.GetValueOrDefault("User-Agent","").Contains("iPad") && true)" />
        <set-header name="X-Caller" exists-action="override">
            <value>@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("azp", "none"))</value>
            <value>@(context.Variables.GetValueOrDefault<bool>("isMobile") ? "mobile" : "desktop")</value>
        </set-header>
        <set-body>@{{ return context.Request.Method + " from " + context.Request.IpAddress; }}</set-body>
        <base />
    </inbound>
</policies>"""
    ctx = context(echo.url, headers=[("Authorization", "Bearer " + v2_token(harness)),
                                     ("User-Agent", "Mozilla (iPad)")])
    assert go([GLOBAL, api(xml)], ctx, harness).status == 200
    sent = [v for k, v in echo.received[0]["headers"] if k.lower() == "x-caller"]  # type: ignore[union-attr]
    assert ctx.variables["isMobile"] is True
    assert sent == [CLIENT, "mobile"]
    assert echo.received[0]["body"] == "GET from 127.0.0.1"
    assert ctx.steps[2].detail == f"override X-Caller: {CLIENT}, mobile"


def test_an_expression_that_throws_is_expression_value_evaluation_failure(echo: Echo) -> None:
    xml = """<policies>
    <inbound>
        <choose>
            <when condition="@(context.Request.Method == &quot;GET&quot;)">
                <set-header name="X-Sub" exists-action="override" id="sub-header">
                    <value>@(context.Subscription.Name)</value>
                </set-header>
            </when>
        </choose>
    </inbound>
    <on-error>
        <set-header name="X-Why" exists-action="override"><value>@(context.LastError.Message)</value></set-header>
    </on-error>
</policies>"""
    ctx = context(echo.url)
    response = go([GLOBAL, api(xml)], ctx)
    assert (response.status, response.body) == (500, b'{ "statusCode": 500, "message": "Internal server error" }')
    message = "Expression evaluation failed. Object reference not set to an instance of an object."
    assert ctx.last_error == LastError("set-header", "ExpressionValueEvaluationFailure", message, "api", "inbound",
                                       "choose[1]/when[1]", "sub-header")
    assert response.header("X-Why") == message and echo.received == []
