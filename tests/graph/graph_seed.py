"""A tenant whose admin app holds Graph's app roles (Application.ReadWrite.All, AppRoleAssignment.ReadWrite.All)
and an API that requires assignment: the Graph tests' seed."""

from __future__ import annotations

TENANT = "72f988bf-0000-4000-8000-0000000000aa"
ADMIN, ADMIN_SECRET = "0a0a0a0a-0000-4000-8000-000000000001", "graph-admin-secret-1"
READER, READER_SECRET = "0c0c0c0c-0000-4000-8000-000000000003", "no-graph-roles-secret-1"
API = "0b0b0b0b-0000-4000-8000-000000000002"
SEED = f"""
tenants:
  - tenantId: {TENANT}
    displayName: GraphTest
    domains: [graphtest.onmicrosoft.com]
    applications:
      - appId: {API}
        displayName: orders-api
        identifierUris: ["api://{API}"]
        appRoles:
          - {{value: Orders.Read, allowedMemberTypes: [Application], displayName: Read orders}}
        servicePrincipal: {{appRoleAssignmentRequired: true}}
      - appId: {ADMIN}
        displayName: graph-admin
        passwordCredentials:
          - {{secretText: "{ADMIN_SECRET}", endDateTime: "2099-01-01T00:00:00Z"}}
      - appId: {READER}
        displayName: no-graph-roles
        passwordCredentials:
          - {{secretText: "{READER_SECRET}", endDateTime: "2099-01-01T00:00:00Z"}}
    appRoleAssignments:
      - {{principal: graph-admin, resource: Microsoft Graph, appRole: Application.ReadWrite.All}}
      - {{principal: graph-admin, resource: Microsoft Graph, appRole: AppRoleAssignment.ReadWrite.All}}
"""
