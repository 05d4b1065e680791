"""Managed identities (issue 10): the seed, both endpoint shapes as Azure serves them, the claims, the refusals
and the decision trace, in process (exact bodies, frozen clock). The real clients: test_mi_clients.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from mockidp.directory.seed import load_seed
from mockidp.oauth.managed_identity import header_secret
from tests.conftest import DEMO_SEED, FROZEN_AT, ROOT, Harness, seed_problems

IDENTITIES_SEED = ROOT / "seed" / "identities.yaml"
TENANT = "5c1e7a90-0000-4000-8000-0000000000f1"
ORDERS_API = "6a7d1f0e-2b3c-4d5e-8f90-a1b2c3d4e5f6"
FUNC_CLIENT, FUNC_PRINCIPAL = "0f5e2a61-7c1d-4b9e-a3f2-5d6c7b8a9e01", "7b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c01"
REPORTING_CLIENT, REPORTING_PRINCIPAL = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c02", "8c2d3e4f-5061-4b7c-9d8e-0f1a2b3c4d02"
UNASSIGNED_CLIENT = "2b3c4d5e-6f70-4b8c-9dae-1f2a3b4c5d03"
RG = "/subscriptions/2b0c9a3e-0000-4000-8000-000000000001/resourcegroups/orders-rg/providers"
FUNC_ID = f"{RG}/Microsoft.Web/sites/orders-func"
REPORTING_ID = f"{RG}/Microsoft.ManagedIdentity/userAssignedIdentities/reporting-identity"
IMDS = "/metadata/identity/oauth2/token"


@pytest.fixture(scope="module")
def mi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    yield Harness(tmp_path_factory.mktemp("mi"), [DEMO_SEED, IDENTITIES_SEED])


def secret(h: Harness, resource: str) -> str:
    return header_secret((h.settings.data_dir / "session-secret").read_bytes(), resource)


def app_service(h: Harness, resource: str = "api://orders-api", *, caller: str = "orders-func",
                header: str | None = None, **params: str):  # type: ignore[no-untyped-def]
    return h.client.get("/msi/token", params={"resource": resource, "api-version": "2019-08-01", **params},
                        headers={"X-IDENTITY-HEADER": header if header is not None else secret(h, caller)})


def imds(h: Harness, resource: str = "api://orders-api", *, caller: str | None = "batch-vm",
         metadata: str | None = "true", **params: str):  # type: ignore[no-untyped-def]
    path = IMDS if caller is None else f"/_mockidp/imds/{caller}{IMDS}"
    return h.client.get(path, params={"api-version": "2018-02-01", "resource": resource, **params},
                        headers={"Metadata": metadata} if metadata is not None else {})


def claims(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


def test_the_app_service_answer_has_azures_fields_in_order_all_strings(mi: Harness) -> None:
    r = app_service(mi)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["x-correlation-id"]
    body = r.json()
    assert list(body) == ["access_token", "expires_on", "resource", "token_type", "client_id"]
    assert all(isinstance(v, str) for v in body.values())
    assert body["resource"] == "api://orders-api" and body["token_type"] == "Bearer"
    assert body["client_id"] == FUNC_CLIENT
    assert body["expires_on"] == str(FROZEN_AT + 86_400)
    assert r.content.startswith(b'{"access_token":"')  # compact JSON, as App Service writes it


def test_a_system_assigned_identity_token_carries_the_identitys_claims(mi: Harness) -> None:
    c = claims(app_service(mi).json()["access_token"])
    assert c["aud"] == ORDERS_API and c["ver"] == "2.0"  # orders-api asks for v2 tokens
    assert c["iss"] == f"https://localhost:8443/{TENANT}/v2.0"
    assert c["azp"] == FUNC_CLIENT and c["azpacr"] == "2"
    assert c["oid"] == c["sub"] == FUNC_PRINCIPAL
    assert c["roles"] == ["Orders.Read"]
    assert c["xms_mirid"] == FUNC_ID
    assert "xms_az_rid" not in c  # the resource's own identity
    assert "idtyp" not in c  # orders-api does not list it in optionalClaims (the captured Key Vault token has none)
    assert int(c["exp"]) - int(c["iat"]) == 86_700  # 24 h from issuance, iat back-dated 5 min (as captured)
    assert list(c)[:5] == ["aud", "iss", "iat", "nbf", "exp"]


def test_a_user_assigned_identity_is_selected_by_each_selector(mi: Harness) -> None:
    for name, value in (("client_id", REPORTING_CLIENT), ("principal_id", REPORTING_PRINCIPAL),
                        ("object_id", REPORTING_PRINCIPAL), ("mi_res_id", REPORTING_ID.upper())):
        r = app_service(mi, "https://vault.azure.net", **{name: value})
        assert r.status_code == 200, (name, r.text)
        assert r.json()["client_id"] == REPORTING_CLIENT
        c = claims(r.json()["access_token"])
        assert c["ver"] == "1.0" and c["aud"] == "https://vault.azure.net"  # a first-party resource: v1
        assert c["appid"] == REPORTING_CLIENT and c["appidacr"] == "2"
        assert c["idp"] == c["iss"] == f"https://sts.windows.net/{TENANT}/"
        assert c["oid"] == c["sub"] == REPORTING_PRINCIPAL
        assert c["xms_mirid"] == REPORTING_ID
        assert c["xms_az_rid"] == FUNC_ID  # the resource that used it
        assert "roles" not in c


def test_the_imds_answer_has_azures_fields_in_order_all_strings(mi: Harness) -> None:
    r = imds(mi, "https://management.azure.com/", client_id=REPORTING_CLIENT)
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["access_token", "client_id", "expires_in", "expires_on", "ext_expires_in", "not_before",
                          "resource", "token_type"]
    assert all(isinstance(v, str) for v in body.values())
    assert body["resource"] == "https://management.azure.com/"
    assert body["expires_in"] == "86399" and body["expires_on"] == str(FROZEN_AT + 86_400)
    assert body["not_before"] == str(FROZEN_AT - 300)
    c = claims(body["access_token"])
    assert c["aud"] == "https://management.azure.com/" and c["xms_az_rid"] == f"/subscriptions/{_sub()}" \
        "/resourcegroups/mockidp/providers/Microsoft.Web/sites/batch-vm"
    assert c["idtyp"] == "app"  # Resource Manager's tokens always say so (issue 10: "idtyp: app")
    by_res_id = imds(mi, msi_res_id=REPORTING_ID)
    assert by_res_id.status_code == 200 and claims(by_res_id.json()["access_token"])["roles"] == ["Reports.Write"]


def _sub() -> str:
    from mockidp.directory.ids import derived_id

    return derived_id(TENANT, "subscription")


def test_app_service_refusals_have_its_envelope(mi: Harness) -> None:
    unassigned = app_service(mi, client_id=UNASSIGNED_CLIENT)  # attached to batch-vm, not to orders-func
    assert unassigned.status_code == 400
    body = unassigned.json()
    assert list(body) == ["statusCode", "message", "correlationId"]
    assert body["statusCode"] == 400 and body["message"] == "Unable to load the proper Managed Identity."
    assert body["correlationId"] == unassigned.headers["x-correlation-id"]
    assert app_service(mi, caller="batch-vm").json()["message"] == "Unable to load the proper Managed Identity."
    wrong = app_service(mi, header="not-a-secret")
    assert wrong.status_code == 401 and wrong.json()["statusCode"] == 401
    assert mi.client.get("/msi/token", params={"resource": "x", "api-version": "2019-08-01"}).status_code == 401
    two = app_service(mi, client_id=FUNC_CLIENT, object_id=FUNC_PRINCIPAL)
    assert two.status_code == 400 and "Only one of" in two.json()["message"]
    post = mi.client.post("/msi/token", headers={"X-IDENTITY-HEADER": secret(mi, "orders-func")})
    assert post.status_code == 400 and set(post.json()) == {"statusCode", "message", "correlationId"}


def test_entras_refusals_reach_the_workload_in_the_endpoints_envelope(mi: Harness) -> None:
    refused = app_service(mi, caller="batch-vm", client_id=UNASSIGNED_CLIENT)
    assert refused.status_code == 400
    assert refused.json()["message"].startswith(
        f"AADSTS501051: Application '{UNASSIGNED_CLIENT}'(unassigned-identity) is not assigned to a role for the "
        "application 'api://orders-api'(orders-api).")
    vm = imds(mi, client_id=UNASSIGNED_CLIENT)
    assert vm.status_code == 400 and vm.json()["error"] == "invalid_grant"
    assert vm.json()["error_description"].startswith("AADSTS501051: ")
    unknown = imds(mi, "api://nothing-here", client_id=REPORTING_CLIENT)
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_resource"
    assert unknown.json()["error_description"].startswith("AADSTS500011: The resource principal named "
                                                          "api://nothing-here was not found in the tenant")


def test_imds_refusals_have_its_envelope(mi: Harness) -> None:
    none = imds(mi)  # batch-vm has no system-assigned identity
    assert none.status_code == 400
    assert none.json() == {"error": "invalid_request", "error_description": "Identity not found"}
    assert imds(mi, client_id=FUNC_CLIENT).json()["error_description"] == "Identity not found"
    assert imds(mi, caller="no-such-vm").json()["error_description"] == "Identity not found"
    # two resources in the directory: the bare path names none
    assert imds(mi, caller=None).json()["error_description"] == "Identity not found"
    for metadata in (None, "True", "false"):
        r = imds(mi, metadata=metadata)
        assert r.status_code == 400
        assert r.json() == {"error": "bad_request_102", "error_description": "Required metadata header not specified"}
    missing = mi.client.get(f"/_mockidp/imds/batch-vm{IMDS}", params={"api-version": "2018-02-01"},
                            headers={"Metadata": "true"})
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"


def test_the_decision_is_traced_without_the_header_secret(mi: Harness) -> None:
    ok = app_service(mi, client_id=REPORTING_CLIENT)
    t = mi.client.get(f"/_mockidp/traces/{ok.headers['x-ms-request-id']}").json()
    assert [s["rule"] for s in t["steps"]] == ["caller", "identity", "resource", "assignment", "token"]
    assert t["clientId"] == REPORTING_CLIENT and t["outcome"] == "success"
    refused = app_service(mi, caller="batch-vm", client_id=UNASSIGNED_CLIENT)
    t = mi.client.get(f"/_mockidp/traces/{refused.headers['x-ms-request-id']}").json()
    assert t["outcome"] == "AADSTS501051" and t["steps"][-1]["rule"] == "APP_NOT_ASSIGNED"
    assert secret(mi, "batch-vm") not in str(t)
    none = imds(mi)
    t = mi.client.get(f"/_mockidp/traces/{none.headers['x-ms-request-id']}").json()
    assert t["outcome"] == "MI_IMDS_NOT_FOUND"


def test_a_single_resource_answers_at_the_bare_imds_path(tmp_path: Path, mi: Harness) -> None:
    seed = tmp_path / "one.yaml"
    seed.write_text("tenants:\n  - displayName: Solo\n    managedIdentities:\n"
                    "      - {type: SystemAssigned, resource: solo-vm}\n")
    solo = Harness(tmp_path / "data", [seed])
    r = imds(solo, "https://vault.azure.net", caller=None)
    assert r.status_code == 200, r.text
    assert claims(r.json()["access_token"])["xms_mirid"].endswith("/providers/Microsoft.Web/sites/solo-vm")


def test_header_secrets_differ_per_resource_and_data_dir(mi: Harness, tmp_path: Path) -> None:
    assert secret(mi, "orders-func") != secret(mi, "batch-vm")
    assert header_secret(b"another data dir", "orders-func") != secret(mi, "orders-func")


def test_seed_problems_name_their_path(tmp_path: Path) -> None:
    problems = seed_problems(tmp_path, """\
