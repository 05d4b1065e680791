"""The people scenario with the real msgraph-sdk against `mockidp serve --workers 2` (tests/graph/conftest.py):
create a user, add them to a group; MSAL (ROPC, a public client) gets a token whose `groups` has the group;
revokeSignInSessions, and MSAL's refresh token is refused with AADSTS50173; disabled, the user gets 50057 and
deleted 50034 (whichever worker answers)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import Any

import msal
import pytest
import requests
from azure.identity import UsernamePasswordCredential
from msgraph import GraphServiceClient
from msgraph.generated.models.group import Group
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.user import User

from mockidp.testing.plugin import graph_client, graph_client_for
from tests.graph.people_seed import ADMIN, ADMIN_SECRET, API_SCOPE, CAROL, CAROL_PASSWORD, CLI, DOMAIN, HR_GROUP, TENANT
from tests.own_thread import in_own_loop
from tests.serving.test_serve import Served

IVY, IVY_PASSWORD = f"ivy@{DOMAIN}", "Ivy-password-1"
def sdk(served: Served) -> contextlib.AbstractAsyncContextManager[GraphServiceClient]:
    return graph_client(served.origin, served.data_dir / "ca.pem", TENANT, ADMIN, ADMIN_SECRET)


async def create_user_in_a_group(served: Served) -> tuple[str, str]:
    async with sdk(served) as graph:
        user = await graph.users.post(User(
            account_enabled=True, display_name="Ivy", mail_nickname="ivy", user_principal_name=IVY,
            password_profile=PasswordProfile(force_change_password_next_sign_in=False, password=IVY_PASSWORD)))
        assert user is not None and user.id and user.user_principal_name == IVY
        group = await graph.groups.post(Group(display_name="Pilots", mail_nickname="pilots", mail_enabled=False,
                                              security_enabled=True))
        assert group is not None and group.id
        await graph.groups.by_group_id(group.id).members.ref.post(ReferenceCreate(
            odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{user.id}"))
        members = await graph.groups.by_group_id(group.id).members.get()
        assert members is not None and [m.id for m in members.value or []] == [user.id]
        return user.id, group.id


async def disable_then_delete(served: Served, user_id: str, check: Any) -> None:
    async with sdk(served) as graph:
        await graph.users.by_user_id(user_id).patch(User(account_enabled=False))
        await asyncio.to_thread(check, 50057)
        await graph.users.by_user_id(user_id).delete()
        await asyncio.to_thread(check, 50034)


async def revoke(served: Served, user_id: str) -> bool | None:
    async with sdk(served) as graph:
        answer = await graph.users.by_user_id(user_id).revoke_sign_in_sessions.post()
        return None if answer is None else answer.value


def public_app(served: Served) -> msal.PublicClientApplication:
    session = requests.Session()
    session.verify = str(served.data_dir / "ca.pem")
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the mockidp CA
    session.headers["Connection"] = "close"  # a new connection each time: either worker may answer
    return msal.PublicClientApplication(CLI, authority=f"{served.origin}/{TENANT}", instance_discovery=False,
                                        http_client=session)


def groups_of(token: str) -> list[str]:
    part = token.split(".")[1]
    return list(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))).get("groups", []))


@pytest.fixture
def no_user_realm_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    """MSAL's ROPC first asks https://<host without port>/common/userrealm/ (port 443, where nothing listens);
    the same private workaround as tests/clients/test_real_clients_users.py."""
    skipped = set(msal.authority.Authority._domains_without_user_realm_discovery) | {"localhost"}
    monkeypatch.setattr(msal.authority.Authority, "_domains_without_user_realm_discovery", skipped)


@pytest.mark.usefixtures("no_user_realm_discovery")
def test_msgraph_sdk_user_in_a_group_gets_the_claim_and_revoking_refuses_the_refresh_token(served: Served) -> None:
    user_id, group_id = in_own_loop(create_user_in_a_group(served))
    app = public_app(served)
    with pytest.warns(DeprecationWarning, match="deprecated for public client flows"):
        result = app.acquire_token_by_username_password(IVY, IVY_PASSWORD, scopes=[API_SCOPE])
    assert "access_token" in result, result
    assert groups_of(result["access_token"]) == [group_id]
    refresh_token = result["refresh_token"]
    for _ in range(2):  # both workers honour it before the revoke
        again = app.acquire_token_by_refresh_token(refresh_token, scopes=[API_SCOPE])
        assert "access_token" in again, again
    assert in_own_loop(revoke(served, user_id)) is True
    for _ in range(4):  # a new app each time: MSAL keeps an invalid_grant answer for a while (its throttling)
        refused = public_app(served).acquire_token_by_refresh_token(refresh_token, scopes=[API_SCOPE])
        assert refused.get("error") == "invalid_grant" and 50173 in refused.get("error_codes", []), refused

    def sign_in_is_refused_with(code: int) -> None:
        for _ in range(4):  # each on a new connection and a new app: both workers decide with the write
            with pytest.warns(DeprecationWarning, match="deprecated for public client flows"):
                got = public_app(served).acquire_token_by_username_password(IVY, IVY_PASSWORD, scopes=[API_SCOPE])
            assert code in got.get("error_codes", []), got
    in_own_loop(disable_then_delete(served, user_id, sign_in_is_refused_with))


async def me_and_my_groups(served: Served) -> tuple[str | None, list[str | None]]:
    credential = UsernamePasswordCredential(CLI, CAROL, CAROL_PASSWORD, tenant_id=TENANT, authority=served.origin,
                                            disable_instance_discovery=True,
                                            connection_verify=str(served.data_dir / "ca.pem"))
    try:
        async with graph_client_for(served.origin, served.data_dir / "ca.pem", credential,
                                    ("https://graph.microsoft.com/User.Read",)) as graph:
            me = await graph.me.get()
            groups = await graph.me.member_of.get()
            return (None if me is None else me.user_principal_name,
                    [g.id for g in (groups.value if groups is not None else None) or []])
    finally:
        credential.close()


@pytest.mark.usefixtures("no_user_realm_discovery")
def test_msgraph_sdk_with_a_users_credential_reads_me_and_my_groups(served: Served) -> None:
    with pytest.warns(DeprecationWarning):  # azure-identity and MSAL deprecate the password credential
        upn, groups = in_own_loop(me_and_my_groups(served))
    assert (upn, groups) == (CAROL, [HR_GROUP])
