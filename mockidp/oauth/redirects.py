"""Redirect URIs: Entra's matching rule, and how a response reaches the client (response_mode)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from mockidp.directory.model import ApplicationRecord

# The one redirect-URI rule, as Entra documents it (redirect URI restrictions, "localhost exceptions"):
# the URI sent must equal a registered one character for character (case-sensitive, no normalisation),
# except that the port of a loopback URI is ignored. Loopback is exactly `http://localhost` and
# `http://127.0.0.1` (Entra recommends 127.0.0.1 over localhost); neither stands in for the other,
# `[::1]` is not supported, and https URIs, localhost or not, match exactly (a choice: the documented
# examples are http listeners of native apps). A port, when given, is 1-65535 in decimal.
LOOPBACK_PREFIXES = ("http://localhost", "http://127.0.0.1")
_PORT = re.compile(r":([0-9]{1,5})")
# What a browser would read differently from the string we compared: userinfo ('@' before the path),
# '\' (read as '/'), whitespace and control characters (stripped or percent-encoded by browsers).
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def browser_safe(uri: str) -> bool:
    """No character a browser would parse differently from how the exact comparison saw it."""
    if _UNSAFE.search(uri):
        return False
    _, sep, rest = uri.partition("://")
    return not sep or "@" not in re.split(r"[/?#]", rest, maxsplit=1)[0]


def _loopback_parts(uri: str) -> tuple[str, str] | None:
    """(prefix, the rest after the port) for a loopback URI, else None (also for an invalid port)."""
    for prefix in LOOPBACK_PREFIXES:
        if not uri.startswith(prefix):
            continue
        rest = uri[len(prefix):]
        port = _PORT.match(rest)
        if port is not None:
            if not 1 <= int(port.group(1)) <= 65535:
                return None
            rest = rest[port.end():]
        if rest == "" or rest[0] in "/?":
            return prefix, rest
        return None
    return None


def matches(registered: str, uri: str) -> bool:
    """The one redirect-URI rule: exact, but for the port of a loopback URI (see LOOPBACK_PREFIXES)."""
    if not browser_safe(uri):
        return False
    if uri == registered:
        return True
    requested = _loopback_parts(uri)
    return requested is not None and requested == _loopback_parts(registered)


def registered_type(app: ApplicationRecord, uri: str) -> str | None:
    """'web' | 'spa' | 'public' for a registered URI, else None. An exact match wins over a loopback
    match with another port (Entra: "the login server will pick one arbitrarily" among those)."""
    groups = (("web", app.web_redirect_uris), ("spa", app.spa_redirect_uris), ("public", app.public_redirect_uris))
    if not browser_safe(uri):
        return None
    for kind, uris in groups:
        if uri in uris:
            return kind
    for kind, uris in groups:
        if any(matches(u, uri) for u in uris):
            return kind
    return None


def all_redirect_uris(app: ApplicationRecord) -> tuple[str, ...]:
    return app.web_redirect_uris + app.spa_redirect_uris + app.public_redirect_uris


@dataclass(frozen=True, slots=True)
class ClientResponse:
    """Where and how to send the authorize response: a URL to 302 to, or fields to auto-POST."""

    redirect_uri: str
    mode: str  # query | fragment | form_post
    fields: tuple[tuple[str, str], ...]

    def location(self) -> str:
        query = urlencode(self.fields)
        if self.mode == "fragment":
            return f"{self.redirect_uri}#{query}"
        return f"{self.redirect_uri}{'&' if '?' in self.redirect_uri else '?'}{query}"
