"""Policy documents as the APIM portal exports them: parsed into typed statements, composed through <base/>,
and everything mockidp does not run refused at parse time with line, element and why, all at once."""

from __future__ import annotations

import pytest

from mockidp.apim.policy import (
    MAX_POLICY_BYTES,
    Base,
    CheckHeader,
    ForwardRequest,
    KeySpec,
    PolicyDocument,
    PolicyError,
    RequiredClaim,
    ReturnResponse,
    SetHeader,
    SetStatus,
    TokenSource,
    ValidateJwt,
    compose,
    parse_policy,
)

GLOBAL = """<!--
    - Policies are applied in the order they appear.
-->
<policies>
    <inbound>
        <set-header name="X-Global" exists-action="override">
            <value>g</value>
        </set-header>
    </inbound>
    <backend>
        <forward-request />
    </backend>
    <outbound />
    <on-error />
</policies>"""

API = """<policies>
    <inbound>
        <base />
        <validate-jwt header-name="Authorization" failed-validation-httpcode="401"
                      failed-validation-error-message="Unauthorized" require-expiration-time="true"
                      require-scheme="Bearer" require-signed-tokens="true" clock-skew="30"
                      output-token-variable-name="jwt" id="jwt-check">
            <openid-config url="https://login.microsoftonline.com/{{tenant}}/v2.0/.well-known/openid-configuration" />
            <issuer-signing-keys>
                <key id="k1" n="sXch" e="AQAB" />
                <key certificate-id="my-cert" />
                <key>c2VjcmV0</key>
            </issuer-signing-keys>
            <audiences>
                <audience>api://backend</audience>
            </audiences>
            <issuers>
                <issuer>https://login.microsoftonline.com/{{tenant}}/v2.0</issuer>
            </issuers>
            <required-claims>
                <claim name="roles" match="any" separator=",">
                    <value>Data.Read</value>
                    <value>Data.Write</value>
                </claim>
                <claim name="azp" />
            </required-claims>
        </validate-jwt>
        <check-header name="X-Tenant" failed-check-httpcode="403" failed-check-error-message="Wrong tenant"
                      ignore-case="true">
            <value>contoso</value>
        </check-header>
    </inbound>
    <backend>
        <base />
    </backend>
    <outbound>
        <set-header name="X-Powered-By" exists-action="delete" />
        <base />
    </outbound>
    <on-error>
        <base />
        <return-response>
            <set-status code="500" reason="Oops" />
            <set-header name="Content-Type" exists-action="override"><value>text/plain</value></set-header>
            <set-body>went wrong</set-body>
        </return-response>
    </on-error>
</policies>"""


def test_an_exported_api_policy_parses_into_typed_statements() -> None:
    doc = parse_policy(API, scope="api", source="api.xml", named_values={"tenant": "contoso.onmicrosoft.com"})
    inbound = doc.sections["inbound"]
    assert inbound[0] == Base(3, None)
    jwt = inbound[1]
    assert jwt == ValidateJwt(
        4, "jwt-check", TokenSource("header", "Authorization"), 401, "Unauthorized", True, "Bearer", True, 30, "jwt",
        (inbound[1].openid_configs[0],),  # type: ignore[attr-defined]
        (KeySpec("k1", None, "sXch", "AQAB", None), KeySpec(None, "my-cert", None, None, None),
         KeySpec(None, None, None, None, b"secret")),
        ("api://backend",), ("https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0",),
        (RequiredClaim("roles", "any", ",", ("Data.Read", "Data.Write")), RequiredClaim("azp", "all", None, ())))
    assert jwt.openid_configs[0].url == \
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
    assert inbound[2] == CheckHeader(28, None, "X-Tenant", 403, "Wrong tenant", True, ("contoso",))
    assert doc.sections["outbound"] == (SetHeader(37, None, "X-Powered-By", "delete", ()), Base(38, None))
    response = doc.sections["on-error"][1]
    assert isinstance(response, ReturnResponse)
    assert response.status == SetStatus(43, None, 500, "Oops") and response.body is not None
    assert response.body.text == "went wrong" and response.headers[0].values == ("text/plain",)


