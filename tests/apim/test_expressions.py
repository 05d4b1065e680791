"""The policy-expression subset: compiled at load into a typed tree, evaluated against a runtime Context
with .NET's answers, and everything outside the subset refused with its column and why."""

from __future__ import annotations

import pytest

from mockidp.apim.expressions import EvaluationFailure, ExpressionError, compile_expression
from mockidp.apim.jwt_claims import Jwt
from mockidp.apim.runtime import Api, Context, GatewayRequest, GatewayResponse, LastError, Operation, Subscription

JWT = Jwt.of({"alg": "RS256", "typ": "JWT"}, {"aud": "api://b", "azp": "client-1", "sub": "subject-1",
                                              "roles": ["Data.Read", "Data.Write"], "iss": "https://issuer/v2.0"})


def ctx() -> Context:
    request = GatewayRequest([("X-User", "alice"), ("Accept", "a/b"), ("accept", "c/d"), ("X-Empty", "")], b"",
                             "POST", "https", "contoso.azure-api.net", "/echo/items/7", [("q", "1"), ("q", "2"),
                                                                                         ("name", "x y")], "10.1.2.3")
    c = Context(request, Api("echo-api", "Echo API", "echo", "http://fn"), Operation("get-item", "Get item", "GET",
                                                                                     "/items/{id}"),
                Subscription("sub-1", "Starter", "k-primary", "k-primary", "k-secondary", True), "http://fn")
    c.variables.update({"jwt": JWT, "who": "bob", "n": 42, "flag": True, "none": None})
    c.last_error = LastError("validate-jwt", "TokenExpired", "IDX10223: expired.", "api", "inbound",
                             "choose[1]/when[1]", "jwt-check")
    c.response = GatewayResponse([("Content-Type", "text/plain")], b"", 503, "Unavailable")
    return c


