"""Does the browser's session answer an /authorize request, or must the person sign in (again)?
(docs/entra-behaviour.md#sessions). One rule, three outcomes:

- the session's tenant is not the request's, or it is older than `max_age`: it does not count;
- `prompt=none` with no session that counts: AADSTS50058 to the client (silent_failure);
- `prompt=login` / `select_account`: the sign-in page even with a session; otherwise the session answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mockidp.directory.artefacts import SessionRecord
from mockidp.directory.snapshot import Directory
from mockidp.oauth import trace
from mockidp.oauth.authorize import AuthorizeRequest
from mockidp.oauth.payloads import SignIn
from mockidp.oauth.tenants import resolve_tenant

SIGN_IN_AGAIN = ("login", "select_account")


@dataclass(frozen=True, slots=True)
class SessionAnswers:
    """The session's user and sign-in answer the request: no page."""

    user_id: str
    sign_in: SignIn


SessionDecision = SessionAnswers | Literal["sign_in", "login_required"]


def session_decision(directory: Directory, req: AuthorizeRequest, session: SessionRecord | None,
                     *, now: float) -> SessionDecision:
    why = "no session"
    if session is not None:
        scope_tenant = resolve_tenant(directory, req.tenant_segment).tenant
        if scope_tenant is not None and scope_tenant.id != session.tenant_id:
            session, why = None, "signed in to another tenant"
        elif session.user_id not in directory.users:
            session, why = None, "the session's user is no longer in the directory (deleted)"
        elif req.max_age is not None and now - session.auth_time > req.max_age:
            session, why = None, f"the sign-in is older than max_age={req.max_age}"
    if req.prompt == "none" and session is None:
        return "login_required"  # the refusal's own step says why (LOGIN_REQUIRED)
    if session is not None and req.prompt not in SIGN_IN_AGAIN:
        trace.step("session", user_id=session.user_id, prompt=req.prompt,
                   note="a session of this tenant, recent enough: no sign-in page")
        return SessionAnswers(session.user_id, SignIn(session.sid, ("pwd",), session.auth_time))
    trace.step("session", trace.NOT_APPLICABLE, prompt=req.prompt,
               note=f"prompt={req.prompt}: sign in again" if session is not None else f"{why}: the sign-in page")
    return "sign_in"
