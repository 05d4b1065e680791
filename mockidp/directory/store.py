"""The database behind the directory: one place that opens sessions and runs named queries."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import event
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
    }
    values = {k: _tuples(v) for k, v in data.items() if k not in nested}
    for key, cls in nested.items():
        values[key] = tuple(_build(cls, x) for x in data[key])
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

    def replace_directory(self, content: m.DirectoryContent) -> None:
        """Swap the seeded registrations in one transaction: readers see the old or the new seed."""
        with Session(self.engine) as session, session.begin():
            for table in t.SEED_TABLES:
                session.exec(delete(table))
            for tenant in content.tenants:
                session.add(t.TenantRow(id=tenant.id, display_name=tenant.display_name, data=_record(tenant)))
            for app in content.applications:
                session.add(t.ApplicationRow(app_id=app.app_id, tenant_id=app.tenant_id,
                                             display_name=app.display_name, data=_record(app)))
            for sp in content.service_principals:
                session.add(t.ServicePrincipalRow(id=sp.id, tenant_id=sp.tenant_id, app_id=sp.app_id,
                                                  data=_record(sp)))
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

    def load_directory(self) -> m.DirectoryContent:
        with Session(self.engine) as session:
            def rows(table: Any) -> list[dict[str, Any]]:
                return [r.data for r in session.exec(select(table))]

            return m.DirectoryContent(
                tenants=tuple(_build(m.TenantRecord, d) for d in rows(t.TenantRow)),
                applications=tuple(_application(d) for d in rows(t.ApplicationRow)),
                service_principals=tuple(_build(m.ServicePrincipalRecord, d) for d in rows(t.ServicePrincipalRow)),
                users=tuple(_build(m.UserRecord, d) for d in rows(t.UserRow)),
                groups=tuple(_build(m.GroupRecord, d) for d in rows(t.GroupRow)),
                assignments=tuple(_build(m.AssignmentRecord, d) for d in rows(t.AssignmentRow)),
                grants=tuple(_build(m.GrantRecord, d) for d in rows(t.GrantRow)),
                api_management=tuple(ApimServiceRecord.from_json(d) for d in rows(t.ApimServiceRow)),
            )