def _docs() -> list[PolicyDocument]:
    g = parse_policy(GLOBAL, scope="global", source="global.xml")
    product = parse_policy("""<policies><inbound><set-header name="X-Product"><value>p</value></set-header><base/>
        </inbound><outbound><base/></outbound></policies>""", scope="product", source="product.xml")
    api = parse_policy(API, scope="api", source="api.xml", named_values={"tenant": "t"})
    op = parse_policy("""<policies><inbound><base/><set-header name="X-Op"><value>o</value></set-header></inbound>
        <backend><base/></backend><outbound><base/></outbound><on-error/></policies>""", scope="operation")
    return [g, product, api, op]


def test_base_composes_global_product_api_operation_in_place() -> None:
    effective = compose(_docs())
    inbound = [(p.scope, type(p.statement).__name__, getattr(p.statement, "name", "")) for p in effective["inbound"]]
    assert inbound == [("product", "SetHeader", "X-Product"), ("global", "SetHeader", "X-Global"),
                       ("api", "ValidateJwt", ""), ("api", "CheckHeader", "X-Tenant"),
                       ("operation", "SetHeader", "X-Op")]
    assert [(p.scope, type(p.statement)) for p in effective["backend"]] == [("global", ForwardRequest)]
    # The product has no <backend>: it inherits the global one (the API's <base/> reaches it).
    assert [p.scope for p in effective["outbound"]] == ["api"]  # the global outbound is empty
    assert effective["on-error"] == ()  # the operation's empty <on-error/> drops every parent's


def test_removing_base_drops_the_parents_policies() -> None:
    g, _, api, _ = _docs()
    op = parse_policy("<policies><inbound/></policies>", scope="operation")
    assert compose([g, api, op])["inbound"] == ()
    assert [p.scope for p in compose([g, api])["inbound"]] == ["global", "api", "api"]


def test_compose_refuses_scopes_out_of_order() -> None:
    g, _, api, _ = _docs()
    with pytest.raises(ValueError, match="broad to narrow"):
        compose([api, g])


def test_unsupported_element_and_expression_are_refused_with_their_lines_all_at_once() -> None:
    xml = """<policies>
    <inbound>
        <base />
        <send-request mode="new" response-variable-name="r" />
        <validate-jwt header-name="Authorization" failed-validation-error-message="@(context.Variables[&quot;x&quot;])">
            <openid-config url="https://x/.well-known/openid-configuration" />
        </validate-jwt>
        <set-header name="X-Who" exists-action="override">
            <value>@(context.Request.Body.As<string>())</value>
        </set-header>
        <frobnicate />
    </inbound>
</policies>"""
    with pytest.raises(PolicyError) as caught:
        parse_policy(xml, source="api.xml")
    lines = [str(p) for p in caught.value.problems]
    assert [(p.line, p.element) for p in caught.value.problems] == [
        (4, "send-request"), (5, "validate-jwt"), (9, "value"), (11, "frobnicate")]
    assert lines[0].startswith("api.xml:4: <send-request>: <send-request> is an APIM policy mockidp "
                               "does not run yet; refused rather than skipped")
    assert lines[1].startswith("api.xml:5: <validate-jwt>: attribute 'failed-validation-error-message': mockidp "
                               "does not run policy expressions (@(...), @{...}) here, and refuses them rather than "
                               "running the policy without them; write a literal value or a {{named value}}.")
    assert lines[2] == ("api.xml:9: <value>: text: expression '@(context.Request.Body.As<string>())' is outside "
                        "mockidp's subset at column 19: IRequest.Body is not supported by mockidp (supported: "
                        "Headers, IpAddress, Method, OriginalUrl, Url)")
    assert "is not an APIM policy mockidp knows" in lines[3]


def test_a_block_with_more_than_a_return_is_refused() -> None:
    xml = """<policies><inbound><return-response><set-body>@{
        var x = "x";
        return x;
    }</set-body></return-response></inbound></policies>"""
    with pytest.raises(PolicyError, match=r"policy\.xml:1: <set-body>: text: expression .* is outside mockidp's "
                                          r"subset at column 3: a @\{\.\.\.\} block must be exactly `return "
                                          r"<expression>;`"):
        parse_policy(xml)


