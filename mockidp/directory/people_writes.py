"""Graph writes to users, groups and memberships (issue 9), as change functions over the directory.

Each is run by writes.apply (one transaction, then the whole-directory check), so a refused write changes
nothing. A body is read here into typed values with Graph's messages (WriteError 'invalid'); a password is
hashed by the caller (passwords.hash_password, as the seed's) and only its hash reaches a change.
Group membership is kept on the user (UserRecord.group_ids), as the seed keeps it: members are users.
Besides writes.WriteError's kinds, 'quota' says a tenant holds as many users or groups as mockidp keeps.

Graph's wording of each refusal, rendered as graph/errors.py's BAD_REQUEST (Request_BadRequest) with it as the
reason. Seen in Graph's answers: "Property {name} value is required but is empty or missing.", "Invalid value
specified for property '{name}' of resource 'User'.", the domain portion message and the duplicate
userPrincipalName message. Unconfirmed, from Graph's documentation and forums: the password complexity message,
the duplicate member message and "... of resource 'Group'.".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mockidp.directory import model as m
from mockidp.directory.writes import Change, WriteError

MAX_NAME = 256  # displayName, userPrincipalName and passwords: the seed's limits (directory/schema.py)
MAX_NICKNAME = 64  # Graph's mailNickname
# Directory size bounds (every write rewrites the directory): Graph's Directory_QuotaExceeded beyond them.
MAX_USERS_PER_TENANT = 10_000
MAX_GROUPS_PER_TENANT = 10_000
USER_PATCHABLE = frozenset({"displayName", "accountEnabled", "passwordProfile", "givenName", "surname", "mail"})


@dataclass(frozen=True, slots=True)
class NewUser:
    user_principal_name: str
    display_name: str
    mail_nickname: str
    account_enabled: bool
    password: str
    given_name: str | None
    surname: str | None
    mail: str | None


def _required(body: Mapping[str, Any], name: str) -> Any:
    value = body.get(name)
    if value is None or value == "":
        raise WriteError("invalid", f"Property {name} value is required but is empty or missing.")
    return value


def storable(value: Any, limit: int) -> bool:
    """A non-blank string within `limit` that both databases store as given: no NUL (PostgreSQL refuses it)
    and no lone surrogate (not encodable as UTF-8)."""
    return (isinstance(value, str) and bool(value.strip()) and len(value) <= limit and "\x00" not in value
            and not any(0xD800 <= ord(c) <= 0xDFFF for c in value))


def _text(value: Any, name: str, limit: int = MAX_NAME) -> str:
    if not storable(value, limit):
        raise WriteError("invalid", f"Invalid value specified for property '{name}' of resource 'User'.")
    return str(value)


def _optional_text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    return None if value is None else _text(value, name)


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise WriteError("invalid", f"Invalid value specified for property '{name}' of resource 'User'.")
    return value


def password_of(profile: Any) -> str:
    """passwordProfile.password, held to Entra's complexity rule: 8 to 256 characters, three of lower case,
    upper case, digits and symbols. forceChangePasswordNextSignIn is accepted and not enforced (a choice:
    the created user signs in with this password at once)."""
    if not isinstance(profile, dict):
        raise WriteError("invalid", "Invalid value specified for property 'passwordProfile' of resource 'User'.")
    password = profile.get("password")
    if not isinstance(password, str) or not password:
        raise WriteError("invalid", "Property passwordProfile.password value is required but is empty or missing.")
    if not storable(password, MAX_NAME):
        raise WriteError("invalid", "Invalid value specified for property 'passwordProfile' of resource 'User'.")
    kinds = sum((any(c.islower() for c in password), any(c.isupper() for c in password),
                 any(c.isdigit() for c in password), any(not c.isalnum() for c in password)))
    if not 8 <= len(password) <= MAX_NAME or kinds < 3:
        raise WriteError("invalid", "The specified password does not comply with password complexity requirements. "
                                    "Please provide a different password.")
    return password


def new_user(body: Mapping[str, Any]) -> NewUser:
    """POST /users: Graph's required properties, in the order Graph names the first one missing."""
    for name in ("accountEnabled", "displayName", "mailNickname", "passwordProfile", "userPrincipalName"):
        _required(body, name)
    upn = _text(body["userPrincipalName"], "userPrincipalName")
    if upn.count("@") != 1 or any(c.isspace() or not c.isprintable() for c in upn) or upn.startswith("@") \
            or upn.endswith("@"):
        raise WriteError("invalid", "Invalid value specified for property 'userPrincipalName' of resource 'User'.")
    return NewUser(user_principal_name=upn, display_name=_text(body["displayName"], "displayName"),
                   mail_nickname=_text(body["mailNickname"], "mailNickname", MAX_NICKNAME),
                   account_enabled=_flag(body["accountEnabled"], "accountEnabled"),
                   password=password_of(body["passwordProfile"]),
                   given_name=_optional_text(body, "givenName"), surname=_optional_text(body, "surname"),
                   mail=_optional_text(body, "mail"))


