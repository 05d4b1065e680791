"""Sign-out (v2 and v1): ends the session, then returns to a registered post_logout_redirect_uri."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mockidp.oauth.logout import post_logout_location
from mockidp.web import browser
from mockidp.web.body import read_capped_body
from mockidp.web.runtime import runtime_of

router = APIRouter(tags=["sign-out"])


async def _logout(request: Request) -> Response:
    rt = runtime_of(request)
    params = dict(parse_qsl(request.url.query))
    if request.method == "POST":
        body = await read_capped_body(request, rt.settings.max_body_bytes)
        params.update(parse_qsl(body.decode("utf-8", "replace")))
    location = post_logout_location(rt.services.directory, params)  # the rule: oauth/logout.py
    response: Response = RedirectResponse(location, status_code=302) if location is not None \
        else browser.page(request, "signed_out.html")
    browser.end_session(request, rt, response)
    return response


@router.api_route("/{tenant}/oauth2/v2.0/logout", methods=["GET", "POST"])
async def logout_v2(request: Request, tenant: str) -> Response:
    return await _logout(request)


@router.api_route("/{tenant}/oauth2/logout", methods=["GET", "POST"])
async def logout_v1(request: Request, tenant: str) -> Response:
    return await _logout(request)