@pytest.mark.parametrize(("inner", "line", "element", "message"), [
    ('<validate-jwt header-name="A" query-parameter-name="q"><openid-config url="u"/></validate-jwt>', 1,
     "validate-jwt", "exactly one of header-name, query-parameter-name and token-value must be set (2 are)"),
    ('<validate-jwt header-name="A" frob="1"><openid-config url="u"/></validate-jwt>', 1, "validate-jwt",
     "attribute 'frob' is not supported by mockidp on <validate-jwt>"),
    ('<validate-jwt header-name="A" require-scheme="Bearer" require-signed-tokens="yes"><openid-config url="u"/>'
     '</validate-jwt>', 1, "validate-jwt", "attribute 'require-signed-tokens' must be true or false, not 'yes'"),
    ('<validate-jwt header-name="A"><audiences><audience>a</audience></audiences><openid-config url="u"/>'
     '</validate-jwt>', 1, "openid-config", "out of order or repeated"),
    ('<validate-jwt header-name="A"><openid-config url="u"/>\n<decryption-keys><key certificate-id="c">c2VjcmV0'
     '</key></decryption-keys></validate-jwt>', 2, "key", "a decryption <key> is exactly one of"),
    ('<validate-jwt header-name="A"><openid-config url="u"/><decryption-keys/></validate-jwt>', 1,
     "decryption-keys", "<decryption-keys> holds no <key>"),
    ('<validate-jwt header-name="A"/>', 1, "validate-jwt", "no signing keys"),
    ('<validate-jwt header-name="A"><issuer-signing-keys><key n="abc"/></issuer-signing-keys></validate-jwt>', 1,
     "key", "n and e go together"),
    ('<validate-jwt header-name="A"><openid-config url="u"/><required-claims><claim name="r" match="some"/>'
     '</required-claims></validate-jwt>', 1, "claim", "match must be all or any"),
    ('<validate-jwt header-name="A" clock-skew="-5"><openid-config url="u"/></validate-jwt>', 1, "validate-jwt",
     "attribute 'clock-skew' must be a whole number"),
    ('<check-header name="X" failed-check-httpcode="401" />', 1, "check-header",
     "attribute 'failed-check-error-message' is required"),
    ('<set-header name="X">{{nowhere}}</set-header>', 1, "set-header", "text is not allowed here"),
    ('<set-header name="X"><value>{{nowhere}}</value></set-header>', 1, "value",
     "named value {{nowhere}} is not defined"),
    ('<set-body template="liquid">x</set-body>', 1, "set-body", "attribute 'template' is not supported"),
    ('<rate-limit calls="5" renewal-period="60"><api name="x" calls="1" renewal-period="1"/></rate-limit>', 1,
     "api", "<api> is not allowed inside <rate-limit>"),
    ('<rate-limit-by-key calls="5" renewal-period="301" counter-key="k" />', 1, "rate-limit-by-key",
     "attribute 'renewal-period' must be a whole number from 1 to 300"),
    ('<set-backend-service base-url="http://a" backend-id="b" />', 1, "set-backend-service",
     "exactly one of base-url and backend-id must be set"),
    ('<choose><otherwise/></choose>', 1, "otherwise", "<choose> holds one or more <when"),
    ('<choose><when condition="@(context.Request.Method)"/></choose>', 1, "when",
     "attribute 'condition': the expression must give a bool, not string"),
    ('<choose><when condition="true"/></choose>', 1, "when", "condition must be a policy expression"),
    ('<choose><when condition="@(true)"><base/></when></choose>', 1, "base",
     "<base/> stands only directly in a section"),
    ('<cors allow-credentials="true"><allowed-origins><origin>*</origin></allowed-origins></cors>', 1, "cors",
     "cannot go with <origin>*</origin>"),
    ('<set-variable name="v" value="@(context.Request.Headers)" />', 1, "set-variable",
     "a variable holds"),
])
def test_each_malformed_statement_is_refused(inner: str, line: int, element: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(f"<policies><inbound>{inner}</inbound></policies>")
    assert any(p.line == line and p.element == element and message in p.message for p in caught.value.problems), \
        caught.value.problems


def test_a_policy_outside_its_sections_is_refused() -> None:
    xml = """<policies>
    <inbound><forward-request /></inbound>
    <outbound><validate-jwt header-name="A"><openid-config url="u"/></validate-jwt></outbound>
    <on-error><set-body>x</set-body><base/><base/></on-error>
</policies>"""
    with pytest.raises(PolicyError) as caught:
        parse_policy(xml)
    assert [str(p) for p in caught.value.problems] == [
        "policy.xml:2: <forward-request>: <forward-request> is not allowed in <inbound> (only in backend)",
        "policy.xml:3: <validate-jwt>: <validate-jwt> is not allowed in <outbound> (only in inbound)",
        "policy.xml:4: <set-body>: <set-body> is not allowed in <on-error> (only in inbound, backend, outbound)",
        "policy.xml:4: <base>: <base/> appears more than once in <on-error>",
    ]


def test_a_named_value_holding_an_expression_is_compiled_and_refused_outside_the_subset() -> None:
    xml = '<policies><inbound><set-header name="X"><value>{{v}}</value></set-header></inbound></policies>'
    with pytest.raises(PolicyError, match=r"'@\(context.RequestId\)' is outside mockidp's subset at column 11: "
                                          r"context.RequestId is not supported"):
        parse_policy(xml, named_values={"v": "@(context.RequestId)"})
    jwt = '<policies><inbound><validate-jwt header-name="{{v}}"><openid-config url="u"/></validate-jwt></inbound>' \
          '</policies>'
    with pytest.raises(PolicyError, match="the named value holds a policy expression"):
        parse_policy(jwt, named_values={"v": "@(context.Request.Method)"})
    doc = parse_policy(xml, named_values={"v": "plain"})
    assert doc.sections["inbound"] == (SetHeader(1, None, "X", "override", ("plain",)),)


def test_the_document_must_be_policies_with_sections() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("<policies>\n<inbound/>\n<inbound/>\n<preflight/></policies>")
    assert [(p.line, p.message) for p in caught.value.problems] == [
        (3, "section <inbound> appears twice"),
        (4, "<preflight> is not a policy section (inbound, backend, outbound, on-error)")]
    with pytest.raises(PolicyError, match="the document element must be <policies>"):
        parse_policy("<policy/>")
    with pytest.raises(PolicyError, match=r"policy\.xml:2: <policies>: not well-formed XML"):
        parse_policy("<policies>\n<inbound></policies>")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<policies><inbound><set-header name="X"><value>&lol3;</value></set-header></inbound></policies>"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE policies [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<policies><inbound><set-header name="X"><value>&xxe;</value></set-header></inbound></policies>"""
DTD_ONLY = """<?xml version="1.0"?>
<!DOCTYPE policies SYSTEM "http://localhost/evil.dtd">
<policies/>"""


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, EXTERNAL, DTD_ONLY], ids=["billion-laughs", "xxe", "dtd"])
def test_dtds_and_entities_are_refused(xml: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(xml)
    (problem,) = caught.value.problems
    assert problem.line == 2 and "DTDForbidden" in problem.message


def test_an_oversized_document_is_refused_before_parsing() -> None:
    xml = "<policies><inbound>" + "<base/>" * (MAX_POLICY_BYTES // 7) + "</inbound></policies>"
    with pytest.raises(PolicyError, match=f"mockidp reads at most {MAX_POLICY_BYTES}"):
        parse_policy(xml)


def test_an_undefined_entity_is_refused() -> None:
    with pytest.raises(PolicyError, match="not well-formed XML: undefined entity"):
        parse_policy("<policies><inbound><set-body>&nope;</set-body></inbound></policies>")


def test_a_document_full_of_expressions_parses_in_linear_time() -> None:
    import time

    one = '<set-header name="X" exists-action="append"><value>@(context.Request.Method + "&&")</value></set-header>'
    xml = "<policies><inbound>" + "<!-- c -->" + one * (MAX_POLICY_BYTES // len(one) - 1) + "</inbound></policies>"
    started = time.monotonic()
    doc = parse_policy(xml)
    assert len(doc.sections["inbound"]) == MAX_POLICY_BYTES // len(one) - 1
    assert time.monotonic() - started < 20


def test_unbalanced_expressions_fall_to_the_xml_parser() -> None:
    with pytest.raises(PolicyError, match="not well-formed XML"):
        parse_policy('<policies><inbound><set-variable name="v" value="@(("a" < "b")" /></inbound></policies>')


def test_one_odd_expression_does_not_stop_the_escaping_of_the_next() -> None:
    xml = """<policies><inbound>
        <set-header name="A" exists-action="override"><value>@(context.Request.Method + ")")</value></set-header>
        <set-variable name="v" value=" @(context.Request.Headers.GetValueOrDefault("X", "")) " />
        <set-variable name="w" value="@(context.Variables.GetValueOrDefault<string>("v", "") == "y")" />
    </inbound></policies>"""
    doc = parse_policy(xml)
    assert [type(s).__name__ for s in doc.sections["inbound"]] == ["SetHeader", "SetVariable", "SetVariable"]
