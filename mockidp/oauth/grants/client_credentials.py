"""client_credentials: an application acting as itself (docs/entra-behaviour.md#client_credentials).

v2: scope={resource}/.default; v1: resource={App ID URI or appId}. The token's version and `aud` come
from the resource; `roles` from the client's app role assignments (the pipeline's assignment step).
"""

from __future__ import annotations

from mockidp.errors import catalogue
from mockidp.oauth.grants.base import AppRequest, Grant, GrantInput
from mockidp.oauth.scopes import app_only_resource, v1_resource


def authorize(g: GrantInput) -> AppRequest:
    """The resource from `scope` (v2: one resource, /.default) or `resource` (v1); 700022, 1002012, 500011."""
    directory = g.services.directory
    if g.req.version == 2:
        return AppRequest(app_only_resource(directory, g.tenant, g.req.params["scope"]))
    return AppRequest(v1_resource(directory, g.tenant, g.req.params["resource"]))


GRANT = Grant(
    grant_type="client_credentials",
    parameters_v1=("resource",),
    parameters_v2=("scope",),
    missing_credential=catalogue.CLIENT_CREDENTIALS_NEED_CREDENTIAL,
    authorize=authorize,
    for_user=False,
)  # locate: a specific tenant only (9001023, 50059); never a public client
