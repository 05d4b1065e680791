"""The device-code poll (docs/entra-behaviour.md#device_code): authorization_pending until the person signs in,
then tokens once; authorization_declined, expired_token, bad_verification_code otherwise.
Entra documents no slow_down: polling fast keeps getting authorization_pending."""

from __future__ import annotations

from mockidp.directory.artefacts import DeviceRecord
from mockidp.directory.model import ApplicationRecord
from mockidp.errors import AadstsError, catalogue
from mockidp.oauth import trace
from mockidp.oauth.client_auth import canonical_guid
from mockidp.oauth.context import Services, TokenRequest
from mockidp.oauth.grants.base import Grant, GrantInput, Located, UserRequest
from mockidp.oauth.payloads import DevicePayload
from mockidp.oauth.tenants import ResolvedTenant, TenantRef
from mockidp.oauth.users import check_enabled, issued_to


def _device_code(req: TokenRequest) -> str:
    value = req.params.get("device_code") or req.params.get("code")  # v1 polls send `code`
    if value is None:
        raise AadstsError(catalogue.MISSING_PARAMETER, name="device_code")
    return value


def locate(req: TokenRequest, tenant: TenantRef, services: Services) -> Located:
    record = services.artefacts.device_by_code(_device_code(req))
    if record is None:
        raise AadstsError(catalogue.BAD_VERIFICATION_CODE)
    if tenant.tenant is not None and record.tenant_id not in (tenant.tenant.id, "common", "organizations"):
        raise AadstsError(catalogue.BAD_VERIFICATION_CODE)
    directory = services.directory
    if record.user_id is not None:  # approved: the user's tenant
        home = directory.tenants[issued_to(directory, record.user_id).tenant_id]
    elif tenant.tenant is not None:
        home = tenant.tenant
    else:  # pending on /common or /organizations: the client's own tenant authenticates it
        app = directory.applications.get(canonical_guid(req.params.get("client_id", "")))
        home = directory.tenants[app.tenant_id] if app else directory.tenants[record.tenant_id]
    return Located(ResolvedTenant(home), record)


def public_allowed(app: ApplicationRecord, located: Located) -> bool:
    """Device code needs a public client (isFallbackPublicClient), else 7000218 on the poll."""
    return app.is_fallback_public_client


def authorize(g: GrantInput) -> UserRequest:
    record: DeviceRecord = g.artefact
    services = g.services
    if record.client_id != g.client.app.app_id:
        raise AadstsError(catalogue.BAD_VERIFICATION_CODE)
    if record.status == "redeemed":
        raise AadstsError(catalogue.BAD_VERIFICATION_CODE)
    if services.clock.now() >= record.expires_at:
        raise AadstsError(catalogue.DEVICE_CODE_EXPIRED)
    if record.status == "pending":
        raise AadstsError(catalogue.AUTHORIZATION_PENDING)
    if record.status == "declined":
        raise AadstsError(catalogue.CONSENT_DECLINED, error="authorization_declined")
    payload = DevicePayload.from_data(record.data)
    if record.user_id is None or payload.sign_in is None:
        raise AadstsError(catalogue.BAD_VERIFICATION_CODE)  # an approval names the user and their sign-in
    user = issued_to(services.directory, record.user_id)
    check_enabled(user)
    trace.step("device code", user=user.user_principal_name, note="approved by the user, unexpired, not redeemed")

    def redeem() -> None:
        if not services.artefacts.redeem_device_code(_device_code(g.req)):
            raise AadstsError(catalogue.BAD_VERIFICATION_CODE)  # redeemed by a parallel poll

    return UserRequest(user, payload.scope, payload.resource, payload.sign_in, redeem=redeem)


GRANT = Grant(
    grant_type="urn:ietf:params:oauth:grant-type:device_code",
    parameters_v1=(),
    parameters_v2=(),
    missing_credential=catalogue.CREDENTIAL_REQUIRED,
    authorize=authorize,
    locate=locate,
    public_allowed=public_allowed,
)
# MSAL Node posts the short name.
SHORT_GRANT = Grant("device_code", (), (), catalogue.CREDENTIAL_REQUIRED, authorize, locate, public_allowed)
