"""Deterministic object ids for what the seed leaves out, so tokens are reproducible."""

from __future__ import annotations

import re
import uuid

# A GUID in its 8-4-4-4-12 form, either case: tenant segments, client ids, client-request-id, forged ids.
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NAMESPACE = uuid.UUID("6f0d5f0e-7a43-4c4e-9d8b-6d6f636b6964")


def derived_id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))
