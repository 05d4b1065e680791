"""The device authorization grant (docs/entra-behaviour.md#device-authorization): codes handed to a CLI, the code the
person types into the device page, and the approval that the poll then redeems."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from mockidp.directory.artefacts import DeviceRecord
from mockidp.directory.model import ApplicationRecord, UserRecord
from mockidp.errors import AadstsError, catalogue
from mockidp.oauth import trace
from mockidp.oauth.client_auth import registered_client, require_multi_tenant
from mockidp.oauth.context import Services
from mockidp.oauth.delegated import DelegatedGrant, decide, requested_resource
from mockidp.oauth.payloads import DevicePayload
from mockidp.oauth.responses import device_code_response
from mockidp.oauth.tenants import ResolvedTenant, TenantRef, resolve_tenant
from mockidp.oauth.user_tokens import SignIn, new_secret_value
from mockidp.oauth.users import signed_in_client

DEVICE_CODE_LIFETIME = 900
USER_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: people type these
USER_CODE_LENGTH = 9  # 45 bits: plenty against guessing within 15 minutes


def _client(services: Services, tenant: TenantRef, client_id: str) -> ApplicationRecord:
    app, _ = registered_client(services.directory, tenant, client_id, without_sp="refuse")
    require_multi_tenant(tenant, app)
    return app


def start(services: Services, *, tenant_segment: str, version: int, params: dict[str, str], origin: str,
          interval: int) -> dict[str, Any]:
    """POST /devicecode: a device code for the CLI, a user code for the person."""
    tenant = resolve_tenant(services.directory, tenant_segment)
    client_id = params.get("client_id")
    if client_id is None:
        raise AadstsError(catalogue.MISSING_PARAMETER, name="client_id")
    trace.about(client_id=client_id.lower())
    trace.step("tenant", segment=tenant_segment[:128], tenant=tenant.tenant.id if tenant.tenant else None,
               kind=tenant.kind)
    app = _client(services, tenant, client_id)
    trace.step("client", client_id=app.app_id, name=app.display_name)
    if version == 2 and "resource" in params:
        raise AadstsError(catalogue.RESOURCE_PARAMETER_NOT_SUPPORTED)
    scope, resource = params.get("scope", ""), params.get("resource")
    if version == 2 and not scope:
        raise AadstsError(catalogue.MISSING_PARAMETER, name="scope")
    if version == 1 and resource is None:
        raise AadstsError(catalogue.MISSING_PARAMETER, name="resource")
    if (known := tenant.resolved()) is not None:
        found, _ = requested_resource(services.directory, known, scope.split(), resource)
        trace.step("resource", resource=found.identifier, name=found.app.display_name)
    device_code = new_secret_value(services)
    user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
    services.artefacts.save_device_code(
        device_code, user_code=user_code, tenant_id=tenant.segment, client_id=app.app_id, now=services.clock.now(),
        lifetime=DEVICE_CODE_LIFETIME, data=DevicePayload(scope, resource, version).to_data())
    uri = f"{origin}/device"
    message = (f"To sign in, use a web browser to open the page {uri} and enter the code {user_code} "
               "to authenticate.")
    return device_code_response(version=version, user_code=user_code, device_code=device_code, uri=uri,
                                lifetime=DEVICE_CODE_LIFETIME, interval=interval, message=message)


def normalise_user_code(value: str) -> str:
    return "".join(c for c in value.upper() if c.isalnum())


def pending(services: Services, typed: str | None) -> DeviceRecord:
    """The device request behind what the person typed (90119, 70018, 90120, 70020)."""
    code = normalise_user_code(typed or "")
    if not code:
        raise AadstsError(catalogue.EMPTY_USER_CODE)
    record = services.artefacts.device_by_user_code(code) if len(code) <= 32 else None
    if record is None:
        raise AadstsError(catalogue.BAD_VERIFICATION_CODE)
    if record.status != "pending":
        raise AadstsError(catalogue.DEVICE_CODE_DECIDED)
    if services.clock.now() >= record.expires_at:
        raise AadstsError(catalogue.DEVICE_CODE_EXPIRED)
    trace.about(client_id=record.client_id)
    trace.step("user code", client_id=record.client_id, note="a pending device request, unexpired")
    return record


@dataclass(frozen=True, slots=True)
class DeviceConsent:
    record: DeviceRecord
    user: UserRecord
    client: ApplicationRecord
    grant: DelegatedGrant


def approve(services: Services, record: DeviceRecord, *, user: UserRecord, sign_in: SignIn,
            consent_given: bool = False) -> DeviceConsent | None:
    """After sign-in: the user's checks, consent, then the approval the poll redeems (None = approved)."""
    directory = services.directory
    client = signed_in_client(directory, record.tenant_id, user, record.client_id)
    app, sp = client.app, client.sp
    payload = DevicePayload.from_data(record.data)
    grant = decide(directory, services.artefacts, tenant=ResolvedTenant(directory.tenants[user.tenant_id]),
                   client=app, client_sp=sp, user=user, scopes=payload.scope.split(), resource_param=payload.resource)
    if grant.missing and not consent_given:
        return DeviceConsent(record, user, app, grant)
    services.artefacts.decide_device_code(record.device_code_hash, status="approved", user_id=user.id,
                                          data=payload.approved(sign_in).to_data())
    return None


def decline(services: Services, record: DeviceRecord) -> None:
    services.artefacts.decide_device_code(record.device_code_hash, status="declined", user_id=None)
