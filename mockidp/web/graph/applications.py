"""Graph's applications, servicePrincipals and their app role assignments (issue 9), as handlers of the edge."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import Response

from mockidp.directory import model as m
from mockidp.directory import writes as w
from mockidp.directory.snapshot import Directory
from mockidp.graph import errors as e
from mockidp.graph import resources as r
from mockidp.graph.proof import proof_problem, valid_certificates
from mockidp.web.graph.call import Call, Refused, json_response
from mockidp.web.graph.call import app as _app
from mockidp.web.graph.call import apps as _apps
from mockidp.web.graph.call import sp as _sp
from mockidp.web.graph.call import sps as _sps
from mockidp.web.graph.call import text as _text

APPS = "Application.ReadWrite.All"
ASSIGN = "AppRoleAssignment.ReadWrite.All"
SECRET_LIFETIME = 2 * 365 * 24 * 3600  # Graph's default password lifetime when endDateTime is not given


def assignment(x: m.AssignmentRecord, directory: Directory, when: str | None = None) -> dict[str, Any]:
    names = {**{sp.id: sp.display_name for sp in directory.principals.values()},
             **{u.id: u.display_name for u in directory.content.users},
             **{g.id: g.display_name for g in directory.content.groups}}
    return {"id": x.id, "deletedDateTime": None, "appRoleId": x.app_role_id, "createdDateTime": when,
            "principalDisplayName": names.get(x.principal_id), "principalId": x.principal_id,
            "principalType": x.principal_type, "resourceDisplayName": names.get(x.resource_sp_id),
            "resourceId": x.resource_sp_id}


async def applications(call: Call, method: str, rest: list[str]) -> Response:
    call.allow(APPS)
    if not rest:
        if method == "GET":
            return call.page([r.application(a) for a in _apps(call)], "applications")
        if method == "POST":
            body = await call.body()
            object_id = call.rt.services.ids.guid()
            directory = await call.write(w.create_application(body, call.tenant, object_id=object_id))
            made = next(a for a in directory.content.applications if a.object_id == object_id)
            return call.one(r.application(made), "applications", 201)
    elif len(rest) == 1:
        app = _app(call, rest[0])
        if method == "GET":
            return call.one(r.application(app), "applications")
        if method == "DELETE":
            await call.write(w.delete_application(app.object_id))
            return Response(status_code=204)
        if method == "PATCH":
            body = await call.body()
            await call.write(w.update_application(app.object_id, body))
            return Response(status_code=204)
    elif len(rest) in (2, 3) and rest[1] == "federatedIdentityCredentials":
        return await _federated_credentials(call, method, _app(call, rest[0]), rest[2:])
    elif len(rest) == 2 and method == "POST" and rest[1] in ("addKey", "removeKey"):
        return await _key(call, _app(call, rest[0]), rest[1], await call.body())
    elif len(rest) == 2 and method == "POST" and rest[1] in ("addPassword", "removePassword"):
        app = _app(call, rest[0])
        body = await call.body()
        if rest[1] == "removePassword":
            await call.write(w.remove_password(app.object_id, _text(body, "keyId")))
            return Response(status_code=204)
        return await _add_password(call, app, body)
    raise Refused(e.NOT_SERVED, what=f"{method} {call.request.url.path}")


async def _add_password(call: Call, app: m.ApplicationRecord, body: dict[str, Any]) -> Response:
    credential = body.get("passwordCredential") or {}
    if not isinstance(credential, dict):
        raise Refused(e.BAD_REQUEST, reason="passwordCredential must be an object.")
    now = call.rt.services.clock.now()
    text = secrets.token_urlsafe(30)[:40]  # Graph's secrets are 40 characters; the text is shown once
    key_id = call.rt.services.ids.guid()
    start, end = now, now + SECRET_LIFETIME
    await call.write(w.add_password(app.object_id, text, key_id=key_id, start=start, end=end))
    display = credential.get("displayName")
    return json_response(200, {
        "@odata.context": call.context("microsoft.graph.passwordCredential"),
        "customKeyIdentifier": None, "displayName": display if isinstance(display, str) else None,
        "endDateTime": r.iso(end), "hint": text[:3], "keyId": key_id, "secretText": text,
        "startDateTime": r.iso(start)})


async def _key(call: Call, app: m.ApplicationRecord, action: str, body: dict[str, Any]) -> Response:
    """addKey / removeKey: proven by a JWT signed with a certificate the app holds (mockidp/graph/proof.py)."""
    now = call.rt.services.clock.now()
    if not valid_certificates(app, now):
        raise Refused(e.NO_CERTIFICATE)
    if proof_problem(body.get("proof"), app, now=now) is not None:
        raise Refused(e.BAD_PROOF)
    if action == "removeKey":
        await call.write(w.remove_key(app.object_id, _text(body, "keyId")))
        return Response(status_code=204)
    credential = body.get("keyCredential")
    if not isinstance(credential, dict):
        raise Refused(e.BAD_REQUEST, reason="The property 'keyCredential' is required and must be an object.")
    key_id = call.rt.services.ids.guid()
    directory = await call.write(w.add_key(app.object_id, credential, key_id=key_id))
    cert = next(c for a in directory.content.applications if a.object_id == app.object_id
                for c in a.certificates if c.key_id == key_id)
    display = credential.get("displayName")
    return json_response(200, {
        "@odata.context": call.context("microsoft.graph.keyCredential"), "customKeyIdentifier": None,
        "displayName": display if isinstance(display, str) else None, "endDateTime": r.iso(cert.end), "key": None,
        "keyId": key_id, "startDateTime": r.iso(cert.start), "type": "AsymmetricX509Cert", "usage": "Verify"})


async def _federated_credentials(call: Call, method: str, app: m.ApplicationRecord, key: list[str]) -> Response:
    """applications/{id}/federatedIdentityCredentials[/{id or name}]: each write goes through the seed's rules
    (directory/federated_credentials.py), and the next jwt-bearer request of every worker matches with it."""
    what = f"applications('{app.object_id}')/federatedIdentityCredentials"
    if not key:
        if method == "GET":
            return call.page([r.federated_credential(c) for c in app.federated_credentials], what)
        if method == "POST":
            body = await call.body()
            new_id = call.rt.services.ids.guid()
            directory = await call.write(w.add_federated_credential(app.object_id, body, credential_id=new_id))
            made = next(c for a in directory.content.applications if a.object_id == app.object_id
                        for c in a.federated_credentials if c.id == new_id)
            return call.one(r.federated_credential(made), what, 201)
    else:
        found = w.federated_credential(app, key[0])
        if found is None:
            raise Refused(e.NOT_FOUND, id=key[0])
        if method == "GET":
            return call.one(r.federated_credential(found), what)
        if method == "PATCH":
            body = await call.body()
            await call.write(w.update_federated_credential(app.object_id, found.id, body))
            return Response(status_code=204)
        if method == "DELETE":
            await call.write(w.remove_federated_credential(app.object_id, found.id))
            return Response(status_code=204)
    raise Refused(e.NOT_SERVED, what=f"{method} {call.request.url.path}")


async def service_principals(call: Call, method: str, rest: list[str]) -> Response:
    if len(rest) >= 2 and rest[1] in ("appRoleAssignedTo", "appRoleAssignments"):
        return await _assignments(call, method, rest)
    call.allow(APPS)
    if not rest:
        if method == "GET":
            apps = call.directory().applications
            return call.page([r.service_principal(sp, apps.get(sp.app_id)) for sp in _sps(call)], "servicePrincipals")
        if method == "POST":
            body = await call.body()
            sp_id = call.rt.services.ids.guid()
            directory = await call.write(w.create_service_principal(_text(body, "appId"), call.tenant, sp_id=sp_id))
            made = next(sp for sp in directory.content.service_principals if sp.id == sp_id)
            if isinstance(body.get("appRoleAssignmentRequired"), bool):
                directory = await call.write(w.update_service_principal(
                    sp_id, app_role_assignment_required=body["appRoleAssignmentRequired"]))
                made = next(sp for sp in directory.content.service_principals if sp.id == sp_id)
            return call.one(r.service_principal(made, directory.applications.get(made.app_id)), "servicePrincipals",
                            201)
    elif len(rest) == 1:
        sp = _sp(call, rest[0])
        if method == "GET":
            return call.one(r.service_principal(sp, call.directory().applications.get(sp.app_id)), "servicePrincipals")
        if method == "DELETE":
            await call.write(w.delete_service_principal(sp.id))
            return Response(status_code=204)
        if method == "PATCH":
            body = await call.body()
            flags = {k: body[k] for k in ("appRoleAssignmentRequired", "accountEnabled") if k in body}
            if any(not isinstance(v, bool) for v in flags.values()) or set(body) - set(flags):
                raise Refused(e.BAD_REQUEST, reason="mockidp updates appRoleAssignmentRequired and "
                                                    "accountEnabled (booleans) of a service principal.")
            await call.write(w.update_service_principal(
                sp.id, app_role_assignment_required=flags.get("appRoleAssignmentRequired"),
                account_enabled=flags.get("accountEnabled")))
            return Response(status_code=204)
    raise Refused(e.NOT_SERVED, what=f"{method} {call.request.url.path}")


async def _assignments(call: Call, method: str, rest: list[str]) -> Response:
    """appRoleAssignedTo: assignments of the resource {id}; appRoleAssignments: those {id} holds."""
    call.allow(ASSIGN, APPS) if method == "GET" else call.allow(ASSIGN)
    sp, kind = _sp(call, rest[0]), rest[1]
    directory = call.directory()
    mine = [x for x in directory.content.assignments
            if (x.resource_sp_id if kind == "appRoleAssignedTo" else x.principal_id) == sp.id]
    what = f"servicePrincipals('{sp.id}')/{kind}"
    if len(rest) == 2 and method == "GET":
        return call.page([assignment(x, directory) for x in mine], what)
    if len(rest) == 2 and method == "POST":
        body = await call.body()
        principal, resource, role = _text(body, "principalId"), _text(body, "resourceId"), _text(body, "appRoleId")
        if (resource if kind == "appRoleAssignedTo" else principal) != sp.id:
            raise Refused(e.BAD_REQUEST, reason=f"The {'resourceId' if kind == 'appRoleAssignedTo' else 'principalId'}"
                                                f" must be the service principal in the path ({sp.id}).")
        new_id = call.rt.services.ids.guid()
        directory = await call.write(w.add_assignment(principal, resource, role, assignment_id=new_id))
        made = next(x for x in directory.content.assignments if x.id == new_id)
        when = r.iso(call.rt.services.clock.now())
        return call.one(assignment(made, directory, when), what, 201)
    if len(rest) == 3 and method == "DELETE":
        if all(x.id != rest[2] for x in mine):
            raise Refused(e.NOT_FOUND, id=rest[2])
        await call.write(w.remove_assignment(rest[2]))
        return Response(status_code=204)
    raise Refused(e.NOT_SERVED, what=f"{method} {call.request.url.path}")
