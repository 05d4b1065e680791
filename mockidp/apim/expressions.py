"""APIM policy expressions, the documented subset mockidp runs (docs/apim.md#policy-expressions).

APIM compiles C# against an allow-list of .NET types; mockidp cannot run C#. It reads a small subset with
its own tokenizer and recursive-descent parser, and type-checks every member access while parsing, so
a policy using anything outside the subset is refused when the seed loads (ExpressionError, with the
column and why), never skipped or run as text. The result is a tree of typed nodes that evaluates
against the runtime's Context. What .NET throws at run time (a null reference, a missing dictionary key)
raises EvaluationFailure with .NET's message: APIM's ExpressionValueEvaluationFailure.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from mockidp.apim.jwt_claims import Jwt

MAX_EXPRESSION_CHARS = 8 * 1024  # mockidp's bound; an expression this long is no longer a policy's
MAX_TREE_DEPTH = 256  # evaluation is recursive: bounded well below Python's recursion limit
MAX_DEPTH = 64  # nesting bound, so a hostile document cannot exhaust the parser's stack

NRE = "Object reference not set to an instance of an object."


class ExpressionError(ValueError):
    """An expression outside the subset, or ill-typed: refused at load."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.column = column  # 1-based, in the expression as written (after the leading @)


class EvaluationFailure(Exception):
    """What .NET would throw while evaluating: APIM answers ExpressionValueEvaluationFailure."""


# --- tokens -----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # ident | string | char | int | op | end
    text: str
    value: object
    at: int  # 0-based offset


_OPERATORS = ("&&", "||", "==", "!=", "<=", ">=", "??", "!", "<", ">", "?", ":", "(", ")", "[", "]", ".", ",",
              "{", "}", ";", "+", "-")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(r"[0-9]+")


def _tokens(text: str) -> list[_Token]:
    """The tokens, ending in `end`, or in `bad` where the text leaves the subset: the parser reports that
    one only when it gets there, so an unsupported member named before it is what the message names."""
    out: list[_Token] = []
    try:
        _scan(text, out)
    except ExpressionError as exc:
        out.append(_Token("bad", "", exc, exc.column - 1))
    return out


def _scan(text: str, out: list[_Token]) -> None:
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "\"'":
            start, i, chars = i, i + 1, []
            while i < len(text) and text[i] != c:
                if text[i] == "\\":
                    if i + 1 >= len(text) or text[i + 1] not in _ESCAPES:
                        raise ExpressionError("this escape sequence is not supported (\\n \\t \\r \\0 \\\\ \\\" \\')",
                                              i + 1)
                    chars.append(_ESCAPES[text[i + 1]])
                    i += 2
                    continue
                if text[i] == "\n":
                    raise ExpressionError("newline in a string literal", i + 1)
                chars.append(text[i])
                i += 1
            if i >= len(text):
                raise ExpressionError("the string literal is not closed", start + 1)
            i += 1
            literal = "".join(chars)
            if c == "'" and len(literal) != 1:
                raise ExpressionError("a char literal ('x') holds exactly one character; write strings in \"...\"",
                                      start + 1)
            out.append(_Token("string" if c == '"' else "char", text[start:i], literal, start))
            continue
        if c == "@" and text[i + 1:i + 2] == '"':
            raise ExpressionError('verbatim strings (@"...") are not supported', i + 1)
        if m := _IDENT.match(text, i):
            out.append(_Token("ident", m.group(), m.group(), i))
            i = m.end()
            continue
        if m := _INT.match(text, i):
            if text[m.end():m.end() + 1] in (".", "L", "l", "u", "U", "f", "d", "m", "x") and \
                    not (text[m.end():m.end() + 1] == "." and text[m.end() + 1:m.end() + 2].isalpha()):
                raise ExpressionError("only whole int literals are supported", i + 1)
            if int(m.group()) > 2**31:
                raise ExpressionError("the integer literal is too large for an int", i + 1)
            out.append(_Token("int", m.group(), int(m.group()), i))
            i = m.end()
            continue
        op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if op is None:
            raise ExpressionError(f"{c!r} is not part of the supported expression subset", i + 1)
        out.append(_Token("op", op, op, i))
        i += len(op)
    out.append(_Token("end", "", None, len(text)))


