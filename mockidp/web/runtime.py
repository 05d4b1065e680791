"""What routes need at request time, built once per worker by app.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request

from mockidp import compact_json
from mockidp.directory.control_state import ControlState
from mockidp.directory.faults import FaultBook
from mockidp.directory.live import LiveDirectory
from mockidp.directory.signing_keys import SigningKeys
from mockidp.directory.snapshot import Directory
from mockidp.directory.traces import TraceStore
from mockidp.oauth.context import Services
from mockidp.settings import Settings
from mockidp.tokens.key_ring import KeyRing
from mockidp.web.sealing import Sealer

_HOST = re.compile(r"^[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?$")
_RENDER_CACHE_LIMIT = 2048


def dump(body: Any) -> bytes:
    return compact_json.dumps(body)


@dataclass
class Runtime:
    settings: Settings
    services: Services
    keys: KeyRing
    ca_path: Path | None
    served_hosts: set[str]
    sealer: Sealer
    traces: TraceStore | None  # None with --no-traces
    control: ControlState | None = None  # None when the embedding code gave its own clock
    faults: FaultBook | None = None
    signing_keys: SigningKeys | None = None
    live: LiveDirectory | None = None  # the directory Graph writes change (directory/live.py)
    identity_key: bytes = b""  # the data dir's secret the managed-identity header secrets derive from
    # (kind, tenant segment, scheme, Host) -> the body, all rendered from _documents_from (directory, keys)
    _documents: dict[tuple[str, str, str, str], bytes] = field(default_factory=dict)
    _documents_from: tuple[Directory | None, tuple[dict[str, Any], ...]] = (None, ())

    @property
    def jwk(self) -> dict[str, Any]:
        """The public JWK of the key that signs now."""
        kid = self.keys.signer.kid
        return next(k for k in self.keys.published() if k["kid"] == kid)

    def origin(self, request: Request) -> str:
        """--public-url, else the scheme and Host the client used (when it is a plausible host)."""
        # the scope's scheme, as request.url has it, without building the URL (a token request's hot path)
        return self.origin_for(request.scope.get("scheme", "http"), request.headers.get("host", ""))

    def origin_for(self, scheme: str, host: str) -> str:
        if self.settings.public_url:
            return self.settings.public_url
        if not _HOST.match(host):
            host = f"{self.settings.host}:{self.settings.port}"
        return f"{scheme}://{host}"

    def document(self, key: tuple[str, str, str, str], render: Callable[[], bytes]) -> bytes:
        """A discovery or JWKS body by (kind, tenant segment, scheme, Host) as the request gave them: rendered
        again once the directory or the published keys are no longer those the remembered bodies were
        rendered from (a Graph write, a rotation, a retired key's overlap ending), when all are forgotten at
        once, so none keeps an old directory alive. Resolving the tenant, listing the keys and the origin were
        a third of such a request's CPU (issue 11). An unknown tenant raises, each time."""
        directory, keys = self.services.directory, self.keys.published()
        if directory is not self._documents_from[0] or keys is not self._documents_from[1]:
            self._documents.clear()
            self._documents_from = (directory, keys)
        body = self._documents.get(key)
        if body is None:
            if len(self._documents) >= _RENDER_CACHE_LIMIT:  # Host headers are the client's to vary
                self._documents.clear()
            # rendered from the directory and keys of now: newer than the tag at worst, and then the next
            # call sees the change and forgets it
            body = self._documents[key] = render()
        return body


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime
