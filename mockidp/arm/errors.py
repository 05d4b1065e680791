"""ARM's errors, one catalogue: every error the ARM surface answers is one entry here. Body as ARM's:
{"error": {"code", "message"}}. Messages quoted from Azure's documentation where it gives them (reference
C.1); the codes marked "a choice" are not confirmed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ArmError:
    status: int
    code: str
    message: str


NO_API_VERSION = ArmError(400, "MissingApiVersionParameter",
                          "The api-version query parameter (?api-version=) is required for all requests.")
NO_TOKEN = ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
BAD_TOKEN = ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.")
OTHER_TENANT = ArmError(401, "InvalidAuthenticationTokenTenant",  # a choice: ARM's text names both tenants
                        "The access token is from the wrong issuer. It must match the tenant of the identity.")
NO_IDENTITY = ArmError(404, "ParentResourceNotFound",  # the code is a choice; the text is Azure's
                       "The parent user-assigned identity doesn't exist.")
NO_CREDENTIAL = ArmError(404, "NotFound",  # a choice
                         "The federated identity credential '{name}' was not found.")
EMPTY = ArmError(400, "BadRequest", "Federated Identity Credential from HTTP body has empty properties")
BAD_REQUEST = ArmError(400, "BadRequest", "{reason}")
NOT_SERVED = ArmError(501, "NotImplemented", "mockidp does not serve {what}.")  # a choice, as Graph's
TOO_LARGE = ArmError(413, "RequestEntityTooLarge", "The request is larger than the {limit} bytes allowed.")
BAD_JSON = ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")


def body(error: ArmError, **fields: str) -> dict[str, Any]:
    return {"error": {"code": error.code, "message": error.message.format(**fields)}}
