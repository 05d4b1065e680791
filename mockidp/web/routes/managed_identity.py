"""The managed-identity endpoints' HTTP edge (the rules: oauth/managed_identity.py).

GET /msi/token                                       App Service / Functions (IDENTITY_ENDPOINT), X-IDENTITY-HEADER
GET /metadata/identity/oauth2/token                  IMDS, the directory's only simulated resource
GET /_mockidp/imds/{resource}/metadata/identity/oauth2/token
                                                     IMDS for one resource (AZURE_POD_IDENTITY_AUTHORITY_HOST)

Each answers in its own envelope, never Entra's: App Service {"statusCode","message","correlationId"} with
X-CORRELATION-ID, IMDS {"error","error_description"}.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from mockidp.clock import entra_timestamp
from mockidp.errors import catalogue
from mockidp.errors.exceptions import IdentityEndpointRefused, oauth_error
from mockidp.oauth import managed_identity as mi
from mockidp.oauth import trace
from mockidp.web.responses import JSON
from mockidp.web.runtime import Runtime, dump, runtime_of

router = APIRouter(tags=["managed identities"])
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
IMDS_PATH = "/metadata/identity/oauth2/token"
IMDS_PREFIX = "/_mockidp/imds"
_MAX_PARAMS = 32


def _params(request: Request) -> dict[str, str]:
    return dict(request.query_params.multi_items()[:_MAX_PARAMS])


def _refusal(rt: Runtime, shape: str, err: IdentityEndpointRefused) -> Response:
    mi.refused(err)
    request_id = trace.response_id(rt.services.ids.guid)
    if shape == mi.APP_SERVICE:
        message = err.message
        body = {"statusCode": err.status, "message": message, "correlationId": request_id}
        return Response(dump(body), status_code=err.status, media_type=JSON,
                        headers={"X-CORRELATION-ID": request_id, "x-ms-request-id": request_id})
    if err.aadsts is not None:  # Entra refused: IMDS passes its error on
        spec = err.aadsts.spec
        error = catalogue.MI_IMDS_INVALID_RESOURCE if spec is catalogue.RESOURCE_NOT_FOUND else oauth_error(
            err.aadsts, at_token_endpoint=True)
        description = (f"{err.aadsts.message} Trace ID: {request_id} Correlation ID: {request_id} "
                       f"Timestamp: {entra_timestamp(rt.services.clock.now())}")
    else:
        error, description = (err.spec.error if err.spec else "invalid_request"), err.message
    return Response(dump({"error": error, "error_description": description}), status_code=err.status,
                    media_type=JSON, headers={"x-ms-request-id": request_id})


def _answer(rt: Runtime, request: Request, shape: str, caller_name: str | None = None) -> Response:
    params = _params(request)
    try:
        if request.method != "GET":
            raise IdentityEndpointRefused(
                catalogue.MI_APP_SERVICE_BAD_REQUEST if shape == mi.APP_SERVICE else catalogue.MI_IMDS_BAD_REQUEST,
                detail=f"The method {request.method[:16]} is not allowed; use GET.")
        directory = rt.services.directory
        if shape == mi.APP_SERVICE:
            caller = mi.caller_by_secret(directory, rt.identity_key, request.headers.get("x-identity-header"))
            if caller is None:
                trace.step("caller", trace.FAILED, shape=shape, header="present" if request.headers.get(
                    "x-identity-header") else "absent", note="X-IDENTITY-HEADER is no simulated resource's secret")
                raise IdentityEndpointRefused(catalogue.MI_APP_SERVICE_BAD_HEADER)
        else:
            if request.headers.get("metadata") != "true":
                raise IdentityEndpointRefused(catalogue.MI_IMDS_NO_METADATA)
            caller = mi.imds_caller(directory, caller_name)
        body = mi.token(mi.IdentityRequest(shape, caller, params, rt.origin(request)), rt.services)
    except IdentityEndpointRefused as err:
        return _refusal(rt, shape, err)
    request_id = trace.response_id(rt.services.ids.guid)
    headers = {"x-ms-request-id": request_id, "Cache-Control": "no-store"}
    if shape == mi.APP_SERVICE:
        headers["X-CORRELATION-ID"] = request_id
    return Response(dump(body), media_type=JSON, headers=headers)


@router.api_route("/msi/token", methods=METHODS)
@router.api_route("/msi/token/", methods=METHODS)
async def app_service(request: Request) -> Response:
    return _answer(runtime_of(request), request, mi.APP_SERVICE)


# MSAL Node asks for the token path with a trailing '/': IMDS answers both, and so does mockidp (no redirect)
@router.api_route(IMDS_PATH, methods=METHODS)
@router.api_route(IMDS_PATH + "/", methods=METHODS)
async def imds(request: Request) -> Response:
    return _answer(runtime_of(request), request, mi.IMDS)


@router.api_route(IMDS_PREFIX + "/{resource}" + IMDS_PATH, methods=METHODS)
@router.api_route(IMDS_PREFIX + "/{resource}" + IMDS_PATH + "/", methods=METHODS)
async def imds_of(request: Request, resource: str) -> Response:
    return _answer(runtime_of(request), request, mi.IMDS, resource[:64])


@router.api_route(IMDS_PREFIX + "/{rest:path}", methods=METHODS)
async def imds_elsewhere(request: Request, rest: str) -> Response:
    """Any other path under the IMDS prefix ('..%2f', a name with '/', no token path): no resource calls from
    there, and IMDS says so in its own envelope (the Entra routes' 404 handler would read a tenant into it)."""
    return _answer(runtime_of(request), request, mi.IMDS, "/" + rest[:63])
