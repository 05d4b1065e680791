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


class DirectorySourceRow(SQLModel, table=True):
    """The seed's directory as it was loaded (`seed`), kept whole so that a reset can bring it back after
    Graph writes changed the tables above (directory/store.py)."""

    __tablename__ = "directory_source"
    name: str = Field(primary_key=True)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class AzureResourceRow(SQLModel, table=True):
    """A simulated Azure resource with managed identities (model.AzureResourceRecord)."""

    __tablename__ = "azure_resource"
    name: str = Field(primary_key=True)
    tenant_id: str = Field(index=True)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


SEED_TABLES: tuple[type[SQLModel], ...] = (
    TenantRow, ApplicationRow, ServicePrincipalRow, UserRow, GroupRow, AssignmentRow, GrantRow, ApimServiceRow,
    AzureResourceRow,
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
    """One request's decision trace (oauth/trace.py), kept bounded by directory/traces.py: its id, when,
    and the shape it shares with the requests decided alike. `seq` orders them (newest first) and is
    the key: a trace id repeats only under the tests' sequential ids."""

    __tablename__ = "trace_record"
    seq: int | None = Field(default=None, primary_key=True)
    # No index on trace_id nor created_at: an index of random ids costs more than the row itself on every
    # write (bench/trace_cost.py), and a lookup scans the 10,000 short rows the retention keeps in ~1 ms.
    trace_id: str
    created_at: float  # by mockidp's clock, which tests may move
    recorded_at: float = 0.0  # by the machine's: what a control reset hides (directory/traces.py)
    duration_ms: float = 0.0
    client_id: str = ""
    outcome: str = ""
    shape: str  # TraceShapeRow.digest


class TraceShapeRow(SQLModel, table=True):
    """A trace's document but its id and times, written once for every trace that has it."""

    __tablename__ = "trace_shape"
    digest: str = Field(primary_key=True)  # BLAKE2b-128 of body: the same in every worker and replica
    body: str
    touched_at: float  # the last flush that wrote a trace of this shape: unreferenced and old, it is purged


class ControlRow(SQLModel, table=True):
    """What the control API set, one row per kind (`clock`), for every worker and replica
    (directory/control_state.py). `version` grows with every write across all kinds."""

    __tablename__ = "control_state"
    name: str = Field(primary_key=True)
    version: int
    value: str  # JSON
    changed_at: float


# What `POST /_mockidp/control/reset` empties: everything sign-ins and flows left behind.
ARTEFACT_TABLES: tuple[type[SQLModel], ...] = (
    AuthorizationCodeRow, RefreshTokenRow, DeviceCodeRow, SessionRow, UsedFlowStateRow, ConsentRow, UserStateRow,
    SignInLockoutRow,
)


class FaultRow(SQLModel, table=True):
    """A failure the control API armed for the next `remaining` matching requests (directory/faults.py)."""

    __tablename__ = "control_fault"
    id: str = Field(primary_key=True)
    endpoint: str  # token | devicecode
    client_id: str = ""  # "" matches every client
    grant_type: str = ""  # "" matches every grant
    kind: str  # error | status | delay | drop
    value: str  # JSON: {"code": 50196} | {"status": 503, "retryAfter": 5} | {"seconds": 2.5} | {}
    remaining: int
    created_at: float


class SigningKeyRow(SQLModel, table=True):
    """A signing key of every worker and replica (directory/signing_keys.py, tokens/key_ring.py)."""

    __tablename__ = "signing_key"
    kid: str = Field(primary_key=True)
    private_pem: str
    cert_der: str  # base64
    role: str  # active | next | retired
    created_at: float
    published_until: float | None = None
