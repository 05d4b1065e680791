"""Step 5: Entra's assignment rules and the `roles` they put in tokens
(docs/entra-behaviour.md#assignments-and-roles)."""

from __future__ import annotations

from mockidp.directory.model import ServicePrincipalRecord
from mockidp.directory.snapshot import Directory
from mockidp.errors import AadstsError, catalogue
from mockidp.oauth.scopes import Resource


def app_only_roles(directory: Directory, client_sp: ServicePrincipalRecord, client_name: str,
                   resource: Resource) -> tuple[str, ...]:
    """Roles of an app-only token: the Application-type roles assigned to the client's SP.

    No assignment and appRoleAssignmentRequired -> AADSTS501051. No assignment otherwise -> a token
    without `roles`: Entra lets any app of the tenant in, and so do we.
    """
    assigned = directory.assignments_of(resource.sp.id, client_sp.id)
    if not assigned and resource.sp.app_role_assignment_required:
        raise AadstsError(
            catalogue.APP_NOT_ASSIGNED, client_id=client_sp.app_id, client_name=client_name,
            resource=resource.identifier, resource_name=resource.app.display_name,
        )
    role_ids = {a.app_role_id for a in assigned}
    return tuple(
        r.value for r in resource.app.app_roles
        if r.id in role_ids and r.is_enabled and "Application" in r.allowed_member_types
    )
