"""People writes (mockidp/directory/people_writes.py) over a real store: deleting a user or a group takes
what references it along (assignments, grants, memberships), a refused write changes nothing, and only the
password's hash is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockidp.app import prepare
from mockidp.directory import model as m
from mockidp.directory import people_writes as pw
from mockidp.directory import writes as w
from mockidp.directory.passwords import hash_password, verify_password
from mockidp.directory.store import Store
from mockidp.graph import errors as e
from mockidp.settings import Settings
from tests.conftest import DEMO_SEED

BODY = {"accountEnabled": True, "displayName": "Hal", "mailNickname": "hal",
        "userPrincipalName": "hal@contoso.onmicrosoft.com", "passwordProfile": {"password": "Hal-password-1"}}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return prepare(Settings(seed=[DEMO_SEED], data_dir=tmp_path, tls=False))


def test_deleting_a_group_or_a_user_takes_its_assignments_grants_and_memberships(store: Store) -> None:
    before = store.load_directory()
    alice = next(u for u in before.users if u.user_principal_name.startswith("alice"))
    group = alice.group_ids[0]
    assert any(x.principal_id == group for x in before.assignments)  # the seed's hrPortal assignment
    after = w.apply(store, pw.delete_group(group), now=1.0)
    assert all(g.id != group for g in after.groups) and all(x.principal_id != group for x in after.assignments)
    assert next(u for u in after.users if u.id == alice.id).group_ids == ()
    assert any(x.principal_id == alice.id for x in after.assignments)
    gone = w.apply(store, pw.delete_user(alice.id), now=2.0)
    assert all(u.id != alice.id for u in gone.users)
    assert all(x.principal_id != alice.id for x in gone.assignments)
    assert all(g.principal_id != alice.id for g in gone.grants)


def test_a_created_user_keeps_only_the_hash_and_refused_writes_change_nothing(store: Store) -> None:
    tid = store.load_directory().tenants[0].id
    new = pw.new_user(BODY)
    content = w.apply(store, pw.create_user(new, tid, user_id="u-hal", password_hash=hash_password(new.password)),
                      now=1.0)
    hal = next(u for u in content.users if u.id == "u-hal")
    assert hal.password_hash is not None and "Hal-password-1" not in hal.password_hash
    assert verify_password("Hal-password-1", hal.password_hash) and hal.mail_nickname == "hal"
    before = store.load_versioned()
    for change in (pw.create_user(new, tid, user_id="u-hal2", password_hash="x"),  # the same UPN
                   pw.add_member("no-such-group", "u-hal"), pw.remove_member(hal.id, "u-hal"),
                   pw.update_user("no-such-user", {"display_name": "x"})):
        with pytest.raises(w.WriteError):
            w.apply(store, change, now=2.0)
    assert store.load_versioned() == before
    group_id = "g-new"
    w.apply(store, pw.create_group({"displayName": "New", "mailNickname": "new", "mailEnabled": False,
                                    "securityEnabled": True}, tid, group_id=group_id), now=3.0)
    joined = w.apply(store, pw.add_member(group_id, "u-hal"), now=4.0)
    assert next(u for u in joined.users if u.id == "u-hal").group_ids == (group_id,)
    with pytest.raises(w.WriteError, match="already exist"):
        w.apply(store, pw.add_member(group_id, "u-hal"), now=5.0)


@pytest.mark.parametrize(("body", "message"), [
    ({k: v for k, v in BODY.items() if k != "accountEnabled"}, "Property accountEnabled value is required"),
    (BODY | {"passwordProfile": {"password": "alllowercase"}}, "complexity"),
    (BODY | {"passwordProfile": "x"}, "'passwordProfile'"),
    (BODY | {"displayName": "x" * 257}, "'displayName'"),
    (BODY | {"mailNickname": "x" * 65}, "'mailNickname'"),
    (BODY | {"userPrincipalName": "a@b@c"}, "'userPrincipalName'"),
    (BODY | {"accountEnabled": "true"}, "'accountEnabled'"),
])
def test_a_bad_user_body_is_refused_with_graphs_message(body: dict[str, object], message: str) -> None:
    with pytest.raises(w.WriteError, match=message) as refused:
        pw.new_user(body)
    assert refused.value.kind == "invalid"


def test_nul_lone_surrogates_and_control_characters_are_refused_before_any_store() -> None:
    for body in (BODY | {"displayName": "Hal\x00"}, BODY | {"passwordProfile": {"password": "Hal-pass\ud800word-1"}},
                 BODY | {"userPrincipalName": "h\x07al@contoso.onmicrosoft.com"}, BODY | {"mail": "\udfff"}):
        with pytest.raises(w.WriteError) as refused:
            pw.new_user(body)
        assert refused.value.kind == "invalid"
    with pytest.raises(w.WriteError):
        pw.create_group({"displayName": "G\x00", "mailNickname": "g", "mailEnabled": False, "securityEnabled": True},
                        "t", group_id="g")


def test_a_tenant_full_of_users_or_groups_refuses_one_more() -> None:
    tenant = m.TenantRecord("t", "T", ("t.example",), "WW")
    users = tuple(m.UserRecord(f"u{i}", "t", f"u{i}@t.example", "U", None, None, None, None, True, (), ())
                  for i in range(pw.MAX_USERS_PER_TENANT))
    groups = tuple(m.GroupRecord(f"g{i}", "t", f"G{i}", True) for i in range(pw.MAX_GROUPS_PER_TENANT))
    content = m.DirectoryContent(tenants=(tenant,), users=users, groups=groups)
    new = pw.new_user(BODY | {"userPrincipalName": "hal@t.example"})
    for change in (pw.create_user(new, "t", user_id="u-new", password_hash="x"),
                   pw.create_group({"displayName": "G", "mailNickname": "g", "mailEnabled": False,
                                    "securityEnabled": True}, "t", group_id="g-new")):
        with pytest.raises(w.WriteError) as refused:
            change(content)
        assert refused.value.kind == "quota"
        said = e.body(e.FOR_WRITE["quota"], now=0.0, request_id="r", client_request_id=None,
                      reason=refused.value.message)["error"]
        assert said["code"] == "Directory_QuotaExceeded" and "at most 10000 " in said["message"]
    fewer = m.DirectoryContent(tenants=(tenant,), users=users[1:], groups=groups[1:])
    assert pw.create_user(new, "t", user_id="u-new", password_hash="x")(fewer).users[-1].id == "u-new"


def test_a_patch_body_may_name_its_type_as_msgraph_sdk_sends_it() -> None:
    assert pw.user_changes({"@odata.type": "#microsoft.graph.user", "accountEnabled": False}) == {
        "account_enabled": False}
    with pytest.raises(w.WriteError, match="not jobTitle"):
        pw.user_changes({"jobTitle": "x"})


def test_a_tenant_without_domains_takes_any_domain_as_the_seed_does() -> None:
    bare = m.DirectoryContent(tenants=(m.TenantRecord("t", "T", (), "WW"),))
    new = pw.new_user(BODY | {"userPrincipalName": "hal@anything.example"})
    assert pw.create_user(new, "t", user_id="u", password_hash="x")(bare).users[0].user_principal_name == \
        "hal@anything.example"
    with pytest.raises(w.WriteError, match="domain portion"):
        pw.create_user(new, "t", user_id="u", password_hash="x")(
            m.DirectoryContent(tenants=(m.TenantRecord("t", "T", ("t.example",), "WW"),)))