@pytest.mark.parametrize(("expression", "value"), [
    ('@(context.Request.Headers.GetValueOrDefault("x-user", "none"))', "alice"),
    ('@(context.Request.Headers.GetValueOrDefault("Missing", "none"))', "none"),
    ('@(context.Request.Headers.GetValueOrDefault("Missing"))', None),
    ('@(context.Request.Headers.GetValueOrDefault("Accept", ""))', "a/b,c/d"),
    ('@(context.Request.Headers["Accept"][1])', "c/d"),
    ('@(context.Request.Headers["Accept"].Length)', 2),
    ('@(context.Request.Headers.ContainsKey("X-User"))', True),
    ("@(context.Request.IpAddress)", "10.1.2.3"),
    ("@(context.Request.Method)", "POST"),
    ("@(context.Request.Url.Path)", "/echo/items/7"),
    ("@(context.Request.Url.Host)", "contoso.azure-api.net"),
    ("@(context.Request.Url.Port)", 443),
    ("@(context.Request.Url.QueryString)", "?q=1&q=2&name=x%20y"),
    ('@(context.Request.Url.Query.GetValueOrDefault("q", ""))', "1,2"),
    ('@(context.Request.Url.Query["name"][0])', "x y"),
    ("@(context.Request.OriginalUrl.Path)", "/echo/items/7"),
    ('@(context.Variables["who"])', "bob"),
    ('@((string)context.Variables["who"] == "bob")', True),
    ('@(context.Variables.GetValueOrDefault<string>("who", "nobody"))', "bob"),
    ('@(context.Variables.GetValueOrDefault<string>("absent", "nobody"))', "nobody"),
    ('@(context.Variables.GetValueOrDefault<int>("absent"))', 0),
    ('@(context.Variables.GetValueOrDefault<int>("n") > 41)', True),
    ('@(context.Variables.GetValueOrDefault<bool>("flag") && !false)', True),
    ('@(context.Variables.ContainsKey("jwt"))', True),
    ('@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("azp", ""))', "client-1"),
    ('@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("roles", ""))', "Data.Read,Data.Write"),
    ('@(((Jwt)context.Variables["jwt"]).Claims["roles"].Contains("Data.Write"))', True),
    ('@(((Jwt)context.Variables["jwt"]).Subject)', "subject-1"),
    ('@(((Jwt)context.Variables["jwt"]).Audiences.Contains("api://b"))', True),
    ('@(context.Variables.GetValueOrDefault<Jwt>("jwt").Issuer)', "https://issuer/v2.0"),
    ("@(context.Subscription.Id + \"/\" + context.Subscription.Name + \"/\" + context.Subscription.Key)",
     "sub-1/Starter/k-primary"),
    ("@(context.LastError.Source + \" \" + context.LastError.Reason)", "validate-jwt TokenExpired"),
    ("@(context.LastError.Message)", "IDX10223: expired."),
    ("@(context.LastError.Scope + context.LastError.Section + context.LastError.Path + context.LastError.PolicyId)",
     "apiinboundchoose[1]/when[1]jwt-check"),
    ("@(context.Api.Name)", "Echo API"),
    ("@(context.Operation.Name)", "Get item"),
    ("@(context.Response.StatusCode == 503)", True),
    ('@("a" != "b" ? 1 : 2)', 1),
    ("@(1 < 2 && 2 > 1 || false)", True),
    ("@(!(1 == 1))", False),
    ("@(-3 + 5)", 2),
    ("@(2147483647 + 1)", -2147483648),
    ('@(" Mixed Case ".Trim().ToLower())', "mixed case"),
    ('@("abc".ToUpper())', "ABC"),
    ('@("Bearer xyz".StartsWith("Bearer "))', True),
    ('@("file.json".EndsWith(".json"))', True),
    ('@("a,b,c".Contains(",b,"))', True),
    ('@("a,b,c".Split(\',\')[2])', "c"),
    ('@("a::b".Split("::").Length)', 2),
    ('@("Bearer xyz".Substring(7))', "xyz"),
    ('@("abcdef".Substring(1, 3))', "bcd"),
    ('@("a-b-c".Replace("-", "+"))', "a+b+c"),
    ('@("four".Length)', 4),
    ('@(String.IsNullOrEmpty(context.Request.Headers.GetValueOrDefault("X-Empty", "")))', True),
    ('@(string.IsNullOrEmpty("x"))', False),
    ("@(42.ToString() + true.ToString())", "42True"),
    ('@(int.Parse("12") + 1)', 13),
    ('@(context.Request.Headers.GetValueOrDefault("Missing") ?? "fallback")', "fallback"),
    ('@(context.Variables["none"] == null)', True),
    ('@{ return context.Request.Method == "POST" ? "write" : "read"; }', "write"),
    ('@{\n    return "multi-line";\n}', "multi-line"),
    ('@("quote \\" and \\\\ escaped")', 'quote " and \\ escaped'),
])
def test_an_expression_of_the_subset_gives_what_dotnet_gives(expression: str, value: object) -> None:
    assert compile_expression(expression).evaluate(ctx()) == value


def test_text_is_dotnet_tostring() -> None:
    assert compile_expression("@(1 == 1)").text(ctx()) == "True"
    assert compile_expression('@(context.Request.Headers.GetValueOrDefault("Missing"))').text(ctx()) == ""
    assert compile_expression("@(context.Variables[\"n\"])").text(ctx()) == "42"


@pytest.mark.parametrize(("expression", "message"), [
    ('@(context.Request.Headers["Missing"][0])', "The given key 'Missing' was not present in the dictionary."),
    ('@(context.Variables["absent"])', "The given key 'absent' was not present in the dictionary."),
    ('@((string)context.Variables["n"])', "Unable to cast object of type 'System.Int32' to type 'System.String'."),
    ('@(((Jwt)context.Variables["who"]).Subject)', "Unable to cast object of type 'System.String' to type "
                                                   "'Microsoft.Azure.ApiManagement.Policies.Expressions.Jwt'."),
    ('@(context.Request.Headers.GetValueOrDefault("Missing").Length)',
     "Object reference not set to an instance of an object."),
    ('@(context.Request.Headers["Accept"][5])', "Index was outside the bounds of the array."),
    ('@("abc".Substring(4))', "startIndex cannot be larger than length of string. (Parameter 'startIndex')"),
    ('@("abc".Substring(1, 5))', "Index and length must refer to a location within the string. (Parameter "
                                 "'length')"),
    ('@(int.Parse("1.5"))', "The input string '1.5' was not in a correct format."),
    ('@("abc".Replace("", "x"))', "The value cannot be an empty string. (Parameter 'oldValue')"),
])
def test_what_dotnet_throws_is_an_evaluation_failure(expression: str, message: str) -> None:
    compiled = compile_expression(expression)
    with pytest.raises(EvaluationFailure) as caught:
        compiled.evaluate(ctx())
    assert str(caught.value) == message


