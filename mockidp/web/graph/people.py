"""Graph's users, groups, their members and `me` (issue 9), as handlers of the edge.

Every write goes through directory/people_writes.py and Call.write, so the next token decision follows it:
a created user signs in, a disabled one gets AADSTS50057, a deleted one 50034, a new member's token carries
the group. revokeSignInSessions ends the user's browser sessions and makes refresh tokens issued before now
fail (Artefacts.revoke_sign_in_sessions; the refresh grant checks it, AADSTS50173); so does a new password.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import Response

from mockidp.directory import model as m
from mockidp.directory import people_writes as pw
from mockidp.directory.passwords import hash_password
from mockidp.graph import errors as e
from mockidp.graph import people_resources as pr
from mockidp.tokens.own_tokens import NotOwnToken, verify_own_token
from mockidp.web.graph.call import Call, Refused, json_response

USERS_WRITE = "User.ReadWrite.All"
USERS_READ = (USERS_WRITE, "User.Read.All", "Directory.Read.All", "Directory.ReadWrite.All")
GROUPS_WRITE = "Group.ReadWrite.All"
MEMBERS_WRITE = (GROUPS_WRITE, "GroupMember.ReadWrite.All", "Directory.ReadWrite.All")
GROUPS_READ = (*MEMBERS_WRITE, "Group.Read.All", "GroupMember.Read.All", "Directory.Read.All")
ME = ("User.Read", "User.ReadWrite", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All")
# @odata.id of a member: .../directoryObjects/{id} (Graph's form) or .../users/{id}
_REFERENCE = re.compile(r"/(?:directoryObjects|users)/([0-9A-Fa-f-]{36})$")


def _users(call: Call) -> list[m.UserRecord]:
    return [u for u in call.directory().content.users if u.tenant_id == call.tenant]


def _groups(call: Call) -> list[m.GroupRecord]:
    return [g for g in call.directory().content.groups if g.tenant_id == call.tenant]


def _user(call: Call, key: str) -> m.UserRecord:
    """users/{id} or users/{userPrincipalName} (any case), as Graph's."""
    folded = key.lower()
    found = next((u for u in _users(call) if u.id == key or u.user_principal_name.lower() == folded), None)
    if found is None:
        raise Refused(e.NOT_FOUND, id=key)
    return found


def _group(call: Call, group_id: str) -> m.GroupRecord:
    found = next((g for g in _groups(call) if g.id == group_id), None)
    if found is None:
        raise Refused(e.NOT_FOUND, id=group_id)
    return found


def _user_json(call: Call, u: m.UserRecord) -> dict[str, Any]:
    return pr.user(u, full="$select" in call.query)


def _not_served(call: Call, method: str) -> Refused:
    return Refused(e.NOT_SERVED, what=f"{method} {call.request.url.path}")


async def users(call: Call, method: str, rest: list[str]) -> Response:
    call.allow(*USERS_READ) if method == "GET" else call.allow(USERS_WRITE)
    if not rest:
        if method == "GET":
            return call.page([_user_json(call, u) for u in _users(call)], "users")
        if method == "POST":
            return await _create_user(call)
        raise _not_served(call, method)
    user = _user(call, rest[0])
    if len(rest) == 1:
        if method == "GET":
            return call.one(_user_json(call, user), "users")
        if method == "PATCH":
            fields = _or_refused(pw.user_changes, await call.body())
            password = fields.pop("password", None)
            if password is not None:
                fields["password_hash"] = await asyncio.to_thread(hash_password, password)
            await call.write(pw.update_user(user.id, fields))
            if password is not None:  # an admin's password reset revokes the user's refresh tokens, as Entra's
                await _revoke(call, user)
            return Response(status_code=204)
        if method == "DELETE":
            await call.write(pw.delete_user(user.id))
            return Response(status_code=204)
    elif rest[1:] == ["memberOf"] and method == "GET":
        return _member_of(call, user)
    elif rest[1:] == ["revokeSignInSessions"] and method == "POST":
        return await _revoke(call, user)
    raise _not_served(call, method)


def _or_refused(read: Any, body: dict[str, Any]) -> Any:
    try:
        return read(body)
    except pw.WriteError as exc:
        raise Refused(e.FOR_WRITE.get(exc.kind, e.BAD_REQUEST), reason=exc.message) from None