# --- the typed tree ---------------------------------------------------------------------------------

STRING, INT, BOOL, CHAR, OBJECT, NULL, JWT = "string", "int", "bool", "char", "object", "null", "Jwt"
STRINGS, ENUMERABLE = "string[]", "IEnumerable<string>"
TEXT_TYPES = frozenset({"string", "int", "bool", "char", "object", "null"})  # what a text value may be made of
VARIABLE_TYPES = frozenset({"string", "int", "bool", "Jwt", "object", "null", "IResponse"})  # set-variable
_REFERENCE = {STRING, OBJECT, JWT, STRINGS, ENUMERABLE, NULL}
_CASTS = {"string": STRING, "int": INT, "bool": BOOL, "Jwt": JWT}


class Node(ABC):
    """A compiled expression; each kind of node evaluates itself."""

    type: str

    @abstractmethod
    def eval(self, ctx: Any) -> object: ...


@dataclass(frozen=True, slots=True)
class Const(Node):
    value: object
    type: str

    def eval(self, ctx: Any) -> object:
        return self.value


@dataclass(frozen=True, slots=True)
class Root(Node):
    """`context`."""

    type: str = "IContext"

    def eval(self, ctx: Any) -> object:
        return ctx


@dataclass(frozen=True, slots=True)
class Access(Node):
    """A property, method or indexer resolved while parsing: fn(target, *args)."""

    target: Node | None  # None for static members (String.IsNullOrEmpty)
    name: str
    args: tuple[Node, ...]
    fn: Callable[..., object]
    type: str

    def eval(self, ctx: Any) -> object:
        target = self.target.eval(ctx) if self.target is not None else None
        if self.target is not None and target is None:
            raise EvaluationFailure(NRE)
        return self.fn(target, *(a.eval(ctx) for a in self.args)) if self.target is not None \
            else self.fn(*(a.eval(ctx) for a in self.args))


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str  # ! or -
    operand: Node
    type: str

    def eval(self, ctx: Any) -> object:
        value = self.operand.eval(ctx)
        return (not value) if self.op == "!" else _int32(-_as_int(value))


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node
    type: str

    def eval(self, ctx: Any) -> object:
        if self.op == "&&":
            return bool(self.left.eval(ctx)) and bool(self.right.eval(ctx))
        if self.op == "||":
            return bool(self.left.eval(ctx)) or bool(self.right.eval(ctx))
        if self.op == "??":
            value = self.left.eval(ctx)
            return value if value is not None else self.right.eval(ctx)
        a, b = self.left.eval(ctx), self.right.eval(ctx)
        if self.op == "==":
            return a == b
        if self.op == "!=":
            return a != b
        if self.op == "+":
            if self.type == STRING:
                return to_text(a) + to_text(b)
            return _int32(_as_int(a) + _as_int(b))
        x, y = _as_int(a), _as_int(b)
        return {"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[self.op]


@dataclass(frozen=True, slots=True)
class Conditional(Node):
    condition: Node
    then: Node
    otherwise: Node
    type: str

    def eval(self, ctx: Any) -> object:
        return self.then.eval(ctx) if self.condition.eval(ctx) else self.otherwise.eval(ctx)


@dataclass(frozen=True, slots=True)
class Cast(Node):
    operand: Node
    type: str

    def eval(self, ctx: Any) -> object:
        return cast_to(self.operand.eval(ctx), self.type)


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled `@(...)` or `@{ return ...; }`: its text as written and its typed tree."""

    source: str
    root: Node

    @property
    def type(self) -> str:
        return self.root.type

    def evaluate(self, ctx: Any) -> object:
        """The value against a runtime Context; EvaluationFailure where .NET would throw."""
        try:
            return self.root.eval(ctx)
        except RecursionError:
            raise EvaluationFailure("the expression nests too deeply") from None

    def text(self, ctx: Any) -> str:
        """The value as a policy attribute or body gets it: .NET's ToString (null as empty)."""
        return to_text(self.evaluate(ctx))


# --- .NET semantics ---------------------------------------------------------------------------------

def _int32(value: int) -> int:
    """C#'s unchecked int arithmetic wraps around."""
    return (value + 2**31) % 2**32 - 2**31


def _as_int(value: object) -> int:
    if value is None or isinstance(value, bool) or not isinstance(value, int):
        raise EvaluationFailure(NRE)
    return value


def dotnet_type(value: object) -> str:
    if isinstance(value, bool):
        return "System.Boolean"
    if isinstance(value, int):
        return "System.Int32"
    if isinstance(value, str):
        return "System.String"
    if isinstance(value, Jwt):
        return "Microsoft.Azure.ApiManagement.Policies.Expressions.Jwt"
    if isinstance(value, list | tuple):
        return "System.String[]"
    return "System.Object"


def to_text(value: object) -> str:
    """ToString as .NET spells it (True/False; a null concatenates as empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str | int):
        return str(value)
    return dotnet_type(value)


def cast_to(value: object, type_: str) -> object:
    if value is None:
        if type_ in (INT, BOOL):
            raise EvaluationFailure(NRE)  # unboxing null
        return None
    ok = {STRING: isinstance(value, str), BOOL: isinstance(value, bool),
          INT: isinstance(value, int) and not isinstance(value, bool), JWT: isinstance(value, Jwt),
          OBJECT: True}[type_]
    if not ok:
        target = {STRING: "System.String", INT: "System.Int32", BOOL: "System.Boolean",
                  JWT: dotnet_type(Jwt.of({}, {}))}[type_]
        raise EvaluationFailure(f"Unable to cast object of type '{dotnet_type(value)}' to type '{target}'.")
    return value


def _not_null(value: object, parameter: str) -> Any:
    if value is None:
        raise EvaluationFailure(f"Value cannot be null. (Parameter '{parameter}')")
    return value


def _pairs_get(pairs: Sequence[tuple[str, str]], name: str, ignore_case: bool) -> list[str]:
    _not_null(name, "key")
    if ignore_case:
        return [v for k, v in pairs if k.lower() == name.lower()]
    return [v for k, v in pairs if k == name]


def _lookup(values: list[str], name: str) -> list[str]:
    if not values:
        raise EvaluationFailure(f"The given key '{name}' was not present in the dictionary.")
    return values


def _substring(s: str, start: int, length: int | None = None) -> str:
    if start < 0:
        raise EvaluationFailure("StartIndex cannot be less than zero. (Parameter 'startIndex')")
    if length is None:
        if start > len(s):
            raise EvaluationFailure("startIndex cannot be larger than length of string. (Parameter 'startIndex')")
        return s[start:]
    if length < 0:
        raise EvaluationFailure("Length cannot be less than zero. (Parameter 'length')")
    if start + length > len(s):
        raise EvaluationFailure("Index and length must refer to a location within the string. (Parameter 'length')")
    return s[start:start + length]


def _replace(s: str, old: str, new: str | None) -> str:
    if _not_null(old, "oldValue") == "":
        raise EvaluationFailure("The value cannot be an empty string. (Parameter 'oldValue')")
    return s.replace(old, new or "")


def _parse_int(s: str | None) -> int:
    text = str(_not_null(s, "s"))
    if not re.fullmatch(r"\s*[+-]?[0-9]+\s*", text):
        raise EvaluationFailure(f"The input string '{text}' was not in a correct format.")
    value = int(text)
    if not -2**31 <= value < 2**31:
        raise EvaluationFailure("Value was either too large or too small for an Int32.")
    return value


def _index(items: Sequence[str], i: int) -> str:
    if not 0 <= i < len(items):
        raise EvaluationFailure("Index was outside the bounds of the array.")
    return items[i]


class _NoResponse:
    """context.Response before the backend answered: APIM's is never null."""

    def __init__(self) -> None:
        self.status = 200
        self.reason = "OK"
        self.headers: list[tuple[str, str]] = []


def _query_string(r: Any) -> str:
    return ("?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in r.query)) if r.query else ""


def _port(r: Any) -> int:
    host, _, port = r.host.rpartition(":")
    return int(port) if host and port.isdigit() else (443 if r.scheme == "https" else 80)


class _Original:
    def __init__(self, r: Any) -> None:
        self.query = r.original_query


def _response(c: Any) -> Any:
    return c.response if c.response is not None else _NoResponse()


def _variable(c: Any, name: str) -> object:
    variables = c.variables
    if _not_null(name, "key") not in variables:
        raise EvaluationFailure(f"The given key '{name}' was not present in the dictionary.")
    return variables[name]


# --- members ----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Member:
    params: tuple[str, ...] | None  # None: a property
    type: str
    fn: Callable[..., object]


def _props(**members: tuple[str, Callable[..., object]]) -> dict[str, list[_Member]]:
    return {name: [_Member(None, t, fn)] for name, (t, fn) in members.items()}


def _dictionary(get: Callable[[Any, str], list[str]]) -> dict[str, list[_Member]]:
    """APIM's IReadOnlyDictionary<string, string[]> members, with its comma-joining GetValueOrDefault."""
    def or_default(t: Any, name: str, default: str | None = None) -> str | None:
        values = get(t, name)
        return ",".join(values) if values else default
    return {
        "GetValueOrDefault": [_Member((STRING,), STRING, or_default), _Member((STRING, STRING), STRING, or_default)],
        "ContainsKey": [_Member((STRING,), BOOL, lambda t, name: bool(get(t, name)))],
        "[]": [_Member((STRING,), STRINGS, lambda t, name: _lookup(get(t, name), name))],
    }


_STRING_MEMBERS: dict[str, list[_Member]] = {
    "Length": [_Member(None, INT, len)],
    "StartsWith": [_Member((STRING,), BOOL, lambda s, x: s.startswith(_not_null(x, "value")))],
    "EndsWith": [_Member((STRING,), BOOL, lambda s, x: s.endswith(_not_null(x, "value")))],
    "Contains": [_Member((STRING,), BOOL, lambda s, x: _not_null(x, "value") in s)],
    "ToLower": [_Member((), STRING, lambda s: s.lower())],
    "ToUpper": [_Member((), STRING, lambda s: s.upper())],
    "ToLowerInvariant": [_Member((), STRING, lambda s: s.lower())],
    "ToUpperInvariant": [_Member((), STRING, lambda s: s.upper())],
    "Trim": [_Member((), STRING, lambda s: s.strip())],
    "Split": [_Member((CHAR,), STRINGS, lambda s, sep: s.split(sep)),
              _Member((STRING,), STRINGS, lambda s, sep: s.split(sep) if sep else [s])],
    "Substring": [_Member((INT,), STRING, _substring), _Member((INT, INT), STRING, _substring)],
    "Replace": [_Member((STRING, STRING), STRING, _replace)],
    "ToString": [_Member((), STRING, lambda s: s)],
}

MEMBERS: dict[str, dict[str, list[_Member]]] = {
    "IContext": _props(Request=("IRequest", lambda c: c.request), Response=("IResponse", _response),
                       Variables=("IVariables", lambda c: c), Subscription=("ISubscription", lambda c: c.subscription),
                       LastError=("ILastError", lambda c: c.last_error), Api=("IApi", lambda c: c.api),
                       Operation=("IOperation", lambda c: c.operation)),
    "IRequest": {**_props(IpAddress=(STRING, lambda r: r.ip), Method=(STRING, lambda r: r.method),
                          Headers=("IHeaders", lambda r: r), Url=("IUrl", lambda r: r),
                          OriginalUrl=("IOriginalUrl", lambda r: r))},
    "IResponse": _props(StatusCode=(INT, lambda r: r.status), StatusReason=(STRING, lambda r: r.reason),
                        Headers=("IHeaders", lambda r: r)),
    "IHeaders": _dictionary(lambda m, name: _pairs_get(m.headers, name, True)),
    "IUrl": _props(Path=(STRING, lambda r: r.path), Host=(STRING, lambda r: r.host.rsplit(":", 1)[0]),
                   Scheme=(STRING, lambda r: r.scheme), Query=("IQuery", lambda r: r),
                   Port=(INT, _port), QueryString=(STRING, _query_string)),
    "IQuery": _dictionary(lambda r, name: _pairs_get(r.query, name, False)),
    # The URL as received: path and query before rewrite-uri and set-query-parameter changed them.
    "IOriginalUrl": _props(Path=(STRING, lambda r: r.original_path), Host=(STRING, lambda r: r.host.rsplit(":", 1)[0]),
                           Scheme=(STRING, lambda r: r.scheme), Port=(INT, _port),
                           QueryString=(STRING, lambda r: _query_string(_Original(r)))),
    "IVariables": {
        "ContainsKey": [_Member((STRING,), BOOL, lambda c, name: _not_null(name, "key") in c.variables)],
        "[]": [_Member((STRING,), OBJECT, _variable)],
    },
    "ISubscription": _props(Id=(STRING, lambda s: s.id), Name=(STRING, lambda s: s.name), Key=(STRING, lambda s: s.key),
                            PrimaryKey=(STRING, lambda s: s.primary_key),
                            SecondaryKey=(STRING, lambda s: s.secondary_key)),
    "ILastError": _props(Source=(STRING, lambda e: e.source), Reason=(STRING, lambda e: e.reason),
                         Message=(STRING, lambda e: e.message), Scope=(STRING, lambda e: e.scope),
                         Section=(STRING, lambda e: e.section), Path=(STRING, lambda e: e.path),
                         PolicyId=(STRING, lambda e: e.policy_id)),
    "IApi": _props(Id=(STRING, lambda a: a.id), Name=(STRING, lambda a: a.name), Path=(STRING, lambda a: a.path)),
    "IOperation": _props(Id=(STRING, lambda o: o.id), Name=(STRING, lambda o: o.name),
                         Method=(STRING, lambda o: o.method), UrlTemplate=(STRING, lambda o: o.url_template)),
    JWT: _props(Claims=("IClaims", lambda j: j), Subject=(STRING, lambda j: j.subject),
                Issuer=(STRING, lambda j: j.issuer), Id=(STRING, lambda j: j.id), Type=(STRING, lambda j: j.type),
                Algorithm=(STRING, lambda j: j.algorithm), Audiences=(ENUMERABLE, lambda j: list(j.audiences))),
    "IClaims": _dictionary(lambda j, name: list(j.claims.get(_not_null(name, "key"), ()))),
    STRING: _STRING_MEMBERS,
    STRINGS: {"Length": [_Member(None, INT, len)], "[]": [_Member((INT,), STRING, _index)],
              "Contains": [_Member((STRING,), BOOL, lambda xs, x: x in xs)]},
    ENUMERABLE: {"Contains": [_Member((STRING,), BOOL, lambda xs, x: x in xs)]},
    INT: {"ToString": [_Member((), STRING, to_text)]},
    BOOL: {"ToString": [_Member((), STRING, to_text)]},
    CHAR: {"ToString": [_Member((), STRING, to_text)]},
    OBJECT: {"ToString": [_Member((), STRING, to_text)]},
}
STATICS: dict[str, dict[str, list[_Member]]] = {
    "String": {"IsNullOrEmpty": [_Member((STRING,), BOOL, lambda s: s is None or s == "")]},
    "int": {"Parse": [_Member((STRING,), INT, _parse_int)]},
}
STATICS["string"] = STATICS["String"]
_VARIABLE_TYPES = {"string": STRING, "int": INT, "bool": BOOL, "Jwt": JWT}


def _get_variable(type_: str) -> Callable[..., object]:
    def get(c: Any, name: str, default: object = None) -> object:
        variables = c.variables
        if _not_null(name, "key") not in variables:
            if default is None and type_ in (INT, BOOL):
                return 0 if type_ == INT else False  # default(T)
            return default
        return cast_to(variables[name], type_)
    return get


def assignable(source: str, target: str) -> bool:
    return source == target or target == OBJECT or (source == NULL and target in _REFERENCE)


def describe(type_: str) -> str:
    return {"IContext": "context", "IVariables": "context.Variables"}.get(type_, type_)


# --- parser -----------------------------------------------------------------------------------------

class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        tok = self.toks[self.i]
        if tok.kind == "bad" and isinstance(tok.value, ExpressionError):
            raise tok.value
        return tok

    def peek(self, n: int = 1) -> _Token:
        return self.toks[min(self.i + n, len(self.toks) - 1)]

    def error(self, message: str, tok: _Token | None = None) -> ExpressionError:
        return ExpressionError(message, (tok or self.tok).at + 1)

    def take(self, op: str) -> _Token:
        if self.tok.kind != "op" or self.tok.text != op:
            found = repr(self.tok.text) if self.tok.kind != "end" else "the end"
            raise self.error(f"expected {op!r}, found {found}")
        tok = self.tok
        self.i += 1
        return tok

    def at(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"the expression nests deeper than {MAX_DEPTH} levels")

    # expression := conditional
    def expression(self) -> Node:
        self.deeper()
        try:
            return self.conditional()
        finally:
            self.depth -= 1

    def conditional(self) -> Node:
        condition = self.coalesce()
        if not self.at("?"):
            return condition
        tok = self.take("?")
        self.require(condition, BOOL, "the condition of ?:", tok)
        then = self.expression()
        self.take(":")
        otherwise = self.expression()
        return Conditional(condition, then, otherwise, self.common(then, otherwise, "the branches of ?:", tok))

    def common(self, a: Node, b: Node, what: str, tok: _Token) -> str:
        if a.type == b.type:
            return a.type
        if a.type == NULL and b.type in _REFERENCE:
            return b.type
        if b.type == NULL and a.type in _REFERENCE:
            return a.type
        raise self.error(f"{what} have different types ({describe(a.type)} and {describe(b.type)})", tok)

    def coalesce(self) -> Node:
        left = self.logical_or()
        if not self.at("??"):
            return left
        tok = self.take("??")
        if left.type not in _REFERENCE:
            raise self.error(f"?? needs a value that can be null on its left, not {describe(left.type)}", tok)
        right = self.coalesce()
        return Binary("??", left, right, self.common(left, right, "the two sides of ??", tok))

    def logical_or(self) -> Node:
        left = self.logical_and()
        while self.at("||"):
            tok = self.take("||")
            right = self.logical_and()
            self.require(left, BOOL, "||", tok)
            self.require(right, BOOL, "||", tok)
            left = Binary("||", left, right, BOOL)
        return left

    def logical_and(self) -> Node:
        left = self.equality()
        while self.at("&&"):
            tok = self.take("&&")
            right = self.equality()
            self.require(left, BOOL, "&&", tok)
            self.require(right, BOOL, "&&", tok)
            left = Binary("&&", left, right, BOOL)
        return left

    def equality(self) -> Node:
        left = self.relational()
        while self.at("==", "!="):
            tok = self.tok
            self.i += 1
            right = self.relational()
            types = {left.type, right.type}
            if OBJECT in types and types != {OBJECT, NULL}:
                raise self.error(f"{tok.text} between object and {describe((types - {OBJECT}).pop())} compares "
                                 "references in C#: cast the variable first, e.g. (string)context.Variables[\"x\"]",
                                 tok)
            if not (left.type == right.type or (NULL in types and types <= _REFERENCE)):
                raise self.error(f"{tok.text} cannot compare {describe(left.type)} with {describe(right.type)}", tok)
            left = Binary(tok.text, left, right, BOOL)
        return left

    def relational(self) -> Node:
        left = self.additive()
        while self.at("<", ">", "<=", ">="):
            tok = self.tok
            self.i += 1
            right = self.additive()
            self.require(left, INT, tok.text, tok)
            self.require(right, INT, tok.text, tok)
            left = Binary(tok.text, left, right, BOOL)
        return left

    def additive(self) -> Node:
        left = self.unary()
        while self.at("+"):
            tok = self.take("+")
            right = self.unary()
            if STRING in (left.type, right.type):
                for side in (left, right):
                    if side.type not in (STRING, INT, BOOL, CHAR, OBJECT, NULL):
                        raise self.error(f"+ cannot join {describe(side.type)} to a string", tok)
                left = Binary("+", left, right, STRING)
            elif left.type == INT and right.type == INT:
                left = Binary("+", left, right, INT)
            else:
                raise self.error(f"+ adds two ints or joins strings, not {describe(left.type)} and "
                                 f"{describe(right.type)}", tok)
        return left

    def require(self, node: Node, type_: str, what: str, tok: _Token) -> None:
        if node.type != type_:
            raise self.error(f"{what} needs {type_}, not {describe(node.type)}", tok)

    def unary(self) -> Node:
        if self.at("!"):
            tok = self.take("!")
            self.deeper()
            operand = self.unary()
            self.depth -= 1
            self.require(operand, BOOL, "!", tok)
            return Unary("!", operand, BOOL)
        if self.at("-"):
            tok = self.take("-")
            self.deeper()
            operand = self.unary()
            self.depth -= 1
            self.require(operand, INT, "unary -", tok)
            return Unary("-", operand, INT)
        if self.at("(") and self.peek().kind == "ident" and self.peek().text in _CASTS \
                and self.peek(2).kind == "op" and self.peek(2).text == ")" and self.starts_operand(self.peek(3)):
            self.take("(")
            type_ = _CASTS[self.tok.text]
            tok = self.tok
            self.i += 1
            self.take(")")
            self.deeper()
            operand = self.unary()
            self.depth -= 1
            if operand.type == type_:
                return operand
            if operand.type not in (OBJECT, NULL):
                raise self.error(f"cannot cast {describe(operand.type)} to {type_}", tok)
            return Cast(operand, type_)
        return self.postfix(self.primary())

    @staticmethod
    def starts_operand(tok: _Token) -> bool:
        return tok.kind in ("ident", "string", "char", "int") or (tok.kind == "op" and tok.text in ("(", "!"))

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind in ("string", "char", "int"):
            self.i += 1
            return Const(tok.value, {"string": STRING, "char": CHAR, "int": INT}[tok.kind])
        if self.at("("):
            self.take("(")
            node = self.expression()
            self.take(")")
            return node
        if tok.kind != "ident":
            found = repr(tok.text) if tok.kind != "end" else "the end"
            raise self.error(f"expected a value, found {found}")
        self.i += 1
        if tok.text in ("true", "false"):
            return Const(tok.text == "true", BOOL)
        if tok.text == "null":
            return Const(None, NULL)
        if tok.text == "context":
            return Root()
        if tok.text in STATICS and self.at("."):
            self.take(".")
            name = self.tok
            if name.kind != "ident" or name.text not in STATICS[tok.text]:
                supported = ", ".join(f"{tok.text}.{m}" for m in STATICS[tok.text])
                raise self.error(f"{tok.text}.{name.text} is not supported (supported: {supported})", name)
            self.i += 1
            return self.call(None, tok.text + "." + name.text, STATICS[tok.text][name.text], name)
        raise self.error(f"{tok.text!r} is not supported: an expression starts from context, a literal, "
                         "String.IsNullOrEmpty or int.Parse", tok)

    def postfix(self, node: Node) -> Node:
        while self.at(".", "["):
            if self.at("["):
                tok = self.take("[")
                members = MEMBERS.get(node.type, {}).get("[]")
                if members is None:
                    raise self.error(f"{describe(node.type)} has no indexer", tok)
                index = self.expression()
                self.take("]")
                member = next((m for m in members if m.params and assignable(index.type, m.params[0])), None)
                if member is None:
                    raise self.error(f"{describe(node.type)}[...] takes {members[0].params[0]}, "  # type: ignore[index]
                                     f"not {describe(index.type)}", tok)
                node = Access(node, "[]", (index,), member.fn, member.type)
                continue
            self.take(".")
            name = self.tok
            if name.kind != "ident":
                raise self.error("expected a member name after '.'")
            self.i += 1
            if node.type == "IVariables" and name.text == "GetValueOrDefault":
                node = self.get_variable(node, name)
                continue
            members = MEMBERS.get(node.type, {}).get(name.text)
            if members is None or name.text == "[]":
                known = sorted(m for m in MEMBERS.get(node.type, {}) if m != "[]")
                if node.type == "IVariables":
                    known = ["ContainsKey", "GetValueOrDefault<T>"]
                raise self.error(f"{describe(node.type)}.{name.text} is not supported by mockidp"
                                 + (f" (supported: {', '.join(known)})" if known else ""), name)
            node = self.call(node, name.text, members, name)
        return node

    def call(self, target: Node | None, name: str, members: list[_Member], tok: _Token) -> Node:
        if members[0].params is None:
            if self.at("("):
                raise self.error(f"{name} is a property, not a method", tok)
            return Access(target, name, (), members[0].fn, members[0].type)
        if not self.at("("):
            raise self.error(f"{name} is a method: call it with (...)", tok)
        args = self.arguments()
        for m in members:
            if m.params is not None and len(m.params) == len(args) and \
                    all(assignable(a.type, p) for a, p in zip(args, m.params, strict=True)):
                return Access(target, name, args, m.fn, m.type)
        shapes = " or ".join(f"{name}({', '.join(m.params or ())})" for m in members)
        raise self.error(f"{name}({', '.join(describe(a.type) for a in args)}) does not fit {shapes}", tok)

    def arguments(self) -> tuple[Node, ...]:
        self.take("(")
        args: list[Node] = []
        while not self.at(")"):
            args.append(self.expression())
            if not self.at(")"):
                self.take(",")
        self.take(")")
        return tuple(args)

    def get_variable(self, node: Node, tok: _Token) -> Node:
        """context.Variables.GetValueOrDefault<T>(name[, default])."""
        if not self.at("<"):
            raise self.error("write GetValueOrDefault<T>(...) with the type: string, int, bool or Jwt", tok)
        self.take("<")
        type_tok = self.tok
        if type_tok.kind != "ident" or type_tok.text not in _VARIABLE_TYPES:
            raise self.error(f"GetValueOrDefault<{type_tok.text}> is not supported (string, int, bool, Jwt)")
        self.i += 1
        self.take(">")
        type_ = _VARIABLE_TYPES[type_tok.text]
        args = self.arguments()
        if not 1 <= len(args) <= 2 or args[0].type != STRING or (len(args) == 2 and not assignable(args[1].type,
                                                                                                     type_)):
            raise self.error(f"GetValueOrDefault<{type_tok.text}> takes (string name) or (string name, "
                             f"{type_tok.text} default)", tok)
        return Access(node, "GetValueOrDefault", args, _get_variable(type_), type_)


def compile_expression(text: str) -> Expression:
    """`text` is the whole attribute or element value, starting with @( or @{ (leading space allowed)."""
    source = text.strip()
    if len(source) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters", 1)
    if source.startswith("@{") and not re.fullmatch(r"@\{\s*return\b.*;\s*\}", source, re.DOTALL):
        raise ExpressionError("a @{...} block must be exactly `return <expression>;` in mockidp (statements, "
                              "variables and if are not supported): write @(...)", 3)
    try:
        return _compile(source)
    except ExpressionError as exc:
        # Columns count in the expression as written, its leading @ included.
        raise ExpressionError(str(exc), exc.column + 1) from None


def _compile(source: str) -> Expression:
    body = source[1:]
    parser = _Parser(body)
    if source.startswith("@("):
        parser.take("(")
        root = parser.expression()
        parser.take(")")
    else:
        parser.take("{")
        if not (parser.tok.kind == "ident" and parser.tok.text == "return"):
            raise parser.error("a @{...} block must be exactly `return <expression>;` in mockidp (statements, "
                               "variables and if are not supported): write @(...)")
        parser.i += 1
        root = parser.expression()
        parser.take(";")
        if not parser.at("}"):
            raise parser.error("a @{...} block must end after its return statement")
        parser.take("}")
    if parser.tok.kind != "end":
        raise parser.error(f"unexpected {parser.tok.text!r} after the expression")
    if _depth(root) > MAX_TREE_DEPTH:
        # A chain such as 1 + 1 + ... or a.b.c... is flat to read but deep to evaluate.
        raise ExpressionError(f"the expression is more than {MAX_TREE_DEPTH} operations deep", 1)
    return Expression(source, root)


def _depth(root: Node) -> int:
    deepest, todo = 0, [(root, 1)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        children: list[Node | None] = []
        if isinstance(node, Access):
            children = [node.target, *node.args]
        elif isinstance(node, Unary | Cast):
            children = [node.operand]
        elif isinstance(node, Binary):
            children = [node.left, node.right]
        elif isinstance(node, Conditional):
            children = [node.condition, node.then, node.otherwise]
        todo.extend((c, depth + 1) for c in children if c is not None)
    return deepest


def is_expression(text: str) -> bool:
    return text.lstrip().startswith(("@(", "@{"))
