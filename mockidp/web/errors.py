"""The one place errors become responses: AadstsError -> Entra's envelope; anything unexpected ->
a logged server_error envelope (never a stack trace); FastAPI's own 404/405/422 -> no FastAPI bodies;
a client gone before its request was read -> one debug line (nobody is left to answer)."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response

from mockidp.errors import AadstsError, catalogue
from mockidp.web.responses import error_response
from mockidp.web.runtime import runtime_of

log = logging.getLogger("mockidp")

_PAGE = (
    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>"
    "<body><h1>{title}</h1></body></html>"
)


def _at_token_endpoint(request: Request) -> bool:
    return request.url.path.endswith("/token") or request.url.path.endswith("/devicecode")


async def on_aadsts(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, AadstsError):  # registered for AadstsError only; anything else is unexpected
        return await on_unexpected(request, exc)
    response = error_response(request, runtime_of(request), exc, at_token_endpoint=_at_token_endpoint(request))
    log.info("AADSTS%s %s %s trace_id=%s", exc.spec.code, request.method, request.url.path,
             response.headers.get("x-ms-request-id"))
    return response


async def on_validation(request: Request, exc: Exception) -> Response:
    return error_response(request, runtime_of(request), AadstsError(catalogue.MALFORMED_REQUEST),
                          at_token_endpoint=_at_token_endpoint(request))


_ENDPOINTS = ("/oauth2/v2.0/token", "/oauth2/token", "/oauth2/v2.0/devicecode", "/oauth2/devicecode",
              "/oauth2/v2.0/authorize", "/oauth2/authorize", "/v2.0/.well-known/openid-configuration",
              "/.well-known/openid-configuration", "/discovery/v2.0/keys", "/discovery/keys")


async def on_http(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        return await on_unexpected(request, exc)
    path = request.url.path
    endpoint = next((e for e in _ENDPOINTS if path.endswith(e)), None)
    if exc.status_code == 404 and endpoint:
        # A Microsoft endpoint under a tenant segment that is no segment at all ("..%2f", "a/b").
        err = AadstsError(catalogue.INVALID_TENANT_IDENTIFIER, tenant=path[1:-len(endpoint)][:256])
        return error_response(request, runtime_of(request), err, at_token_endpoint=_at_token_endpoint(request))
    if exc.status_code == 405 and _at_token_endpoint(request):
        # TRACE, PROPFIND, CONNECT...: a method outside the route's list gets what GET gets (catalogue POST_ONLY).
        err = AadstsError(catalogue.POST_ONLY, method=request.method[:32])
        return error_response(request, runtime_of(request), err, at_token_endpoint=True)
    title = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, "Bad Request")
    return HTMLResponse(_PAGE.format(title=title), status_code=exc.status_code)


async def on_disconnect(request: Request, exc: Exception) -> Response:
    # Handled here, not by on_unexpected: Starlette re-raises what reaches its server-error handler, and
    # uvicorn would log it again with its traceback.
    log.debug("client disconnected before its request was read: %s %s", request.method, request.url.path)
    return Response(status_code=400)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    response = error_response(request, runtime_of(request), AadstsError(catalogue.SERVER_ERROR),
                              at_token_endpoint=_at_token_endpoint(request))
    log.error("unexpected %s on %s %s trace_id=%s", exc.__class__.__name__, request.method, request.url.path,
              response.headers.get("x-ms-request-id"), exc_info=exc)
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(AadstsError, on_aadsts)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(ClientDisconnect, on_disconnect)
    app.add_exception_handler(Exception, on_unexpected)
