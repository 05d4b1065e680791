"""The services the protocol code uses, and one token request as the web layer hands it over."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mockidp.clock import Clock, IdFactory
from mockidp.directory.artefacts import Artefacts
from mockidp.directory.snapshot import Directory
from mockidp.directory.source import DirectorySource
from mockidp.oauth.federation import IssuerKeys
from mockidp.tokens.issuer import TokenIssuer


@dataclass(frozen=True, slots=True)
class Services:
    live: DirectorySource  # the directory follows Graph writes and resets (directory/live.py)
    issuer: TokenIssuer
    clock: Clock
    ids: IdFactory
    artefacts: Artefacts
    federation: IssuerKeys | None = None  # external issuers' keys (workload identity federation)

    @property
    def directory(self) -> Directory:
        """The directory as of now: read it once per decision, not once per worker."""
        return self.live.current()


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    client_id: str
    secret: str


@dataclass(frozen=True, slots=True)
class TokenRequest:
    tenant_segment: str  # as it appears in the path
    version: int  # endpoint version: 1 for /oauth2/token, 2 for /oauth2/v2.0/token
    origin: str  # https://host[:port] the client used, or --public-url
    params: Mapping[str, str]
    basic: BasicCredentials | None = None
    origin_header: str | None = None
    client_ip: str | None = None

    def endpoint_url(self, segment: str) -> str:
        path = "oauth2/v2.0/token" if self.version == 2 else "oauth2/token"
        return f"{self.origin}/{segment}/{path}"
