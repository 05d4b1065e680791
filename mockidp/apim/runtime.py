"""A composed APIM policy run against one request: inbound, backend, outbound, and on-error on a failure.

Framework-free: the gateway edge (web/) turns an HTTP request into a GatewayRequest, gives a Backend that
sends OutgoingRequests, and writes the GatewayResponse that run() returns. What the runtime does where
APIM's behaviour is not documented: docs/apim.md#choices-not-confirmed-against-apim.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol
from urllib.parse import quote

from mockidp.apim.expressions import EvaluationFailure, Expression, to_text
from mockidp.apim.jws import MalformedToken, split
from mockidp.apim.policy import (
    CheckHeader,
    Choose,
    Cors,
    ExistsAction,
    ForwardRequest,
    IpFilter,
    OpenIdConfig,
    Placed,
    RateLimit,
    ReturnResponse,
    RewriteUri,
    Scope,
    Section,
    SetBackendService,
    SetBody,
    SetHeader,
    SetMethod,
    SetQueryParameter,
    SetStatus,
    SetVariable,
    Statement,
    Text,
    Trace,
    ValidateAzureAdToken,
    ValidateJwt,
)
from mockidp.apim.uri_template import UrlTemplate, expand
from mockidp.apim.validate_jwt import (
    INVALID,
    V1_ISSUER_PREFIX,
    DiscoverySource,
    DiscoveryUnavailable,
    Failed,
    Jwt,
    Passed,
    Request,
    apim_body,
    validate_jwt,
)

JSON = "application/json"
# The body APIM's gateway answers when the pipeline fails with no policy answer of its own (a backend it
# cannot reach, an expression that throws) and on-error leaves the response alone.
INTERNAL_ERROR = "Internal server error"
# Hop-by-hop headers (RFC 9110 7.6.1) are the connection's, not the message's: never forwarded as such.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                        "upgrade", "proxy-authenticate", "proxy-authorization", "host", "content-length"})


# --- messages ---------------------------------------------------------------------------------------

@dataclass(slots=True)
class Message:
    """A request or response as the policies see and change it."""

    headers: list[tuple[str, str]]  # in order, repeats kept; names compared case-insensitively
    body: bytes

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header(self, name: str) -> str | None:
        """All values of a header comma-joined, as APIM's Headers.GetValueOrDefault gives them."""
        values = self.header_values(name)
        return ",".join(values) if values else None

    def remove_header(self, name: str) -> None:
        self.headers[:] = [(k, v) for k, v in self.headers if k.lower() != name.lower()]

    def replace_header(self, name: str, values: Sequence[str]) -> None:
        """The header's values become `values`, standing where its first occurrence stood."""
        replace_pairs(self.headers, name, values, ignore_case=True)


def replace_pairs(pairs: list[tuple[str, str]], name: str, values: Sequence[str], *, ignore_case: bool) -> None:
    def same(k: str) -> bool:
        return k.lower() == name.lower() if ignore_case else k == name
    at = next((i for i, (k, _) in enumerate(pairs) if same(k)), len(pairs))
    rest = [(k, v) for k, v in pairs[at:] if not same(k)]
    pairs[:] = [*pairs[:at], *((name, v) for v in values), *rest]


@dataclass(slots=True)
class GatewayRequest(Message):
    method: str
    scheme: str
    host: str
    path: str  # as received, e.g. /echo/hello
    query: list[tuple[str, str]]
    ip: str
    # context.Request.OriginalUrl: the path and query as received, before rewrite-uri and
    # set-query-parameter; filled from path and query when not given.
    original_path: str = ""
    original_query: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.original_path:
            self.original_path = self.path
            self.original_query = tuple(self.query)


@dataclass(slots=True)
class GatewayResponse(Message):
    status: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Subscription:
    """context.Subscription; None when the API needs none."""

    id: str
    name: str
    key: str  # the key the request presented
    primary_key: str
    secondary_key: str
    allow_tracing: bool


@dataclass(slots=True)
class Api:
    """context.Api as APIM names it."""

    id: str
    name: str
    path: str  # the API URL suffix, without slashes at either end ("echo")
    service_url: str


@dataclass(slots=True)
class Operation:
    id: str
    name: str
    method: str
    url_template: str


