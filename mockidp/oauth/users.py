"""Users: finding them, checking their password, and Entra's user assignment rule."""

from __future__ import annotations

from mockidp.directory.artefacts import Artefacts
from mockidp.directory.model import ApplicationRecord, ServicePrincipalRecord, TenantRecord, UserRecord
from mockidp.directory.passwords import verify_password
from mockidp.directory.snapshot import Directory
from mockidp.errors import AadstsError, catalogue
from mockidp.oauth.tenants import TenantRef

LOCKOUT_THRESHOLD = 10


def find_user(directory: Directory, tenant: TenantRef, username: str, *, client: ApplicationRecord | None = None
              ) -> tuple[UserRecord, TenantRecord]:
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


def check_password(artefacts: Artefacts, user: UserRecord, password: str) -> None:
    """50053 after LOCKOUT_THRESHOLD failures in a row, 50126 for a wrong password, 50057 if disabled."""
    if artefacts.failed_sign_ins(user.id) >= LOCKOUT_THRESHOLD:
        raise AadstsError(catalogue.ACCOUNT_LOCKED)
    if user.password_hash is None or not verify_password(password, user.password_hash):
        artefacts.record_sign_in(user.id, success=False)
        raise AadstsError(catalogue.INVALID_CREDENTIALS)
    artefacts.record_sign_in(user.id, success=True)
    check_enabled(user)


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
