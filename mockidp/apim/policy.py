"""APIM policy documents, parsed from the XML people export from the portal into typed statements.

Nothing is skipped: an element or attribute mockidp does not run is refused with its line and why,
since a skipped security policy is a false pass. All problems of a document are collected and raised
together (PolicyError). The parser is defusedxml's: no DTDs, no entities, no external references, and
a size limit. Scope composition (`<base/>`) is compose(). Supported elements: docs/apim.md.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, cast

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from mockidp.apim.expressions import (
    TEXT_TYPES,
    VARIABLE_TYPES,
    Expression,
    ExpressionError,
    compile_expression,
    describe,
    is_expression,
)

Section = Literal["inbound", "backend", "outbound", "on-error"]
Scope = Literal["global", "product", "api", "operation"]
SECTIONS: tuple[Section, ...] = ("inbound", "backend", "outbound", "on-error")
SCOPES: tuple[Scope, ...] = ("global", "product", "api", "operation")
# A value a policy computes per request where expressions are allowed: a literal, or a compiled expression.
Text: TypeAlias = str | Expression
# The global policy APIM creates for a new service: its backend forwards. The gateway composes it when a
# service has no global policy of its own (docs/apim.md).
DEFAULT_GLOBAL_POLICY = """<policies>
    <inbound />
    <backend>
        <forward-request />
    </backend>
    <outbound />
    <on-error />
</policies>"""
# mockidp's own bound (APIM documents a policy size limit of its own; this one only stops abuse).
MAX_POLICY_BYTES = 256 * 1024

_NAMED_VALUE = re.compile(r"\{\{([^{}]*)\}\}")
_NAMED_VALUE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_EXPRESSION = ("mockidp does not run policy expressions (@(...), @{...}) here, and refuses them rather than "
               "running the policy without them; write a literal value or a {{named value}}. Expressions run in: "
               "set-header and set-query-parameter values, set-body, set-variable value, choose/when condition, "
               "set-backend-service base-url, rewrite-uri template, rate-limit-by-key counter-key and "
               "increment-condition, validate-jwt and validate-azure-ad-token token-value")


@dataclass(frozen=True, slots=True)
class Problem:
    source: str
    line: int
    element: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: <{self.element}>: {self.message}"


class PolicyError(ValueError):
    """Every problem of a policy document (or of a composition), all at once."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# --- statements -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Statement:
    line: int
    policy_id: str | None  # the `id` attribute every policy accepts; it becomes context.LastError.PolicyId


@dataclass(frozen=True, slots=True)
class Base(Statement):
    """`<base/>`: the same section of the parent scope, inlined where it stands."""


ExistsAction = Literal["override", "skip", "append", "delete"]


@dataclass(frozen=True, slots=True)
class SetHeader(Statement):
    name: str
    exists_action: ExistsAction
    values: tuple[Text, ...]


@dataclass(frozen=True, slots=True)
class SetQueryParameter(Statement):
    name: str
    exists_action: ExistsAction
    values: tuple[Text, ...]


@dataclass(frozen=True, slots=True)
class SetVariable(Statement):
    name: str
    value: Text  # a literal is stored as a string; an expression as what it gives


@dataclass(frozen=True, slots=True)
class SetBackendService(Statement):
    base_url: Text | None  # exactly one of base_url and backend_id
    backend_id: str | None


@dataclass(frozen=True, slots=True)
class RewriteUri(Statement):
    template: Text  # the operation's part of the URL, with {parameters} of the operation's URL template
    copy_unmatched_params: bool


@dataclass(frozen=True, slots=True)
class SetMethod(Statement):
    method: Text


@dataclass(frozen=True, slots=True)
class Trace(Statement):
    """The trace policy: a message (and metadata) written to the request's trace."""

    source: str
    severity: Literal["verbose", "information", "error"]
    message: Text
    metadata: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class IpFilter(Statement):
    action: Literal["allow", "forbid"]
    ranges: tuple[tuple[str, str], ...]  # (from, to), a single address as (a, a)


@dataclass(frozen=True, slots=True)
class When:
    line: int
    condition: Expression
    statements: tuple[Statement, ...]


@dataclass(frozen=True, slots=True)
class Choose(Statement):
    whens: tuple[When, ...]
    otherwise: tuple[Statement, ...] | None


@dataclass(frozen=True, slots=True)
class Cors(Statement):
    allow_credentials: bool
    terminate_unmatched_request: bool
    origins: tuple[str, ...]  # "*" for any
    methods: tuple[str, ...]  # "*" for any
    preflight_max_age: int | None
    headers: tuple[str, ...]  # "*" for any
    expose_headers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RateLimit(Statement):
    """rate-limit (per subscription) and rate-limit-by-key (counter_key set)."""

    calls: int
    renewal_period: int
    counter_key: Text | None
    increment_condition: Expression | None
    increment_count: int
    retry_after_header_name: str
    retry_after_variable_name: str | None
    total_calls_header_name: str | None


@dataclass(frozen=True, slots=True)
class CheckHeader(Statement):
    name: str
    failed_check_httpcode: int
    failed_check_error_message: str
    ignore_case: bool
    values: tuple[str, ...]  # none: the header only has to be present


@dataclass(frozen=True, slots=True)
class SetStatus(Statement):
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class SetBody(Statement):
    text: Text


@dataclass(frozen=True, slots=True)
class ReturnResponse(Statement):
    status: SetStatus | None
    headers: tuple[SetHeader, ...]
    body: SetBody | None
    response_variable_name: str | None = None  # start from the response that variable holds


@dataclass(frozen=True, slots=True)
class ForwardRequest(Statement):
    timeout: int
    follow_redirects: bool


@dataclass(frozen=True, slots=True)
class TokenSource:
    kind: Literal["header", "query", "value"]
    value: str  # the header or query parameter name, or the token itself