tenants:
  - displayName: T
    applications:
      - displayName: api
        appRoles: [{value: R, allowedMemberTypes: [Application]}]
    managedIdentities:
      - {type: SystemAssigned, name: x}
      - {type: UserAssigned, name: "bad name"}
      - {type: UserAssigned, name: u, clientId: nope, resourceId: not-arm}
""")
    assert any(p.startswith("s.yaml:7: tenants[0].managedIdentities[0]: a SystemAssigned identity names its "
                            "'resource'") for p in problems), problems
    assert any(p.startswith("s.yaml:8: tenants[0].managedIdentities[1].name:") for p in problems), problems
    assert "s.yaml:9: tenants[0].managedIdentities[2].clientId: 'nope' is not a GUID" in problems
    assert "s.yaml:9: tenants[0].managedIdentities[2].resourceId: resourceId is an ARM id: /subscriptions/<id>/" \
        "resourcegroups/<group>/providers/..." in problems
    cross = seed_problems(tmp_path, """\
tenants:
  - displayName: T
    applications:
      - displayName: api
        appRoles: [{value: R, allowedMemberTypes: [User]}]
    managedIdentities:
      - {type: SystemAssigned, resource: api}
      - {type: SystemAssigned, resource: f1}
      - {type: SystemAssigned, resource: f1}
      - {type: UserAssigned, name: u, assignedTo: [f1, f1]}
    appRoleAssignments:
      - {principal: u, resource: api, appRole: R}
      - {principal: api, resource: u}
