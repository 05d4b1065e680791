"""One module per grant; GRANTS maps grant_type to it."""

from mockidp.oauth.grants import (
    authorization_code,
    client_credentials,
    device_code,
    on_behalf_of,
    password,
    refresh_token,
)
from mockidp.oauth.grants.base import Grant

GRANTS: dict[str, Grant] = {
    g.grant_type: g
    for g in (client_credentials.GRANT, authorization_code.GRANT, refresh_token.GRANT, password.GRANT,
              device_code.GRANT, device_code.SHORT_GRANT, on_behalf_of.GRANT)
}

__all__ = ["GRANTS", "Grant"]
