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

import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from mockidp.apim.validate_jwt import Discovery, DiscoveryUnavailable
from mockidp.directory.snapshot import Directory
from mockidp.errors import AadstsError
from mockidp.oauth import discovery as metadata
from mockidp.oauth.tenants import resolve_tenant
from mockidp.tokens.remote_metadata import MetadataCache, MetadataUnavailable, fetch_metadata, on_this_machine

ENTRA_HOST = "login.microsoftonline.com"
_PATH = re.compile(r"^/([^/]{1,128})/(v2\.0/)?\.well-known/openid-configuration$")


class GatewayDiscovery:
    def __init__(self, directory: Directory, published: Callable[[], Sequence[dict[str, Any]]], *,
                 own_origins: set[str], entra_origin: str, verify: Any) -> None:
        self.directory = directory
        self.published = published  # the key ring's JWKS members: a rotation shows at once
        self.own_origins = {o.lower().rstrip("/") for o in own_origins}
        self.entra_origin = entra_origin
        self.verify = verify
        self._remote = MetadataCache(lambda url: fetch_metadata(url, verify=verify))
        self._built: dict[tuple[str, str], Discovery] = {}

    def __call__(self, url: str, *, refresh: bool) -> Discovery:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            origin = f"{parts.scheme}://{parts.netloc}".lower()
        except ValueError:
            raise DiscoveryUnavailable("not a URL") from None
        if host == ENTRA_HOST or origin in self.own_origins:
            return self._own(parts.path, self.entra_origin if host == ENTRA_HOST else origin)
        if not on_this_machine(host):
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
        # Synchronous, as validate-jwt asks; only for servers on this machine, with a short timeout.
        try:
            found = self._remote.get(url, refresh=refresh)
        except MetadataUnavailable as exc:
            raise DiscoveryUnavailable(str(exc)) from None
        return Discovery(found.issuer, found.jwks)
