"""What `mockidp serve` does once before its workers start: data dir, keys, CA, the seed validated and
stored whole. Run in a child of the parent (forked_preparation) while the parent imports the app; apart
from app.py (the composition root, which re-exports it) so that preparing imports neither FastAPI nor the
routes (issue 11)."""

from __future__ import annotations

import time

from mockidp.directory.signing_keys import SigningKeys, StoredKey
from mockidp.directory.store import Store, make_engine
from mockidp.local_ca import ensure_server_certificate, server_names
from mockidp.settings import Settings
from mockidp.tokens.keys import ensure_keys
from mockidp.web.sealing import load_or_create_secret

__all__ = ["prepare"]


def prepare(settings: Settings, *, apply_seed: bool = True) -> Store:
    """Once per start, before workers fork: data dir, keys, CA, seed validated and stored whole."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = ensure_keys(settings.data_dir)  # before workers fork
    load_or_create_secret(settings.data_dir)
    if settings.tls:
        ensure_server_certificate(settings.data_dir, server_names(settings))
    store = Store(make_engine(settings.resolved_database_url))
    store.create_schema()
    SigningKeys(store.engine).adopt(StoredKey(key.kid, key.private_pem, key.cert_der), now=time.time())
    if apply_seed and settings.seed:
        from mockidp.directory.seed import load_seed  # YAML and the seed schema: not in the workers

        # raises SeedError: nothing half-loaded; a restart discards what Graph wrote since the last one
        store.replace_directory(load_seed(settings.seed), as_seed=True, now=time.time())
    return store
