"""The decision trace: what each rule saw and decided for one request (README, "Why was I refused?").

A request to a traced endpoint opens a `Trace` (web/tracing.py); the rules call `step()` and the token
minting calls `claim()`; with no trace open (tracing off, or an endpoint that is not traced) both are
one context-variable read and nothing else. The error renderer ends a refused request's trace with the
catalogue entry's code and fix (`refused`).

What a step keeps is names and ids. Values of inputs whose names say secret (passwords, secrets,
codes, tokens, assertions) are never kept, whatever a caller passes: `_inputs` drops them when the
trace is shaped for the store (`Trace.shape`), so that recording on the request's path is one append.

A stored trace is its shape (everything but its id, start and duration) and those three: requests
decided alike share one shape, which the store writes once (directory/traces.py). `shape_key` is the
cheap test of "decided alike", made of the raw steps; `shape` is the filtered document, made only
for a key the store has not seen.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from mockidp.errors import AadstsError, catalogue
from mockidp.errors.catalogue import ErrorSpec

PASSED = "passed"
FAILED = "failed"
NOT_APPLICABLE = "not applicable"

# Names of inputs never kept: a step says which credential was used, never its value.
_SECRET_NAMES = ("password", "secret", "code", "token", "assertion", "verifier", "otc", "cookie", "csrf")
_VALUE_LIMIT = 256  # characters of one input kept: ids and names, not documents


_NAME_KEPT: dict[str, bool] = {}  # input names are a small fixed set: decide each once


def _name_kept(name: str) -> bool:
    kept = _NAME_KEPT.get(name)
    if kept is None:
        lowered = name.lower()
        kept = not any(s in lowered for s in _SECRET_NAMES) and not lowered.endswith("_hash")
        if len(_NAME_KEPT) < 1024:
            _NAME_KEPT[name] = kept
    return kept


def _inputs(given: dict[str, object]) -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    for name, value in given.items():
        if value is None or not _name_kept(name):
            continue
        if type(value) is str:
            out[name] = value if len(value) <= _VALUE_LIMIT else value[:_VALUE_LIMIT]
        elif isinstance(value, (list, tuple, set, frozenset)):
            out[name] = [str(v)[:_VALUE_LIMIT] for v in value][:64]
        else:
            out[name] = str(value)[:_VALUE_LIMIT]
    return out


class Step(NamedTuple):
    """A tuple: recording one is the cost of a tuple (step() builds it as a plain one), and orjson encodes
    a list of them for shape_key without a conversion."""

    rule: str
    outcome: str  # PASSED, FAILED or NOT_APPLICABLE
    inputs: dict[str, object]  # as the rule gave them; filtered (secrets dropped) by Trace.shape
    note: str = ""
    code: int | None = None  # the AADSTS code of a failed step


@dataclass(frozen=True, slots=True)
class ClaimReason:
    """Why a claim of the issued token has its value (or why it is absent: value None). Frozen and encoded
    once: an app-only request reuses its client's reasons (oauth/claim_reasons.py), and the trace's
    shape_key reuses their encoding."""

    claim: str
    value: str | list[str] | None
    why: str
    encoded: bytes = field(default=b"", repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoded", orjson.dumps((self.claim, self.value, self.why)))

    # Equal and hashed by their encoding: a bytes object caches its hash, so a shape key holding the same
    # reasons (an app-only client's, reused) hashes in constant time.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClaimReason) and self.encoded == other.encoded

    def __hash__(self) -> int:
        return hash(self.encoded)


@dataclass(slots=True)
class Trace:
    endpoint: str  # e.g. "POST /{tenant}/oauth2/v2.0/token"
    started_at: float
    id: str = ""  # the response's x-ms-request-id / trace_id, set when the response is made
    client_id: str = ""
    tenant: str = ""
    grant_type: str = ""
    steps: list[Step] = field(default_factory=list)
    claims: list[ClaimReason] = field(default_factory=list)
    outcome: str = ""  # "success", "AADSTS501051", "server_error"
    status: int = 0
    duration_ms: float = 0.0
    fix: dict[str, str] | None = None

    def shape_key(self) -> Hashable:
        """Equal for traces whose shapes are equal: the raw fields a shape is made of (not stored: the raw
        inputs may hold what `shape` drops), and the claim reasons themselves (hashed by their encoding)."""
        try:
            head = orjson.dumps((self.endpoint, self.status, self.outcome, self.client_id, self.tenant,
                                 self.grant_type, self.steps, self.fix), default=repr)
        except (orjson.JSONEncodeError, TypeError):  # an input orjson cannot hold: the filtered shape is the key
            return orjson.dumps(self.shape(), default=str)
        return head, tuple(self.claims)

    def shape(self) -> dict[str, Any]:
        """The stored document but its id, startedAt and durationMs (directory/traces.py adds them back)."""
        return {
            "endpoint": self.endpoint, "status": self.status, "outcome": self.outcome,
            "clientId": self.client_id, "tenant": self.tenant, "grantType": self.grant_type,
            "steps": [{"rule": s[0], "outcome": s[1], "code": s[4], "inputs": _inputs(s[2]), "note": s[3]}
                      for s in self.steps],
            "claims": [{"claim": c.claim, "value": c.value, "why": c.why} for c in self.claims],
            "fix": self.fix,
        }


_current: ContextVar[Trace | None] = ContextVar("mockidp_trace", default=None)


def begin(trace: Trace) -> Token[Trace | None]:
    return _current.set(trace)


def end(token: Token[Trace | None]) -> None:
    _current.reset(token)


def current() -> Trace | None:
    return _current.get()


def active() -> bool:
    """For work done only to be traced (the claim reasons): skip it when nobody records."""
    return _current.get() is not None


def step(rule: str, outcome: str = PASSED, *, note: str = "", **inputs: object) -> None:
    trace = _current.get()
    if trace is None:
        return
    trace.steps.append((rule, outcome, inputs, note, None))  # type: ignore[arg-type]  # a Step, built as a tuple


def about(*, client_id: str | None = None, tenant: str | None = None, grant_type: str | None = None) -> None:
    """What the list of recent requests filters and shows by."""
    trace = _current.get()
    if trace is None:
        return
    if client_id:
        trace.client_id = client_id[:64]
    if tenant:
        trace.tenant = tenant[:128]
    if grant_type:
        trace.grant_type = grant_type[:128]


def claim(name: str, value: str | list[str] | tuple[str, ...] | None, why: str) -> None:
    trace = _current.get()
    if trace is None:
        return
    trace.claims.append(ClaimReason(name, list(value) if isinstance(value, tuple) else value, why))


_NAMES: dict[int, str] = {}


def entry_name(spec: ErrorSpec) -> str:
    """The catalogue's name of an entry (APP_NOT_ASSIGNED): the rule a failed step is named by."""
    if not _NAMES:
        _NAMES.update({v.code: k for k, v in vars(catalogue).items() if isinstance(v, ErrorSpec)})
    return _NAMES.get(spec.code, f"AADSTS{spec.code}")


