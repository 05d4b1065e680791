"""Sign-out's one decision (docs/entra-behaviour.md#sign-out): where the browser goes afterwards.

A post_logout_redirect_uri is followed only when it is registered (a redirect URI of the client the
request names, or of any app when it names none; or that app's logoutUrl), matched by /authorize's
rule (oauth/redirects.py): never an open redirect. Otherwise Entra's signed-out page."""

from __future__ import annotations

from urllib.parse import urlencode

from mockidp.directory.snapshot import Directory
from mockidp.oauth.client_auth import canonical_guid
from mockidp.oauth.redirects import browser_safe, registered_type


def post_logout_location(directory: Directory, params: dict[str, str]) -> str | None:
    """The redirect target with `state` appended, or None for the signed-out page."""
    target = params.get("post_logout_redirect_uri")
    if not target:
        return None
    apps = directory.applications
    client_id = params.get("client_id")
    candidates = [apps[canonical_guid(client_id)]] if client_id and canonical_guid(client_id) in apps \
        else list(apps.values())
    if not any(registered_type(app, target) is not None or (target == app.logout_url and browser_safe(target))
               for app in candidates):
        return None
    state = params.get("state")
    return target if state is None else f"{target}{'&' if '?' in target else '?'}{urlencode({'state': state})}"
