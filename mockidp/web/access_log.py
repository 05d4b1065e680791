"""The access log never shows secrets: values of sensitive query parameters are replaced before a
request line is written (an id_token_hint on a logout URL, a code or token someone put in a query)."""

from __future__ import annotations

import logging
import re

SENSITIVE = ("id_token_hint", "code", "client_secret", "client_assertion", "assertion", "access_token",
             "refresh_token", "id_token", "password", "device_code", "otc", "code_verifier",
             "token",  # the console's decoder reads tokens from bodies only; a pasted ?token= is hidden too
             "subscription-key")  # the gateway's API Management key, in APIM's default query parameter
_PARAM = re.compile(r"([?&](?:" + "|".join(SENSITIVE) + r")=)[^&#\s]*", re.I)


def redact(path: str) -> str:
    return _PARAM.sub(r"\1[redacted]", path)


class RedactSecrets(logging.Filter):
    """For uvicorn's access logger, whose record args are (client, method, path, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def install() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSecrets) for f in logger.filters):
        logger.addFilter(RedactSecrets())