async def _create_user(call: Call) -> Response:
    new: pw.NewUser = _or_refused(pw.new_user, await call.body())
    password_hash = await asyncio.to_thread(hash_password, new.password)  # PBKDF2, as the seed's users
    user_id = call.rt.services.ids.guid()
    directory = await call.write(pw.create_user(new, call.tenant, user_id=user_id, password_hash=password_hash))
    return call.one(pr.user(directory.users[user_id]), "users", 201)


def _member_of(call: Call, user: m.UserRecord) -> Response:
    groups = call.directory().groups
    return call.page([pr.member_of(groups[g]) for g in user.group_ids if g in groups], "directoryObjects")


async def _revoke(call: Call, user: m.UserRecord) -> Response:
    services = call.rt.services
    await asyncio.to_thread(services.artefacts.revoke_sign_in_sessions, user.id, now=services.clock.now())
    return json_response(200, {"@odata.context": call.context("Edm.Boolean"), "value": True})


async def groups(call: Call, method: str, rest: list[str]) -> Response:
    if len(rest) >= 2 and rest[1] == "members":
        return await _members(call, method, rest)
    call.allow(*GROUPS_READ) if method == "GET" else call.allow(GROUPS_WRITE)
    if not rest:
        if method == "GET":
            return call.page([pr.group(g) for g in _groups(call)], "groups")
        if method == "POST":
            group_id = call.rt.services.ids.guid()
            directory = await call.write(_or_refused(
                lambda body: pw.create_group(body, call.tenant, group_id=group_id), await call.body()))
            return call.one(pr.group(directory.groups[group_id]), "groups", 201)
    elif len(rest) == 1:
        group = _group(call, rest[0])
        if method == "GET":
            return call.one(pr.group(group), "groups")
        if method == "DELETE":
            await call.write(pw.delete_group(group.id))
            return Response(status_code=204)
    raise _not_served(call, method)


async def _members(call: Call, method: str, rest: list[str]) -> Response:
    """members (GET), members/$ref (POST), members/{id}/$ref (DELETE)."""
    call.allow(*GROUPS_READ) if method == "GET" else call.allow(*MEMBERS_WRITE)
    group = _group(call, rest[0])
    tail = rest[2:]
    if not tail and method == "GET":
        members = [u for u in _users(call) if group.id in u.group_ids]
        return call.page([pr.member(u) for u in members], "directoryObjects")
    if tail == ["$ref"] and method == "POST":
        body = await call.body()
        ref = body.get("@odata.id")
        found = _REFERENCE.search(ref) if isinstance(ref, str) else None
        if found is None:
            raise Refused(e.BAD_REFERENCE, ref=str(ref)[:200])
        member_id = found.group(1).lower()
        if all(u.id != member_id for u in _users(call)):
            if member_id in call.directory().principals or member_id in call.directory().groups:
                raise Refused(e.BAD_REQUEST, reason="mockidp's groups have users as members, not service "
                                                    "principals or groups.")
            raise Refused(e.NOT_FOUND, id=member_id)
        await call.write(pw.add_member(group.id, member_id))
        return Response(status_code=204)
    if len(tail) == 2 and tail[1] == "$ref" and method == "DELETE":
        if all(u.id != tail[0] or group.id not in u.group_ids for u in _users(call)):
            raise Refused(e.NOT_FOUND, id=tail[0])
        await call.write(pw.remove_member(group.id, tail[0]))
        return Response(status_code=204)
    raise _not_served(call, method)


async def me(call: Call, method: str, rest: list[str]) -> Response:
    """The signed-in user of a delegated token (its `oid`); an app-only token gets Graph's 400."""
    try:
        call.allow(*ME)
    except Refused as refused:
        if refused.error is e.DENIED and not _delegated(call):
            raise Refused(e.ME_APP_ONLY) from None
        raise
    if "scp" not in call.claims:
        raise Refused(e.ME_APP_ONLY)
    user = _user(call, str(call.claims.get("oid", "")))
    if not rest and method == "GET":
        return call.one(_user_json(call, user), "users")
    if rest == ["memberOf"] and method == "GET":
        return _member_of(call, user)
    if rest == ["revokeSignInSessions"] and method == "POST":
        return await _revoke(call, user)
    raise _not_served(call, method)


def _delegated(call: Call) -> bool:
    """Whether the (valid, signed) token that lacked the permission was a user's: it has `scp`."""
    _, _, token = (call.request.headers.get("authorization") or "").partition(" ")
    try:
        return "scp" in verify_own_token(call.rt.keys.verifier, token.strip())
    except NotOwnToken:
        return False