def create_user(new: NewUser, tenant_id: str, *, user_id: str, password_hash: str) -> Change:
    """The UPN's domain must be one of the tenant's (when the seed gave it domains, the seed's own rule) and no
    user may have the UPN already (any case)."""
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        tenant = next((t for t in content.tenants if t.id == tenant_id), None)
        domain = new.user_principal_name.rpartition("@")[2].lower()
        if tenant is None or (tenant.domains and domain not in {d.lower() for d in tenant.domains}):
            raise WriteError("invalid", "The domain portion of the userPrincipalName property is invalid. You must use "
                                        "one of the verified domain names in your organization.")
        if any(u.user_principal_name.lower() == new.user_principal_name.lower() for u in content.users):
            raise WriteError("invalid", "Another object with the same value for property userPrincipalName already "
                                        "exists.")
        if sum(u.tenant_id == tenant_id for u in content.users) >= MAX_USERS_PER_TENANT:
            raise WriteError("quota", f"{MAX_USERS_PER_TENANT} users")
        record = m.UserRecord(
            id=user_id, tenant_id=tenant_id, user_principal_name=new.user_principal_name,
            display_name=new.display_name, given_name=new.given_name, surname=new.surname, mail=new.mail,
            password_hash=password_hash, account_enabled=new.account_enabled, group_ids=(), directory_role_ids=(),
            mail_nickname=new.mail_nickname)
        return dataclasses.replace(content, users=(*content.users, record))
    return change


def user_changes(body: Mapping[str, Any]) -> dict[str, Any]:
    """PATCH /users/{id}: the UserRecord fields to set; a password comes back as 'password' (to be hashed).
    A property mockidp does not keep is refused, not ignored (a choice, as for applications)."""
    unknown = sorted(set(body) - USER_PATCHABLE - {"@odata.type"})  # msgraph-sdk sends the type
    if unknown:
        raise WriteError("invalid", f"mockidp updates {', '.join(sorted(USER_PATCHABLE))} of a user, not "
                                    f"{', '.join(unknown)}.")
    out: dict[str, Any] = {}
    if "displayName" in body:
        out["display_name"] = _text(body["displayName"], "displayName")
    if "accountEnabled" in body:
        out["account_enabled"] = _flag(body["accountEnabled"], "accountEnabled")
    for graph_name, field in (("givenName", "given_name"), ("surname", "surname"), ("mail", "mail")):
        if graph_name in body:
            out[field] = _optional_text(body, graph_name)
    if "passwordProfile" in body:
        out["password"] = password_of(body["passwordProfile"])
    return out


def update_user(user_id: str, fields: Mapping[str, Any]) -> Change:
    """`fields`: UserRecord fields (a password as password_hash)."""
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        old = _user(content, user_id)
        new = dataclasses.replace(old, **fields)
        return dataclasses.replace(content, users=tuple(new if u is old else u for u in content.users))
    return change


def delete_user(user_id: str) -> Change:
    """DELETE /users/{id}: a hard delete (a choice: Graph keeps it 30 days in deletedItems); its app role
    assignments and its own consent grants go with it."""
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        gone = _user(content, user_id)
        return dataclasses.replace(
            content, users=tuple(u for u in content.users if u is not gone),
            assignments=tuple(x for x in content.assignments if x.principal_id != user_id),
            grants=tuple(g for g in content.grants if g.principal_id != user_id))
    return change


