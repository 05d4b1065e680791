"""An armed fault (directory/faults.py) answering a request in place of mockidp: called by the token and
devicecode routes once they know the client and the grant, and by /authorize once the request is one Entra
would answer at the client's redirect URI (authorize below). Each kind is one branch:

- error:  the catalogue entry of the chosen AADSTS code, in Entra's envelope (its placeholders from the
          fault's `params`, else the request's client and tenant, else `<name>`);
- status: 429/500/502/503/504, Entra's envelope of TRANSIENT (90033), with `Retry-After` when asked;
- delay:  the request waits the chosen seconds, then is answered as usual;
- drop:   the connection is closed with no answer (served by `mockidp serve`; elsewhere a 503).

At /authorize the browser is the caller, so an error goes where Entra sends it: an error redirect to the
registered redirect URI (error, error_description, error_uri, state), or Entra's error page for the errors
Entra never redirects (an unknown client, a redirect URI mismatch: _PAGE_ONLY). A status fault there is the
redirect of RFC 6749's `temporarily_unavailable` (TRANSIENT, 90033), which Entra documents for /authorize; a
choice: a 5xx page would reach only the user, never the app under test.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mockidp.directory.faults import Fault
from mockidp.errors import AadstsError, catalogue
from mockidp.oauth import trace
from mockidp.oauth.authorize import AuthorizeRequest, ClientError, PageError, parse_authorize
from mockidp.web import browser
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
    return await _injected(request, rt, fault, client_id=client_id, tenant=tenant, authorize=None)


_PAGE_ONLY = frozenset({catalogue.APP_NOT_FOUND.code, catalogue.UNREGISTERED_REDIRECT_URI.code,
                        catalogue.NO_REPLY_ADDRESS.code})


async def authorize(request: Request, rt: Runtime, *, tenant: str, version: int,
                    params: dict[str, str]) -> Response | None:
    """A fault armed for /authorize, answered as Entra answers the browser; None: answer as usual. A request
    Entra would refuse on its own (bad client, redirect URI) gets that refusal: the fault stays armed."""
    faults = rt.faults
    client_id = params.get("client_id", "")
    # In the thread pool, as the sign-in work after it: the pages' database work stays off the event loop.
    if faults is None or not await run_in_threadpool(faults.pending, "authorize", client_id, ""):
        return None
    try:
        req = await run_in_threadpool(parse_authorize, rt.services, tenant, version, params)
    except (AadstsError, PageError, ClientError):
        return None
    fault = await run_in_threadpool(faults.take, "authorize", client_id, "")
    if fault is None:
        return None
    return await _injected(request, rt, fault, client_id=req.client_id, tenant=tenant, authorize=req)


async def _injected(request: Request, rt: Runtime, fault: Fault, *, client_id: str, tenant: str,
                    authorize: AuthorizeRequest | None) -> Response | None:
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
    if authorize is not None:
        err = _aadsts(fault, client_id=client_id, tenant=tenant) if fault.kind == "error" \
            else AadstsError(catalogue.TRANSIENT)
        if err.spec.code in _PAGE_ONLY:
            return browser.error_page(request, rt, err)
        return browser.client_error(request, rt, err, authorize.target(), authorize.state)
    if fault.kind == "status":
        return _status(request, rt, fault.value)
    return error_response(request, rt, _aadsts(fault, client_id=client_id, tenant=tenant), at_token_endpoint=True)


def _status(request: Request, rt: Runtime, value: dict[str, Any]) -> Response:
    retry_after = value.get("retryAfter")
    headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else None
    return error_response(request, rt, AadstsError(catalogue.TRANSIENT), at_token_endpoint=True,
                          status=int(value["status"]), headers=headers)


def _aadsts(fault: Fault, *, client_id: str, tenant: str) -> AadstsError:
    spec = catalogue.entry(int(fault.value["code"]))
    given = _Defaults({"client_id": client_id, "app_id": client_id, "tenant": tenant, **fault.value.get("params", {})})
    return AadstsError(spec, **{name: given[name] for name in spec.placeholders})
