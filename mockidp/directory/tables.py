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


class ApimServiceRow(SQLModel, table=True):
    """An API Management service of the seed (apim_model.ApimServiceRecord.as_json), read once per worker."""

    __tablename__ = "apim_service"
    name: str = Field(primary_key=True)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


SEED_TABLES: tuple[type[SQLModel], ...] = (
    TenantRow, ApplicationRow, ServicePrincipalRow, UserRow, GroupRow, AssignmentRow, GrantRow, ApimServiceRow,
)


# --- runtime artefacts of user sign-ins --------------------------------------------------------
# Codes, refresh tokens, device codes and sessions are random (256 bits) and stored only as SHA-256
# hashes; single use is one conditional UPDATE (see artefacts.py).


class AuthorizationCodeRow(SQLModel, table=True):
    __tablename__ = "authorization_code"
    code_hash: str = Field(primary_key=True)
    tenant_id: str
    client_id: str
    user_id: str
    redirect_uri: str
    created_at: float
    expires_at: float
    consumed_at: float | None = None
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class RefreshTokenRow(SQLModel, table=True):
    __tablename__ = "refresh_token"
    token_hash: str = Field(primary_key=True)
    tenant_id: str
    client_id: str = Field(index=True)
    user_id: str = Field(index=True)
    issued_at: float
    last_used_at: float
    spa: bool = False
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class DeviceCodeRow(SQLModel, table=True):
    __tablename__ = "device_code"
    device_code_hash: str = Field(primary_key=True)
    user_code: str = Field(index=True, unique=True)
    tenant_id: str
    client_id: str
    created_at: float
    expires_at: float
    status: str = "pending"  # pending | approved | declined | redeemed
    user_id: str | None = None
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class SessionRow(SQLModel, table=True):
    __tablename__ = "sign_in_session"
    session_hash: str = Field(primary_key=True)
    tenant_id: str
    user_id: str
    sid: str
    auth_time: float
    expires_at: float


class UsedFlowStateRow(SQLModel, table=True):
    """The sealed `ctx` of a sign-in or consent form once used: inserting its id decides (single use)."""

    __tablename__ = "used_flow_state"
    flow_hash: str = Field(primary_key=True)
    expires_at: float


class ConsentRow(SQLModel, table=True):
    """A Principal oAuth2PermissionGrant recorded when a user accepts the consent page."""

    __tablename__ = "user_consent"
    id: str = Field(primary_key=True)
    tenant_id: str
    client_sp_id: str = Field(index=True)
    resource_sp_id: str
    user_id: str = Field(index=True)
    scopes: list[str] = Field(sa_column=Column(JSON, nullable=False))


class UserStateRow(SQLModel, table=True):
    """Per-user runtime state: tokens valid from (an admin revoke)."""

    __tablename__ = "user_state"
    user_id: str = Field(primary_key=True)
    tokens_valid_from: float | None = None
    failed_sign_ins: int = 0  # unused (lockout lives in sign_in_lockout); kept for earlier databases


class SignInLockoutRow(SQLModel, table=True):
    """Smart lockout per user: attempts reserved in the current run of failures, the end of the current
    lock, and how many locks the run has had (each lock is longer)."""

    __tablename__ = "sign_in_lockout"
    user_id: str = Field(primary_key=True)
    attempts: int = 0
    locked_until: float | None = None
    lockouts: int = 0


class TraceRow(SQLModel, table=True):
    """One request's decision trace (oauth/trace.py), kept bounded by directory/traces.py. `seq` orders
    them (newest first) and is the key: a trace id repeats only under the tests' sequential ids."""

    __tablename__ = "decision_trace"
    seq: int | None = Field(default=None, primary_key=True)
    trace_id: str = Field(index=True)
    created_at: float  # no index: each is one more write per trace, and 10,000 rows scan in a moment
    client_id: str = ""
    outcome: str = ""
    body: str  # the trace as JSON text