def create_group(body: Mapping[str, Any], tenant_id: str, *, group_id: str) -> Change:
    """POST /groups: displayName, mailNickname, mailEnabled and securityEnabled are required, as Graph's."""
    for name in ("displayName", "mailEnabled", "mailNickname", "securityEnabled"):
        if body.get(name) is None or body.get(name) == "":
            raise WriteError("invalid", f"Property {name} value is required but is empty or missing.")
    name = _group_text(body["displayName"], "displayName", MAX_NAME)
    nickname = _group_text(body["mailNickname"], "mailNickname", MAX_NICKNAME)
    flags = [body["mailEnabled"], body["securityEnabled"]]
    if not all(isinstance(f, bool) for f in flags):
        raise WriteError("invalid", "Invalid value specified for property 'securityEnabled' of resource 'Group'.")
    description = body.get("description")
    if description is not None and not storable(description, 1024):  # Graph's description: 1024 characters
        raise WriteError("invalid", "Invalid value specified for property 'description' of resource 'Group'.")

    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        if all(t.id != tenant_id for t in content.tenants):
            raise WriteError("invalid", f"No tenant {tenant_id}.")
        if sum(g.tenant_id == tenant_id for g in content.groups) >= MAX_GROUPS_PER_TENANT:
            raise WriteError("quota", f"{MAX_GROUPS_PER_TENANT} groups")
        record = m.GroupRecord(id=group_id, tenant_id=tenant_id, display_name=name, security_enabled=flags[1],
                               mail_nickname=nickname, mail_enabled=flags[0], description=description)
        return dataclasses.replace(content, groups=(*content.groups, record))
    return change


def _group_text(value: Any, name: str, limit: int) -> str:
    if not storable(value, limit):
        raise WriteError("invalid", f"Invalid value specified for property '{name}' of resource 'Group'.")
    return str(value)


def delete_group(group_id: str) -> Change:
    """DELETE /groups/{id}: its members leave it and its app role assignments go."""
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        _group(content, group_id)
        users = tuple(dataclasses.replace(u, group_ids=tuple(g for g in u.group_ids if g != group_id))
                      if group_id in u.group_ids else u for u in content.users)
        return dataclasses.replace(
            content, groups=tuple(g for g in content.groups if g.id != group_id), users=users,
            assignments=tuple(x for x in content.assignments if x.principal_id != group_id))
    return change


def add_member(group_id: str, member_id: str) -> Change:
    """POST /groups/{id}/members/$ref: a user of the group's tenant, not a member yet."""
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        group = _group(content, group_id)
        old = _user(content, member_id)
        if old.tenant_id != group.tenant_id:
            raise WriteError.not_found(member_id)
        if group_id in old.group_ids:
            raise WriteError("invalid", "One or more added object references already exist for the following "
                                        "modified properties: 'members'.")
        new = dataclasses.replace(old, group_ids=(*old.group_ids, group_id))
        return dataclasses.replace(content, users=tuple(new if u is old else u for u in content.users))
    return change


def remove_member(group_id: str, member_id: str) -> Change:
    """DELETE /groups/{id}/members/{memberId}/$ref."""
    def change(content: m.DirectoryContent) -> m.DirectoryContent:
        _group(content, group_id)
        old = _user(content, member_id)
        if group_id not in old.group_ids:
            raise WriteError.not_found(member_id)
        new = dataclasses.replace(old, group_ids=tuple(g for g in old.group_ids if g != group_id))
        return dataclasses.replace(content, users=tuple(new if u is old else u for u in content.users))
    return change


def _user(content: m.DirectoryContent, user_id: str) -> m.UserRecord:
    found = next((u for u in content.users if u.id == user_id), None)
    if found is None:
        raise WriteError.not_found(user_id)
    return found


def _group(content: m.DirectoryContent, group_id: str) -> m.GroupRecord:
    found = next((g for g in content.groups if g.id == group_id), None)
    if found is None:
        raise WriteError.not_found(group_id)
    return found
