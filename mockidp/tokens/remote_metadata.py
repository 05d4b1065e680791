"""An issuer's OpenID metadata (discovery document and JWKS) read over HTTP from a server on this machine:
what the gateway's validate-jwt reads for an openid-config URL (web/gateway/discovery.py) and what workload
identity federation reads for an external token's issuer (oauth/federation.py). mockidp runs offline, so
anything not on this machine is refused before a connection is tried; every read has a timeout and a size cap,
and what was read is cached (an unknown kid may re-read, at most every REFRESH_AT_MOST_EVERY seconds).

Synchronous on purpose: callers run it outside the event loop (validate-jwt's policy step, the token
endpoint's thread pool for jwt-bearer requests).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

CACHE_FOR = 3600.0  # seconds a document is kept (Entra: keys "up to 1 h after a rotation"; APIM's is not documented)
REFRESH_AT_MOST_EVERY = 1.0  # an unknown kid re-fetches; a stream of them does not hammer the server
FETCH_TIMEOUT = 5.0
MAX_DOCUMENT_BYTES = 256 * 1024
MAX_CACHED = 256


class MetadataUnavailable(Exception):
    """The metadata could not be read; the message says why (for traces and the gateway's trace)."""


@dataclass(frozen=True, slots=True)
class OpenIdMetadata:
    issuer: str
    jwks: dict[str, Any]


def on_this_machine(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def fetch_metadata(url: str, *, verify: Any, timeout: float = FETCH_TIMEOUT) -> OpenIdMetadata:
    """The discovery document at `url` and the JWKS its jwks_uri names, both on this machine."""
    if not on_this_machine(_host(url)):
        raise MetadataUnavailable(f"{_host(url) or url[:100]} is not this machine: mockidp runs offline and reads "
                                  "OpenID metadata only from itself or a server on this machine")
    try:
        with httpx.Client(verify=verify, trust_env=False, timeout=timeout, follow_redirects=False) as client:
            doc = _json(client.get(url))
            issuer, jwks_uri = doc.get("issuer"), doc.get("jwks_uri")
            if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
                raise MetadataUnavailable("the document has no issuer or jwks_uri")
            if not on_this_machine(_host(jwks_uri)):
                raise MetadataUnavailable(f"jwks_uri {jwks_uri[:200]} is not on this machine")
            jwks = _json(client.get(jwks_uri))
    except httpx.HTTPError as exc:
        raise MetadataUnavailable(f"{type(exc).__name__}: {str(exc)[:200]}") from None
    return OpenIdMetadata(issuer, jwks)


def _json(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise MetadataUnavailable(f"{response.request.url} answered HTTP {response.status_code}")
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise MetadataUnavailable(f"{response.request.url} is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        body = response.json()
    except ValueError:
        raise MetadataUnavailable(f"{response.request.url} is not JSON") from None
    if not isinstance(body, dict):
        raise MetadataUnavailable(f"{response.request.url} is not a JSON object")
    return body


class MetadataCache:
    """Fetched metadata by key (a URL, an issuer), kept CACHE_FOR seconds; failures are not kept (the next
    request tries again). Ages are wall-clock (monotonic): the cache is infrastructure, not a decision the
    test clock moves."""

    def __init__(self, fetch: Callable[[str], OpenIdMetadata]) -> None:
        self._fetch = fetch
        self._cache: dict[str, tuple[float, OpenIdMetadata]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, *, refresh: bool = False) -> OpenIdMetadata:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            age = now - cached[0]
            if age < CACHE_FOR and (not refresh or age < REFRESH_AT_MOST_EVERY):
                return cached[1]
        found = self._fetch(key)
        with self._lock:
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[key] = (now, found)
        return found


class IssuerKeys:
    """The JWKS of an external token's issuer, for workload identity federation: mockidp's own issuers
    (`builtin`, answered in-process: a worker fetching from itself could wait on its own loop), else
    {issuer}/.well-known/openid-configuration on this machine, whose `issuer` must be the token's."""

    def __init__(self, builtin: Mapping[str, Callable[[], dict[str, Any]]], *, verify: Any,
                 timeout: float = FETCH_TIMEOUT) -> None:
        self.builtin = builtin
        self.verify, self.timeout = verify, timeout
        self._cache = MetadataCache(self._read)  # by issuer: only documents that name it are kept

    def __call__(self, issuer: str, *, refresh: bool = False) -> dict[str, Any]:
        own = self.builtin.get(issuer)
        if own is not None:
            return own()
        return self._cache.get(issuer, refresh=refresh).jwks

    def _read(self, issuer: str) -> OpenIdMetadata:
        found = fetch_metadata(issuer.rstrip("/") + "/.well-known/openid-configuration", verify=self.verify,
                               timeout=self.timeout)
        if found.issuer != issuer:
            raise MetadataUnavailable(f"the discovery document's issuer is {found.issuer[:200]!r}, not the token's")
        return found
