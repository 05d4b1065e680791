"""The issue's scenario with the real msgraph-sdk against `mockidp serve --workers 2`: create an app, its
service principal and a role assignment to an API that requires one; MSAL gets a token with the role; after
the assignment is deleted MSAL gets AADSTS501051 (whichever worker answers). The same for a federated identity
credential (issue 10): added with the SDK, the next federated request of either worker succeeds; deleted, 70021."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any

import msal
import requests
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
    AddPasswordPostRequestBody,
)
from msgraph.generated.models.app_role_assignment import AppRoleAssignment
from msgraph.generated.models.application import Application
from msgraph.generated.models.federated_identity_credential import FederatedIdentityCredential
from msgraph.generated.models.password_credential import PasswordCredential
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.service_principals.service_principals_request_builder import ServicePrincipalsRequestBuilder

from mockidp.testing.plugin import graph_client
from tests.graph.graph_seed import ADMIN, ADMIN_SECRET, API, TENANT
from tests.own_thread import in_own_loop
from tests.serving.test_serve import Served


def msal_token(served: Served, client_id: str, secret: str) -> dict[str, object]:
    session = requests.Session()
    session.verify = str(Path(served.data_dir) / "ca.pem")
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the mockidp CA
    session.headers["Connection"] = "close"  # a new connection each time: either worker may answer
    app = msal.ConfidentialClientApplication(client_id, client_credential=secret, authority=f"{served.origin}/{TENANT}",
                                             instance_discovery=False, http_client=session)
    result: dict[str, object] = app.acquire_token_for_client([f"api://{API}/.default"])
    return result


def sdk(served: Served) -> contextlib.AbstractAsyncContextManager[GraphServiceClient]:
    return graph_client(served.origin, served.data_dir / "ca.pem", TENANT, ADMIN, ADMIN_SECRET)


async def scenario(served: Served) -> tuple[str, str, str, str]:
    async with sdk(served) as graph:
        app = await graph.applications.post(Application(display_name="sdk-daemon"))
        assert app is not None and app.id and app.app_id
        secret = await graph.applications.by_application_id(app.id).add_password.post(
            AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name="sdk")))
        assert secret is not None and secret.secret_text
        sp = await graph.service_principals.post(ServicePrincipal(app_id=app.app_id))
        assert sp is not None and sp.id
        query = ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters(
            filter=f"appId eq '{API}'")
        found = await graph.service_principals.get(RequestConfiguration(query_parameters=query))
        assert found is not None and found.value and len(found.value) == 1
        api = found.value[0]
        assert api.id and api.app_role_assignment_required is True
        apps = await graph.applications.get()
        assert apps is not None and apps.value
        roles = next(a for a in apps.value if a.app_id == API).app_roles
        assert roles and roles[0].id
        assigned = await graph.service_principals.by_service_principal_id(api.id).app_role_assigned_to.post(
            AppRoleAssignment(principal_id=uuid.UUID(sp.id), resource_id=uuid.UUID(api.id), app_role_id=roles[0].id))
        assert assigned is not None and assigned.id
        return app.app_id, secret.secret_text, api.id, assigned.id


async def delete_assignment(served: Served, resource: str, assignment: str) -> None:
    async with sdk(served) as graph:
        await graph.service_principals.by_service_principal_id(resource).app_role_assigned_to.by_app_role_assignment_id(
            assignment).delete()


def test_msgraph_sdk_assigns_and_unassigns_and_msal_follows(served: Served) -> None:
    app_id, secret, resource, assignment = in_own_loop(scenario(served))
    for _ in range(4):  # each on a new connection: both workers decide with the write
        got = msal_token(served, app_id, secret)
        assert "access_token" in got, got
    in_own_loop(delete_assignment(served, resource, assignment))
    for _ in range(4):
        refused = msal_token(served, app_id, secret)
        assert "AADSTS501051" in str(refused.get("error_description")), refused


MAIN = "repo:fabrikam/orders:ref:refs/heads/main"


async def add_credential(served: Served) -> tuple[str, str, str]:
    async with sdk(served) as graph:
        app = await graph.applications.post(Application(display_name="sdk-ci-job"))
        assert app is not None and app.id and app.app_id
        assert await graph.service_principals.post(ServicePrincipal(app_id=app.app_id)) is not None
        made = await graph.applications.by_application_id(app.id).federated_identity_credentials.post(
            FederatedIdentityCredential(name="github-main", issuer="https://token.actions.githubusercontent.com",
                                        subject=MAIN, audiences=["api://AzureADTokenExchange"]))
        assert made is not None and made.id and made.name == "github-main"
        return app.id, app.app_id, made.id


async def delete_credential(served: Served, app: str, credential: str) -> None:
    async with sdk(served) as graph:
        credentials = graph.applications.by_application_id(app).federated_identity_credentials
        await credentials.by_federated_identity_credential_id(credential).delete()


def federated_token(served: Served, client_id: str) -> dict[str, Any]:
    with served.client() as c:  # a new connection each time: either worker may answer
        assertion = c.post("/_mockidp/control/federation/tokens", json={"issuer": "github", "subject": MAIN})
        assert assertion.status_code == 200, assertion.text
        got = c.post(f"/{TENANT}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": client_id, "scope": "https://graph.microsoft.com/.default",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion.json()["token"]})
        answer: dict[str, Any] = got.json()
        return answer


def test_msgraph_sdk_adds_a_federated_credential_and_every_worker_follows(served: Served) -> None:
    app, app_id, credential = in_own_loop(add_credential(served))
    for _ in range(4):
        got = federated_token(served, app_id)
        assert "access_token" in got, got
    in_own_loop(delete_credential(served, app, credential))
    for _ in range(4):
        refused = federated_token(served, app_id)
        assert refused.get("error_codes") == [70021], refused


GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


async def grant_graph_role(served: Served) -> tuple[list[str], str, str, str]:
    """What tools do: find Microsoft Graph's service principal by appId, read an app role id from it, and assign
    that role to a new app."""
    async with sdk(served) as graph:
        everyone = await graph.service_principals.get()
        assert everyone is not None and everyone.value
        names = [sp.display_name or "" for sp in everyone.value]
        query = ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters(
            filter=f"appId eq '{GRAPH_APP_ID}'")
        found = await graph.service_principals.get(RequestConfiguration(query_parameters=query))
        assert found is not None and found.value and len(found.value) == 1
        microsoft_graph = found.value[0]
        assert microsoft_graph.id and microsoft_graph.app_roles
        role = next(r for r in microsoft_graph.app_roles if r.value == "Application.ReadWrite.All")
        assert role.id is not None
        app = await graph.applications.post(Application(display_name="sdk-graph-caller"))
        assert app is not None and app.id and app.app_id
        secret = await graph.applications.by_application_id(app.id).add_password.post(
            AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name="sdk")))
        sp = await graph.service_principals.post(ServicePrincipal(app_id=app.app_id))
        assert secret is not None and secret.secret_text and sp is not None and sp.id
        by_app_id = await graph.applications_with_app_id(app.app_id).get()  # applications(appId='...')
        graph_by_app_id = await graph.service_principals_with_app_id(GRAPH_APP_ID).get()
        assert by_app_id is not None and by_app_id.id == app.id
        assert graph_by_app_id is not None and graph_by_app_id.id == microsoft_graph.id
        assigned = await graph.service_principals.by_service_principal_id(microsoft_graph.id).app_role_assigned_to.post(
            AppRoleAssignment(principal_id=uuid.UUID(sp.id), resource_id=uuid.UUID(microsoft_graph.id),
                              app_role_id=role.id))
        assert assigned is not None and assigned.resource_display_name == "Microsoft Graph"
        return names, str(role.id), app.app_id, secret.secret_text


async def list_apps_as(served: Served, client_id: str, secret: str) -> int:
    async with graph_client(served.origin, served.data_dir / "ca.pem", TENANT, client_id, secret) as graph:
        apps = await graph.applications.get()
        return len(apps.value or []) if apps is not None else 0


def test_msgraph_sdk_finds_graphs_service_principal_and_assigns_its_role(served: Served) -> None:
    names, role_id, app_id, secret = in_own_loop(grant_graph_role(served))
    assert {"Microsoft Graph", "Azure Key Vault", "Azure Storage", "orders-api"} <= set(names)
    assert role_id == "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9"  # Microsoft's id of Application.ReadWrite.All
    assert in_own_loop(list_apps_as(served, app_id, secret)) >= 3  # the new app now calls Graph with that role


async def patch_settings(served: Served) -> tuple[list[str], int | None]:
    from msgraph.generated.models.api_application import ApiApplication
    from msgraph.generated.models.web_application import WebApplication

    async with sdk(served) as graph:
        app = await graph.applications.post(Application(display_name="sdk-web-app"))
        assert app is not None and app.id
        await graph.applications.by_application_id(app.id).patch(Application(
            web=WebApplication(redirect_uris=["https://web.example.com/signin-oidc"]),
            api=ApiApplication(requested_access_token_version=2)))
        got = await graph.applications.by_application_id(app.id).get()
        assert got is not None and got.web is not None and got.api is not None
        return list(got.web.redirect_uris or []), got.api.requested_access_token_version


def test_msgraph_sdk_patches_an_applications_settings(served: Served) -> None:
    assert in_own_loop(patch_settings(served)) == (["https://web.example.com/signin-oidc"], 2)
