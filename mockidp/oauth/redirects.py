"""Redirect URIs: Entra's matching rule, and how a response reaches the client (response_mode)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from mockidp.directory.model import ApplicationRecord


def _strip_localhost_port(uri: str) -> str | None:
    try:
        parts = urlsplit(uri)
    except ValueError:  # no URL at all (an unclosed IPv6 bracket, NFKC tricks): it matches only exactly
        return None
    if parts.scheme == "http" and parts.hostname == "localhost":
        return urlunsplit((parts.scheme, "localhost", parts.path, parts.query, parts.fragment))
    return None


def registered_type(app: ApplicationRecord, uri: str) -> str | None:
    """'web' | 'spa' | 'public' for a registered URI, else None.

    Exact match (case-sensitive, no normalisation), except Entra's localhost rule: the port of an
    http://localhost URI is ignored. [::1] is not localhost for Entra.
    """
    groups = (("web", app.web_redirect_uris), ("spa", app.spa_redirect_uris), ("public", app.public_redirect_uris))
    for kind, uris in groups:
        if uri in uris:
            return kind
    loose = _strip_localhost_port(uri)
    if loose is not None:
        for kind, uris in groups:
            if any(_strip_localhost_port(u) == loose for u in uris):
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
