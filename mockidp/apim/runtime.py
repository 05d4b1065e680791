"""A composed APIM policy run against one request: inbound, backend, outbound, and on-error on a failure.

Framework-free: the gateway edge (web/) turns an HTTP request into a GatewayRequest, gives a Backend that
sends OutgoingRequests, and writes the GatewayResponse that run() returns. What the runtime does where
APIM's behaviour is not documented: docs/apim.md#choices-not-confirmed-against-apim.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

from mockidp.apim.policy import (
    CheckHeader,
    ForwardRequest,
    Placed,
    ReturnResponse,
    Scope,
    Section,
    SetBody,
    SetHeader,
    SetStatus,
    Statement,
    ValidateJwt,
)
from mockidp.apim.validate_jwt import DiscoverySource, Failed, Request, apim_body, validate_jwt

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
        at = next((i for i, (k, _) in enumerate(self.headers) if k.lower() == name.lower()), len(self.headers))
        kept = [(k, v) for k, v in self.headers[:at]]
        rest = [(k, v) for k, v in self.headers[at:] if k.lower() != name.lower()]
        self.headers[:] = [*kept, *((name, v) for v in values), *rest]


@dataclass(slots=True)
class GatewayRequest(Message):
    method: str
    scheme: str
    host: str
    path: str  # as received, e.g. /echo/hello
    query: list[tuple[str, str]]
    ip: str


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
    def hit(self, key: str, *, calls: int, period: int, now: float) -> float | None:
        """Count one call under `key`: None when allowed, else the seconds until one is allowed again."""
        ...


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


# --- control flow -----------------------------------------------------------------------------------

class _Returned(Exception):
    """return-response: the pipeline ends here with ctx.response."""


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
    path: str


_NAMES: dict[type[Statement], str] = {
    ValidateJwt: "validate-jwt", CheckHeader: "check-header", SetHeader: "set-header", SetStatus: "set-status",
    SetBody: "set-body", ReturnResponse: "return-response", ForwardRequest: "forward-request",
}


def policy_name(statement: Statement) -> str:
    return _NAMES.get(type(statement), type(statement).__name__)


class _Runner:
    def __init__(self, ctx: Context, backend: Backend, now: float, discovery: DiscoverySource | None,
                 rate_limiter: RateLimiter, certificates: Mapping[str, bytes], backends: Mapping[str, str]) -> None:
        self.ctx = ctx
        self.backend = backend
        self.now = now
        self.discovery = discovery
        self.rate_limiter = rate_limiter
        self.certificates = certificates
        self.backends = backends

    def step(self, st: Statement, where: _Where, outcome: str, detail: str = "", fix: str = "") -> None:
        self.ctx.steps.append(StepRecord(policy_name(st), where.scope, where.section, st.line, outcome, detail, fix))

    def fail(self, st: Statement, where: _Where, reason: str, message: str, response: GatewayResponse,
             source: str | None = None) -> _Failure:
        error = LastError(source or policy_name(st), reason, message, where.scope, where.section, where.path,
                          st.policy_id or "")
        return _Failure(error, response)

    async def section(self, placed: Sequence[Placed]) -> None:
        for p in placed:
            await self.statement(p.statement, _Where(p.scope, p.section, ""))

    async def statement(self, st: Statement, where: _Where) -> None:
        if isinstance(st, ValidateJwt):
            self.validate_jwt(st, where)
        elif isinstance(st, CheckHeader):
            self.check_header(st, where)
        elif isinstance(st, SetHeader):
            self.set_header(st, self.target(where), where)
        elif isinstance(st, SetStatus):
            self.set_status(st, where)
        elif isinstance(st, SetBody):
            self.set_body(st, where)
        elif isinstance(st, ReturnResponse):
            self.return_response(st, where)
        elif isinstance(st, ForwardRequest):
            await self.forward_request(st, where)
        else:
            # parse_policy refuses every element the runtime cannot run; reaching here is a bug, and it
            # must not pass silently (a skipped policy is a false pass).
            raise TypeError(f"the runtime has no implementation of {type(st).__name__}")

    # -- messages the statements change

    def response(self) -> GatewayResponse:
        """context.Response: the backend's once forwarded; before that, the one set-status starts."""
        if self.ctx.response is None:
            self.ctx.response = GatewayResponse([], b"", 200, "OK")
        return self.ctx.response

    def target(self, where: _Where) -> Message:
        return self.ctx.request if where.section in ("inbound", "backend") else self.response()

    # -- statements

    def validate_jwt(self, st: ValidateJwt, where: _Where) -> None:
        req = self.ctx.request
        outcome = validate_jwt(st, Request(tuple(req.headers), tuple(req.query)), now=int(self.now),
                               discovery=self.discovery, certificates=self.certificates)
        if isinstance(outcome, Failed):
            self.step(st, where, "failed", outcome.trace, outcome.fix)
            response = GatewayResponse([("Content-Type", outcome.content_type)], outcome.body.encode(),
                                       outcome.status)
            raise self.fail(st, where, outcome.reason, outcome.message, response)
        if outcome.variable_name:
            self.ctx.variables[outcome.variable_name] = outcome.jwt
        self.step(st, where, "passed", "; ".join(outcome.checks))

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

    def set_header(self, st: SetHeader, message: Message, where: _Where) -> None:
        present = bool(message.header_values(st.name))
        if st.exists_action == "delete":
            message.remove_header(st.name)
        elif st.exists_action == "skip":
            if present:
                self.step(st, where, "not applicable", f"{st.name} is present (exists-action skip)")
                return
            message.headers.extend((st.name, v) for v in st.values)
        elif st.exists_action == "append":
            message.headers.extend((st.name, v) for v in st.values)
        else:
            message.replace_header(st.name, st.values)
        self.step(st, where, "applied", f"{st.exists_action} {st.name}")

    def set_status(self, st: SetStatus, where: _Where, response: GatewayResponse | None = None) -> None:
        target = response or self.response()
        target.status, target.reason = st.code, st.reason
        self.step(st, where, "applied", f"{st.code} {st.reason}".rstrip())

    def set_body(self, st: SetBody, where: _Where, response: GatewayResponse | None = None) -> None:
        target = response or self.target(where)
        target.body = st.text.encode()
        self.step(st, where, "applied", f"{len(target.body)} bytes")

    def return_response(self, st: ReturnResponse, where: _Where) -> None:
        response = GatewayResponse([], b"", 200, "OK")
        if st.status is not None:
            self.set_status(st.status, where, response)
        for header in st.headers:
            self.set_header(header, response, where)
        if st.body is not None:
            self.set_body(st.body, where, response)
        self.ctx.response = response
        self.step(st, where, "applied", f"answered {response.status}")
        raise _Returned

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
        the API suffix) and the query appended, as APIM builds it."""
        req = self.ctx.request
        prefix = "/" + self.ctx.api.path.strip("/") if self.ctx.api.path.strip("/") else ""
        rest = req.path[len(prefix):] if req.path.startswith(prefix) else req.path
        url = self.ctx.backend_url.rstrip("/") + rest
        if req.query:
            url += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in req.query)
        headers = [(k, v) for k, v in req.headers if k.lower() not in HOP_BY_HOP]
        return OutgoingRequest(req.method, url, headers, req.body, float(st.timeout), st.follow_redirects)


async def run(policy: Mapping[Section, tuple[Placed, ...]], ctx: Context, *, backend: Backend, now: float,
              discovery: DiscoverySource | None, rate_limiter: RateLimiter,
              certificates: Mapping[str, bytes] | None = None,
              backends: Mapping[str, str] | None = None) -> GatewayResponse:
    """Run the composed policy (policy.compose) for one request and return what the client gets.

    `now` is Unix seconds (the gateway's clock, frozen in tests); `certificates` maps certificate-id to
    PEM or DER; `backends` maps a backend-id to its URL. A backend section without forward-request does
    not forward (APIM's own rule); APIM's default global policy, which holds the forward-request, is
    policy.DEFAULT_GLOBAL_POLICY."""
    runner = _Runner(ctx, backend, now, discovery, rate_limiter, certificates or {}, backends or {})
    try:
        for section in ("inbound", "backend", "outbound"):
            await runner.section(policy.get(section, ()))
    except _Returned:
        pass
    except _Failure as failure:
        ctx.last_error = failure.error
        ctx.response = failure.response
        try:
            await runner.section(policy.get("on-error", ()))
        except _Returned:
            pass
        except _Failure as again:
            # A failure inside on-error answers as itself; on-error does not run twice.
            ctx.last_error = again.error
            ctx.response = again.response
    return runner.response()
