"""How `mockidp serve` logs, in the parent and in every worker: one format, the level from the settings.

httpx and httpcore log every request they send at INFO (the gateway's forward-request, a federated
issuer's keys): a line per forwarded call, whatever --no-access-log says, with the backend URL and so its
query, where an Azure Functions key (`code=`) travels. Their loggers keep warnings and errors only."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
QUIETED = ("httpx", "httpcore")


def configure(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT)
    for name in QUIETED:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