""")
    assert cross == [
        "s.yaml:7: tenants[0].managedIdentities[0].resource: an application or managed identity of this tenant "
        "has this name",
        "s.yaml:9: tenants[0].managedIdentities[2].resource: an application or managed identity of this tenant "
        "has this name",
        "s.yaml:12: tenants[0].appRoleAssignments[0].appRole: role 'R' does not allow member type Application",
        "s.yaml:13: tenants[0].appRoleAssignments[1].resource: no application 'u' with a service principal here",
        "s.yaml:9: tenants[0].managedIdentities[2].resource: this resource has one system-assigned identity already",
        "s.yaml:10: tenants[0].managedIdentities[3].assignedTo[1]: listed twice",
    ]


def test_the_same_resource_name_in_two_tenants_is_refused(tmp_path: Path) -> None:
    problems = seed_problems(tmp_path, """\
tenants:
  - displayName: A
    managedIdentities: [{type: SystemAssigned, resource: f}]
  - displayName: B
    managedIdentities: [{type: SystemAssigned, resource: f}]
""")
    assert problems == ["s.yaml:5: tenants[1].managedIdentities: resource name 'f' is used in two tenants"]


def test_managed_identities_are_service_principals_of_type_managed_identity() -> None:
    content = load_seed([IDENTITIES_SEED])
    sps = {sp.display_name: sp for sp in content.service_principals}
    assert sps["orders-func"].service_principal_type == "ManagedIdentity"
    assert sps["orders-func"].alternative_names == ("isExplicit=False", FUNC_ID)
    assert sps["reporting-identity"].alternative_names == ("isExplicit=True", REPORTING_ID)
    assert sps["orders-api"].service_principal_type == "Application"
    assert {r.name: (r.system_identity, r.user_identities) for r in content.azure_resources} == {
        "orders-func": (FUNC_PRINCIPAL, (REPORTING_PRINCIPAL,)),
        "batch-vm": (None, (REPORTING_PRINCIPAL, sps["unassigned-identity"].id)),
    }


def test_the_console_shows_identities_as_enterprise_applications_only(mi: Harness) -> None:
    tenant = mi.client.get(f"/_mockidp/console/tenants/{TENANT}")
    assert tenant.status_code == 200
    assert f"app-registrations/{ORDERS_API}" in tenant.text
    assert f"app-registrations/{FUNC_CLIENT}" not in tenant.text  # Entra hides a managed identity's application
    assert f"enterprise-applications/{FUNC_CLIENT}" in tenant.text
    assert mi.client.get(f"/_mockidp/console/tenants/{TENANT}/app-registrations/{FUNC_CLIENT}").status_code == 404
    page = mi.client.get(f"/_mockidp/console/tenants/{TENANT}/enterprise-applications/{REPORTING_CLIENT}")
    assert page.status_code == 200
    assert "Managed Identity (user-assigned)" in page.text and REPORTING_ID in page.text
    orders = mi.client.get(f"/_mockidp/console/tenants/{TENANT}/enterprise-applications/{ORDERS_API}")
    assert "orders-func" in orders.text and "Orders.Read" in orders.text  # its assignment, by the identity's name


def test_the_decoder_explains_the_managed_identity_claims(mi: Harness) -> None:
    token = app_service(mi, "https://vault.azure.net", client_id=REPORTING_CLIENT).json()["access_token"]
    page = mi.client.post("/_mockidp/console/decoder", data={"token": token})
    assert page.status_code == 200
    assert "The ARM resource id of the managed identity this token was issued to" in page.text
    assert "used this user-assigned managed identity" in page.text


def test_hostile_requests_get_the_endpoints_envelopes(mi: Harness) -> None:
    """Odd header bytes, huge or repeated parameters, odd paths and methods: the endpoint's own refusals, no 500."""
    odd_header = mi.client.get("/msi/token", params={"resource": "api://orders-api", "api-version": "2019-08-01"},
                               headers=[(b"X-IDENTITY-HEADER", b"\xff\xfe" * 40)])
    assert odd_header.status_code == 401 and odd_header.json()["statusCode"] == 401
    huge = app_service(mi, "api://" + "x" * 60_000)
    assert huge.status_code == 400 and huge.json()["message"].startswith("AADSTS500011: ")
    assert len(huge.content) < 4096
    repeated = mi.client.get("/msi/token?api-version=2019-08-01&resource=api://nothing&resource=api://orders-api",
                             headers={"X-IDENTITY-HEADER": secret(mi, "orders-func")})
    assert repeated.status_code == 200 and repeated.json()["resource"] == "api://orders-api"
    undecodable = app_service(mi, "api://orders-api", client_id="%ff\u0000")
    assert undecodable.status_code == 400 and undecodable.json()["statusCode"] == 400
    for path in (f"/_mockidp/imds/..%2f..{IMDS}", f"/_mockidp/imds/{'a' * 3000}{IMDS}", f"/_mockidp/imds/%00{IMDS}"):
        r = mi.client.get(path, params={"api-version": "2018-02-01", "resource": "https://vault.azure.net"},
                          headers={"Metadata": "true"})
        assert r.status_code in (400, 404), (path, r.status_code)
        assert r.status_code == 404 or r.json()["error_description"] == "Identity not found"
    for method in ("POST", "PUT", "DELETE", "PATCH", "HEAD"):
        r = mi.client.request(method, f"/_mockidp/imds/batch-vm{IMDS}", headers={"Metadata": "true"})
        assert r.status_code == 400, method


