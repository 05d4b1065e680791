"""Sign-out (v2 and v1): ends the session, then returns to a registered post_logout_redirect_uri."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mockidp.oauth.client_auth import canonical_guid
from mockidp.oauth.redirects import browser_safe, registered_type
from mockidp.web import browser
from mockidp.web.body import read_capped_body
from mockidp.web.runtime import runtime_of

router = APIRouter(tags=["sign-out"])


def _registered(request: Request, uri: str, client_id: str | None) -> bool:
    """v2 requires the URI to be a registered redirect URI (of the client, when it says which), matched
    by the same rule as /authorize: never an open redirect."""
    apps = request.app.state.runtime.services.directory.applications
    candidates = [apps[canonical_guid(client_id)]] if client_id and canonical_guid(client_id) in apps \
        else list(apps.values())
    return any(registered_type(app, uri) is not None or (uri == app.logout_url and browser_safe(uri))
               for app in candidates)


async def _logout(request: Request) -> Response:
    rt = runtime_of(request)
    params = dict(parse_qsl(request.url.query))
    if request.method == "POST":
        body = await read_capped_body(request, rt.settings.max_body_bytes)
        params.update(parse_qsl(body.decode("utf-8", "replace")))
    target = params.get("post_logout_redirect_uri")
    if target and _registered(request, target, params.get("client_id")):
        state = params.get("state")
        location = target if state is None else f"{target}{'&' if '?' in target else '?'}{urlencode({'state': state})}"
        response: Response = RedirectResponse(location, status_code=302)
    else:
        response = browser.page(request, "signed_out.html")
    browser.end_session(request, rt, response)
    return response


@router.api_route("/{tenant}/oauth2/v2.0/logout", methods=["GET", "POST"])
async def logout_v2(request: Request, tenant: str) -> Response:
    return await _logout(request)


@router.api_route("/{tenant}/oauth2/logout", methods=["GET", "POST"])
async def logout_v1(request: Request, tenant: str) -> Response:
    return await _logout(request)
