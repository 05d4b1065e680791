"""/_mockidp/control/: what tests change at run time (README, "Driving mockidp from tests").

Open to loopback callers; from anywhere else only with the key of MOCKIDP_CONTROL_KEY in the
X-Mockidp-Control-Key header, and closed (403, saying how to open it) when no key is set. The state
lives in the database (directory/control_state.py), so every worker and replica follows a change.

- GET  /_mockidp/control/clock: what time mockidp thinks it is, and why.
- POST /_mockidp/control/clock {"freeze": true, "at": EPOCH?} | {"advance": SECONDS} | {"real": true}
- POST /_mockidp/control/reset: the clock back to real time, every code, refresh token, device code,
  session, user consent, lockout and trace gone; the seeded directory stays as loaded.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import math
import time
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mockidp.clock import REAL_TIME, ClockSetting, SharedClock, entra_instant
from mockidp.web.responses import NO_STORE, json_response
from mockidp.web.runtime import Runtime, dump, runtime_of

router = APIRouter(prefix="/_mockidp/control", tags=["mockidp"])
KEY_HEADER = "x-mockidp-control-key"
MAX_CONTROL_BODY = 4096
# A clock set beyond these is a mistake, not a test: 1970 to 9999.
_EARLIEST, _LATEST = 0.0, 253402300799.0
_MOST_ADVANCE = 100 * 365 * 86400.0


class ControlRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _problem(rt: Runtime, status: int, code: str, message: str) -> Response:
    return json_response(dump({"error": code, "message": message}), request_id=rt.services.ids.guid(),
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
    try:
        admitted(request, rt)
        clock = _shared(rt)
    except ControlRefused as refused:
        return _problem(rt, refused.status, refused.code, refused.message)
    now = clock.now()
    return json_response(dump(_clock_view(clock.setting, now)), request_id=rt.services.ids.guid(), headers=NO_STORE)


@router.post("/clock")
async def set_clock(request: Request) -> Response:
    rt = runtime_of(request)
    try:
        admitted(request, rt)
        clock = _shared(rt)
        body = await _json_body(request)
        if rt.control is None:  # _shared checked it; mypy cannot see through the call
            raise ControlRefused(409, "clock_injected", "No control state.")
        real = time.time()
        # the change is made of the stored setting, not of this worker's copy: another worker may have moved it
        setting = await run_in_threadpool(rt.control.change_clock,
                                          lambda current: clock_change(body, current, current.at(real)), now=real)
    except ControlRefused as refused:
        return _problem(rt, refused.status, refused.code, refused.message)
    clock.setting = setting
    now = clock.now()
    return json_response(dump(_clock_view(clock.setting, now)), request_id=rt.services.ids.guid(), headers=NO_STORE)


@router.post("/reset")
async def reset(request: Request) -> Response:
    rt = runtime_of(request)
    try:
        admitted(request, rt)
        await _json_body(request)  # bounded, even though nothing in it is read
    except ControlRefused as refused:
        return _problem(rt, refused.status, refused.code, refused.message)
    cleared = ["artefacts"]
    await run_in_threadpool(rt.services.artefacts.clear)
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