@dataclass(frozen=True, slots=True)
class OpenIdConfig:
    url: str
    validate_connectivity: bool


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One `<issuer-signing-keys><key>`: exactly one of certificate_id, (n, e) and value is set."""

    id: str | None
    certificate_id: str | None
    n: str | None
    e: str | None
    value: bytes | None  # the inline Base64 symmetric key, decoded


@dataclass(frozen=True, slots=True)
class RequiredClaim:
    name: str
    match: Literal["all", "any"]
    separator: str | None
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ValidateJwt(Statement):
    token: TokenSource
    failed_validation_httpcode: int
    failed_validation_error_message: str | None
    require_expiration_time: bool
    require_scheme: str | None
    require_signed_tokens: bool
    clock_skew: int
    output_token_variable_name: str | None
    openid_configs: tuple[OpenIdConfig, ...]
    issuer_signing_keys: tuple[KeySpec, ...]
    audiences: tuple[str, ...] | None  # None: no <audiences> element
    issuers: tuple[str, ...] | None
    required_claims: tuple[RequiredClaim, ...]
    token_expression: Expression | None = None  # token-value="@(...)": token.value is filled per request
    decryption_keys: tuple[KeySpec, ...] = ()  # each a certificate_id or a symmetric value


@dataclass(frozen=True, slots=True)
class ValidateAzureAdToken(Statement):
    """validate-azure-ad-token: validate-jwt against the tenant's own metadata, with Entra's application
    ids. The runtime maps it onto a ValidateJwt (runtime.py, docs/apim.md)."""

    tenant_id: str
    authentication_endpoint: str
    token: TokenSource
    token_expression: Expression | None
    failed_validation_httpcode: int
    failed_validation_error_message: str | None
    output_token_variable_name: str | None
    backend_application_ids: tuple[str, ...]
    client_application_ids: tuple[str, ...]
    audiences: tuple[str, ...]
    required_claims: tuple[RequiredClaim, ...]
    decryption_keys: tuple[KeySpec, ...] = ()

    @property
    def openid_config_url(self) -> str:
        """The v2.0 metadata of the tenant: the gateway's DiscoverySource maps it onto its identity
        provider (mockidp itself)."""
        tenant = self.tenant_id.rstrip("/").rsplit("/", 1)[-1] if "://" in self.tenant_id else self.tenant_id
        return f"{self.authentication_endpoint.rstrip('/')}/{tenant}/v2.0/.well-known/openid-configuration"


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    source: str
    scope: Scope
    sections: Mapping[Section, tuple[Statement, ...]]  # a section the document lacks is absent


@dataclass(frozen=True, slots=True)
class Placed:
    """A statement of a composed policy, with where it came from (context.LastError.Scope/Section)."""

    statement: Statement
    scope: Scope
    section: Section
    source: str


# Where each policy may stand (its reference's "Policy sections"); on-error admits only a listed few.
_ALLOWED: dict[str, tuple[Section, ...]] = {
    "base": SECTIONS,
    "validate-jwt": ("inbound",),
    "check-header": ("inbound",),
    "set-header": SECTIONS,
    "set-status": SECTIONS,
    "set-body": ("inbound", "backend", "outbound"),
    "return-response": SECTIONS,
    "forward-request": ("backend",),
    "set-query-parameter": ("inbound", "backend"),
    "set-variable": SECTIONS,
    "set-backend-service": ("inbound", "backend"),
    "rewrite-uri": ("inbound",),
    "choose": SECTIONS,
    "cors": ("inbound",),
    "rate-limit": ("inbound",),
    "rate-limit-by-key": ("inbound",),
    "validate-azure-ad-token": ("inbound",),
    "set-method": ("inbound", "on-error"),
    "trace": SECTIONS,
    "ip-filter": ("inbound",),
}
MAX_NESTING = 16  # choose inside when inside choose...: mockidp's bound, far above real policies
# Known APIM policies mockidp does not run yet: refused with this reason rather than "unknown".
_LATER = ("send-request", "mock-response", "find-and-replace", "json-to-xml", "xml-to-json", "limit-concurrency",
          "retry",
          "log-to-eventhub", "send-one-way-request", "cache-lookup", "cache-store",
          "authentication-basic", "authentication-certificate", "authentication-managed-identity", "quota",
          "quota-by-key", "validate-content", "validate-headers", "validate-parameters", "include-fragment")


class _LineBuilder(ET.TreeBuilder):
    """A tree builder that remembers each element's line (ElementTree keeps none)."""

    def __init__(self) -> None:
        super().__init__()
        self.parser: DefusedXMLParser | None = None
        self.lines: dict[ET.Element, int] = {}

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        element = super().start(tag, attrs)
        self.lines[element] = self.current_line()
        return element

    def current_line(self) -> int:
        expat = getattr(self.parser, "parser", None)
        return int(getattr(expat, "CurrentLineNumber", 1))


def parse_policy(text: str | bytes, *, scope: Scope = "api", source: str = "policy.xml",
                 named_values: Mapping[str, str] | None = None) -> PolicyDocument:
    """The typed statements of one policy document, or PolicyError with every problem in it."""
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError([Problem(source, 1, "policies", f"the document is {len(raw)} bytes; mockidp reads at "
                                                          f"most {MAX_POLICY_BYTES}")])
    try:
        raw = escape_expressions(raw.decode("utf-8-sig")).encode()
    except UnicodeDecodeError:
        raise PolicyError([Problem(source, 1, "policies", "the document is not UTF-8")]) from None
    builder = _LineBuilder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    builder.parser = parser
    try:
        parser.feed(raw)
        root = cast(ET.Element, parser.close())
    except DefusedXmlException as exc:
        raise PolicyError([Problem(source, builder.current_line(), "policies",
                                   f"refused: {type(exc).__name__} (DTDs, entities and external references "
                                   "are not allowed in a policy document)")]) from None
    except ET.ParseError as exc:
        raise PolicyError([Problem(source, exc.position[0], "policies", f"not well-formed XML: {exc}")]) from None
    reader = _Reader(source, builder.lines, dict(named_values or {}))
    sections = reader.document(root)
    if reader.problems:
        raise PolicyError(reader.problems)
    if scope == "global" and "backend" not in sections:
        # A global policy without <backend> keeps APIM's default one; without it nothing would forward.
        sections["backend"] = (ForwardRequest(0, None, 300, False),)
    return PolicyDocument(source, scope, sections)


