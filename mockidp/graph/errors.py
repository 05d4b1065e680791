"""Graph's errors, one catalogue: every error the Graph surface answers is one entry here.

Body as Graph's: {"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class GraphError:
    status: int
    code: str
    message: str


NOT_FOUND = GraphError(404, "Request_ResourceNotFound",
                       "Resource '{id}' does not exist or one of its queried reference-property objects are not "
                       "present.")
BAD_REQUEST = GraphError(400, "Request_BadRequest", "{reason}")
INVALID_JSON = GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type "
                                             "header is set and payload is of valid JSON format.")
CONFLICT = GraphError(400, "Request_MultipleObjectsWithSameKeyValue", "{reason}")
TOO_LARGE = GraphError(413, "Request_EntityTooLarge", "The request is larger than the {limit} bytes allowed.")
NO_TOKEN = GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
BAD_TOKEN = GraphError(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
DENIED = GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
UNSUPPORTED_QUERY = GraphError(400, "Request_UnsupportedQuery", "Unsupported query: {what}.")
ME_APP_ONLY = GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
BAD_REFERENCE = GraphError(400, "Request_BadRequest",  # a choice: Graph's wording for a bad @odata.id is unconfirmed
                           "Invalid object identifier '{ref}'.")
QUOTA = GraphError(400, "Directory_QuotaExceeded",  # {reason}: mockidp's bound (directory/people_writes.py)
                   "The directory object quota limit for the Tenant has been exceeded. Please ask your administrator "
                   "to increase the quota limit or delete objects to reduce the used quota. (mockidp keeps at most "
                   "{reason} per tenant.)")
NOT_SERVED = GraphError(501, "NotImplemented", "mockidp does not serve {what}.")  # a choice: Graph's 501 shape

# An alternate key taken (a federatedIdentityCredential's name): a captured 409.
DUPLICATE = GraphError(409, "Request_MultipleObjectsWithSameKeyValue", "{reason}")
# A federatedIdentityCredential's value refused (the issuer + subject pair taken: a captured 400).
FIC_VALUE = GraphError(400, "InvalidFederatedIdentityCredentialValue", "{reason}")

# An enabled app role or scope removed or changed by a PATCH (captured: Graph PowerShell's FullyQualifiedErrorId).
ENTITLEMENT = GraphError(400, "CannotDeleteOrUpdateEnabledEntitlement", "{reason}")

# addKey/removeKey: an app with no valid certificate cannot prove possession (Graph's docs: use PATCH
# keyCredentials instead; the wording is a choice), and a proof that proves nothing (code and text as a captured
# answer to a wrong proof, microsoftgraph/microsoft-graph-docs#14626; its status 401 is a choice).
NO_CERTIFICATE = GraphError(400, "Request_BadRequest", "The application has no valid certificate to prove possession "
                                                       "with. Add its first certificate with Update application "
                                                       "(PATCH keyCredentials).")
BAD_PROOF = GraphError(401, "Authentication_MissingOrMalformed", "Access Token missing or malformed.")

# A refused directory write (directory/writes.py WriteError.kind) -> its Graph entry.
FOR_WRITE = {"invalid": BAD_REQUEST, "not_found": BAD_REQUEST, "conflict": CONFLICT, "duplicate": DUPLICATE,
             "fic_value": FIC_VALUE, "entitlement": ENTITLEMENT, "quota": QUOTA}


def body(error: GraphError, *, now: float, request_id: str, client_request_id: str | None,
         **fields: str) -> dict[str, Any]:
    """The JSON body of one catalogue entry; `fields` fill its message's placeholders."""
    return {"error": {
        "code": error.code,
        "message": error.message.format(**fields),
        "innerError": {
            "date": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": request_id,
            "client-request-id": client_request_id or request_id,
        },
    }}
