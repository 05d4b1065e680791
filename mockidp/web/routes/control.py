"""/_mockidp/control/: what tests change at run time (README, "Driving mockidp from tests").

Open to loopback callers; from anywhere else only with the key of MOCKIDP_CONTROL_KEY in the
X-Mockidp-Control-Key header, and closed (403, saying how to open it) when no key is set. The state
lives in the database (directory/control_state.py), so every worker and replica follows a change.

- GET  /_mockidp/control/clock: what time mockidp thinks it is, and why.
- POST /_mockidp/control/clock {"freeze": true, "at": EPOCH?} | {"advance": SECONDS} | {"real": true}
- GET|POST|DELETE /_mockidp/control/faults: the failures armed for the next matching requests
  (directory/faults.py, web/faulting.py).
- POST /_mockidp/control/tokens: a forged token (oauth/forge.py), traced as forged.
- POST /_mockidp/control/federation/tokens: a token of a built-in workload issuer (oauth/workload_issuers.py).
- POST /_mockidp/control/keys/rotate {"overlapSeconds": N, "announce": bool}, GET /_mockidp/control/keys:
  the signing keys (directory/signing_keys.py, tokens/key_ring.py).
- POST /_mockidp/control/reset: the clock back to real time, every code, refresh token, device code,
  session, user consent, lockout, trace and fault gone; the directory back to the seed (Graph writes undone).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import math
import re
import time
from typing import Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mockidp.clock import REAL_TIME, ClockSetting, SharedClock, entra_instant
from mockidp.directory.faults import ENDPOINTS, GRANT_ENDPOINTS, MAX_COUNT, Fault
from mockidp.directory.ids import GUID
from mockidp.directory.signing_keys import StoredKey
from mockidp.errors import catalogue
from mockidp.oauth import trace
from mockidp.oauth.forge import ForgeRefused, ForgeRequest, forge
from mockidp.oauth.workload_issuers import DEFAULT_AUDIENCE, WorkloadIssuers
from mockidp.tokens.keys import generate_signing_key
from mockidp.web.responses import NO_STORE, json_response
from mockidp.web.runtime import Runtime, dump, runtime_of


async def _admit(request: Request) -> None:
    admitted(request, runtime_of(request))


# Every route: the access rule first; a ControlRefused anywhere answers as on_refused renders it (app.py).
router = APIRouter(prefix="/_mockidp/control", tags=["mockidp"], dependencies=[Depends(_admit)])
KEY_HEADER = "x-mockidp-control-key"
MAX_CONTROL_BODY = 4096
# A clock set beyond these is a mistake, not a test: 1970 to 9999.
_EARLIEST, _LATEST = 0.0, 253402300799.0
_MOST_ADVANCE = 100 * 365 * 86400.0


class ControlRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


async def on_refused(request: Request, exc: Exception) -> Response:
    """The exception handler of ControlRefused (installed by app.py)."""
    if not isinstance(exc, ControlRefused):
        raise exc
    return _problem(runtime_of(request), exc.status, exc.code, exc.message)


def _problem(rt: Runtime, status: int, code: str, message: str) -> Response:
    return json_response(dump({"error": code, "message": message}), request_id=trace.response_id(rt.services.ids.guid),
                         headers=NO_STORE, status=status)


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def admitted(request: Request, rt: Runtime) -> None:
    """The one access rule of the control API."""
    key = rt.settings.control_key
    given = request.headers.get(KEY_HEADER)
    if key is not None and given is not None:
        if hmac.compare_digest(given.encode(), key.get_secret_value().encode()):
            return
        raise ControlRefused(401, "control_key_invalid", f"The {KEY_HEADER} header does not hold MOCKIDP_CONTROL_KEY.")
    if _loopback(request):
        return
    if key is None:
        raise ControlRefused(403, "control_closed", "The control API answers only loopback callers when "
                             "MOCKIDP_CONTROL_KEY is not set. Set MOCKIDP_CONTROL_KEY on the server and send it "
                             f"in the {KEY_HEADER} header, or call from the machine mockidp runs on.")
    raise ControlRefused(401, "control_key_required", f"Callers other than loopback send MOCKIDP_CONTROL_KEY in the "
                         f"{KEY_HEADER} header.")


async def _json_body(request: Request) -> dict[str, Any]:
    too_large = ControlRefused(413, "invalid_request", f"A control request's body is at most {MAX_CONTROL_BODY} bytes.")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_CONTROL_BODY):
        raise too_large
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_CONTROL_BODY:
            raise too_large
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ControlRefused(400, "invalid_request", "The body is not JSON.") from None
    if not isinstance(body, dict):
        raise ControlRefused(400, "invalid_request", "The body is a JSON object.")
    return body


def _number(body: dict[str, Any], name: str) -> float:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ControlRefused(400, "invalid_request", f"'{name}' is a number of seconds.")
    return float(value)


def clock_change(body: dict[str, Any], current: ClockSetting, now: float) -> ClockSetting:
    """The new setting a request asks for: exactly one of freeze (optionally at a time), advance, real."""
    asked = [k for k in ("freeze", "advance", "real") if k in body]
    unknown = sorted(set(body) - {"freeze", "advance", "real", "at"})
    if len(asked) != 1 or unknown or ("at" in body and asked != ["freeze"]):
        raise ControlRefused(400, "invalid_request", 'Send one of {"freeze": true, "at": EPOCH_SECONDS (optional)}, '
                             '{"advance": SECONDS} or {"real": true}.')
    if asked == ["real"]:
        if body["real"] is not True:
            raise ControlRefused(400, "invalid_request", "'real' is true.")
        return REAL_TIME
    if asked == ["freeze"]:
        if body["freeze"] is not True:
            raise ControlRefused(400, "invalid_request", "'freeze' is true.")
        at = _number(body, "at") if "at" in body else now
        if not _EARLIEST <= at <= _LATEST:
            raise ControlRefused(400, "invalid_request", "'at' is seconds since 1970, before the year 10000.")
        return ClockSetting(frozen_at=at)
    seconds = _number(body, "advance")
    if abs(seconds) > _MOST_ADVANCE or not _EARLIEST <= now + seconds <= _LATEST:
        raise ControlRefused(400, "invalid_request", "'advance' moves the clock by at most 100 years, within "
                             "1970 to 9999.")
    if current.frozen_at is not None:
        return ClockSetting(frozen_at=current.frozen_at + seconds)
    return ClockSetting(offset=current.offset + seconds)


def _clock_view(setting: ClockSetting, now: float) -> dict[str, Any]:
    return {"now": now, "nowUtc": entra_instant(now), "frozen": setting.frozen_at is not None,
            "offsetSeconds": setting.offset if setting.frozen_at is None else None}


def _shared(rt: Runtime) -> SharedClock:
    clock = rt.services.clock
    if not isinstance(clock, SharedClock) or rt.control is None:
        raise ControlRefused(409, "clock_injected", "This mockidp runs with a clock its embedding code gave it; "
                             "that code moves it, not the control API.")
    return clock


@router.get("/clock")
async def get_clock(request: Request) -> Response:
    rt = runtime_of(request)
    clock = _shared(rt)
    now = clock.now()
    return json_response(dump(_clock_view(clock.setting, now)), request_id=rt.services.ids.guid(), headers=NO_STORE)


@router.post("/clock")
async def set_clock(request: Request) -> Response:
    rt = runtime_of(request)
    clock = _shared(rt)
    body = await _json_body(request)
    if rt.control is None:  # _shared checked it; mypy cannot see through the call
        raise ControlRefused(409, "clock_injected", "No control state.")
    real = time.time()
    # the change is made of the stored setting, not of this worker's copy: another worker may have moved it
    setting = await run_in_threadpool(rt.control.change_clock,
                                      lambda current: clock_change(body, current, current.at(real)), now=real)
    clock.setting = setting
    now = clock.now()
    return json_response(dump(_clock_view(clock.setting, now)), request_id=rt.services.ids.guid(), headers=NO_STORE)


@router.post("/reset")
async def reset(request: Request) -> Response:
    rt = runtime_of(request)
    await _json_body(request)  # bounded, even though nothing in it is read
    cleared = ["artefacts"]
    await run_in_threadpool(rt.services.artefacts.clear)
    if rt.live is not None and await run_in_threadpool(rt.live.store.restore_seed, now=time.time()):
        rt.live.stamp.bump()  # every worker of this machine follows; replicas at their next request
        await run_in_threadpool(rt.live.refresh)
        cleared.insert(0, "directory")
    if rt.faults is not None:
        await run_in_threadpool(rt.faults.clear, now=time.time())
        cleared.append("faults")
    if rt.control is not None:  # the clock back to real time, and older traces hidden in every worker
        await run_in_threadpool(rt.control.reset, now=time.time())
    if rt.traces is not None:
        await run_in_threadpool(rt.traces.clear)
        cleared.append("traces")
    clock = rt.services.clock
    if rt.control is not None and isinstance(clock, SharedClock):
        clock.refresh()
        cleared.append("clock")
    return json_response(dump({"reset": cleared}), request_id=rt.services.ids.guid(), headers=NO_STORE)


# --- faults -------------------------------------------------------------------------------------------

_STATUSES = (429, 500, 502, 503, 504)
_MOST_DELAY = 30.0
_GRANT = re.compile(r"^[A-Za-z0-9_:.-]{1,128}$")
_FAULT_USAGE = ('Send {"endpoint": "token" | "devicecode" | "authorize", "clientId": GUID (optional), '
                '"grantType": GRANT (optional, token endpoint), "count": N (default 1), and one of "error": '
                'AADSTS_CODE (with "params": {...}), '
                '"status": 429|500|502|503|504 (with "retryAfter": SECONDS), "delaySeconds": SECONDS (at most 30) '
                'or "drop": true}.')


def fault_of(body: dict[str, Any], new_id: str) -> Fault:
    """The fault a request arms; ControlRefused (400) naming what is wrong otherwise."""
    kinds = [k for k in ("error", "status", "delaySeconds", "drop") if k in body]
    known = {"endpoint", "clientId", "grantType", "count", "error", "params", "status", "retryAfter",
             "delaySeconds", "drop"}
    if len(kinds) != 1 or set(body) - known:
        raise ControlRefused(400, "invalid_request", _FAULT_USAGE)
    endpoint = body.get("endpoint", "token")
    client = body.get("clientId", "")
    grant = body.get("grantType", "")
    count = body.get("count", 1)
    if endpoint not in ENDPOINTS:
        raise ControlRefused(400, "invalid_request", f"'endpoint' is one of {', '.join(ENDPOINTS)}.")
    if not isinstance(client, str) or (client and not GUID.match(client)):
        raise ControlRefused(400, "invalid_request", "'clientId' is an application (client) ID, a GUID.")
    if not isinstance(grant, str) or (grant and not _GRANT.match(grant)):
        raise ControlRefused(400, "invalid_request", "'grantType' is a grant_type value, e.g. client_credentials.")
    if grant and endpoint not in GRANT_ENDPOINTS:
        raise ControlRefused(400, "invalid_request", f"'grantType' goes with the token endpoint; a {endpoint} "
                             "request names no grant.")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise ControlRefused(400, "invalid_request", f"'count' is a whole number from 1 to {MAX_COUNT}.")
    kind, value = _fault_kind(kinds[0], body)
    return Fault(new_id, endpoint, client.lower(), grant, kind, value, count)


def _fault_kind(kind: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if kind == "error":
        code = body["error"]
        known = {e.code for e in catalogue.all_entries()}
        if isinstance(code, bool) or not isinstance(code, int) or code not in known:
            raise ControlRefused(400, "invalid_request", "'error' is the number of an AADSTS code mockidp's "
                                 "catalogue holds, e.g. 50196.")
        params = body.get("params", {})
        if not isinstance(params, dict) or not all(isinstance(k, str) and isinstance(v, str) and len(v) <= 256
                                                   for k, v in params.items()) or len(params) > 16:
            raise ControlRefused(400, "invalid_request", "'params' maps the message's placeholders to strings.")
        return "error", {"code": code, "params": params}
    if "params" in body:
        raise ControlRefused(400, "invalid_request", "'params' goes with 'error'.")
    if kind == "status":
        status, retry = body["status"], body.get("retryAfter")
        if status not in _STATUSES or isinstance(status, bool):
            raise ControlRefused(400, "invalid_request", f"'status' is one of {', '.join(map(str, _STATUSES))}.")
        if retry is not None and (isinstance(retry, bool) or not isinstance(retry, int) or not 0 <= retry <= 3600):
            raise ControlRefused(400, "invalid_request", "'retryAfter' is whole seconds, at most 3600.")
        return "status", {"status": status, **({"retryAfter": retry} if retry is not None else {})}
    if "retryAfter" in body:
        raise ControlRefused(400, "invalid_request", "'retryAfter' goes with 'status'.")
    if kind == "delaySeconds":
        seconds = _number(body, "delaySeconds")
        if not 0 < seconds <= _MOST_DELAY:
            raise ControlRefused(400, "invalid_request", f"'delaySeconds' is above 0, at most {_MOST_DELAY:.0f}.")
        return "delay", {"seconds": seconds}
    if body["drop"] is not True:
        raise ControlRefused(400, "invalid_request", "'drop' is true.")
    return "drop", {}


@router.get("/faults")
async def list_faults(request: Request) -> Response:
    rt = runtime_of(request)
    armed = await run_in_threadpool(rt.faults.armed) if rt.faults is not None else []
    return json_response(dump({"value": [f.as_json() for f in armed]}), request_id=rt.services.ids.guid(),
                         headers=NO_STORE)


@router.post("/faults")
async def arm_fault(request: Request) -> Response:
    rt = runtime_of(request)
    body = await _json_body(request)
    fault = fault_of(body, rt.services.ids.guid())
    if rt.faults is None:
        raise ControlRefused(409, "faults_off", "This mockidp has no fault book.")
    faults = rt.faults
    try:
        await run_in_threadpool(lambda: faults.arm(fault, now=time.time()))
    except OverflowError as full:
        raise ControlRefused(409, "too_many_faults", f"{full}; DELETE /_mockidp/control/faults clears them.") \
            from None
    return json_response(dump(fault.as_json()), request_id=rt.services.ids.guid(), headers=NO_STORE, status=201)


@router.delete("/faults")
async def clear_faults(request: Request) -> Response:
    rt = runtime_of(request)
    if rt.faults is not None:
        await run_in_threadpool(rt.faults.clear, now=time.time())
    return json_response(dump({"value": []}), request_id=rt.services.ids.guid(), headers=NO_STORE)


# --- forged tokens -----------------------------------------------------------------------------------

_FORGE_FIELDS = {"clientId", "resource", "tenant", "version", "roles", "scopes", "user", "lifetimeSeconds",
                 "expired", "notYetValid", "audience", "issuer", "foreignKey"}
_MOST_LIFETIME = 7 * 86400


def _text(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 512:
        raise ControlRefused(400, "invalid_request", f"'{name}' is a string" + (" and required." if required else "."))
    return value


def _texts(body: dict[str, Any], name: str) -> tuple[str, ...]:
    value = body.get(name, [])
    if not isinstance(value, list) or len(value) > 64 or not all(isinstance(v, str) and 0 < len(v) <= 128
                                                                 for v in value):
        raise ControlRefused(400, "invalid_request", f"'{name}' is a list of strings.")
    return tuple(value)


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise ControlRefused(400, "invalid_request", f"'{name}' is true or false.")
    return value


def forge_request(body: dict[str, Any]) -> ForgeRequest:
    unknown = sorted(set(body) - _FORGE_FIELDS)
    if unknown:
        raise ControlRefused(400, "invalid_request", f"unknown field {unknown[0]!r}; a forge request takes "
                             + ", ".join(sorted(_FORGE_FIELDS)) + ".")
    version = body.get("version")
    if version is not None and (isinstance(version, bool) or version not in (1, 2)):
        raise ControlRefused(400, "invalid_request", "'version' is 1 or 2.")
    lifetime = body.get("lifetimeSeconds", 3600)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or not 60 <= lifetime <= _MOST_LIFETIME:
        raise ControlRefused(400, "invalid_request", f"'lifetimeSeconds' is whole seconds from 60 to {_MOST_LIFETIME}.")
    client, resource = _text(body, "clientId", required=True), _text(body, "resource", required=True)
    if client is None or resource is None:  # _text raised for a missing one; mypy cannot see it
        raise ControlRefused(400, "invalid_request", "'clientId' and 'resource' are required.")
    return ForgeRequest(client_id=client, resource=resource, tenant=_text(body, "tenant"), version=version,
                        roles=_texts(body, "roles"), scopes=_texts(body, "scopes"), user=_text(body, "user"),
                        lifetime=lifetime, expired=_flag(body, "expired"), not_yet_valid=_flag(body, "notYetValid"),
                        audience=_text(body, "audience"), issuer=_text(body, "issuer"),
                        foreign_key=_flag(body, "foreignKey"))


@router.post("/tokens")
async def forge_token(request: Request) -> Response:
    rt = runtime_of(request)
    req = forge_request(await _json_body(request))
    try:
        issued = forge(rt.services, req, origin=rt.origin(request))
    except ForgeRefused as refused:
        raise ControlRefused(400, "invalid_request", str(refused)) from None
    body = {"token_type": "Bearer", "access_token": issued.jwt, "nbf": issued.not_before, "exp": issued.expires,
            "forged": True}
    return json_response(dump(body), request_id=trace.response_id(rt.services.ids.guid), headers=NO_STORE)


# --- federation: tokens of the built-in workload issuers (oauth/workload_issuers.py) ---------------------

_FEDERATION_FIELDS = ("issuer", "subject", "audience", "lifetimeSeconds")


@router.post("/federation/tokens")
async def federation_token(request: Request) -> Response:
    """{"issuer": "github"|"kubernetes", "subject": ..., "audience"?: ..., "lifetimeSeconds"?: N}: the token
    a GitHub runner or a kubelet would hand the workload, for AZURE_FEDERATED_TOKEN_FILE."""
    body = await _json_body(request)
    unknown = sorted(set(body) - set(_FEDERATION_FIELDS))
    if unknown:
        raise ControlRefused(400, "invalid_request", f"unknown field {unknown[0]!r}; a federation token request "
                             f"takes {', '.join(_FEDERATION_FIELDS)}.")
    name, subject = body.get("issuer"), body.get("subject")
    audience, lifetime = body.get("audience", DEFAULT_AUDIENCE), body.get("lifetimeSeconds")
    if not isinstance(name, str) or not isinstance(subject, str) or not isinstance(audience, str):
        raise ControlRefused(400, "invalid_request", "'issuer' (github or kubernetes), 'subject' and 'audience' "
                             "are strings.")
    if lifetime is not None and (isinstance(lifetime, bool) or not isinstance(lifetime, int)):
        raise ControlRefused(400, "invalid_request", "'lifetimeSeconds' is a whole number of seconds.")
    issuers: WorkloadIssuers = request.app.state.workload_issuers
    try:
        token, claims = issuers.mint(name, subject, audience=audience, lifetime=lifetime)
    except ValueError as exc:
        raise ControlRefused(400, "invalid_request", f"{exc}.") from None
    answer = {"token": token, "issuer": claims["iss"], "subject": claims["sub"], "audience": claims["aud"],
              "exp": claims["exp"]}
    return json_response(dump(answer), request_id=runtime_of(request).services.ids.guid(), headers=NO_STORE)


# --- signing keys ------------------------------------------------------------------------------------

DEFAULT_OVERLAP = 86400  # a day: a retired key stays in the JWKS that long (a choice; Entra's is weeks)
_MOST_OVERLAP = 30 * 86400


def _keys_view(rt: Runtime, stored: list[StoredKey]) -> dict[str, Any]:
    now = rt.services.clock.now()
    return {"value": [{"kid": k.kid, "role": k.role, "publishedUntil": k.published_until,
                       "published": k.published_until is None or now < k.published_until} for k in stored]}


@router.get("/keys")
async def list_keys(request: Request) -> Response:
    rt = runtime_of(request)
    if rt.signing_keys is None:
        raise ControlRefused(409, "keys_fixed", "This mockidp signs with a fixed key.")
    keys = rt.signing_keys
    stored = await run_in_threadpool(keys.load)
    return json_response(dump(_keys_view(rt, stored)), request_id=rt.services.ids.guid(), headers=NO_STORE)


@router.post("/keys/rotate")
async def rotate_keys(request: Request) -> Response:
    rt = runtime_of(request)
    body = await _json_body(request)
    if set(body) - {"overlapSeconds", "announce"}:
        raise ControlRefused(400, "invalid_request", 'Send {"overlapSeconds": SECONDS (optional), '
                             '"announce": true|false (optional)}.')
    overlap = body.get("overlapSeconds", DEFAULT_OVERLAP)
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap <= _MOST_OVERLAP:
        raise ControlRefused(400, "invalid_request", f"'overlapSeconds' is whole seconds, at most {_MOST_OVERLAP}.")
    announce = body.get("announce", False)
    if not isinstance(announce, bool):
        raise ControlRefused(400, "invalid_request", "'announce' is true or false.")
    if rt.signing_keys is None:
        raise ControlRefused(409, "keys_fixed", "This mockidp signs with a fixed key.")
    keys = rt.signing_keys

    def rotate() -> list[StoredKey]:
        fresh = generate_signing_key()
        return keys.rotate(StoredKey(fresh.kid, fresh.private_pem, fresh.cert_der), now=rt.services.clock.now(),
                           overlap=overlap, announce=announce)
    stored = await run_in_threadpool(rotate)
    rt.services.issuer.keys.forget()
    return json_response(dump(_keys_view(rt, stored)), request_id=rt.services.ids.guid(), headers=NO_STORE)
