"""APIM policy documents, parsed from the XML people export from the portal into typed statements.

Nothing is skipped: an element or attribute mockidp does not run is refused with its line and why,
since a skipped security policy is a false pass. All problems of a document are collected and raised
together (PolicyError). The parser is defusedxml's: no DTDs, no entities, no external references, and
a size limit. Scope composition (`<base/>`) is compose(). Supported elements: docs/apim.md.
"""

from __future__ import annotations

import base64
import binascii
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, cast

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

Section = Literal["inbound", "backend", "outbound", "on-error"]
Scope = Literal["global", "product", "api", "operation"]
SECTIONS: tuple[Section, ...] = ("inbound", "backend", "outbound", "on-error")
SCOPES: tuple[Scope, ...] = ("global", "product", "api", "operation")
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
_EXPRESSION = "policy expressions (@(...) and @{...}) are not supported yet; mockidp refuses them rather than " \
              "running the policy without them. Write a literal value, or a {{named value}}"


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


@dataclass(frozen=True, slots=True)
class SetHeader(Statement):
    name: str
    exists_action: Literal["override", "skip", "append", "delete"]
    values: tuple[str, ...]


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
    text: str


@dataclass(frozen=True, slots=True)
class ReturnResponse(Statement):
    status: SetStatus | None
    headers: tuple[SetHeader, ...]
    body: SetBody | None


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
}
# Known APIM policies mockidp does not run yet: refused with this reason rather than "unknown".
_LATER = ("validate-azure-ad-token", "set-query-parameter", "set-variable", "set-backend-service", "rewrite-uri",
          "choose", "cors", "rate-limit", "rate-limit-by-key", "send-request", "mock-response", "trace",
          "set-method", "find-and-replace", "json-to-xml", "xml-to-json", "limit-concurrency", "retry",
          "log-to-eventhub", "send-one-way-request", "cache-lookup", "cache-store", "ip-filter",
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

    def value(self, el: ET.Element, raw: str, what: str) -> str:
        """A literal with {{named values}} substituted; an expression is refused (after substitution too,
        since a named value may hold one)."""
        if raw.lstrip().startswith(("@(", "@{")):
            self.problem(el, f"{what}: {_EXPRESSION}")
            return raw
        def substitute(m: re.Match[str]) -> str:
            name = m.group(1).strip()
            if not _NAMED_VALUE_NAME.match(name) or name not in self.named_values:
                self.problem(el, f"{what}: named value {{{{{name}}}}} is not defined")
                return m.group(0)
            return self.named_values[name]
        out = _NAMED_VALUE.sub(substitute, raw)
        if out != raw and out.lstrip().startswith(("@(", "@{")):
            self.problem(el, f"{what}: the named value holds a policy expression; {_EXPRESSION}")
        return out

    def attrs(self, el: ET.Element, allowed: Sequence[str], required: Sequence[str] = ()) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, raw in el.attrib.items():
            if name != "id" and name not in allowed:
                self.problem(el, f"attribute {name!r} is not supported by mockidp on <{el.tag}>; supported: "
                                 f"{', '.join(allowed) or 'none'}")
                continue
            out[name] = self.value(el, raw, f"attribute {name!r}")
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

    def section(self, el: ET.Element, section: Section) -> tuple[Statement, ...]:
        out: list[Statement] = []
        bases = 0
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
                if bases > 1:
                    self.problem(child, f"<base/> appears more than once in <{section}>")
            statement = self.statement(child)
            if statement is not None:
                out.append(statement)
        return tuple(out)

    def statement(self, el: ET.Element) -> Statement | None:
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

    def set_header(self, el: ET.Element) -> SetHeader:
        a = self.attrs(el, ("name", "exists-action"), ("name",))
        action = a.get("exists-action", "override")
        if action not in ("override", "skip", "append", "delete"):
            self.problem(el, f"exists-action must be override, skip, append or delete, not {action!r}")
            action = "override"
        return SetHeader(self.line(el), el.get("id"), a.get("name", ""),
                         cast(Literal["override", "skip", "append", "delete"], action), self.values(el))

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
        return SetBody(self.line(el), el.get("id"), self.value(el, el.text or "", "text"))

    def return_response(self, el: ET.Element) -> ReturnResponse:
        self.attrs(el, ())  # response-variable-name needs set-variable/send-request: refused for now
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
        return ReturnResponse(self.line(el), el.get("id"), status, tuple(headers), body)

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
                            "require-signed-tokens", "clock-skew", "output-token-variable-name"))
        kinds: tuple[tuple[Literal["header", "query", "value"], str], ...] = (
            ("header", "header-name"), ("query", "query-parameter-name"), ("value", "token-value"))
        sources = [TokenSource(kind, a[name]) for kind, name in kinds if name in a]
        if len(sources) != 1:
            self.problem(el, "exactly one of header-name, query-parameter-name and token-value must be set "
                             f"({len(sources)} are)")
        token = sources[0] if sources else TokenSource("header", "Authorization")
        if token.kind != "value" and not token.value.strip():
            self.problem(el, f"the {token.kind} name is empty")
        message = a.get("failed-validation-error-message")
        self.no_text(el)
        configs: list[OpenIdConfig] = []
        keys: tuple[KeySpec, ...] = ()
        audiences: tuple[str, ...] | None = None
        issuers: tuple[str, ...] | None = None
        claims: tuple[RequiredClaim, ...] = ()
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
                self.problem(child, "<decryption-keys> (encrypted tokens, JWE) is not supported by mockidp yet; "
                                    "refused rather than skipped")
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
            tuple(configs), keys, audiences, issuers, claims)

    def list_of(self, el: ET.Element, tag: str) -> tuple[str, ...]:
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


def _is_b64url(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9_-]+={0,2}", text))
