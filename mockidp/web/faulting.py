"""An armed fault (directory/faults.py) answering a request in place of mockidp: called by the token and
devicecode routes once they know the client and the grant. Each kind is one branch:

- error:  the catalogue entry of the chosen AADSTS code, in Entra's envelope (its placeholders from the
          fault's `params`, else the request's client and tenant, else `<name>`);
- status: 429/500/502/503/504, Entra's envelope of TRANSIENT (90033), with `Retry-After` when asked;
- delay:  the request waits the chosen seconds, then is answered as usual;
- drop:   the connection is closed with no answer (served by `mockidp serve`; elsewhere a 503).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mockidp.directory.faults import Fault
from mockidp.errors import AadstsError, catalogue
from mockidp.oauth import trace
from mockidp.web.responses import error_response
from mockidp.web.runtime import Runtime
from mockidp.web.serving import ABORT  # given by mockidp serve's protocol


class _Defaults(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return f"<{key}>"


async def answer(request: Request, rt: Runtime, endpoint: str, *, client_id: str, grant_type: str,
                 tenant: str) -> Response | None:
    """The fault's answer, or None: no fault matched (or a delay ran), answer as usual."""
    faults = rt.faults
    if faults is None:
        return None
    fault = faults.take(endpoint, client_id, grant_type)
    if fault is None:
        return None
    trace.step("fault", "failed" if fault.kind != "delay" else "passed", note="injected by a test: "
               "POST /_mockidp/control/faults", fault=fault.id, kind=fault.kind, remaining=str(fault.remaining - 1))
    if fault.kind == "delay":
        await asyncio.sleep(float(fault.value["seconds"]))
        return None
    if fault.kind == "drop":
        abort = request.scope.get("extensions", {}).get(ABORT)
        if abort is not None:
            abort()
            return Response(status_code=503)  # written nowhere: the connection is gone
        return _status(request, rt, {"status": 503})
    if fault.kind == "status":
        return _status(request, rt, fault.value)
    return _error(request, rt, fault, client_id=client_id, tenant=tenant)


def _status(request: Request, rt: Runtime, value: dict[str, Any]) -> Response:
    retry_after = value.get("retryAfter")
    headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else None
    return error_response(request, rt, AadstsError(catalogue.TRANSIENT), at_token_endpoint=True,
                          status=int(value["status"]), headers=headers)


def _error(request: Request, rt: Runtime, fault: Fault, *, client_id: str, tenant: str) -> Response:
    spec = catalogue.entry(int(fault.value["code"]))
    given = _Defaults({"client_id": client_id, "app_id": client_id, "tenant": tenant, **fault.value.get("params", {})})
    params = {name: given[name] for name in spec.placeholders}
    return error_response(request, rt, AadstsError(spec, **params), at_token_endpoint=True)
