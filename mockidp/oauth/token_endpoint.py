"""The token endpoint: one pipeline, numbered steps (docs/entra-behaviour.md#token-endpoint). Grants fill in their
hooks; none can skip tenant resolution, client authentication or the rules of step 5."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mockidp.errors import AadstsError, catalogue
from mockidp.oauth import cae, claim_reasons, trace
from mockidp.oauth.cae import cae_capabilities
from mockidp.oauth.client_auth import authenticate_client, canonical_guid, require_multi_tenant
from mockidp.oauth.context import Services, TokenRequest
from mockidp.oauth.grants import GRANTS
from mockidp.oauth.grants.base import GrantInput
from mockidp.oauth.responses import app_only_response
from mockidp.oauth.tenants import resolve_tenant
from mockidp.oauth.user_tokens import UserOutcome, mint_user_tokens
from mockidp.tokens.issuer import APP_ONLY_LIFETIME


def token(req: TokenRequest, services: Services) -> dict[str, Any]:
    # 1. resolve the tenant of the path (90002, 900023)
    path_tenant = resolve_tenant(services.directory, req.tenant_segment)
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
    trace.about(client_id=client_id.lower(), grant_type=grant_type)
    for name in grant.required(req.version):
        if name not in params:
            raise AadstsError(catalogue.MISSING_PARAMETER, name=name)
    # 3. the tenant the grant acts in, and its artefact (50194, 9001023, 50059, 700005, unknown code or token)
    located = grant.locate(req, path_tenant, services)
    require_multi_tenant(path_tenant, services.directory.applications.get(canonical_guid(client_id)))
    # 4. identify and authenticate the client (700016, 7000112, 7000215, 700027, 7000218, ...)
    client = authenticate_client(
        services.directory, located.tenant, req, client_id=client_id, now=services.clock.now(),
        missing_credential=grant.missing_credential, public_allowed=lambda app: grant.public_allowed(app, located),
        for_user=grant.for_user,
    )
    # 5. the grant decides: user, resource, scopes, roles, consent and assignment rules
    outcome = grant.authorize(GrantInput(req, located.tenant, client, services, located.artefact))
    # 6. mint with the resource's token version; shape the body with the endpoint's version
    if isinstance(outcome, UserOutcome):
        return mint_user_tokens(services, outcome=outcome, tenant=located.tenant, client=client, origin=req.origin,
                                endpoint_version=req.version, want_client_info=params.get("client_info") == "1",
                                ipaddr=req.client_ip, claims=params.get("claims"))
    # CAE (oauth/cae.py): a cp1 client gets a 24-hour token, with xms_cc, for a CAE-aware resource.
    capabilities = cae_capabilities(params.get("claims"), outcome.resource_app_id)
    if capabilities:
        outcome = replace(outcome, client_capabilities=capabilities)
    claim_reasons.record(services.directory, outcome)
    issued = services.issuer.access_token(outcome, origin=req.origin,
                                          lifetime=cae.APP_ONLY_LIFETIME if capabilities else APP_ONLY_LIFETIME)
    return app_only_response(issued, version=req.version, resource=params.get("resource"))
