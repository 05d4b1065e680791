"""User-assigned identities as ARM addresses them, and their federated identity credentials as ARM's JSON.

Who may call: a bearer token mockidp signed, for Resource Manager, not expired by mockidp's clock, of the
identity's tenant. A choice: no Azure role is checked (mockidp has no Azure RBAC); Azure asks for Managed
Identity Contributor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mockidp.arm import errors as e
from mockidp.directory.model import FederatedCredentialRecord, ServicePrincipalRecord
from mockidp.tokens.own_tokens import bearer_claims
from mockidp.tokens.signer import Signer

ARM_APP_ID = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
AUDIENCES = frozenset({"https://management.azure.com", "https://management.azure.com/",
                       "https://management.core.windows.net", "https://management.core.windows.net/", ARM_APP_ID})
KIND = "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials"


def authorize(header: str | None, *, signer_of: Callable[[str | None], Signer | None],
              now: float) -> dict[str, Any] | e.ArmError:
    """The token's claims when it is a Resource Manager token mockidp signed and still valid, else the catalogue
    entry to answer (the tenant is compared by the caller, once it knows the identity's)."""
    claims = bearer_claims(header, AUDIENCES, signer_of=signer_of, now=now)
    if isinstance(claims, str):
        return e.NO_TOKEN if claims == "missing" else e.BAD_TOKEN
    return claims


def identity(principals: list[ServicePrincipalRecord], resource_id: str) -> ServicePrincipalRecord | None:
    """The user-assigned identity whose ARM id is `resource_id` (ARM ids compare case-insensitively)."""
    wanted = resource_id.lower()
    return next((sp for sp in principals if sp.user_assigned and sp.mi_resource_id.lower() == wanted), None)


def credential(identity_id: str, c: FederatedCredentialRecord) -> dict[str, Any]:
    return {"id": f"{identity_id}/federatedIdentityCredentials/{c.name}", "name": c.name, "type": KIND,
            "properties": {"issuer": c.issuer, "subject": c.subject, "audiences": list(c.audiences)}}
