"""Runtime artefacts of user sign-ins: authorization codes, refresh tokens, device codes, sessions,
user consents and user state. Named queries only; SQLModel stays inside this package.

Values handed out are random (32 bytes, base64url) and stored as SHA-256 hashes. Single use is one
conditional UPDATE (`... WHERE consumed_at IS NULL`) whose row count decides: of N parallel
redemptions exactly one succeeds, on SQLite (BEGIN IMMEDIATE) as on PostgreSQL. The same holds for
the flow state of the sign-in forms (one INSERT under the primary key) and for lockout attempts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, delete, select

from mockidp.directory import tables as t
from mockidp.directory.ids import derived_id


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CodeRecord:
    tenant_id: str
    client_id: str
    user_id: str
    redirect_uri: str
    created_at: float
    expires_at: float
    consumed_at: float | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    tenant_id: str
    client_id: str
    user_id: str
    issued_at: float
    last_used_at: float
    spa: bool
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    device_code_hash: str
    user_code: str
    tenant_id: str
    client_id: str
    created_at: float
    expires_at: float
    status: str
    user_id: str | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SessionRecord:
    tenant_id: str
    user_id: str
    sid: str
    auth_time: float


PURGE_EVERY = 60.0  # seconds between purges of expired codes, device codes, refresh tokens and sessions
# Expired rows are kept a while so that a late client still gets the precise answer (54005, 70008,
# 70020; 700082, 700084) instead of the generic invalid_grant of an unknown value; then they go. A
# choice: Entra's tokens carry their own dates, so it would answer 700082/700084 at any later time;
# here a refresh token deleted a day after its end gets 9002313 invalid_grant, as an unknown one.
EXPIRED_ARTEFACTS_KEPT = 3600.0  # codes and device codes
EXPIRED_REFRESH_TOKENS_KEPT = 24 * 3600.0
REFRESH_IDLE_LIFETIME = 90 * 24 * 3600  # Entra: 90 days of inactivity (700082)
SPA_REFRESH_LIFETIME = 24 * 3600  # SPA redirect URIs: 24 h from the first sign-in of the chain (700084)
# Sign-in sessions per user: a choice. Each browser keeps one (a new sign-in ends its previous one);
# beyond this many live browsers of one user, the oldest sessions end (scripts that keep no cookies).
MAX_SESSIONS_PER_USER = 100


class Artefacts:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._purged_at = 0.0

    def _maybe_purge(self, now: float) -> None:
        """Storage stays bounded however many codes are never redeemed: every write that adds a row purges
        what has expired, at most every PURGE_EVERY seconds per worker (the lifespan task does it too)."""
        if now - self._purged_at >= PURGE_EVERY or now < self._purged_at:
            self._purged_at = now
            self.purge_expired(now=now)

    # --- authorization codes -------------------------------------------------------------------
    def save_code(self, code: str, *, tenant_id: str, client_id: str, user_id: str, redirect_uri: str,
                  now: float, lifetime: float, data: dict[str, Any]) -> None:
        self._maybe_purge(now)
        with Session(self.engine) as s, s.begin():
            s.add(t.AuthorizationCodeRow(code_hash=digest(code), tenant_id=tenant_id, client_id=client_id,
                                         user_id=user_id, redirect_uri=redirect_uri, created_at=now,
                                         expires_at=now + lifetime, data=data))

    def code(self, code: str) -> CodeRecord | None:
        with Session(self.engine) as s:
            row = s.get(t.AuthorizationCodeRow, digest(code))
            if row is None:
                return None
            return CodeRecord(row.tenant_id, row.client_id, row.user_id, row.redirect_uri, row.created_at,
                              row.expires_at, row.consumed_at, dict(row.data))

    def consume_code(self, code: str, *, now: float) -> bool:
        """True for exactly one caller: the conditional UPDATE that flips consumed_at."""
        stmt = (update(t.AuthorizationCodeRow)
                .where(col(t.AuthorizationCodeRow.code_hash) == digest(code))
                .where(col(t.AuthorizationCodeRow.consumed_at).is_(None))
                .values(consumed_at=now))
        with Session(self.engine) as s, s.begin():
            return bool(s.exec(stmt).rowcount == 1)

    # --- refresh tokens ------------------------------------------------------------------------
    def save_refresh_token(self, token: str, *, tenant_id: str, client_id: str, user_id: str, now: float,
                           spa: bool, issued_at: float | None = None, data: dict[str, Any]) -> None:
        """issued_at: the first sign-in of the chain (SPA tokens live 24 h from it, rotation or not)."""
        self._maybe_purge(now)
        with Session(self.engine) as s, s.begin():
            s.add(t.RefreshTokenRow(token_hash=digest(token), tenant_id=tenant_id, client_id=client_id,
                                    user_id=user_id, issued_at=issued_at if issued_at is not None else now,
                                    last_used_at=now, spa=spa, data=data))

    def refresh_token(self, token: str) -> RefreshRecord | None:
        with Session(self.engine) as s:
            row = s.get(t.RefreshTokenRow, digest(token))
            if row is None:
                return None
            return RefreshRecord(row.tenant_id, row.client_id, row.user_id, row.issued_at, row.last_used_at,
                                 row.spa, dict(row.data))

    def touch_refresh_token(self, token: str, *, now: float) -> None:
        """Entra rotates refresh tokens but does not revoke the old one: using it only resets its idle time."""
        stmt = (update(t.RefreshTokenRow).where(col(t.RefreshTokenRow.token_hash) == digest(token))
                .values(last_used_at=now))
        with Session(self.engine) as s, s.begin():
            s.exec(stmt)

    # --- device codes --------------------------------------------------------------------------
    def save_device_code(self, device_code: str, *, user_code: str, tenant_id: str, client_id: str, now: float,
                         lifetime: float, data: dict[str, Any]) -> None:
        self._maybe_purge(now)
        with Session(self.engine) as s, s.begin():
            s.add(t.DeviceCodeRow(device_code_hash=digest(device_code), user_code=user_code, tenant_id=tenant_id,
                                  client_id=client_id, created_at=now, expires_at=now + lifetime, data=data))

    def _device(self, row: t.DeviceCodeRow | None) -> DeviceRecord | None:
        if row is None:
            return None
        return DeviceRecord(row.device_code_hash, row.user_code, row.tenant_id, row.client_id, row.created_at,
                            row.expires_at, row.status, row.user_id, dict(row.data))

    def device_by_code(self, device_code: str) -> DeviceRecord | None:
        with Session(self.engine) as s:
            return self._device(s.get(t.DeviceCodeRow, digest(device_code)))

    def device_by_code_hash(self, device_code_hash: str) -> DeviceRecord | None:
        with Session(self.engine) as s:
            return self._device(s.get(t.DeviceCodeRow, device_code_hash))

    def device_by_user_code(self, user_code: str) -> DeviceRecord | None:
        with Session(self.engine) as s:
            return self._device(s.exec(select(t.DeviceCodeRow).where(t.DeviceCodeRow.user_code == user_code)).first())

    def decide_device_code(self, device_code_hash: str, *, status: str, user_id: str | None,
                           data: dict[str, Any] | None = None) -> bool:
        """pending -> approved/declined, once."""
        values: dict[str, Any] = {"status": status, "user_id": user_id}
        if data is not None:
            values["data"] = data
        stmt = (update(t.DeviceCodeRow).where(col(t.DeviceCodeRow.device_code_hash) == device_code_hash)
                .where(col(t.DeviceCodeRow.status) == "pending").values(**values))
        with Session(self.engine) as s, s.begin():
            return bool(s.exec(stmt).rowcount == 1)

    def redeem_device_code(self, device_code: str) -> bool:
        stmt = (update(t.DeviceCodeRow).where(col(t.DeviceCodeRow.device_code_hash) == digest(device_code))
                .where(col(t.DeviceCodeRow.status) == "approved").values(status="redeemed"))
        with Session(self.engine) as s, s.begin():
            return bool(s.exec(stmt).rowcount == 1)

    # --- sign-in sessions ----------------------------------------------------------------------
    def save_session(self, session_id: str, *, tenant_id: str, user_id: str, sid: str, now: float,
                     lifetime: float, replaces: str | None = None) -> None:
        """replaces: the session this browser had until now (its cookie), which this sign-in ends. A user
        keeps at most MAX_SESSIONS_PER_USER sessions: beyond, the oldest end."""
        self._maybe_purge(now)
        new_hash = digest(session_id)
        keep = (select(t.SessionRow.session_hash)
                .where(t.SessionRow.user_id == user_id, t.SessionRow.session_hash != new_hash)
                .order_by(col(t.SessionRow.auth_time).desc(), col(t.SessionRow.session_hash))
                .limit(MAX_SESSIONS_PER_USER - 1))
        with Session(self.engine) as s, s.begin():
            if replaces:
                s.exec(delete(t.SessionRow).where(col(t.SessionRow.session_hash) == digest(replaces)))
            s.add(t.SessionRow(session_hash=new_hash, tenant_id=tenant_id, user_id=user_id, sid=sid,
                               auth_time=now, expires_at=now + lifetime))
            s.flush()
            s.exec(delete(t.SessionRow).where(col(t.SessionRow.user_id) == user_id,
                                              col(t.SessionRow.session_hash) != new_hash,
                                              col(t.SessionRow.session_hash).not_in(keep.scalar_subquery())))

    def session(self, session_id: str, *, now: float) -> SessionRecord | None:
        with Session(self.engine) as s:
            row = s.get(t.SessionRow, digest(session_id))
            if row is None or row.expires_at <= now:
                return None
            return SessionRecord(row.tenant_id, row.user_id, row.sid, row.auth_time)

    def end_session(self, session_id: str) -> None:
        with Session(self.engine) as s, s.begin():
            s.exec(delete(t.SessionRow).where(col(t.SessionRow.session_hash) == digest(session_id)))

    # --- flow state of the sign-in and consent forms ---------------------------------------------
    def use_flow_state(self, flow_id: str, *, expires_at: float, now: float) -> bool:
        """True for exactly one caller per id: one INSERT under the primary key decides, on SQLite
        (BEGIN IMMEDIATE) as on PostgreSQL (a concurrent insert waits, then violates the key)."""
        self._maybe_purge(now)
        return self._insert_once(t.UsedFlowStateRow(flow_hash=digest(flow_id), expires_at=expires_at))

    def _insert_once(self, row: SQLModel) -> bool:
        try:
            with Session(self.engine) as s, s.begin():
                s.add(row)
        except IntegrityError:
            return False
        return True

    # --- user consent and user state -----------------------------------------------------------
    def user_consented_scopes(self, *, client_sp_id: str, resource_sp_id: str, user_id: str) -> set[str]:
        with Session(self.engine) as s:
            rows = s.exec(select(t.ConsentRow).where(t.ConsentRow.client_sp_id == client_sp_id,
                                                     t.ConsentRow.resource_sp_id == resource_sp_id,
                                                     t.ConsentRow.user_id == user_id))
            return {scope for row in rows for scope in row.scopes}

    def record_consent(self, *, tenant_id: str, client_sp_id: str, resource_sp_id: str, user_id: str,
                       scopes: list[str]) -> None:
        """One row per tenant, client, resource and user, holding the union of every scope consented: an
        upsert (a deterministic id; a concurrent first insert loses on the key and merges on retry)."""
        row_id = derived_id("consent", tenant_id, client_sp_id, resource_sp_id, user_id)
        same = (t.ConsentRow.tenant_id == tenant_id, t.ConsentRow.client_sp_id == client_sp_id,
                t.ConsentRow.resource_sp_id == resource_sp_id, t.ConsentRow.user_id == user_id)
        for attempt in range(3):
            try:
                with Session(self.engine) as s, s.begin():
                    rows = list(s.exec(select(t.ConsentRow).where(*same).with_for_update()))
                    merged = sorted(set(scopes).union(*(row.scopes for row in rows)))
                    mine = next((row for row in rows if row.id == row_id), None)
                    for row in rows:
                        if row is not mine:
                            s.delete(row)  # duplicates written before rows were upserted
                    if mine is None:
                        s.add(t.ConsentRow(id=row_id, tenant_id=tenant_id, client_sp_id=client_sp_id,
                                           resource_sp_id=resource_sp_id, user_id=user_id, scopes=merged))
                    elif mine.scopes != merged:
                        mine.scopes = merged
                        s.add(mine)
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    def tokens_valid_from(self, user_id: str) -> float | None:
        with Session(self.engine) as s:
            row = s.get(t.UserStateRow, user_id)
            return row.tokens_valid_from if row else None

    def revoke_sign_in_sessions(self, user_id: str, *, now: float) -> None:
        """Graph's revokeSignInSessions: refresh tokens issued before now stop working (AADSTS50173)."""
        with Session(self.engine) as s, s.begin():
            row = s.get(t.UserStateRow, user_id) or t.UserStateRow(user_id=user_id)
            row.tokens_valid_from = now
            s.add(row)
            s.exec(delete(t.SessionRow).where(col(t.SessionRow.user_id) == user_id))

    # --- smart lockout -------------------------------------------------------------------------
    def reserve_sign_in_attempt(self, user_id: str, *, now: float, threshold: int,
                                durations: tuple[float, ...]) -> bool:
        """Before a password is verified: take one of the `threshold` attempts of the current run, in one
        conditional UPDATE (so N parallel guesses get at most `threshold` checks). False: locked.

        Once a lock has expired, one attempt is allowed and it locks again at once, for the next of
        `durations`; a correct password then clears the lock (sign_in_succeeded)."""
        row = t.SignInLockoutRow
        attempts, locked_until, lockouts = col(row.attempts), col(row.locked_until), col(row.lockouts)
        reaches = attempts + 1 >= threshold
        duration = case(*((lockouts == i, d) for i, d in enumerate(durations[:-1])), else_=durations[-1])
        stmt = (update(row)
                .where(col(row.user_id) == user_id)
                .where(or_(attempts < threshold, and_(locked_until.is_not(None), locked_until <= now)))
                .values(attempts=case((attempts >= threshold, threshold), else_=attempts + 1),
                        locked_until=case((reaches, now + duration), else_=None),
                        lockouts=case((reaches, lockouts + 1), else_=lockouts)))
        for _ in range(2):
            with Session(self.engine) as s, s.begin():
                if s.exec(stmt).rowcount == 1:
                    return True
            if not self._insert_once(t.SignInLockoutRow(user_id=user_id)):
                return False  # the user's row was there: locked
        return False

    def sign_in_succeeded(self, user_id: str) -> None:
        stmt = (update(t.SignInLockoutRow).where(col(t.SignInLockoutRow.user_id) == user_id)
                .values(attempts=0, locked_until=None, lockouts=0))
        with Session(self.engine) as s, s.begin():
            s.exec(stmt)

    def clear(self) -> None:
        """Back to the seed (the control API's reset): no code, refresh token, device code, session, used
        flow state, user consent, revocation or lockout is left. One transaction."""
        with Session(self.engine) as s, s.begin():
            for table in t.ARTEFACT_TABLES:
                s.exec(delete(table))

    def purge_expired(self, *, now: float) -> None:
        """Bounded storage: drop codes, device codes, refresh tokens, sessions and used flow states past
        their lifetime (plus the grace above; a used flow state past its expiry is refused for its expiry:
        its row is no longer needed). Conditional DELETEs only, so any number of workers and replicas may
        run it at once: a row another one deleted first is simply not there any more."""
        refresh = t.RefreshTokenRow
        with Session(self.engine) as s, s.begin():
            s.exec(delete(t.AuthorizationCodeRow)
                   .where(col(t.AuthorizationCodeRow.expires_at) < now - EXPIRED_ARTEFACTS_KEPT))
            s.exec(delete(t.DeviceCodeRow).where(col(t.DeviceCodeRow.expires_at) < now - EXPIRED_ARTEFACTS_KEPT))
            s.exec(delete(refresh).where(or_(
                col(refresh.last_used_at) < now - REFRESH_IDLE_LIFETIME - EXPIRED_REFRESH_TOKENS_KEPT,
                col(refresh.spa) & (col(refresh.issued_at) < now - SPA_REFRESH_LIFETIME - EXPIRED_REFRESH_TOKENS_KEPT),
            )))
            s.exec(delete(t.SessionRow).where(col(t.SessionRow.expires_at) < now))
            s.exec(delete(t.UsedFlowStateRow).where(col(t.UsedFlowStateRow.expires_at) < now))
