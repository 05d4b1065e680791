"""APIM URL templates: an operation's `/users/{id}/orders/{orderId}?status={status}`, matched against a
request (the gateway routes on it; rewrite-uri reads its parameters) and expanded (rewrite-uri's template).

A `{name}` path parameter matches one non-empty segment; `{*name}` the rest of the path. Literal parts
compare ignoring case. A query part names parameters the request must carry. Values are percent-decoded
when matched and percent-encoded when expanded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote

_PARAM = re.compile(r"\{(\*?)([^{}]+)\}")


@dataclass(frozen=True, slots=True)
class UrlTemplate:
    text: str
    path: re.Pattern[str]
    names: tuple[str, ...]  # the path's parameters, in order
    query: tuple[tuple[str, str | None], ...]  # (query parameter, template parameter or None for a literal)
    literal_query: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> UrlTemplate:
        path, _, query = text.partition("?")
        pattern, names, at = "", [], 0
        for m in _PARAM.finditer(path):
            pattern += re.escape(path[at:m.start()])
            names.append(m.group(2).strip())
            pattern += f"(?P<p{len(names) - 1}>.*)" if m.group(1) else f"(?P<p{len(names) - 1}>[^/]+)"
            at = m.end()
        pattern += re.escape(path[at:])
        params: list[tuple[str, str | None]] = []
        literal: list[tuple[str, str]] = []
        for name, value in parse_qsl(query, keep_blank_values=True):
            whole = _PARAM.fullmatch(value)
            if whole:
                params.append((name, whole.group(2).strip()))
            else:
                literal.append((name, value))
        # A trailing slash on the request is tolerated, as the gateway's matching does.
        return cls(text, re.compile(pattern.rstrip("/") + "/?", re.IGNORECASE), tuple(names), tuple(params),
                   tuple(literal))

    def match(self, path: str, query: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> dict[str, str] | None:
        """The template's parameters from a request path (the operation's part, after the API suffix) and
        query, or None when it does not match."""
        m = self.path.fullmatch(path or "/")
        if m is None:
            return None
        out = {name: unquote(m.group(f"p{i}")) for i, name in enumerate(self.names)}
        for name, param in self.query:
            values = [v for k, v in query if k == name]
            if not values:
                return None
            if param is not None:
                out[param] = values[0]
        return out

    def query_names(self) -> set[str]:
        return {name for name, _ in self.query}


def expand(template: str, params: dict[str, str]) -> tuple[str, list[tuple[str, str]]]:
    """rewrite-uri's template filled in: the new path and its query. An unknown parameter expands empty."""
    path, _, query = template.partition("?")

    def fill(m: re.Match[str], *, safe: str) -> str:
        return quote(params.get(m.group(2).strip(), ""), safe=safe)

    new_path = _PARAM.sub(lambda m: fill(m, safe="/" if m.group(1) else ""), path)
    pairs = [(k, _PARAM.sub(lambda m: params.get(m.group(2).strip(), ""), v))
             for k, v in parse_qsl(query, keep_blank_values=True)]
    return new_path, pairs
