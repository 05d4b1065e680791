"""validate-jwt's openid-config, as the gateway reads it (the runtime's DiscoverySource).

mockidp's own metadata is answered in-process, never over HTTP (a worker fetching from itself would wait
on its own loop): URLs on login.microsoftonline.com and on this server's origins (the public URL,
localhost and the served names on the main port). Other URLs on this machine (a test's key server) are
fetched and cached; anything else is refused, since mockidp runs offline.

login.microsoftonline.com is answered with the issuer clients get from this server: the public URL, else
https://login.microsoftonline.com when that name is served (transparent mode), else https://localhost:{port},
so that a policy exported from APIM works unchanged (docs/apim.md#choices-not-confirmed-against-apim).
"""

from __future__ import annotations

import ipaddress
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from mockidp.apim.validate_jwt import Discovery, DiscoveryUnavailable
from mockidp.directory.snapshot import Directory
from mockidp.errors import AadstsError
from mockidp.oauth import discovery as metadata
from mockidp.oauth.tenants import resolve_tenant

ENTRA_HOST = "login.microsoftonline.com"
_PATH = re.compile(r"^/([^/]{1,128})/(v2\.0/)?\.well-known/openid-configuration$")
CACHE_FOR = 3600.0  # seconds a fetched document is kept (APIM's own cache time is not documented)
REFRESH_AT_MOST_EVERY = 1.0  # an unknown kid re-fetches; a stream of them does not hammer the server
FETCH_TIMEOUT = 5.0
MAX_DOCUMENT_BYTES = 256 * 1024


class GatewayDiscovery:
    def __init__(self, directory: Directory, published: Callable[[], list[dict[str, Any]]], *, own_origins: set[str],
                 entra_origin: str, verify: Any) -> None:
        self.directory = directory
        self.published = published  # the key ring's JWKS members: a rotation shows at once
        self.own_origins = {o.lower().rstrip("/") for o in own_origins}
        self.entra_origin = entra_origin
        self.verify = verify
        self._cache: dict[str, tuple[float, Discovery]] = {}
        self._built: dict[tuple[str, str], Discovery] = {}
        self._lock = threading.Lock()

    def __call__(self, url: str, *, refresh: bool) -> Discovery:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            origin = f"{parts.scheme}://{parts.netloc}".lower()
        except ValueError:
            raise DiscoveryUnavailable("not a URL") from None
        if host == ENTRA_HOST or origin in self.own_origins:
            return self._own(parts.path, self.entra_origin if host == ENTRA_HOST else origin)
        if not _loopback(host):
            raise DiscoveryUnavailable(f"{host} is not this machine: mockidp runs offline and reads openid-config "
                                       "only from itself or a server on this machine")
        return self._fetched(url, refresh)

    def _own(self, path: str, origin: str) -> Discovery:
        # The directory and the key do not change in a worker's life: each document is built once.
        found = self._built.get((path, origin))
        if found is None:
            found = self._build(path, origin)
            if len(self._built) < 256:
                self._built[(path, origin)] = found
        return found

    def _build(self, path: str, origin: str) -> Discovery:
        m = _PATH.match(path)
        if m is None:
            raise DiscoveryUnavailable(f"{path} is not an OpenID configuration path of mockidp "
                                       "(/{tenant}/v2.0/.well-known/openid-configuration or the v1 one)")
        try:
            ref = resolve_tenant(self.directory, m.group(1), discovery=True)
        except AadstsError as exc:
            raise DiscoveryUnavailable(f"tenant {m.group(1)!r}: AADSTS{exc.spec.code}") from None
        if m.group(2):
            doc, jwks = metadata.openid_configuration_v2(ref, origin), metadata.jwks_v2(self.published(), ref, origin)
        else:
            doc, jwks = metadata.openid_configuration_v1(ref, origin), metadata.jwks_v1(self.published())
        return Discovery(str(doc["issuer"]), jwks)

    def _fetched(self, url: str, refresh: bool) -> Discovery:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(url)
        if cached is not None:
            age = now - cached[0]
            if age < CACHE_FOR and (not refresh or age < REFRESH_AT_MOST_EVERY):
                return cached[1]
        found = self._fetch(url)
        with self._lock:
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[url] = (now, found)
        return found

    def _fetch(self, url: str) -> Discovery:
        # Synchronous, as validate-jwt asks; only for loopback servers, with a short timeout.
        try:
            with httpx.Client(verify=self.verify, trust_env=False, timeout=FETCH_TIMEOUT) as client:
                doc = _json(client.get(url))
                issuer, jwks_uri = doc.get("issuer"), doc.get("jwks_uri")
                if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
                    raise DiscoveryUnavailable("the document has no issuer or jwks_uri")
                if not _loopback((urlsplit(jwks_uri).hostname or "").lower()):
                    raise DiscoveryUnavailable(f"jwks_uri {jwks_uri} is not on this machine")
                jwks = _json(client.get(jwks_uri))
        except httpx.HTTPError as exc:
            raise DiscoveryUnavailable(f"{type(exc).__name__}: {str(exc)[:200]}") from None
        return Discovery(issuer, jwks)


def _json(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise DiscoveryUnavailable(f"{response.request.url} answered HTTP {response.status_code}")
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise DiscoveryUnavailable(f"{response.request.url} is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        body = response.json()
    except ValueError:
        raise DiscoveryUnavailable(f"{response.request.url} is not JSON") from None
    if not isinstance(body, dict):
        raise DiscoveryUnavailable(f"{response.request.url} is not a JSON object")
    return body


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
