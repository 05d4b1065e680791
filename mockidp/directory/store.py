"""The database behind the directory: one place that opens sessions and runs named queries."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine, delete, select

from mockidp.directory import model as m
from mockidp.directory import tables as t
from mockidp.directory.apim_model import ApimServiceRecord


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets workers read while another process writes; IMMEDIATE transactions (below)
            # serialise writers instead of failing on lock upgrades.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # WAL's own recommendation: a commit is durable against a process crash, and loses at most the
            # last transactions on a power cut; without it every commit (a trace batch, a code) waits on fsync.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            # A worker's page cache: 512 KiB, not SQLite's 2 MB. The directory is read once into memory and the
            # hot paths read nothing here; what is read (codes, sessions) the OS caches too. The trace flushes
            # (40 MB of gateway traces at the count bound) filled the 2 MB of every worker (issue 11).
            cur.execute("PRAGMA cache_size=-512")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def _record(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _build(cls: type, data: dict[str, Any]) -> Any:
    return cls(**{k: _tuples(v) for k, v in data.items()})


def _application(data: dict[str, Any]) -> m.ApplicationRecord:
    nested = {
        "scopes": m.ScopeRecord, "app_roles": m.AppRoleRecord,
        "secrets": m.SecretRecord, "certificates": m.CertificateRecord,
        "federated_credentials": m.FederatedCredentialRecord,
    }
    values = {k: _tuples(v) for k, v in data.items() if k not in nested}
    for key, cls in nested.items():
        values[key] = tuple(_build(cls, x) for x in data.get(key, ()))  # a row stored before the key existed
    return m.ApplicationRecord(**values)


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_schema(self) -> None:
        SQLModel.metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            # Traces were one table of whole documents before they were rows and shapes (directory/traces.py):
            # an older data dir's table holds only a day of traces, and nothing reads it any more.
            conn.exec_driver_sql("DROP TABLE IF EXISTS decision_trace")

    def replace_directory(self, content: m.DirectoryContent, *, as_seed: bool = False, now: float = 0.0) -> None:
        """Swap the registrations in one transaction: readers see the old or the new directory. `as_seed` keeps
        a copy that `restore_seed` brings back (a reset after Graph writes)."""
        with Session(self.engine) as session, session.begin():
            _lock_version(session)
            _write(session, content)
            if as_seed:
                session.merge(t.DirectorySourceRow(name=SEED, data=content_json(content)))
            _bump(session, now)

    def change_directory(self, change: Callable[[m.DirectoryContent], m.DirectoryContent], *,
                         now: float) -> m.DirectoryContent:
        """Read, change and write the directory in one write transaction (a Graph write, directory/writes.py):
        two writes at once both count, and whatever `change` raises leaves the directory as it was."""
        with Session(self.engine) as session, session.begin():
            _lock_version(session)
            changed = change(_load(session))
            _write(session, changed)
            _bump(session, now)
        return changed

    def restore_seed(self, *, now: float) -> bool:
        """The directory back to the seed it started with; False when none was kept (no --seed)."""
        with Session(self.engine) as session, session.begin():
            _lock_version(session)
            row = session.get(t.DirectorySourceRow, SEED)
            if row is None:
                return False
            _write(session, content_of(row.data))
            _bump(session, now)
        return True

    def directory_version(self) -> int:
        with Session(self.engine) as session:
            row = session.get(t.ControlRow, DIRECTORY)
            return 0 if row is None else row.version

    def load_directory(self) -> m.DirectoryContent:
        return self.load_versioned()[1]

    def load_versioned(self) -> tuple[int, m.DirectoryContent]:
        """The directory and the version it was written with, read in one transaction."""
        with Session(self.engine) as session:
            row = session.get(t.ControlRow, DIRECTORY)
            return (0 if row is None else row.version), _load(session)


SEED = "seed"
DIRECTORY = "directory"  # the control_state row whose version names the directory now written


def _lock_version(session: Session) -> None:
    """Directory writers one after the other: each reads the directory and the version as the one before left
    them, so each new version is higher than the last (a reset racing a Graph write could otherwise write the
    same version twice, and a replica that saw the first would miss the second)."""
    session.exec(select(t.ControlRow).where(t.ControlRow.name == DIRECTORY).with_for_update()).first()


def _bump(session: Session, now: float) -> None:
    """A new directory version; versions only grow, across the control state's kinds (control_state.py)."""
    newest = session.exec(select(func.max(t.ControlRow.version))).first() or 0
    row = session.get(t.ControlRow, DIRECTORY) or t.ControlRow(name=DIRECTORY, version=0, value="{}", changed_at=now)
    row.version, row.changed_at = int(newest) + 1, now
    session.add(row)


