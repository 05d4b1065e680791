"""client_credentials: an application acting as itself (docs/entra-behaviour.md#client_credentials).

v2: scope={resource}/.default; v1: resource={App ID URI or appId}. The token's version and `aud` come
from the resource; `roles` from the client's app role assignments.
"""

from __future__ import annotations

from mockidp.directory.builtin import GRAPH_APP_ID
from mockidp.errors import catalogue
from mockidp.oauth.assignments import app_only_roles
from mockidp.oauth.grants.base import Grant, GrantInput
from mockidp.oauth.scopes import app_only_resource, v1_resource
from mockidp.tokens.model import Authorization


def authorize(g: GrantInput) -> Authorization:
    directory = g.services.directory
    if g.req.version == 2:
        resource = app_only_resource(directory, g.tenant, g.req.params["scope"])
    else:
        resource = v1_resource(directory, g.tenant, g.req.params["resource"])
    roles = app_only_roles(directory, g.client.sp, g.client.app.display_name, resource)
    return Authorization(
        tenant_id=g.tenant.tenant.id,
        client_app_id=g.client.app.app_id,
        client_acr=g.client.acr,
        resource_app_id=resource.app.app_id,
        audience=resource.identifier,
        version=resource.app.access_token_version,
        subject_id=g.client.sp.id,
        roles=roles,
        header_nonce=resource.app.app_id == GRAPH_APP_ID,
    )


GRANT = Grant(
    grant_type="client_credentials",
    parameters_v1=("resource",),
    parameters_v2=("scope",),
    missing_credential=catalogue.CLIENT_CREDENTIALS_NEED_CREDENTIAL,
    authorize=authorize,
    for_user=False,
)  # locate: a specific tenant only (9001023, 50059); never a public client
