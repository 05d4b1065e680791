"""One module per grant; GRANTS maps grant_type to it."""

from mockidp.oauth.grants import client_credentials
from mockidp.oauth.grants.base import Grant

GRANTS: dict[str, Grant] = {
    client_credentials.GRANT.grant_type: client_credentials.GRANT,
}

__all__ = ["GRANTS", "Grant"]