_KINDS: tuple[tuple[str, type[SQLModel]], ...] = (
    ("tenants", t.TenantRow), ("applications", t.ApplicationRow), ("service_principals", t.ServicePrincipalRow),
    ("users", t.UserRow), ("groups", t.GroupRow), ("assignments", t.AssignmentRow), ("grants", t.GrantRow),
    ("azure_resources", t.AzureResourceRow), ("api_management", t.ApimServiceRow),
)


def content_json(content: m.DirectoryContent) -> dict[str, Any]:
    out: dict[str, Any] = {kind: [_record(x) for x in getattr(content, kind)] for kind, _ in _KINDS[:-1]}
    out["api_management"] = [x.as_json() for x in content.api_management]
    return out


def content_of(data: dict[str, Any]) -> m.DirectoryContent:
    return m.DirectoryContent(
        tenants=tuple(_build(m.TenantRecord, d) for d in data["tenants"]),
        applications=tuple(_application(d) for d in data["applications"]),
        service_principals=tuple(_build(m.ServicePrincipalRecord, d) for d in data["service_principals"]),
        users=tuple(_build(m.UserRecord, d) for d in data["users"]),
        groups=tuple(_build(m.GroupRecord, d) for d in data["groups"]),
        assignments=tuple(_build(m.AssignmentRecord, d) for d in data["assignments"]),
        grants=tuple(_build(m.GrantRecord, d) for d in data["grants"]),
        api_management=tuple(ApimServiceRecord.from_json(d) for d in data["api_management"]),
        # a seed kept before managed identities existed has none
        azure_resources=tuple(_build(m.AzureResourceRecord, d) for d in data.get("azure_resources", ())),
    )


def _load(session: Session) -> m.DirectoryContent:
    return content_of({kind: [r.data for r in session.exec(select(table))]  # type: ignore[attr-defined]
                       for kind, table in _KINDS})


def _write(session: Session, content: m.DirectoryContent) -> None:
    for table in t.SEED_TABLES:
        session.exec(delete(table))
    for tenant in content.tenants:
        session.add(t.TenantRow(id=tenant.id, display_name=tenant.display_name, data=_record(tenant)))
    for app in content.applications:
        session.add(t.ApplicationRow(app_id=app.app_id, tenant_id=app.tenant_id,
                                     display_name=app.display_name, data=_record(app)))
    for sp in content.service_principals:
        session.add(t.ServicePrincipalRow(id=sp.id, tenant_id=sp.tenant_id, app_id=sp.app_id, data=_record(sp)))
    for u in content.users:
        session.add(t.UserRow(id=u.id, tenant_id=u.tenant_id, user_principal_name=u.user_principal_name,
                              data=_record(u)))
    for g in content.groups:
        session.add(t.GroupRow(id=g.id, tenant_id=g.tenant_id, data=_record(g)))
    for a in content.assignments:
        session.add(t.AssignmentRow(id=a.id, resource_sp_id=a.resource_sp_id, principal_id=a.principal_id,
                                    data=_record(a)))
    for gr in content.grants:
        session.add(t.GrantRow(id=gr.id, client_sp_id=gr.client_sp_id, resource_sp_id=gr.resource_sp_id,
                               data=_record(gr)))
    for service in content.api_management:
        session.add(t.ApimServiceRow(name=service.name, data=service.as_json()))
    for res in content.azure_resources:
        session.add(t.AzureResourceRow(name=res.name, tenant_id=res.tenant_id, data=_record(res)))
    session.flush()  # the deletes and inserts in order, before anything reads them back
