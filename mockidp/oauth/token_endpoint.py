"""The token endpoint: one pipeline, numbered steps (docs/entra-behaviour.md#token-endpoint). Grants fill in their
hooks (parameters, where they act, whether a public client may use them, what they ask for); the pipeline
runs everything else for every grant alike: tenant, client authentication, assignment, consent, minting
and the one response shaper (oauth/responses.py). Each step leaves one line in the decision trace."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mockidp.directory.builtin import GRAPH_APP_ID
from mockidp.errors import AadstsError, catalogue
from mockidp.oauth import cae, claim_reasons, trace
from mockidp.oauth.assignments import app_only_roles
from mockidp.oauth.cae import cae_capabilities
from mockidp.oauth.client_auth import Client, authenticate_client, canonical_guid, require_multi_tenant
from mockidp.oauth.context import Services, TokenRequest
from mockidp.oauth.delegated import DelegatedGrant, decide, require_consent
from mockidp.oauth.grants import GRANTS
from mockidp.oauth.grants.base import AppRequest, GrantInput, UserRequest
from mockidp.oauth.responses import app_only_response
from mockidp.oauth.tenants import ResolvedTenant, resolve_tenant
from mockidp.oauth.user_tokens import UserOutcome, mint_user_tokens
from mockidp.oauth.users import check_assignment
from mockidp.tokens.issuer import APP_ONLY_LIFETIME
from mockidp.tokens.model import Authorization

_ACR = {"0": "none (a public client)", "1": "client secret", "2": "certificate or federated assertion"}


def token(req: TokenRequest, services: Services) -> dict[str, Any]:
    # 1. resolve the tenant of the path (90002, 900023)
    path_tenant = resolve_tenant(services.directory, req.tenant_segment)
    trace.step("tenant", segment=req.tenant_segment[:128], tenant=path_tenant.tenant.id if path_tenant.tenant else None,
               kind=path_tenant.kind)
    params = req.params
    # 2. parameters every grant needs, then the grant's own (900144, 901002, 70003)
    grant_type = params.get("grant_type")
    if grant_type is None:
        raise AadstsError(catalogue.MISSING_PARAMETER, name="grant_type")
    if req.version == 2 and "resource" in params:
        raise AadstsError(catalogue.RESOURCE_PARAMETER_NOT_SUPPORTED)
    grant = GRANTS.get(grant_type)
    if grant is None:
        raise AadstsError(catalogue.UNSUPPORTED_GRANT_TYPE, grant_type=grant_type[:128])
    client_id = params.get("client_id") or (req.basic.client_id if req.basic else None)
    if client_id is None:
        raise AadstsError(catalogue.MISSING_PARAMETER, name="client_id")
    trace.about(client_id=canonical_guid(client_id).lower(), grant_type=grant_type)
    for name in grant.required(req.version):
        if name not in params:
            raise AadstsError(catalogue.MISSING_PARAMETER, name=name)
    if trace.active():  # the list is built for the trace only: not on the untraced hot path
        trace.step("parameters", grant_type=grant_type, endpoint=f"v{req.version}",
                   present=sorted(k for k in params if k in ("scope", "resource", "redirect_uri", "username")))
    # 3. the tenant the grant acts in, and its artefact (50194, 9001023, 50059, 700005, unknown code or token)
    located = grant.locate(req, path_tenant, services)
    require_multi_tenant(path_tenant, services.directory.applications.get(canonical_guid(client_id)))
    # 4. identify and authenticate the client (700016, 7000112, 7000215, 700027, 7000218, ...)
    client = authenticate_client(
        services.directory, located.tenant, req, client_id=client_id, now=services.clock.now(),
        missing_credential=grant.missing_credential, public_allowed=lambda app: grant.public_allowed(app, located),
        for_user=grant.for_user, federation=services.federation,
    )
    trace.step("client", client_id=client.app.app_id, name=client.app.display_name, tenant=located.tenant.tenant.id,
               authentication=_ACR[client.acr])
    # 5. what the grant asks for: its own checks (code, password, refresh token, assertion ...)
    asked = grant.authorize(GrantInput(req, located.tenant, client, services, located.artefact))
    # 6. Entra's rules for every grant: assignment and consent; 7. mint and shape the body
    if isinstance(asked, AppRequest):
        return _app_only(req, services, located.tenant, client, asked)
    return _for_user(req, services, located.tenant, client, asked)


def _app_only(req: TokenRequest, services: Services, tenant: ResolvedTenant, client: Client,
              asked: AppRequest) -> dict[str, Any]:
    resource = asked.resource
    trace.step("resource", resource=resource.identifier, name=resource.app.display_name,
               requested_access_token_version=resource.app.access_token_version)
    roles = app_only_roles(services.directory, client.sp, client.app.display_name, resource)
    trace.step("assignment", "passed" if resource.sp.app_role_assignment_required else trace.NOT_APPLICABLE,
               required=resource.sp.app_role_assignment_required, roles=roles,
               note="" if resource.sp.app_role_assignment_required else "the resource does not require assignment")
    params = req.params
    capabilities = cae_capabilities(params.get("claims"), resource.app.app_id)  # CAE (oauth/cae.py)
    auth = Authorization(
        tenant_id=tenant.tenant.id, client_app_id=client.app.app_id, client_acr=client.acr,
        resource_app_id=resource.app.app_id, audience=resource.identifier, version=resource.app.access_token_version,
        subject_id=client.sp.id, roles=roles, header_nonce=resource.app.app_id == GRAPH_APP_ID,
        optional_claims=resource.app.access_token_claims,
    )
    if capabilities:
        auth = replace(auth, client_capabilities=capabilities)
    claim_reasons.record(services.directory, auth)
    issued = services.issuer.access_token(auth, origin=req.origin,
                                          lifetime=cae.APP_ONLY_LIFETIME if capabilities else APP_ONLY_LIFETIME)
    trace.step("token", version=f"{auth.version}.0", response=f"v{req.version}",
               note="the resource's requestedAccessTokenVersion sets the token's version; the endpoint sets the body")
    return app_only_response(issued, version=req.version, resource=params.get("resource"))


def consent(services: Services, tenant: ResolvedTenant, client: Client, asked: UserRequest) -> DelegatedGrant:
    """The scopes the user may have for this client and resource; a grant cannot ask: missing consent is
    AADSTS65001. Refreshes included: Entra decides consent at every issuance (catalogue CONSENT_REQUIRED)."""
    grant = decide(services.directory, services.artefacts, tenant=tenant, client=client.app, client_sp=client.sp,
                   user=asked.user, scopes=asked.scope.split(), resource_param=asked.resource_param)
    trace.step("resource", resource=grant.resource.identifier, name=grant.resource.app.display_name,
               requested_access_token_version=grant.resource.app.access_token_version)
    require_consent(grant, client.app)
    trace.step("consent", scopes=grant.scp, note="each scope consented: admin or user grant, pre-authorized, or "
                                                 "implicit (Microsoft Graph's sign-in scopes)")
    return grant


def _for_user(req: TokenRequest, services: Services, tenant: ResolvedTenant, client: Client,
              asked: UserRequest) -> dict[str, Any]:
    # Entra decides the user's assignment at every issuance too, refreshes included (catalogue USER_NOT_ASSIGNED).
    check_assignment(services.directory, client.app, client.sp, asked.user)
    trace.step("user assignment", "passed" if client.sp.app_role_assignment_required else trace.NOT_APPLICABLE,
               user=asked.user.user_principal_name, required=client.sp.app_role_assignment_required)
    grant = consent(services, tenant, client, asked)
    if asked.redeem is not None:
        asked.redeem()
    outcome = UserOutcome(asked.user, grant, asked.sign_in, asked.scope, nonce=asked.nonce, spa=asked.spa,
                          chain_issued_at=asked.chain_issued_at, with_refresh_token=asked.with_refresh_token,
                          with_id_token=asked.with_id_token)
    params = req.params
    body = mint_user_tokens(services, outcome=outcome, tenant=tenant, client=client, origin=req.origin,
                            endpoint_version=req.version, want_client_info=params.get("client_info") == "1",
                            ipaddr=req.client_ip, claims=params.get("claims"))
    trace.step("token", version=f"{grant.resource.app.access_token_version}.0", response=f"v{req.version}",
               refresh_token="refresh_token" in body, id_token="id_token" in body)
    return body
