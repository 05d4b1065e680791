"""Device authorization: POST /devicecode (v2 and v1) for the CLI, and the /device page for the person."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mockidp.errors import AadstsError, catalogue
from mockidp.oauth import device as device_flow
from mockidp.oauth import trace
from mockidp.oauth.form import parse_form
from mockidp.web import browser, faulting
from mockidp.web.body import read_capped_body
from mockidp.web.flows import DeviceFlow
from mockidp.web.responses import NO_STORE, json_response
from mockidp.web.routes.signin import _login_page
from mockidp.web.routes.token import METHODS
from mockidp.web.runtime import dump, runtime_of

router = APIRouter(tags=["device"])
PAGE = "/device"


async def _devicecode(request: Request, tenant: str, version: int) -> Response:
    rt = runtime_of(request)
    if request.method != "POST":
        raise AadstsError(catalogue.POST_ONLY, method=request.method)
    body = await read_capped_body(request, rt.settings.max_body_bytes)
    params = parse_form(body, request.headers.get("content-type"))
    request.state.params = params
    injected = await faulting.answer(request, rt, "devicecode", client_id=params.get("client_id", ""),
                                     grant_type="", tenant=tenant)
    if injected is not None:
        return injected
    answer = await run_in_threadpool(
        lambda: device_flow.start(rt.services, tenant_segment=tenant, version=version, params=params,
                                  origin=rt.origin(request), interval=rt.settings.device_code_interval))
    return json_response(dump(answer), request_id=trace.response_id(rt.services.ids.guid), headers=NO_STORE)


@router.api_route("/{tenant}/oauth2/v2.0/devicecode", methods=METHODS)
async def devicecode_v2(request: Request, tenant: str) -> Response:
    return await _devicecode(request, tenant, 2)


@router.api_route("/{tenant}/oauth2/devicecode", methods=METHODS)
async def devicecode_v1(request: Request, tenant: str) -> Response:
    return await _devicecode(request, tenant, 1)


@router.get(PAGE)
def device_page(request: Request) -> Response:
    return browser.page(request, "device.html", action=PAGE, csrf=browser.csrf_token(request),
                        code=request.query_params.get("otc"))


@router.post(PAGE)
async def device_code_entered(request: Request) -> Response:
    rt = runtime_of(request)
    body = await read_capped_body(request, rt.settings.max_body_bytes)
    try:
        form = parse_form(body, request.headers.get("content-type"))
    except AadstsError as err:
        return browser.error_page(request, rt, err)
    if not browser.csrf_ok(request, form.get("csrf")):
        return browser.error_page(request, rt, AadstsError(catalogue.MALFORMED_REQUEST))
    try:
        record = await run_in_threadpool(device_flow.pending, rt.services, form.get("otc"))
    except AadstsError as err:
        return browser.page(request, "device.html", action=PAGE, csrf=browser.csrf_token(request),
                            code=form.get("otc", "")[:32], error=err.message)
    return _login_page(request, rt, DeviceFlow(record.device_code_hash, record.tenant_id, record.client_id))