def test_a_disabled_identity_gets_no_token(tmp_path: Path) -> None:
    seed = tmp_path / "off.yaml"
    seed.write_text("tenants:\n  - displayName: Dark\n    managedIdentities:\n"
                    "      - {type: SystemAssigned, resource: off-vm, accountEnabled: false}\n")
    off = Harness(tmp_path / "data", [seed])
    r = imds(off, "https://vault.azure.net", caller="off-vm")
    assert r.status_code == 400 and r.json()["error_description"] == "Identity not found"


def test_the_token_paths_answer_with_a_trailing_slash_too(mi: Harness) -> None:
    """MSAL Node asks IMDS for .../oauth2/token/; App Service on Windows sets IDENTITY_ENDPOINT to .../MSI/token/."""
    r = mi.client.get(f"/_mockidp/imds/batch-vm{IMDS}/", params={"api-version": "2018-02-01",
                      "resource": "https://vault.azure.net", "client_id": REPORTING_CLIENT},
                      headers={"Metadata": "true"}, follow_redirects=False)
    assert r.status_code == 200 and r.json()["client_id"] == REPORTING_CLIENT
    t = mi.client.get(f"/_mockidp/traces/{r.headers['x-ms-request-id']}")
    assert t.status_code == 200 and t.json()["outcome"] == "success"
    a = mi.client.get("/msi/token/", params={"resource": "api://orders-api", "api-version": "2019-08-01"},
                      headers={"X-IDENTITY-HEADER": secret(mi, "orders-func")}, follow_redirects=False)
    assert a.status_code == 200 and a.json()["client_id"] == FUNC_CLIENT
