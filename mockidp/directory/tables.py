"""SQLModel tables. Seeded registrations: key columns for lookups plus the full record as JSON
(they are read once per worker start). Runtime artefacts of user sign-ins come in their own tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class TenantRow(SQLModel, table=True):
    __tablename__ = "tenant"
    id: str = Field(primary_key=True)
    display_name: str
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class ApplicationRow(SQLModel, table=True):
    __tablename__ = "application"
    app_id: str = Field(primary_key=True)
    tenant_id: str = Field(index=True)
    display_name: str
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class ServicePrincipalRow(SQLModel, table=True):
    __tablename__ = "service_principal"
    id: str = Field(primary_key=True)
    tenant_id: str = Field(index=True)
    app_id: str = Field(index=True)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class UserRow(SQLModel, table=True):
    __tablename__ = "directory_user"
    id: str = Field(primary_key=True)
    tenant_id: str = Field(index=True)
    user_principal_name: str = Field(index=True)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class GroupRow(SQLModel, table=True):
    __tablename__ = "directory_group"
    id: str = Field(primary_key=True)
    tenant_id: str = Field(index=True)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class AssignmentRow(SQLModel, table=True):
    __tablename__ = "app_role_assignment"
    id: str = Field(primary_key=True)
    resource_sp_id: str = Field(index=True)
    principal_id: str = Field(index=True)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class GrantRow(SQLModel, table=True):
    __tablename__ = "oauth2_permission_grant"
    id: str = Field(primary_key=True)
    client_sp_id: str = Field(index=True)
    resource_sp_id: str = Field(index=True)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


SEED_TABLES: tuple[type[SQLModel], ...] = (
    TenantRow, ApplicationRow, ServicePrincipalRow, UserRow, GroupRow, AssignmentRow, GrantRow,
)
