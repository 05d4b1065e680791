"""Users and groups as Graph's JSON (v1.0 field order), and the directory objects of member lists.

A user's default shape is Graph's: businessPhones ... userPrincipalName, then id. Properties Graph sends only
when asked (`$select`) are in the full shape: accountEnabled, mailNickname. A group shows the properties
mockidp keeps, in Graph's order; the others Graph has (expirationDateTime, proxyAddresses, ...) are left out.
"""

from __future__ import annotations

from typing import Any

from mockidp.directory import model as m

Json = dict[str, Any]
USER_TYPE = "#microsoft.graph.user"
GROUP_TYPE = "#microsoft.graph.group"


def user(u: m.UserRecord, *, full: bool = False) -> Json:
    out: Json = {"businessPhones": [], "displayName": u.display_name, "givenName": u.given_name, "jobTitle": None,
                 "mail": u.mail, "mobilePhone": None, "officeLocation": None, "preferredLanguage": None,
                 "surname": u.surname, "userPrincipalName": u.user_principal_name, "id": u.id}
    if full:  # what $select may name beyond the default shape
        out.update(accountEnabled=u.account_enabled, mailNickname=u.mail_nickname)
    return out


def group(g: m.GroupRecord) -> Json:
    return {"id": g.id, "deletedDateTime": None, "classification": None, "createdDateTime": None,
            "description": g.description, "displayName": g.display_name, "groupTypes": [], "mail": None,
            "mailEnabled": g.mail_enabled, "mailNickname": g.mail_nickname, "securityEnabled": g.security_enabled,
            "visibility": None}


def member(u: m.UserRecord) -> Json:
    """One entry of a group's members (a directoryObject collection): the type annotation first."""
    return {"@odata.type": USER_TYPE, **user(u)}


def member_of(g: m.GroupRecord) -> Json:
    return {"@odata.type": GROUP_TYPE, **group(g)}