@dataclass(slots=True)
class OutgoingRequest:
    """What forward-request sends: the backend URL already resolved, query included."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    timeout: float
    follow_redirects: bool


class BackendError(Exception):
    """The backend could not be reached or did not answer in time: forward-request's failure."""

    def __init__(self, reason: str, *, timeout: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timeout = timeout


class Backend(Protocol):
    async def __call__(self, request: OutgoingRequest) -> GatewayResponse: ...


class RateLimiter(Protocol):
    def hit(self, key: str, *, calls: int, period: int, now: float, increment: int = 1) -> float | None:
        """Count `increment` calls under `key` (0: only check): None when allowed, else the seconds until
        one is allowed again (a refused call is not counted)."""
        ...


@dataclass(frozen=True, slots=True)
class BackendService:
    """A backend entity (`backends:` of the seed): its URL and the credentials APIM adds when forwarding
    to it, such as the x-functions-key header a Function App import creates."""

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class LastError:
    """context.LastError, as APIM sets it before on-error runs."""

    source: str  # the policy element, or "configuration", "forward-request", ...
    reason: str
    message: str
    scope: Scope | str
    section: Section | str
    path: str  # the nesting path, e.g. "choose[3]/when[2]"; empty for a statement of the section itself
    policy_id: str  # the element's id attribute, empty without one


@dataclass(slots=True)
class StepRecord:
    """One statement's outcome, for the decision trace."""

    policy: str  # element name, e.g. "validate-jwt"
    scope: str  # global | product | api | operation
    section: str  # inbound | backend | outbound | on-error
    line: int
    outcome: str  # "passed" | "failed" | "not applicable" | "applied"
    detail: str = ""
    fix: str = ""


@dataclass(slots=True)
class Context:
    request: GatewayRequest
    api: Api
    operation: Operation
    subscription: Subscription | None
    backend_url: str  # starts as api.service_url (or a backend's url); set-backend-service changes it
    variables: dict[str, object] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)
    last_error: LastError | None = None
    response: GatewayResponse | None = None
    # The credentials of the backend entity forwarded to (BackendService.headers/query): the gateway
    # sets them when the API's backend is an entity; set-backend-service backend-id replaces them.
    backend_headers: list[tuple[str, str]] = field(default_factory=list)
    backend_query: list[tuple[str, str]] = field(default_factory=list)



# --- control flow -----------------------------------------------------------------------------------

class _Returned(Exception):
    """return-response (or a cors preflight): the pipeline ends here with ctx.response."""


class _Failure(Exception):
    """A policy failed: the rest is skipped, on-error runs with `error` and `response`."""

    def __init__(self, error: LastError, response: GatewayResponse) -> None:
        super().__init__(error.message)
        self.error = error
        self.response = response