_SKIP = re.compile(r"<!--.*?-->|<!\[CDATA\[.*?\]\]>", re.DOTALL)
_START = re.compile(r"""(=\s*["'])\s*@[({]|>\s*@[({]""")
_ENTITY = re.compile(r"&(#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z]+);")


def escape_expressions(text: str) -> str:
    """APIM's policy XML is not quite XML: an expression keeps its C# as written, quotes, `<string>` and
    `&&` included (`value="@(context.Request.Headers.GetValueOrDefault("User-Agent",""))"`, as in
    Microsoft's examples). Escape each @(...)/@{...} of an attribute or element text so that the XML
    parser reads it, leaving entities already written (&quot;) alone. Line numbers do not change."""
    out: list[str] = []
    at = 0
    skip = _SKIP.search(text)
    while True:
        # Each search runs once per position it passes: linear in the document, however hostile.
        if skip is not None and skip.start() < at:
            skip = _SKIP.search(text, at)
        start = _START.search(text, at)
        if start is None:
            break
        if skip is not None and skip.start() < start.start():
            out.append(text[at:skip.end()])
            at = skip.end()
            continue
        quote = start.group(1)[-1] if start.group(1) else None
        open_at = start.end() - 1  # the ( or {
        end = _balanced_end(text, open_at, quote)
        if end is None:
            # Unbalanced: left as written, for the XML parser or the expression compiler to refuse.
            out.append(text[at:start.end()])
            at = start.end()
            continue
        out.append(text[at:open_at])
        out.append(_escape(text[open_at:end]))
        at = end
    out.append(text[at:])
    return "".join(out)


def _balanced_end(text: str, at: int, quote: str | None) -> int | None:
    """Where the expression opened at text[at] closes (exclusive), skipping C# string and char literals;
    in an attribute, the closing bracket must be followed by the attribute's quote."""
    pairs = {"(": ")", "{": "}"}
    stack: list[str] = []
    i = at
    while i < len(text):
        c = text[i]
        if c in "\"'" and stack:
            j = i + 1
            while j < len(text) and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c in pairs:
            stack.append(pairs[c])
        elif c in ")}":
            if not stack or stack.pop() != c:
                return None
            if not stack:
                end = i + 1
                if quote is not None and text[end:].lstrip(" \t\r\n")[:1] != quote:
                    return None
                return end
        i += 1
    return None


