"""A gateway request's decision trace, in the store the identity endpoints use (directory/traces.py).

The stored body is mockidp's trace layout (oauth/trace.py: endpoint, steps with outcome and note, the
fix), so the console, `/_mockidp/traces` and `mockidp explain` show it like any other, plus `apim`: the
same steps in APIM's trace layout (`traceEntries` by section, each with `source`, `timestamp`, `elapsed`
and `data`), which `Ocp-Apim-Trace-Location` points at. One step per policy statement, from the runtime's
StepRecords, with the seed's file and line of the statement. Secret named values appear as {{name}}; token
values never appear (only the claims that name the caller).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from mockidp.apim.jws import MalformedToken, split
from mockidp.apim.runtime import Context, GatewayRequest
from mockidp.directory.apim_model import ApiRecord, OperationRecord, ProductRecord, SubscriptionRecord
from mockidp.oauth.trace import Step, Trace
from mockidp.web.gateway.routing import CompiledService

# Request headers whose values a trace never keeps (credentials); the names are kept.
_SECRET_HEADERS = frozenset({"authorization", "ocp-apim-subscription-key", "cookie", "x-functions-key",
                             "proxy-authorization"})


def _when(seconds: float) -> str:
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"  # .NET's 7 digits


def _elapsed(seconds: float) -> str:
    total = max(0.0, seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:010.7f}"  # a .NET TimeSpan: hh:mm:ss.fffffff


class Recorder:
    """Collects one request's steps; the store keeps it as any trace (directory/traces.Recorded)."""

    def __init__(self, started_at: float, request: GatewayRequest) -> None:
        self.started_at = started_at
        self.clock_start = time.perf_counter()
        self.request = request
        self.service: CompiledService | None = None
        self.api: ApiRecord | None = None
        self.operation: OperationRecord | None = None
        self.product: ProductRecord | None = None
        self.subscription: SubscriptionRecord | None = None
        self.trace = Trace(f"{request.method} gateway {request.path[:256]}", started_at)
        self.entries: dict[str, list[dict[str, Any]]] = {"inbound": [], "backend": [], "outbound": [],
                                                          "on-error": []}
        self.outcome = ""
        self.client_id = _caller(request)
        self.trace.client_id = self.client_id
        self._entry("inbound", "api-inspector", {"request": {
            "method": request.method, "url": f"{request.scheme}://{request.host}{request.path}",
            "headers": [{"name": k, "value": "(not kept)" if k.lower() in _SECRET_HEADERS else v[:256]}
                        for k, v in request.headers[:64]]}})

    def _entry(self, section: str, source: str, data: dict[str, Any]) -> None:
        self.entries.setdefault(section, []).append({
            "source": source, "timestamp": _when(self.started_at + time.perf_counter() - self.clock_start),
            "elapsed": _elapsed(time.perf_counter() - self.clock_start), "data": data})

    def gateway_step(self, rule: str, outcome: str, note: str, fix: str) -> None:
        """A decision of the gateway itself (operation match, subscription key), before any policy."""
        self.trace.steps.append(Step(rule, outcome, {}, note))
        self._entry("inbound", "api-inspector" if rule == "operation" else "subscription",
                    {"message": note, "outcome": outcome})
        if outcome == "failed" and fix:
            self.trace.fix = {"gateway": fix}

    def policy_steps(self, ctx: Context) -> None:
        svc = self.service
        scrub = svc.scrub if svc is not None else (lambda text: text)
        if self.api is not None and self.operation is not None:
            self._entry("inbound", "api-inspector", {"configuration": {
                "api": {"name": self.api.name, "from": "/" + self.api.path, "to": ctx.backend_url or None},
                "operation": {"method": self.operation.method, "uriTemplate": self.operation.url_template},
                "product": self.product.name if self.product else "-",
                "subscription": self.subscription.name if self.subscription else "-"}})
        for record in ctx.steps:
            where = self._where(record.scope, record.line)
            inputs: dict[str, object] = {"scope": record.scope, "section": record.section, "at": where}
            detail, fix = scrub(record.detail), scrub(record.fix)
            note = detail + (f" Fix: {fix}" if fix and record.outcome == "failed" else "")
            self.trace.steps.append(Step(record.policy, record.outcome, inputs, note))
            data: dict[str, Any] = {"message": detail, "outcome": record.outcome, "at": where}
            if fix and record.outcome == "failed":
                data["fix"] = fix
            self._entry(record.section, record.policy, data)
            if record.outcome == "failed" and fix and self.trace.fix is None:
                self.trace.fix = {"gateway": fix}
        if ctx.last_error is not None:
            e = ctx.last_error
            self.outcome = e.reason[:64]
            self._entry("on-error", "on-error", {"lastError": {
                "source": e.source, "reason": e.reason, "message": scrub(e.message), "scope": e.scope,
                "section": e.section, "path": e.path, "policyId": e.policy_id}})

    def _where(self, scope: str, line: int) -> str:
        """The statement's place in the seed (or its policyFile): file:line."""
        if self.service is None or self.api is None or self.operation is None:
            return f"line {line}"
        key = {"global": "", "product": self.product.name if self.product else "", "api": self.api.name,
               "operation": f"{self.api.name}/{self.operation.name}"}.get(scope, "")
        text = self.service.texts.get((scope, key))  # type: ignore[arg-type]
        if text is None:
            return f"APIM's default {scope} policy, line {line}"
        return f"{text.source}:{text.first_line + line - 1}"

    def finish(self, trace_id: str, status: int, elapsed: float) -> None:
        self.trace.id = trace_id
        self.trace.status = status
        self.trace.duration_ms = elapsed * 1000
        self.outcome = self.outcome or ("success" if status < 400 else f"HTTP {status}")
        self.trace.outcome = self.outcome

    @property
    def id(self) -> str:
        return self.trace.id

    @property
    def duration_ms(self) -> float:
        return self.trace.duration_ms

    def shape_key(self) -> None:
        """None: APIM's entries carry their own timestamps, so no two gateway traces share a shape."""
        return None

    def shape(self) -> dict[str, Any]:
        body = self.trace.shape()
        body["apim"] = {"traceId": self.trace.id, "traceEntries": {k: v for k, v in self.entries.items() if v}}
        return body


def _caller(request: GatewayRequest) -> str:
    """The client the bearer token names (azp, or appid on v1), unverified, for the list of recent requests."""
    auth = next((v for k, v in request.headers if k.lower() == "authorization"), "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return ""
    try:
        claims = split(token.strip()).claims
    except MalformedToken:
        return ""
    caller = claims.get("azp") or claims.get("appid")
    return caller.lower()[:64] if isinstance(caller, str) else ""