def error_response(status: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> GatewayResponse:
    """A gateway-made answer in APIM's single-line JSON layout."""
    return GatewayResponse([("Content-Type", JSON), *headers], apim_body(status, message).encode(), status)


@dataclass(frozen=True, slots=True)
class _Where:
    scope: Scope
    section: Section
    path: str  # LastError.Path: where inside choose the statement stands


_NAMES: dict[type[Statement], str] = {
    ValidateJwt: "validate-jwt", CheckHeader: "check-header", SetHeader: "set-header", SetStatus: "set-status",
    SetBody: "set-body", ReturnResponse: "return-response", ForwardRequest: "forward-request",
    SetQueryParameter: "set-query-parameter", SetVariable: "set-variable", SetBackendService: "set-backend-service",
    RewriteUri: "rewrite-uri", Choose: "choose", Cors: "cors", ValidateAzureAdToken: "validate-azure-ad-token",
    SetMethod: "set-method", Trace: "trace", IpFilter: "ip-filter",
}


def policy_name(statement: Statement) -> str:
    if isinstance(statement, RateLimit):
        return "rate-limit-by-key" if statement.counter_key is not None else "rate-limit"
    return _NAMES.get(type(statement), type(statement).__name__)


def _apply(pairs: list[tuple[str, str]], name: str, action: ExistsAction, values: Sequence[str], *,
           ignore_case: bool) -> bool:
    """set-header / set-query-parameter on a list of pairs; False when skip left it alone."""
    def same(k: str) -> bool:
        return k.lower() == name.lower() if ignore_case else k == name
    if action == "delete":
        pairs[:] = [(k, v) for k, v in pairs if not same(k)]
    elif action == "skip":
        if any(same(k) for k, _ in pairs):
            return False
        pairs.extend((name, v) for v in values)
    elif action == "append":
        pairs.extend((name, v) for v in values)
    else:
        replace_pairs(pairs, name, values, ignore_case=ignore_case)
    return True


class _Runner:
    def __init__(self, ctx: Context, backend: Backend, now: float, discovery: DiscoverySource | None,
                 rate_limiter: RateLimiter, certificates: Mapping[str, bytes],
                 backends: Mapping[str, str | BackendService]) -> None:
        self.ctx = ctx
        self.backend = backend
        self.now = now
        self.discovery = discovery
        self.rate_limiter = rate_limiter
        self.certificates = certificates
        self.backends = backends
        # Headers the answer gets whatever it becomes (cors on a matched origin, rate-limit's total calls).
        self.late_headers: list[tuple[str, str]] = []

    def step(self, st: Statement, where: _Where, outcome: str, detail: str = "", fix: str = "") -> None:
        self.ctx.steps.append(StepRecord(policy_name(st), where.scope, where.section, st.line, outcome, detail, fix))

    def fail(self, st: Statement, where: _Where, reason: str, message: str, response: GatewayResponse) -> _Failure:
        error = LastError(policy_name(st), reason, message, where.scope, where.section, where.path,
                          st.policy_id or "")
        return _Failure(error, response)

    # -- expressions

    def evaluate(self, expression: Expression, st: Statement, where: _Where) -> object:
        try:
            return expression.evaluate(self.ctx)
        except EvaluationFailure as exc:
            message = f"Expression evaluation failed. {exc}"
            self.step(st, where, "failed", f"{expression.source}: {exc}",
                      "the expression threw at run time; guard it (GetValueOrDefault, ?:, != null)")
            raise self.fail(st, where, "ExpressionValueEvaluationFailure", message,
                            error_response(500, INTERNAL_ERROR)) from None

    def text(self, value: Text, st: Statement, where: _Where) -> str:
        if isinstance(value, str):
            return value
        return to_text(self.evaluate(value, st, where))

    # -- walking

    async def section(self, placed: Sequence[Placed]) -> None:
        counts: dict[str, int] = {}
        for p in placed:
            name = policy_name(p.statement)
            counts[name] = counts.get(name, 0) + 1
            await self.statement(p.statement, _Where(p.scope, p.section, ""), counts[name])

    async def statements(self, statements: Sequence[Statement], where: _Where) -> None:
        counts: dict[str, int] = {}
        for st in statements:
            name = policy_name(st)
            counts[name] = counts.get(name, 0) + 1
            await self.statement(st, where, counts[name])

    async def statement(self, st: Statement, where: _Where, position: int) -> None:
        if isinstance(st, ForwardRequest):
            await self.forward_request(st, where)
        elif isinstance(st, Choose):
            await self.choose(st, where, position)
        else:
            handler = self.handlers.get(type(st))
            if handler is None:
                # parse_policy refuses every element the runtime cannot run; reaching here is a bug, and
                # it must not pass silently (a skipped policy is a false pass).
                raise TypeError(f"the runtime has no implementation of {type(st).__name__}")
            handler(self, st, where)

    async def choose(self, st: Choose, where: _Where, position: int) -> None:
        here = f"{where.path}/" if where.path else ""
        for i, when in enumerate(st.whens, 1):
            if self.evaluate(when.condition, st, where) is True:
                self.step(st, where, "applied", f"when[{i}] (line {when.line}): {when.condition.source}")
                await self.statements(when.statements, _Where(where.scope, where.section,
                                                              f"{here}choose[{position}]/when[{i}]"))
                return
        if st.otherwise is not None:
            self.step(st, where, "applied", "otherwise")
            await self.statements(st.otherwise, _Where(where.scope, where.section,
                                                       f"{here}choose[{position}]/otherwise"))
            return
        self.step(st, where, "not applicable", "no condition held and there is no otherwise")

    # -- messages the statements change

    def response(self) -> GatewayResponse:
        """context.Response: the backend's once forwarded; before that, the one set-status starts."""
        if self.ctx.response is None:
            self.ctx.response = GatewayResponse([], b"", 200, "OK")
        return self.ctx.response

    def target(self, where: _Where) -> Message:
        return self.ctx.request if where.section in ("inbound", "backend") else self.response()

    # -- statements

    def validate_jwt(self, st: ValidateJwt, where: _Where, origin: Statement | None = None) -> Passed:
        """`origin`: the validate-azure-ad-token this statement stands for (its name goes in the trace)."""
        shown = origin or st
        if st.token_expression is not None:
            token = self.text(st.token_expression, shown, where)
            st = dataclasses.replace(st, token=dataclasses.replace(st.token, value=token))
        req = self.ctx.request
        outcome = validate_jwt(st, Request(tuple(req.headers), tuple(req.query)), now=int(self.now),
                               discovery=self.discovery, certificates=self.certificates)
        if isinstance(outcome, Failed):
            self.step(shown, where, "failed", outcome.trace, outcome.fix)
            response = GatewayResponse([("Content-Type", outcome.content_type)], outcome.body.encode(),
                                       outcome.status)
            raise self.fail(shown, where, outcome.reason, outcome.message, response)
        if outcome.variable_name:
            self.ctx.variables[outcome.variable_name] = outcome.jwt
        if origin is None:
            self.step(shown, where, "passed", "; ".join(outcome.checks))
        return outcome

    def validate_azure_ad_token(self, st: ValidateAzureAdToken, where: _Where) -> None:
        """validate-jwt against the tenant's v2.0 metadata, accepting both token versions: the
        metadata's issuer (v2) and https://sts.windows.net/{tid}/ (v1); the audience one of <audiences> or
        <backend-application-ids> (a v1 token may carry api://{id}); the client, azp (v2) or appid (v1),
        one of <client-application-ids>."""
        audiences = (*st.audiences, *st.backend_application_ids, *(f"api://{a}" for a in st.backend_application_ids))
        jwt = ValidateJwt(st.line, st.policy_id, st.token, st.failed_validation_httpcode,
                          st.failed_validation_error_message, True,
                          "Bearer" if st.token.kind == "header" and st.token.value.lower() == "authorization" else None,
                          True, 0, st.output_token_variable_name, (OpenIdConfig(st.openid_config_url, True),), (),
                          audiences or None, self.tenant_issuers(st), st.required_claims, st.token_expression,
                          st.decryption_keys)
        passed = self.validate_jwt(jwt, where, origin=st)
        claims = passed.claims
        if st.client_application_ids:
            name = "azp" if "azp" in claims else "appid"
            client = claims.get(name)
            body = apim_body(st.failed_validation_httpcode, st.failed_validation_error_message or INVALID)
            response = GatewayResponse([("Content-Type", JSON)], body.encode(), st.failed_validation_httpcode)
            if not isinstance(client, str):
                message = "JWT token is missing the following claims: azp. Access denied."
                self.step(st, where, "failed", message, "the token names no client (neither azp nor appid): it is "
                                                         "no Entra access token")
                raise self.fail(st, where, "TokenClaimNotFound", message, response)
            if client not in st.client_application_ids:
                message = f"Claim value mismatch: {name}={','.join(st.client_application_ids)}."
                self.step(st, where, "failed", message, f"the calling client is {client} ({name}, a v"
                          f"{1 if name == 'appid' else 2} token); add its appId to <client-application-ids>")
                raise self.fail(st, where, "TokenClaimValueNotAllowed", message, response)
        self.step(st, where, "passed", "; ".join((*passed.checks, *(["client application"]
                                                                    if st.client_application_ids else []))))

    def tenant_issuers(self, st: ValidateAzureAdToken) -> tuple[str, ...] | None:
        """The v1 issuer of the tenant, beside the metadata's own (v2) issuer that validate-jwt adds."""
        if self.discovery is None:
            return None
        try:
            issuer = self.discovery(st.openid_config_url, refresh=False).issuer
        except DiscoveryUnavailable:
            return None  # validate-jwt reports the unreadable metadata itself
        parts = issuer.rstrip("/").split("/")
        tid = parts[-2] if parts[-1] == "v2.0" and len(parts) > 1 else parts[-1]
        if tid == "{tenantid}":
            # organizations/common: the token's own tid names the tenant (checked against the signature).
            tid = self.token_tenant(st) or tid
        return (f"{V1_ISSUER_PREFIX}{tid}/",)

    def token_tenant(self, st: ValidateAzureAdToken) -> str | None:
        req = self.ctx.request
        raw = req.header(st.token.value) if st.token.kind == "header" else \
            next((v for k, v in req.query if k == st.token.value), None) if st.token.kind == "query" else None
        if raw is None:
            return None
        try:
            tid = split(raw.split(" ")[-1]).claims.get("tid")
        except MalformedToken:
            return None
        return tid if isinstance(tid, str) else None

    def check_header(self, st: CheckHeader, where: _Where) -> None:
        values = self.ctx.request.header_values(st.name)
        response = error_response(st.failed_check_httpcode, st.failed_check_error_message)
        if not values:
            message = f"Header {st.name} was not found in the request. Access denied."
            self.step(st, where, "failed", message, f"send the {st.name} header")
            raise self.fail(st, where, "HeaderNotFound", message, response)
        if st.values:
            def same(a: str, b: str) -> bool:
                return a.lower() == b.lower() if st.ignore_case else a == b
            if not any(same(v, want) for v in values for want in st.values):
                message = f"Header {st.name} does not contain required value. Access denied."
                self.step(st, where, "failed", message,
                          f"{st.name} is {', '.join(values)!r}; the policy accepts {', '.join(st.values)}"
                          + ("" if st.ignore_case else " (case-sensitive: ignore-case is false)"))
                raise self.fail(st, where, "HeaderValueNotAllowed", message, response)
        self.step(st, where, "passed", "Header validated.")

    def set_header(self, st: SetHeader, where: _Where, message: Message | None = None) -> None:
        target = message if message is not None else self.target(where)
        values = [self.text(v, st, where) for v in st.values]
        if not _apply(target.headers, st.name, st.exists_action, values, ignore_case=True):
            self.step(st, where, "not applicable", f"{st.name} is present (exists-action skip)")
            return
        self.step(st, where, "applied", f"{st.exists_action} {st.name}" + (f": {', '.join(values)}"
                                                                            if any(isinstance(v, Expression)
                                                                                   for v in st.values) else ""))

    def set_query_parameter(self, st: SetQueryParameter, where: _Where) -> None:
        values = [self.text(v, st, where) for v in st.values]
        if not _apply(self.ctx.request.query, st.name, st.exists_action, values, ignore_case=False):
            self.step(st, where, "not applicable", f"{st.name} is present (exists-action skip)")
            return
        self.step(st, where, "applied", f"{st.exists_action} {st.name}")

    def set_variable(self, st: SetVariable, where: _Where) -> None:
        value = st.value if isinstance(st.value, str) else self.evaluate(st.value, st, where)
        if not isinstance(value, str | int | Jwt | GatewayResponse) and value is not None:
            # context.Response before the backend answered: a response of its own, not shared.
            value = GatewayResponse([], b"", 200, "OK")
        if isinstance(value, GatewayResponse):
            value = GatewayResponse(list(value.headers), value.body, value.status, value.reason)
        self.ctx.variables[st.name] = value
        shown = ("a Jwt" if isinstance(value, Jwt) else f"a response ({value.status})"
                 if isinstance(value, GatewayResponse) else repr(value) if isinstance(value, str) else to_text(value)
                 if value is not None else "null")
        self.step(st, where, "applied", f"{st.name} = {shown}")

    def set_method(self, st: SetMethod, where: _Where) -> None:
        method = self.text(st.method, st, where).strip().upper()
        self.ctx.request.method = method
        self.step(st, where, "applied", method)

    def ip_filter(self, st: IpFilter, where: _Where) -> None:
        ip = self.ctx.request.ip
        try:
            caller = ipaddress.ip_address(ip)
        except ValueError:
            message = "Failed to establish IP address for the caller. Access denied."
            self.step(st, where, "failed", f"{ip!r}: {message}")
            raise self.fail(st, where, "FailedToParseCallerIP", message, error_response(403, "Forbidden")) from None
        if isinstance(caller, ipaddress.IPv6Address) and caller.ipv4_mapped is not None:
            caller = caller.ipv4_mapped  # ::ffff:10.0.0.1 is the IPv4 caller a dual-stack socket reports
        listed = any(_within(caller, low, high) for low, high in st.ranges)
        if listed == (st.action == "allow"):
            self.step(st, where, "passed", f"{caller} {'allowed' if listed else 'not forbidden'}")
            return
        message = f"Caller IP address {caller} is not allowed. Access denied."
        self.step(st, where, "failed", message, f"{'add' if st.action == 'allow' else 'remove'} {caller} "
                                                f"{'to' if st.action == 'allow' else 'from'} the ip-filter")
        raise self.fail(st, where, "CallerIpNotAllowed", message, error_response(403, "Forbidden"))

    def trace(self, st: Trace, where: _Where) -> None:
        message = self.text(st.message, st, where)
        metadata = "".join(f"; {name}={value}" for name, value in st.metadata)
        self.step(st, where, "applied", f"{st.source} ({st.severity}): {message}{metadata}")

    def set_status(self, st: SetStatus, where: _Where, response: GatewayResponse | None = None) -> None:
        target = response or self.response()
        target.status, target.reason = st.code, st.reason
        self.step(st, where, "applied", f"{st.code} {st.reason}".rstrip())

    def set_body(self, st: SetBody, where: _Where, message: Message | None = None) -> None:
        target = message if message is not None else self.target(where)
        target.body = self.text(st.text, st, where).encode()
        self.step(st, where, "applied", f"{len(target.body)} bytes")

    def return_response(self, st: ReturnResponse, where: _Where) -> None:
        response = GatewayResponse([], b"", 200, "OK")
        if st.response_variable_name is not None:
            held = self.ctx.variables.get(st.response_variable_name)
            if not isinstance(held, GatewayResponse):
                why = "does not exist" if held is None else "holds no response"
                self.step(st, where, "failed", f"the variable {st.response_variable_name} {why}",
                          "set it first: <set-variable name=... value=\"@(context.Response)\" />")
                raise self.fail(st, where, "ExpressionValueEvaluationFailure",
                                f"Expression evaluation failed. The variable '{st.response_variable_name}' "
                                f"{why}.", error_response(500, INTERNAL_ERROR))
            response = GatewayResponse(list(held.headers), held.body, held.status, held.reason)
        if st.status is not None:
            self.set_status(st.status, where, response)
        for header in st.headers:
            self.set_header(header, where, response)
        if st.body is not None:
            self.set_body(st.body, where, response)
        self.ctx.response = response
        self.step(st, where, "applied", f"answered {response.status}")
        raise _Returned

    def set_backend_service(self, st: SetBackendService, where: _Where) -> None:
        if st.base_url is not None:
            self.ctx.backend_url = self.text(st.base_url, st, where)
            self.ctx.backend_headers, self.ctx.backend_query = [], []
            self.step(st, where, "applied", f"base-url {self.ctx.backend_url}")
            return
        backend_id = st.backend_id or ""
        entity = self.backends.get(backend_id)
        if entity is None:
            message = f"Backend with id '{backend_id}' could not be found."
            self.step(st, where, "failed", message, f"add a backend with id {backend_id} to the service's backends")
            raise self.fail(st, where, "BackendNotFound", message, error_response(500, INTERNAL_ERROR))
        service = entity if isinstance(entity, BackendService) else BackendService(entity)
        self.ctx.backend_url = service.url
        self.ctx.backend_headers, self.ctx.backend_query = list(service.headers), list(service.query)
        self.step(st, where, "applied", f"backend-id {backend_id}: {service.url}")

    def operation_path(self) -> tuple[str, str]:
        """The API suffix as a path prefix, and the operation's part of the request path after it."""
        suffix = self.ctx.api.path.strip("/")
        prefix = f"/{suffix}" if suffix else ""
        path = self.ctx.request.path
        if prefix and path.lower().startswith(prefix.lower()):
            return path[:len(prefix)], path[len(prefix):] or "/"
        return prefix, path or "/"

    def rewrite_uri(self, st: RewriteUri, where: _Where) -> None:
        template = self.text(st.template, st, where)
        prefix, rest = self.operation_path()
        req = self.ctx.request
        operation = UrlTemplate.parse(self.ctx.operation.url_template or "/")
        params = operation.match(rest, req.query) or {}
        new_path, new_query = expand(template, params)
        if st.copy_unmatched_params:
            matched = operation.query_names() | {k for k, _ in new_query}
            new_query += [(k, v) for k, v in req.query if k not in matched]
        req.path = prefix + (new_path if new_path.startswith("/") else "/" + new_path)
        req.query = new_query
        self.step(st, where, "applied", f"{rest} -> {new_path}" + (f"?{_query(new_query)}" if new_query else ""))

    def cors(self, st: Cors, where: _Where) -> None:
        req = self.ctx.request
        origin = req.header("Origin")
        if origin is None:
            self.step(st, where, "not applicable", "no Origin header: not a cross-origin request")
            return
        origin_ok = "*" in st.origins or origin.lower() in {o.lower() for o in st.origins}
        allow_origin = "*" if "*" in st.origins and not st.allow_credentials else origin
        method = req.header("Access-Control-Request-Method")
        if req.method.upper() == "OPTIONS" and method is not None:
            wanted = [h.strip() for h in (req.header("Access-Control-Request-Headers") or "").split(",") if h.strip()]
            allowed = {h.lower() for h in st.headers}
            method_ok = "*" in st.methods or method.upper() in {m.upper() for m in st.methods}
            headers_ok = "*" in st.headers or all(h.lower() in allowed for h in wanted)
            if origin_ok and method_ok and headers_ok:
                headers = [("Access-Control-Allow-Origin", allow_origin)]
                if st.allow_credentials:
                    headers.append(("Access-Control-Allow-Credentials", "true"))
                headers.append(("Access-Control-Allow-Methods", method))
                if wanted:
                    headers.append(("Access-Control-Allow-Headers", ",".join(wanted)))
                if st.preflight_max_age is not None:
                    headers.append(("Access-Control-Max-Age", str(st.preflight_max_age)))
                self.ctx.response = GatewayResponse(headers, b"", 200, "OK")
                self.step(st, where, "applied", f"preflight from {origin} for {method} answered")
                raise _Returned
            why = ("the origin is not allowed" if not origin_ok else f"the method {method} is not allowed"
                   if not method_ok else f"a header of {', '.join(wanted)} is not allowed")
            self.unmatched(st, where, f"preflight from {origin}: {why}")
            return
        if not origin_ok:
            self.unmatched(st, where, f"the origin {origin} is not allowed")
            return
        self.late_headers.append(("Access-Control-Allow-Origin", allow_origin))
        if st.allow_credentials:
            self.late_headers.append(("Access-Control-Allow-Credentials", "true"))
        if st.expose_headers:
            self.late_headers.append(("Access-Control-Expose-Headers", ",".join(st.expose_headers)))
        self.step(st, where, "applied", f"cross-origin request from {origin} allowed")

    def unmatched(self, st: Cors, where: _Where, why: str) -> None:
        fix = "add the origin, method or header to the cors policy"
        if st.terminate_unmatched_request:
            # APIM answers an empty 200 without CORS headers: the browser then refuses the response.
            self.ctx.response = GatewayResponse([], b"", 200, "OK")
            self.step(st, where, "failed", f"{why}: answered an empty 200 (terminate-unmatched-request)", fix)
            raise _Returned
        self.step(st, where, "not applicable", f"{why}: no CORS headers (terminate-unmatched-request false)", fix)

    def rate_limit(self, st: RateLimit, where: _Where) -> None:
        if st.counter_key is not None:
            key_text = self.text(st.counter_key, st, where)
            key = f"rate-limit-by-key\0{key_text}"
        else:
            # rate-limit counts per subscription, and per policy (each one its own counter).
            sub = self.ctx.subscription.id if self.ctx.subscription is not None else ""
            key_text = f"subscription {sub or '(none)'}"
            key = f"rate-limit\0{where.scope}\0{self.ctx.api.id}\0{self.ctx.operation.id}\0{st.line}\0{sub}"
        increment = st.increment_count
        if st.increment_condition is not None and self.evaluate(st.increment_condition, st, where) is not True:
            increment = 0
        retry = self.rate_limiter.hit(key, calls=st.calls, period=st.renewal_period, now=self.now,
                                      increment=increment)
        if st.total_calls_header_name:
            self.late_headers.append((st.total_calls_header_name, str(st.calls)))
        if retry is None:
            self.step(st, where, "passed", f"{key_text}: within {st.calls} calls per {st.renewal_period} s")
            return
        seconds = max(1, math.ceil(retry))
        if st.retry_after_variable_name:
            self.ctx.variables[st.retry_after_variable_name] = seconds
        self.step(st, where, "failed", f"{key_text}: more than {st.calls} calls in {st.renewal_period} s; retry "
                                       f"in {seconds} s", "wait for Retry-After, or raise calls")
        raise self.fail(st, where, "RateLimitExceeded", "Rate limit is exceeded",
                        error_response(429, f"Rate limit is exceeded. Try again in {seconds} seconds.",
                                       [(st.retry_after_header_name, str(seconds))]))

    async def forward_request(self, st: ForwardRequest, where: _Where) -> None:
        outgoing = self.outgoing(st)
        try:
            response = await self.backend(outgoing)
        except BackendError as exc:
            self.step(st, where, "failed", f"{outgoing.method} {outgoing.url}: {exc.reason}",
                      "start the backend, or point the API's serviceUrl / set-backend-service at one that runs")
            raise self.fail(st, where, "Timeout" if exc.timeout else "BackendConnectionFailure", exc.reason,
                            error_response(500, INTERNAL_ERROR)) from None
        self.ctx.response = response
        self.step(st, where, "applied", f"{outgoing.method} {outgoing.url} -> {response.status} "
                                        f"(timeout {st.timeout} s)")

    def outgoing(self, st: ForwardRequest) -> OutgoingRequest:
        """The backend URL is the backend's base URL with the operation's part of the path (what follows
        the API suffix) and the query appended, as APIM builds it; a backend entity's credentials go along."""
        req = self.ctx.request
        _, rest = self.operation_path()
        if rest == "/" and not req.path.endswith("/"):
            rest = ""
        url = self.ctx.backend_url.rstrip("/") + rest
        query = [*req.query, *self.ctx.backend_query]
        if query:
            url += "?" + _query(query)
        headers = [(k, v) for k, v in req.headers if k.lower() not in HOP_BY_HOP]
        for name, value in self.ctx.backend_headers:
            replace_pairs(headers, name, [value], ignore_case=True)
        return OutgoingRequest(req.method, url, headers, req.body, float(st.timeout), st.follow_redirects)

    handlers: ClassVar[dict[type[Statement], Callable[..., object]]] = {
        ValidateJwt: validate_jwt, CheckHeader: check_header, SetHeader: set_header, SetStatus: set_status,
        SetBody: set_body, ReturnResponse: return_response, SetQueryParameter: set_query_parameter,
        SetVariable: set_variable, SetBackendService: set_backend_service, RewriteUri: rewrite_uri, Cors: cors,
        RateLimit: rate_limit, ValidateAzureAdToken: validate_azure_ad_token, SetMethod: set_method,
        Trace: trace, IpFilter: ip_filter,
    }


def _within(caller: ipaddress.IPv4Address | ipaddress.IPv6Address, low: str, high: str) -> bool:
    first, last = ipaddress.ip_address(low), ipaddress.ip_address(high)
    if caller.version != first.version:
        return False
    return int(first) <= int(caller) <= int(last)


def _query(pairs: Sequence[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


async def _sections(runner: _Runner, policy: Mapping[Section, tuple[Placed, ...]],
                    sections: tuple[Section, ...]) -> None:
    """The sections in order, until one ends the pipeline: a return-response's answer is already in
    ctx.response (in on-error too: its answer stands)."""
    with contextlib.suppress(_Returned):
        for section in sections:
            await runner.section(policy.get(section, ()))


async def run(policy: Mapping[Section, tuple[Placed, ...]], ctx: Context, *, backend: Backend, now: float,
              discovery: DiscoverySource | None, rate_limiter: RateLimiter,
              certificates: Mapping[str, bytes] | None = None,
              backends: Mapping[str, str | BackendService] | None = None) -> GatewayResponse:
    """Run the composed policy (policy.compose) for one request and return what the client gets.

    `now` is Unix seconds (the gateway's clock, frozen in tests); `certificates` maps certificate-id to
    PEM or DER; `backends` maps a backend-id to its URL or BackendService. A backend section without
    forward-request does not forward (APIM's own rule); APIM's default global policy, which holds the
    forward-request, is policy.DEFAULT_GLOBAL_POLICY."""
    runner = _Runner(ctx, backend, now, discovery, rate_limiter, certificates or {}, backends or {})
    try:
        await _sections(runner, policy, ("inbound", "backend", "outbound"))
    except _Failure as failure:
        ctx.last_error = failure.error
        ctx.response = failure.response
        try:
            await _sections(runner, policy, ("on-error",))
        except _Failure as again:
            # A failure inside on-error answers as itself; on-error does not run twice.
            ctx.last_error = again.error
            ctx.response = again.response
    response = runner.response()
    for name, value in runner.late_headers:
        if not response.header_values(name):
            response.headers.append((name, value))
    return response