def _escape(span: str) -> str:
    out = []
    for i, c in enumerate(span):
        if c == "&" and not _ENTITY.match(span, i):
            out.append("&amp;")
        else:
            out.append({"<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}.get(c, c))
    return "".join(out)


def compose(documents: Sequence[PolicyDocument]) -> dict[Section, tuple[Placed, ...]]:
    """The effective policy of a request: documents broad to narrow (global, product, API, operation),
    each `<base/>` replaced by the parent's composed section. A section a document lacks inherits the
    parent's unchanged (docs/apim.md#choices-not-confirmed-against-apim)."""
    order = [SCOPES.index(d.scope) for d in documents]
    if order != sorted(order) or len(set(order)) != len(order):
        raise ValueError("compose() takes at most one document per scope, broad to narrow")
    composed: dict[Section, tuple[Placed, ...]] = dict.fromkeys(SECTIONS, ())
    for doc in documents:
        for section in SECTIONS:
            statements = doc.sections.get(section)
            if statements is None:
                continue
            out: list[Placed] = []
            for statement in statements:
                if isinstance(statement, Base):
                    out.extend(composed[section])  # at global scope the parent is empty: no effect
                else:
                    out.append(Placed(statement, doc.scope, section, doc.source))
            composed[section] = tuple(out)
    return composed


class _Reader:
    def __init__(self, source: str, lines: dict[ET.Element, int], named_values: dict[str, str]) -> None:
        self.source = source
        self.lines = lines
        self.named_values = named_values
        self.problems: list[Problem] = []

    def line(self, el: ET.Element) -> int:
        return self.lines.get(el, 1)

    def problem(self, el: ET.Element, message: str, line: int | None = None) -> None:
        self.problems.append(Problem(self.source, self.line(el) if line is None else line, el.tag, message))

    # -- values

    def value(self, el: ET.Element, raw: str, what: str, expression: bool = False) -> str:
        """A value with {{named values}} substituted. Unless `expression`, an expression is refused (after
        substitution too, since a named value may hold one); with it, the caller compiles it (dynamic())."""
        if not expression and is_expression(raw):
            self.problem(el, f"{what}: {_EXPRESSION}")
            return raw
        def substitute(m: re.Match[str]) -> str:
            name = m.group(1).strip()
            if not _NAMED_VALUE_NAME.match(name) or name not in self.named_values:
                self.problem(el, f"{what}: named value {{{{{name}}}}} is not defined")
                return m.group(0)
            return self.named_values[name]
        out = _NAMED_VALUE.sub(substitute, raw)
        if not expression and out != raw and is_expression(out):
            self.problem(el, f"{what}: the named value holds a policy expression; {_EXPRESSION}")
        return out

    def dynamic(self, el: ET.Element, raw: str, what: str, want: str = "text") -> Text:
        """A literal, or an expression compiled now: refused here, with its column and why, when it is
        outside the subset or of the wrong type (`want` text: anything a string can be made of; bool)."""
        if not is_expression(raw):
            return raw
        try:
            compiled = compile_expression(raw)
        except ExpressionError as exc:
            self.problem(el, f"{what}: expression {raw.strip()!r} is outside mockidp's subset at column "
                             f"{exc.column}: {exc}")
            return raw
        if want == "bool" and compiled.type != "bool":
            self.problem(el, f"{what}: the expression must give a bool, not {describe(compiled.type)}")
        elif want == "text" and compiled.type not in TEXT_TYPES:
            self.problem(el, f"{what}: the expression gives {describe(compiled.type)}, which is no text "
                             "(GetValueOrDefault(name, default) gives a header's or claim's values joined)")
        return compiled

    def attrs(self, el: ET.Element, allowed: Sequence[str], required: Sequence[str] = (),
              expressions: Sequence[str] = ()) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, raw in el.attrib.items():
            if name != "id" and name not in allowed:
                self.problem(el, f"attribute {name!r} is not supported by mockidp on <{el.tag}>; supported: "
                                 f"{', '.join(allowed) or 'none'}")
                continue
            out[name] = self.value(el, raw, f"attribute {name!r}", name in expressions)
        for name in required:
            if name not in out:
                self.problem(el, f"attribute {name!r} is required")
        return out

    def text(self, el: ET.Element, what: str = "text") -> str:
        return self.value(el, (el.text or "").strip(), what)

    def no_text(self, el: ET.Element) -> None:
        if (el.text or "").strip():
            self.problem(el, "text is not allowed here")
        for child in el:
            if (child.tail or "").strip():
                self.problem(el, "text is not allowed here", self.line(child))

    def no_children(self, el: ET.Element) -> None:
        for child in el:
            self.problem(child, f"<{child.tag}> is not allowed inside <{el.tag}>")

    def boolean(self, el: ET.Element, attrs: dict[str, str], name: str, default: bool) -> bool:
        raw = attrs.get(name)
        if raw is None:
            return default
        if raw.lower() not in ("true", "false"):
            self.problem(el, f"attribute {name!r} must be true or false, not {raw!r}")
            return default
        return raw.lower() == "true"

    def integer(self, el: ET.Element, attrs: dict[str, str], name: str, default: int, low: int, high: int) -> int:
        raw = attrs.get(name)
        if raw is None:
            return default
        if not raw.strip().isdigit() or not low <= int(raw) <= high:
            self.problem(el, f"attribute {name!r} must be a whole number from {low} to {high}, not {raw!r}")
            return default
        return int(raw)

    # -- structure

    def document(self, root: ET.Element) -> dict[Section, tuple[Statement, ...]]:
        if root.tag != "policies":
            self.problem(root, "the document element must be <policies>")
            return {}
        self.attrs(root, ())
        self.no_text(root)
        sections: dict[Section, tuple[Statement, ...]] = {}
        for child in root:
            if child.tag not in SECTIONS:
                self.problem(child, f"<{child.tag}> is not a policy section (inbound, backend, outbound, on-error)")
                continue
            section = child.tag
            if section in sections:
                self.problem(child, f"section <{section}> appears twice")
                continue
            self.attrs(child, ())
            self.no_text(child)
            sections[section] = self.section(child, section)
        return sections

    def section(self, el: ET.Element, section: Section, depth: int = 0) -> tuple[Statement, ...]:
        out: list[Statement] = []
        bases = 0
        if depth > MAX_NESTING:
            self.problem(el, f"policies nest deeper than {MAX_NESTING} levels")
            return ()
        for child in el:
            allowed = _ALLOWED.get(child.tag)
            if allowed is None:
                why = ("is an APIM policy mockidp does not run yet" if child.tag in _LATER
                       else "is not an APIM policy mockidp knows")
                self.problem(child, f"<{child.tag}> {why}; refused rather than skipped, since a skipped policy "
                                    "would let requests through that APIM would stop")
                continue
            if section not in allowed:
                self.problem(child, f"<{child.tag}> is not allowed in <{section}> (only in {', '.join(allowed)})")
                continue
            if child.tag == "base":
                bases += 1
                if depth:
                    self.problem(child, "<base/> stands only directly in a section, not inside <choose>")
                elif bases > 1:
                    self.problem(child, f"<base/> appears more than once in <{section}>")
            statement = self.statement(child, section, depth)
            if statement is not None:
                out.append(statement)
        return tuple(out)

    def statement(self, el: ET.Element, section: Section, depth: int) -> Statement | None:
        readers = {"set-query-parameter": self.set_query_parameter, "set-variable": self.set_variable,
                   "set-backend-service": self.set_backend_service, "rewrite-uri": self.rewrite_uri,
                   "cors": self.cors, "rate-limit": self.rate_limit, "rate-limit-by-key": self.rate_limit,
                   "validate-azure-ad-token": self.validate_azure_ad_token, "set-method": self.set_method,
                   "trace": self.trace, "ip-filter": self.ip_filter}
        if el.tag in readers:
            return readers[el.tag](el)
        if el.tag == "choose":
            return self.choose(el, section, depth)
        if el.tag == "base":
            self.attrs(el, ())
            self.no_text(el)
            self.no_children(el)
            return Base(self.line(el), el.get("id"))
        if el.tag == "set-header":
            return self.set_header(el)
        if el.tag == "check-header":
            return self.check_header(el)
        if el.tag == "set-status":
            return self.set_status(el)
        if el.tag == "set-body":
            return self.set_body(el)
        if el.tag == "return-response":
            return self.return_response(el)
        if el.tag == "forward-request":
            return self.forward_request(el)
        return self.validate_jwt(el)

    def values(self, el: ET.Element) -> tuple[str, ...]:
        out = []
        self.no_text(el)
        for child in el:
            if child.tag != "value":
                self.problem(child, f"<{child.tag}> is not allowed inside <{el.tag}> (only <value>)")
                continue
            self.attrs(child, ())
            self.no_children(child)
            out.append(self.text(child))
        return tuple(out)

    def dynamic_values(self, el: ET.Element) -> tuple[Text, ...]:
        out: list[Text] = []
        self.no_text(el)
        for child in el:
            if child.tag != "value":
                self.problem(child, f"<{child.tag}> is not allowed inside <{el.tag}> (only <value>)")
                continue
            self.attrs(child, ())
            self.no_children(child)
            out.append(self.dynamic(child, self.value(child, (child.text or "").strip(), "text", True), "text"))
        return tuple(out)

    def exists_action(self, el: ET.Element, a: dict[str, str], values: tuple[Text, ...]) -> ExistsAction:
        action = a.get("exists-action", "override")
        if action not in ("override", "skip", "append", "delete"):
            self.problem(el, f"exists-action must be override, skip, append or delete, not {action!r}")
            action = "override"
        if action == "delete" and values:
            self.problem(el, "exists-action delete takes no <value>")
        return cast(ExistsAction, action)

    def set_header(self, el: ET.Element) -> SetHeader:
        a = self.attrs(el, ("name", "exists-action"), ("name",))
        values = self.dynamic_values(el)
        return SetHeader(self.line(el), el.get("id"), a.get("name", ""), self.exists_action(el, a, values), values)

    def set_query_parameter(self, el: ET.Element) -> SetQueryParameter:
        a = self.attrs(el, ("name", "exists-action"), ("name",))
        values = self.dynamic_values(el)
        return SetQueryParameter(self.line(el), el.get("id"), a.get("name", ""), self.exists_action(el, a, values),
                                 values)

    def set_variable(self, el: ET.Element) -> SetVariable:
        a = self.attrs(el, ("name", "value"), ("name", "value"), expressions=("value",))
        self.no_text(el)
        self.no_children(el)
        value = self.dynamic(el, a.get("value", ""), "attribute 'value'", "any")
        if isinstance(value, Expression) and value.type not in VARIABLE_TYPES:
            self.problem(el, f"attribute 'value': a variable holds {', '.join(sorted(VARIABLE_TYPES))}, "
                             f"not {describe(value.type)}")
        return SetVariable(self.line(el), el.get("id"), a.get("name", ""), value)

    def set_backend_service(self, el: ET.Element) -> SetBackendService:
        a = self.attrs(el, ("base-url", "backend-id"), expressions=("base-url",))
        self.no_text(el)
        self.no_children(el)
        if ("base-url" in a) == ("backend-id" in a):
            self.problem(el, "exactly one of base-url and backend-id must be set")
        base = self.dynamic(el, a["base-url"], "attribute 'base-url'") if "base-url" in a else None
        if isinstance(base, str) and not re.match(r"^https?://[^/?#]+", base):
            self.problem(el, f"base-url must be an absolute http or https URL, not {base!r}")
        return SetBackendService(self.line(el), el.get("id"), base, a.get("backend-id"))

    def rewrite_uri(self, el: ET.Element) -> RewriteUri:
        a = self.attrs(el, ("template", "copy-unmatched-params"), ("template",), expressions=("template",))
        self.no_text(el)
        self.no_children(el)
        template = self.dynamic(el, a.get("template", "/"), "attribute 'template'")
        if isinstance(template, str) and not template.startswith("/"):
            self.problem(el, f"template is the operation's part of the URL and starts with '/', not {template!r}")
        return RewriteUri(self.line(el), el.get("id"), template, self.boolean(el, a, "copy-unmatched-params", True))

    def set_method(self, el: ET.Element) -> SetMethod:
        self.attrs(el, ())
        self.no_children(el)
        method = self.dynamic(el, self.value(el, (el.text or "").strip(), "text", True), "text")
        if isinstance(method, str) and not re.fullmatch(r"[A-Za-z]+", method):
            self.problem(el, f"the method must be a word such as GET or POST, not {method!r}")
        return SetMethod(self.line(el), el.get("id"), method)

    def ip_filter(self, el: ET.Element) -> IpFilter:
        a = self.attrs(el, ("action",), ("action",))
        action = a.get("action", "forbid")
        if action not in ("allow", "forbid"):
            self.problem(el, f"action must be allow or forbid, not {action!r}")
            action = "forbid"
        self.no_text(el)
        ranges: list[tuple[str, str]] = []
        for child in el:
            if child.tag == "address":
                self.attrs(child, ())
                self.no_children(child)
                address = self.text(child)
                ranges.append((address, address))
            elif child.tag == "address-range":
                ra = self.attrs(child, ("from", "to"), ("from", "to"))
                self.no_text(child)
                self.no_children(child)
                ranges.append((ra.get("from", ""), ra.get("to", "")))
            else:
                self.problem(child, f"<{child.tag}> is not allowed inside <ip-filter> (address, address-range)")
                continue
            low, high = ranges[-1]
            try:
                first, last = ipaddress.ip_address(low), ipaddress.ip_address(high)
                if first.version != last.version or first > last:  # type: ignore[operator]
                    self.problem(child, f"the range {low} to {high} is empty or mixes IPv4 and IPv6")
            except ValueError:
                self.problem(child, f"{low if not _is_ip(low) else high!r} is not an IP address")
        if not ranges:
            self.problem(el, "<ip-filter> needs at least one <address> or <address-range>")
        return IpFilter(self.line(el), el.get("id"), cast(Literal["allow", "forbid"], action), tuple(ranges))

    def trace(self, el: ET.Element) -> Trace:
        a = self.attrs(el, ("source", "severity"), ("source",))
        severity = a.get("severity", "verbose")
        if severity not in ("verbose", "information", "error"):
            self.problem(el, f"severity must be verbose, information or error, not {severity!r}")
            severity = "verbose"
        self.no_text(el)
        message: Text | None = None
        metadata: list[tuple[str, str]] = []
        for child in el:
            if child.tag == "message" and message is None and not metadata:
                self.attrs(child, ())
                self.no_children(child)
                message = self.dynamic(child, self.value(child, (child.text or "").strip(), "text", True), "text")
            elif child.tag == "metadata" and message is not None:
                ma = self.attrs(child, ("name", "value"), ("name", "value"))
                self.no_children(child)
                metadata.append((ma.get("name", ""), ma.get("value", "")))
            else:
                self.problem(child, f"<{child.tag}> is not allowed here: <trace> holds one <message>, then "
                                    "<metadata name=... value=...> elements")
        if message is None:
            self.problem(el, "<trace> needs a <message>")
        return Trace(self.line(el), el.get("id"), a.get("source", ""),
                     cast(Literal["verbose", "information", "error"], severity), message or "", tuple(metadata))

    def choose(self, el: ET.Element, section: Section, depth: int) -> Choose:
        self.attrs(el, ())
        self.no_text(el)
        whens: list[When] = []
        otherwise: tuple[Statement, ...] | None = None
        for child in el:
            if child.tag == "when" and otherwise is None:
                a = self.attrs(child, ("condition",), ("condition",), expressions=("condition",))
                condition = self.dynamic(child, a.get("condition", ""), "attribute 'condition'", "bool")
                if not isinstance(condition, Expression):
                    if "condition" in a:
                        self.problem(child, "condition must be a policy expression giving a bool, e.g. "
                                            "@(context.Request.Method == \"GET\")")
                    condition = compile_expression("@(false)")
                self.no_text(child)
                whens.append(When(self.line(child), condition, self.section(child, section, depth + 1)))
            elif child.tag == "otherwise" and otherwise is None and whens:
                self.attrs(child, ())
                self.no_text(child)
                otherwise = self.section(child, section, depth + 1)
            else:
                self.problem(child, f"<{child.tag}> is not allowed here: <choose> holds one or more <when "
                                    "condition=...> and then at most one <otherwise>")
        if not whens:
            self.problem(el, "<choose> needs at least one <when>")
        return Choose(self.line(el), el.get("id"), tuple(whens), otherwise)

    def cors(self, el: ET.Element) -> Cors:
        a = self.attrs(el, ("allow-credentials", "terminate-unmatched-request"))
        self.no_text(el)
        lists: dict[str, tuple[str, ...]] = {}
        max_age: int | None = None
        order = ("allowed-origins", "allowed-methods", "allowed-headers", "expose-headers")
        items = {"allowed-origins": "origin", "allowed-methods": "method", "allowed-headers": "header",
                 "expose-headers": "header"}
        rank = -1
        for child in el:
            if child.tag not in order:
                self.problem(child, f"<{child.tag}> is not allowed inside <cors> ({', '.join(order)})")
                continue
            if order.index(child.tag) <= rank:
                self.problem(child, f"<{child.tag}> is out of order or repeated: APIM wants {', '.join(order)}")
            rank = order.index(child.tag)
            if child.tag == "allowed-methods":
                ma = self.attrs(child, ("preflight-result-max-age",))
                if "preflight-result-max-age" in ma:
                    max_age = self.integer(child, ma, "preflight-result-max-age", 0, 0, 86400 * 365)
            else:
                self.attrs(child, ())
            lists[child.tag] = self.list_of(child, items[child.tag], checked=True)
        origins = lists.get("allowed-origins", ())
        if not origins:
            self.problem(el, "<allowed-origins> with at least one <origin> is required")
        credentials = self.boolean(el, a, "allow-credentials", False)
        if credentials and "*" in origins:
            self.problem(el, "allow-credentials=\"true\" cannot go with <origin>*</origin>: browsers refuse a "
                             "wildcard origin on credentialed requests; list the origins")
        for origin in origins:
            if origin != "*" and not re.fullmatch(r"https?://[^/?#\s]+", origin):
                self.problem(el, f"origin {origin!r} is not * or scheme://host[:port]")
        return Cors(self.line(el), el.get("id"), credentials, self.boolean(el, a, "terminate-unmatched-request", True),
                    origins, lists.get("allowed-methods", ("GET", "POST")), max_age,
                    lists.get("allowed-headers", ()), lists.get("expose-headers", ()))

    def rate_limit(self, el: ET.Element) -> RateLimit:
        by_key = el.tag == "rate-limit-by-key"
        names = ["calls", "renewal-period", "retry-after-header-name", "retry-after-variable-name",
                 "total-calls-header-name"]
        if by_key:
            names += ["counter-key", "increment-condition", "increment-count"]
        a = self.attrs(el, names, ("calls", "renewal-period", *(("counter-key",) if by_key else ())),
                       expressions=("counter-key", "increment-condition"))
        self.no_text(el)
        self.no_children(el)  # rate-limit's <api>/<operation> limits are not run: refused
        key = self.dynamic(el, a.get("counter-key", ""), "attribute 'counter-key'") if by_key else None
        condition = None
        if "increment-condition" in a:
            compiled = self.dynamic(el, a["increment-condition"], "attribute 'increment-condition'", "bool")
            if isinstance(compiled, str):
                self.problem(el, "increment-condition must be a policy expression giving a bool")
            else:
                condition = compiled
        # APIM's documented bound on renewal-period is 300 s for rate-limit-by-key.
        return RateLimit(self.line(el), el.get("id"), self.integer(el, a, "calls", 1, 1, 10**9),
                         self.integer(el, a, "renewal-period", 60, 1, 300 if by_key else 86400), key, condition,
                         self.integer(el, a, "increment-count", 1, 0, 10**6),
                         a.get("retry-after-header-name", "Retry-After"), a.get("retry-after-variable-name"),
                         a.get("total-calls-header-name"))

    def check_header(self, el: ET.Element) -> CheckHeader:
        names = ("name", "failed-check-httpcode", "failed-check-error-message", "ignore-case")
        a = self.attrs(el, names, names)
        return CheckHeader(self.line(el), el.get("id"), a.get("name", ""),
                           self.integer(el, a, "failed-check-httpcode", 401, 100, 599),
                           a.get("failed-check-error-message", ""), self.boolean(el, a, "ignore-case", False),
                           self.values(el))

    def set_status(self, el: ET.Element) -> SetStatus:
        a = self.attrs(el, ("code", "reason"), ("code",))
        self.no_text(el)
        self.no_children(el)
        return SetStatus(self.line(el), el.get("id"), self.integer(el, a, "code", 200, 100, 599), a.get("reason", ""))

    def set_body(self, el: ET.Element) -> SetBody:
        self.attrs(el, ())  # template="liquid" and xsi:nil are not run yet: refused as unsupported attributes
        self.no_children(el)
        raw = self.value(el, el.text or "", "text", True)
        return SetBody(self.line(el), el.get("id"), self.dynamic(el, raw, "text"))

    def return_response(self, el: ET.Element) -> ReturnResponse:
        a = self.attrs(el, ("response-variable-name",))
        self.no_text(el)
        status: SetStatus | None = None
        headers: list[SetHeader] = []
        body: SetBody | None = None
        rank = 0
        for child in el:
            order = {"set-status": 1, "set-header": 2, "set-body": 3}.get(child.tag)
            if order is None:
                self.problem(child, f"<{child.tag}> is not allowed inside <return-response> "
                                    "(set-status, set-header, set-body, in that order)")
                continue
            if order < rank or (order == rank and order != 2):
                self.problem(child, f"<{child.tag}> is out of order or repeated inside <return-response> "
                                    "(set-status, set-header..., set-body)")
            rank = order
            if child.tag == "set-status":
                status = self.set_status(child)
            elif child.tag == "set-header":
                headers.append(self.set_header(child))
            else:
                body = self.set_body(child)
        return ReturnResponse(self.line(el), el.get("id"), status, tuple(headers), body,
                              a.get("response-variable-name"))

    def forward_request(self, el: ET.Element) -> ForwardRequest:
        a = self.attrs(el, ("timeout", "follow-redirects"))
        self.no_text(el)
        self.no_children(el)
        # 300 s: the timeout APIM's own trace reports for a forward-request without one.
        return ForwardRequest(self.line(el), el.get("id"), self.integer(el, a, "timeout", 300, 0, 240 * 3600),
                              self.boolean(el, a, "follow-redirects", False))

    # -- validate-jwt

    def validate_jwt(self, el: ET.Element) -> ValidateJwt:
        a = self.attrs(el, ("header-name", "query-parameter-name", "token-value", "failed-validation-httpcode",
                            "failed-validation-error-message", "require-expiration-time", "require-scheme",
                            "require-signed-tokens", "clock-skew", "output-token-variable-name"),
                       expressions=("token-value",))
        kinds: tuple[tuple[Literal["header", "query", "value"], str], ...] = (
            ("header", "header-name"), ("query", "query-parameter-name"), ("value", "token-value"))
        sources = [TokenSource(kind, a[name]) for kind, name in kinds if name in a]
        if len(sources) != 1:
            self.problem(el, "exactly one of header-name, query-parameter-name and token-value must be set "
                             f"({len(sources)} are)")
        token = sources[0] if sources else TokenSource("header", "Authorization")
        if token.kind != "value" and not token.value.strip():
            self.problem(el, f"the {token.kind} name is empty")
        token_expression: Expression | None = None
        if token.kind == "value" and is_expression(token.value):
            compiled = self.dynamic(el, token.value, "attribute 'token-value'")
            token_expression = compiled if isinstance(compiled, Expression) else None
            token = TokenSource("value", "")  # filled per request from the expression
        message = a.get("failed-validation-error-message")
        self.no_text(el)
        configs: list[OpenIdConfig] = []
        keys: tuple[KeySpec, ...] = ()
        audiences: tuple[str, ...] | None = None
        issuers: tuple[str, ...] | None = None
        claims: tuple[RequiredClaim, ...] = ()
        decryption: tuple[KeySpec, ...] = ()
        order = ("openid-config", "issuer-signing-keys", "decryption-keys", "audiences", "issuers", "required-claims")
        rank, seen = -1, set()
        for child in el:
            if child.tag not in order:
                self.problem(child, f"<{child.tag}> is not allowed inside <validate-jwt> ({', '.join(order)})")
                continue
            if order.index(child.tag) < rank or (child.tag in seen and child.tag != "openid-config"):
                self.problem(child, f"<{child.tag}> is out of order or repeated: APIM wants the elements of "
                                    f"<validate-jwt> in the order {', '.join(order)}")
            rank = order.index(child.tag)
            seen.add(child.tag)
            if child.tag == "openid-config":
                ca = self.attrs(child, ("url", "validate-connectivity"), ("url",))
                self.no_text(child)
                self.no_children(child)
                configs.append(OpenIdConfig(ca.get("url", ""),
                                            self.boolean(child, ca, "validate-connectivity", True)))
            elif child.tag == "issuer-signing-keys":
                keys = self.signing_keys(child)
            elif child.tag == "decryption-keys":
                decryption = self.decryption_keys(child, certificate_required=False)
            elif child.tag == "audiences":
                audiences = self.list_of(child, "audience")
            elif child.tag == "issuers":
                issuers = self.list_of(child, "issuer")
            else:
                claims = self.required_claims(child)
        if not configs and not keys:
            self.problem(el, "no signing keys: give <openid-config url=...> or <issuer-signing-keys>, or every "
                             "signed token would fail")
        return ValidateJwt(
            self.line(el), el.get("id"), token,
            self.integer(el, a, "failed-validation-httpcode", 401, 100, 599), message,
            self.boolean(el, a, "require-expiration-time", True), a.get("require-scheme"),
            self.boolean(el, a, "require-signed-tokens", True),
            self.integer(el, a, "clock-skew", 0, 0, 10 * 365 * 86400), a.get("output-token-variable-name"),
            tuple(configs), keys, audiences, issuers, claims, token_expression, decryption)

    def validate_azure_ad_token(self, el: ET.Element) -> ValidateAzureAdToken:
        a = self.attrs(el, ("tenant-id", "header-name", "query-parameter-name", "token-value",
                            "authentication-endpoint", "failed-validation-httpcode", "failed-validation-error-message",
                            "output-token-variable-name"), ("tenant-id",), expressions=("token-value",))
        kinds: tuple[tuple[Literal["header", "query", "value"], str], ...] = (
            ("header", "header-name"), ("query", "query-parameter-name"), ("value", "token-value"))
        sources = [TokenSource(kind, a[name]) for kind, name in kinds if name in a]
        if len(sources) > 1:
            self.problem(el, "at most one of header-name, query-parameter-name and token-value may be set "
                             f"({len(sources)} are)")
        # Without any, the token is in the Authorization header with the Bearer scheme (the reference).
        token = sources[0] if sources else TokenSource("header", "Authorization")
        token_expression: Expression | None = None
        if token.kind == "value" and is_expression(token.value):
            compiled = self.dynamic(el, token.value, "attribute 'token-value'")
            token_expression = compiled if isinstance(compiled, Expression) else None
            token = TokenSource("value", "")
        tenant = a.get("tenant-id", "").strip()
        if "tenant-id" in a and not re.fullmatch(r"(https?://[^/\s]+/)?[A-Za-z0-9.-]+/?", tenant):
            self.problem(el, f"tenant-id must be a tenant id, a domain, organizations or common (or its "
                             f"login URL), not {tenant!r}")
        endpoint = a.get("authentication-endpoint", "https://login.microsoftonline.com")
        if not re.fullmatch(r"https://[^/?#\s]+/?", endpoint):
            self.problem(el, f"authentication-endpoint must be https://host, not {endpoint!r}")
        self.no_text(el)
        lists: dict[str, tuple[str, ...]] = {}
        claims: tuple[RequiredClaim, ...] = ()
        decryption: tuple[KeySpec, ...] = ()
        order = ("backend-application-ids", "client-application-ids", "audiences", "required-claims",
                 "decryption-keys")
        rank = -1
        for child in el:
            if child.tag not in order:
                self.problem(child, f"<{child.tag}> is not allowed inside <validate-azure-ad-token> "
                                    f"({', '.join(order)})")
                continue
            if order.index(child.tag) <= rank:
                self.problem(child, f"<{child.tag}> is out of order or repeated: APIM wants {', '.join(order)}")
            rank = order.index(child.tag)
            if child.tag == "decryption-keys":
                decryption = self.decryption_keys(child, certificate_required=True)
            elif child.tag == "required-claims":
                claims = self.required_claims(child)
            else:
                lists[child.tag] = self.list_of(child, "audience" if child.tag == "audiences" else "application-id")
        return ValidateAzureAdToken(
            self.line(el), el.get("id"), tenant, endpoint, token, token_expression,
            self.integer(el, a, "failed-validation-httpcode", 401, 100, 599), a.get("failed-validation-error-message"),
            a.get("output-token-variable-name"), lists.get("backend-application-ids", ()),
            lists.get("client-application-ids", ()), lists.get("audiences", ()), claims, decryption)

    def decryption_keys(self, el: ET.Element, *, certificate_required: bool) -> tuple[KeySpec, ...]:
        """<decryption-keys>: each <key> a certificate-id (its private key decrypts) or, for validate-jwt,
        Base64 text (a symmetric key); the 2026 reference has no id or n/e forms here."""
        self.attrs(el, ())
        self.no_text(el)
        out = []
        for child in el:
            if child.tag != "key":
                self.problem(child, f"<{child.tag}> is not allowed inside <decryption-keys> (only <key>)")
                continue
            a = self.attrs(child, ("certificate-id",))
            self.no_children(child)
            text = self.text(child)
            if certificate_required and not a.get("certificate-id"):
                self.problem(child, "certificate-id is required on each decryption key of validate-azure-ad-token")
            elif bool(a.get("certificate-id")) == bool(text):
                self.problem(child, "a decryption <key> is exactly one of: certificate-id, or Base64 text (a "
                                    "symmetric key)")
            value: bytes | None = None
            if text:
                try:
                    value = base64.b64decode(text, validate=True)
                except (binascii.Error, ValueError):
                    self.problem(child, "the key text is not Base64")
            out.append(KeySpec(None, a.get("certificate-id"), None, None, value))
        if not out:
            self.problem(el, "<decryption-keys> holds no <key>")
        return tuple(out)

    def list_of(self, el: ET.Element, tag: str, checked: bool = False) -> tuple[str, ...]:
        if not checked:  # the caller read the element's attributes itself
            self.attrs(el, ())
        self.no_text(el)
        out = []
        for child in el:
            if child.tag != tag:
                self.problem(child, f"<{child.tag}> is not allowed inside <{el.tag}> (only <{tag}>)")
                continue
            self.attrs(child, ())
            self.no_children(child)
            value = self.text(child)
            if not value:
                self.problem(child, f"<{tag}> is empty")
            out.append(value)
        return tuple(out)

    def signing_keys(self, el: ET.Element) -> tuple[KeySpec, ...]:
        self.attrs(el, ())
        self.no_text(el)
        out = []
        for child in el:
            if child.tag != "key":
                self.problem(child, f"<{child.tag}> is not allowed inside <issuer-signing-keys> (only <key>)")
                continue
            a = self.attrs(child, ("certificate-id", "n", "e"))
            self.no_children(child)
            text = self.text(child)
            forms = [bool(a.get("certificate-id")), "n" in a or "e" in a, bool(text)]
            if sum(forms) != 1:
                self.problem(child, "a <key> is exactly one of: certificate-id, n and e (RSA), or Base64 text "
                                    "(a symmetric key)")
            if ("n" in a) != ("e" in a):
                self.problem(child, "n and e go together (the RSA modulus and exponent, Base64url)")
            for name in ("n", "e"):
                if name in a and not _is_b64url(a[name]):
                    self.problem(child, f"attribute {name!r} is not Base64url")
            value: bytes | None = None
            if text:
                try:
                    value = base64.b64decode(text, validate=True)
                except (binascii.Error, ValueError):
                    self.problem(child, "the key text is not Base64")
            # `id` is every policy element's attribute too; on <key> it is matched to the token's kid.
            out.append(KeySpec(child.get("id"), a.get("certificate-id"), a.get("n"), a.get("e"), value))
        return tuple(out)

    def required_claims(self, el: ET.Element) -> tuple[RequiredClaim, ...]:
        self.attrs(el, ())
        self.no_text(el)
        out = []
        for child in el:
            if child.tag != "claim":
                self.problem(child, f"<{child.tag}> is not allowed inside <required-claims> (only <claim>)")
                continue
            a = self.attrs(child, ("name", "match", "separator"), ("name",))
            match = a.get("match", "all")
            if match not in ("all", "any"):
                self.problem(child, f"match must be all or any, not {match!r}")
                match = "all"
            separator = a.get("separator")
            if separator == "":
                self.problem(child, "separator is empty")
                separator = None
            out.append(RequiredClaim(a.get("name", ""), cast(Literal["all", "any"], match), separator,
                                     self.values(child)))
        return tuple(out)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_b64url(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9_-]+={0,2}", text))
