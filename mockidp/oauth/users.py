"""Users: finding them, checking their password, and Entra's user assignment rule."""

from __future__ import annotations

from mockidp.directory.artefacts import Artefacts
from mockidp.directory.model import ApplicationRecord, ServicePrincipalRecord, TenantRecord, UserRecord
from mockidp.directory.passwords import verify_password
from mockidp.directory.snapshot import Directory
from mockidp.errors import AadstsError, catalogue
from mockidp.oauth import trace
from mockidp.oauth.client_auth import Client, registered_client
from mockidp.oauth.tenants import ResolvedTenant, TenantRef, resolve_tenant

# Smart lockout (catalogue ACCOUNT_LOCKED): 10 failures in a row lock the account for 60 s (Entra's
# defaults); after that, each further failure locks it again, for longer each time (doubling: our choice).
LOCKOUT_THRESHOLD = 10
LOCKOUT_DURATIONS = (60.0, 120.0, 240.0, 480.0, 960.0, 1800.0)


def find_user(directory: Directory, tenant: TenantRef | ResolvedTenant, username: str, *,
              client: ApplicationRecord | None = None) -> tuple[UserRecord, TenantRecord]:
    """By UPN in the path's tenant; on /organizations and /common, in the tenant of the UPN's domain."""
    upn = username.strip()
    home = directory.tenant_by_domain(upn.rpartition("@")[2]) if "@" in upn else None
    target = tenant.tenant or home
    if target is None:
        raise AadstsError(catalogue.USER_NOT_FOUND, tenant_id=tenant.segment)
    user = directory.user_by_upn(target.id, upn)
    if user is None:
        if tenant.tenant is not None and home is not None and home.id != tenant.tenant.id \
                and directory.user_by_upn(home.id, upn) is not None:
            raise AadstsError(catalogue.GUEST_NOT_IN_TENANT, email=upn, idp=f"https://sts.windows.net/{home.id}/",
                              tenant_name=tenant.tenant.display_name, app_id=client.app_id if client else "",
                              app_name=client.display_name if client else "")
        raise AadstsError(catalogue.USER_NOT_FOUND, tenant_id=target.id)
    return user, target


def check_password(artefacts: Artefacts, user: UserRecord, password: str, *, now: float) -> None:
    """50053 while locked (the attempt is reserved before the password is verified), 50126 for a wrong
    password, 50057 if disabled. The sign-in page and the password grant share it."""
    if not artefacts.reserve_sign_in_attempt(user.id, now=now, threshold=LOCKOUT_THRESHOLD,
                                             durations=LOCKOUT_DURATIONS):
        raise AadstsError(catalogue.ACCOUNT_LOCKED)
    if user.password_hash is None or not verify_password(password, user.password_hash):
        raise AadstsError(catalogue.INVALID_CREDENTIALS)  # the reserved attempt counts as the failure
    artefacts.sign_in_succeeded(user.id)
    check_enabled(user)


def issued_to(directory: Directory, user_id: str) -> UserRecord:
    """The user a code, device code or refresh token was issued to. One deleted since (a Graph write) makes
    the artefact invalid_grant, as a malformed one (a choice: Entra's answer is not documented)."""
    user = directory.users.get(user_id)
    if user is None:
        raise AadstsError(catalogue.MALFORMED_REQUEST, error="invalid_grant")
    return user


def check_enabled(user: UserRecord) -> None:
    if not user.account_enabled:
        raise AadstsError(catalogue.USER_DISABLED)


def check_assignment(directory: Directory, client: ApplicationRecord, client_sp: ServicePrincipalRecord,
                     user: UserRecord) -> None:
    """A user signs in to an app whose SP requires assignment only if assigned directly or via a group."""
    if not client_sp.app_role_assignment_required:
        return
    principals = (user.id, *user.group_ids)
    if any(directory.assignments_of(client_sp.id, p) for p in principals):
        return
    raise AadstsError(catalogue.USER_NOT_ASSIGNED, app_name=client.display_name, app_id=client.app_id,
                      user=user.user_principal_name)


def signed_in_client(directory: Directory, tenant_segment: str, user: UserRecord, client_id: str) -> Client:
    """After a person signs in (the authorize and device pages alike): the request's tenant is the user's
    (else 50020), the client is registered in it (registered_client; a multi-tenant app not yet there
    needs an admin's consent, 65001, a choice shown on the error page: add its service principal to the
    tenant in the seed), the user is enabled (50057) and assigned when the client requires it (50105)."""
    tenant = resolve_tenant(directory, tenant_segment)
    app = directory.applications.get(client_id)
    if tenant.tenant is not None and tenant.tenant.id != user.tenant_id:
        raise AadstsError(catalogue.GUEST_NOT_IN_TENANT, email=user.user_principal_name,
                          idp=f"https://sts.windows.net/{user.tenant_id}/", tenant_name=tenant.tenant.display_name,
                          app_id=client_id, app_name=app.display_name if app else "")
    home = ResolvedTenant(directory.tenants[user.tenant_id])
    app, sp = registered_client(directory, home, client_id, without_sp="consent_required")
    if sp is None:  # registered_client answers a service principal in a resolved tenant, or raises
        raise AadstsError(catalogue.APP_NOT_FOUND, client_id=client_id, tenant_name=home.tenant.display_name)
    check_enabled(user)
    check_assignment(directory, app, sp, user)
    trace.step("user assignment", "passed" if sp.app_role_assignment_required else trace.NOT_APPLICABLE,
               user=user.user_principal_name, client=app.display_name, required=sp.app_role_assignment_required)
    return Client(app, sp, "0")