def refused(err: AadstsError) -> None:
    """The last step of a refused request: the rule that failed, its code and what it saw, then the fix."""
    trace = _current.get()
    if trace is None:
        return
    spec = err.spec
    trace.steps.append(Step(entry_name(spec), FAILED, dict(err.params), spec.when, spec.code))
    trace.outcome = f"AADSTS{spec.code}"
    fix = err.fix()
    if fix is not None:
        trace.fix = {"portal": fix[0], "seed": fix[1]}


def response_id(new: Callable[[], str]) -> str:
    """The id a response carries (x-ms-request-id, the error's trace_id): the open trace's id, so that
    the id a client sees is the one /_mockidp/traces/{id} answers."""
    trace = _current.get()
    if trace is None:
        return new()
    if not trace.id:
        trace.id = new()
    return trace.id


def as_text(t: dict[str, Any]) -> str:
    """A stored trace (Trace.as_json) for a terminal: `mockidp explain ID`."""
    lines = [f"Trace {t['id']}", f"  {t['endpoint']} -> HTTP {t['status']}, {t['outcome']}"]
    if t.get("clientId"):
        lines.append(f"  client {t['clientId']}" + (f", grant {t['grantType']}" if t.get("grantType") else ""))
    lines.append("Steps:")
    for s in t["steps"]:
        mark = {"passed": "ok  ", "failed": "FAIL"}.get(s["outcome"], "n/a ")
        lines.append(f"  {mark} {s['rule']}" + (f" (AADSTS{s['code']})" if s.get("code") else ""))
        for k, v in s["inputs"].items():
            lines.append(f"         {k}: {', '.join(v) if isinstance(v, list) else v}")
        if s.get("note"):
            lines.append(f"         {s['note']}")
    if t.get("claims"):
        lines.append("Claims:")
        for c in t["claims"]:
            value = "(absent)" if c["value"] is None else (", ".join(c["value"]) if isinstance(c["value"], list)
                                                             else c["value"])
            lines.append(f"  {c['claim']} = {value}")
            lines.append(f"         {c['why']}")
    fix = t.get("fix")
    if fix and fix.get("gateway"):  # a gateway trace's fix: the policy's side and the token's (web/gateway/)
        lines.append("Fix:")
        lines.append(f"  {fix['gateway']}")
    elif fix:
        lines.append("Fix, in the Entra admin center:")
        lines.append(f"  {fix['portal']}")
        if fix.get("seed"):
            lines.append("Fix, in the seed:")
            lines.extend(f"  {line}" for line in fix["seed"].splitlines())
    return "\n".join(lines) + "\n"
