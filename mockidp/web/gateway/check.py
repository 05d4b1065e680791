"""`mockidp policy check POLICY.xml --token JWT`: a policy's inbound section run offline against a token, as
the gateway would run it for a request carrying `Authorization: Bearer <token>`; nothing is forwarded."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from mockidp.apim.policy import compose, parse_policy
from mockidp.apim.rate_limit import MemoryRateLimiter
from mockidp.apim.runtime import (
    Api,
    BackendError,
    Context,
    GatewayRequest,
    GatewayResponse,
    Operation,
    OutgoingRequest,
    StepRecord,
    run,
)
from mockidp.apim.validate_jwt import DiscoverySource


@dataclass(frozen=True, slots=True)
class CheckResult:
    steps: tuple[StepRecord, ...]
    status: int
    body: bytes

    @property
    def passed(self) -> bool:
        return self.status < 400 and not any(s.outcome == "failed" for s in self.steps)


async def _no_backend(request: OutgoingRequest) -> GatewayResponse:
    raise BackendError("policy check runs the inbound section only; nothing is forwarded")


def check_policy(text: str, token: str | None, *, now: float, discovery: DiscoverySource | None,
                 named_values: Mapping[str, str], source: str, header: str = "Authorization") -> CheckResult:
    """Raises PolicyError (every problem of the document) when the policy would not load."""
    document = parse_policy(text, scope="api", source=source, named_values=named_values)
    inbound = compose([document]).get("inbound", ())
    headers = [] if token is None else [(header, f"Bearer {token}" if header.lower() == "authorization" else token)]
    request = GatewayRequest(headers, b"", "GET", "https", "localhost", "/", [], "127.0.0.1")
    ctx = Context(request, Api("policy-check", "policy-check", "", ""), Operation("check", "check", "GET", "/"), None,
                  "")
    response = asyncio.run(run({"inbound": inbound}, ctx, backend=_no_backend, now=now, discovery=discovery,
                               rate_limiter=MemoryRateLimiter()))
    return CheckResult(tuple(ctx.steps), response.status, response.body)