def test_a_null_subscription_is_a_null_reference() -> None:
    c = ctx()
    c.subscription = None
    with pytest.raises(EvaluationFailure, match="Object reference not set"):
        compile_expression("@(context.Subscription.Id)").evaluate(c)


@pytest.mark.parametrize(("expression", "column", "message"), [
    ("@(context.RequestId)", 11, "context.RequestId is not supported by mockidp (supported: Api, LastError, "
                                 "Operation, Request, Response, Subscription, Variables)"),
    ('@(context.Request.Headers.GetValueOrDefault("a", "b", "c"))', 27,
     "GetValueOrDefault(string, string, string) does not fit GetValueOrDefault(string) or "
     "GetValueOrDefault(string, string)"),
    ("@(DateTime.UtcNow)", 3, "'DateTime' is not supported: an expression starts from context, a literal, "
                              "String.IsNullOrEmpty or int.Parse"),
    ('@(context.Variables["x"] == "y")', 26, "== between object and string compares references in C#: cast the "
                                             "variable first, e.g. (string)context.Variables[\"x\"]"),
    ('@(1 == "1")', 5, "== cannot compare int with string"),
    ('@("a" && true)', 7, "&& needs bool, not string"),
    ('@("a" < "b")', 7, "< needs int, not string"),
    ("@(true ? 1 : \"x\")", 8, "the branches of ?: have different types (int and string)"),
    ('@(context.Request.Method.Length())', 26, "Length is a property, not a method"),
    ('@("x".ToLower)', 7, "ToLower is a method: call it with (...)"),
    ('@(context.Variables.GetValueOrDefault("x"))', 21,
     "write GetValueOrDefault<T>(...) with the type: string, int, bool or Jwt"),
    ('@(context.Variables.GetValueOrDefault<double>("x"))', 39,
     "GetValueOrDefault<double> is not supported (string, int, bool, Jwt)"),
    ('@((Jwt)context.Request.Method)', 4, "cannot cast string to Jwt"),
    ("@(context.Request.Headers.Where(h => true))", 27, "IHeaders.Where is not supported by mockidp (supported: "
                                                       "ContainsKey, GetValueOrDefault)"),
    ("@(1.5)", 3, "only whole int literals are supported"),
    ('@(@"verbatim")', 3, 'verbatim strings (@"...") are not supported'),
    ('@("open)', 3, "the string literal is not closed"),
    ("@(1 + )", 7, "expected a value, found ')'"),
    ("@(1) + 2", 6, "unexpected '+' after the expression"),
    ("@{ if (true) { return 1; } return 2; }", 3, "a @{...} block must be exactly `return <expression>;`"),
    ("@{ return 1 }", 3, "a @{...} block must be exactly `return <expression>;`"),
    ("@{ return 1; return 2; }", 14, "a @{...} block must end after its return statement"),
    ("@(context.Request.Headers)", None, None),  # compiles (refused only where a text is wanted, by the parser)
])
def test_outside_the_subset_is_refused_with_column_and_why(expression: str, column: int | None,
                                                           message: str | None) -> None:
    if message is None:
        assert compile_expression(expression).type == "IHeaders"
        return
    with pytest.raises(ExpressionError) as caught:
        compile_expression(expression)
    assert caught.value.column == column and str(caught.value).startswith(message), (caught.value.column,
                                                                                     str(caught.value))


def test_nesting_is_bounded() -> None:
    with pytest.raises(ExpressionError, match="nests deeper than 64 levels"):
        compile_expression("@(" + "(" * 200 + "1" + ")" * 200 + ")")
    with pytest.raises(ExpressionError, match="longer than 8192 characters"):
        compile_expression("@(" + "1 + " * 3000 + "1)")


def test_a_long_flat_chain_is_refused_at_load_not_at_run_time() -> None:
    with pytest.raises(ExpressionError, match="more than 256 operations deep"):
        compile_expression("@(" + " + ".join(["1"] * 1000) + ")")
    assert compile_expression("@(" + " + ".join(["1"] * 200) + ")").evaluate(ctx()) == 200
