"""Graph writes (mockidp/directory/writes.py) over a real store: each is whole or not at all, checked with the
seed's rules, and the next decision of another worker sees it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockidp.app import prepare
from mockidp.directory import writes as w
from mockidp.directory.live import LiveDirectory
from mockidp.directory.passwords import secret_digest
from mockidp.directory.stamp import Stamp
from mockidp.directory.store import Store
from mockidp.settings import Settings
from tests.conftest import DEMO_SEED

ROLE = "4f2c2b7e-8a3e-4c0b-9a0c-2d6f0e5b7a11"
APP = {"displayName": "orders-api", "identifierUris": ["api://orders-test"],
       "appRoles": [{"id": ROLE, "value": "Orders.Read", "displayName": "Read orders",
                     "allowedMemberTypes": ["Application"]}]}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return prepare(Settings(seed=[DEMO_SEED], data_dir=tmp_path, tls=False))


def test_app_principal_assignment_and_password_reach_another_worker(store: Store, tmp_path: Path) -> None:
    tid = store.load_directory().tenants[0].id
    reader = LiveDirectory(store, Stamp(tmp_path))
    api = w.apply(store, w.create_application(APP, tid, object_id="obj-api"), now=1.0).applications[-1]
    assert (api.object_id, api.display_name, [r.value for r in api.app_roles]) == ("obj-api", "orders-api",
                                                                                   ["Orders.Read"])
    w.apply(store, w.create_application({"displayName": "orders-client"}, tid, object_id="obj-cli"), now=1.0)
    content = w.apply(store, w.create_service_principal(api.app_id, tid, sp_id="sp-api"), now=2.0)
    client_app = next(a for a in content.applications if a.object_id == "obj-cli")
    w.apply(store, w.create_service_principal(client_app.app_id, tid, sp_id="sp-cli"), now=2.0)
    w.apply(store, w.update_service_principal("sp-api", app_role_assignment_required=True), now=2.0)
    w.apply(store, w.add_assignment("sp-cli", "sp-api", ROLE, assignment_id="as-1"), now=3.0)
    w.apply(store, w.add_password("obj-cli", "s3cret-text", key_id="k1", start=None, end=None), now=3.0)
    Stamp(tmp_path).bump()
    seen = reader.current()
    assert [(x.principal_type, x.app_role_id) for x in seen.content.assignments if x.id == "as-1"] == [
        ("ServicePrincipal", ROLE)]
    assert next(sp for sp in seen.content.service_principals if sp.id == "sp-api").app_role_assignment_required
    cli = next(a for a in seen.content.applications if a.object_id == "obj-cli")
    assert [(s.key_id, s.sha256) for s in cli.secrets] == [("k1", secret_digest("s3cret-text"))]

    w.apply(store, w.remove_assignment("as-1"), now=4.0)
    w.apply(store, w.delete_application("obj-api"), now=5.0)  # its principal goes with it
    left = store.load_directory()
    assert all(sp.id != "sp-api" for sp in left.service_principals)
    assert all(x.id != "as-1" for x in left.assignments)


def test_a_refused_write_changes_nothing_and_says_why(store: Store) -> None:
    tid = store.load_directory().tenants[0].id
    before = store.load_versioned()
    cases = [
        (w.create_application({"displayName": ""}, tid), "invalid", "displayName"),
        (w.create_application({**APP, "web": {"redirectUris": ["not a uri"]}}, tid), "invalid", "redirectUris"),
        (w.create_service_principal("11111111-1111-1111-1111-111111111111", tid), "invalid", "valid application"),
        (w.add_assignment("no-such-principal", "no-sp", ROLE), "not_found", "no-such-principal"),
        (w.remove_assignment("no-such-assignment"), "not_found", "no-such-assignment"),
        (w.add_password("no-such-app", "x", key_id="k", start=None, end=None), "not_found", "no-such-app"),
        (w.update_service_principal("no-such-sp", account_enabled=False), "not_found", "no-such-sp"),
    ]
    for change, kind, words in cases:
        with pytest.raises(w.WriteError) as refused:
            w.apply(store, change, now=9.0)
        assert (refused.value.kind, words in refused.value.message) == (kind, True), refused.value.message
    assert store.load_versioned() == before


def test_an_assignment_to_a_role_the_resource_lacks_is_refused_as_a_whole(store: Store) -> None:
    tid = store.load_directory().tenants[0].id
    w.apply(store, w.create_application(APP, tid, object_id="obj-api"), now=1.0)
    api_app_id = store.load_directory().applications[-1].app_id
    w.apply(store, w.create_service_principal(api_app_id, tid, sp_id="sp-api"), now=1.0)
    before = store.load_versioned()
    with pytest.raises(w.WriteError, match="not an app role"):
        w.apply(store, w.add_assignment("sp-api", "sp-api", "99999999-9999-9999-9999-999999999999"), now=2.0)
    with pytest.raises(w.WriteError, match="already in use"):
        w.apply(store, w.create_service_principal(api_app_id, tid), now=2.0)
    assert store.load_versioned() == before
