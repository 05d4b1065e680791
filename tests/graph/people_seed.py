"""A tenant whose admin app holds Graph's User.ReadWrite.All and Group.ReadWrite.All, a public client people
sign in to with ROPC (its API's tokens carry `groups`), and a public client only the HR group may use:
the seed of the users and groups tests (tests/graph/test_graph_people.py, test_msgraph_people.py)."""

from __future__ import annotations

TENANT = "72f988bf-0000-4000-8000-0000000000bb"
DOMAIN = "peopletest.onmicrosoft.com"
ADMIN, ADMIN_SECRET = "0a0a0a0a-0000-4000-8000-0000000000b1", "people-admin-secret-1"
READER, READER_SECRET = "0c0c0c0c-0000-4000-8000-0000000000b3", "people-reader-secret-1"
VIEWER, VIEWER_SECRET = "0f0f0f0f-0000-4000-8000-0000000000b7", "people-viewer-secret-1"  # reads, sets members
CLI = "0d0d0d0d-0000-4000-8000-0000000000b4"  # public client, no assignment required
HR_CLI = "0e0e0e0e-0000-4000-8000-0000000000b5"  # public client, only the HR group
API = "0b0b0b0b-0000-4000-8000-0000000000b2"
API_SCOPE = f"api://{API}/access_as_user"
HR_GROUP = "9a9a9a9a-0000-4000-8000-0000000000b6"
CAROL, CAROL_PASSWORD = f"carol@{DOMAIN}", "Carol-password-1"
SEED = f"""
tenants:
  - tenantId: {TENANT}
    displayName: PeopleTest
    domains: [{DOMAIN}]
    applications:
      - appId: {API}
        displayName: people-api
        identifierUris: ["api://{API}"]
        api:
          requestedAccessTokenVersion: 2
          oauth2PermissionScopes:
            - {{value: access_as_user, type: User, adminConsentDisplayName: Access people-api}}
        groupMembershipClaims: SecurityGroup
      - appId: {CLI}
        displayName: people-cli
        publicClient: {{redirectUris: ["http://localhost"]}}
        isFallbackPublicClient: true
      - appId: {HR_CLI}
        displayName: hr-cli
        publicClient: {{redirectUris: ["http://localhost"]}}
        isFallbackPublicClient: true
        servicePrincipal: {{appRoleAssignmentRequired: true}}
      - appId: {ADMIN}
        displayName: people-admin
        passwordCredentials:
          - {{secretText: "{ADMIN_SECRET}", endDateTime: "2099-01-01T00:00:00Z"}}
      - appId: {READER}
        displayName: people-reader
        passwordCredentials:
          - {{secretText: "{READER_SECRET}", endDateTime: "2099-01-01T00:00:00Z"}}
      - appId: {VIEWER}
        displayName: people-viewer
        passwordCredentials:
          - {{secretText: "{VIEWER_SECRET}", endDateTime: "2099-01-01T00:00:00Z"}}
    users:
      - {{userPrincipalName: "{CAROL}", displayName: Carol, password: "{CAROL_PASSWORD}", memberOf: [HR]}}
    groups:
      - {{displayName: HR, id: {HR_GROUP}}}
    appRoleAssignments:
      - {{principal: people-admin, resource: Microsoft Graph, appRole: User.ReadWrite.All}}
      - {{principal: people-admin, resource: Microsoft Graph, appRole: Group.ReadWrite.All}}
      - {{principal: people-viewer, resource: Microsoft Graph, appRole: User.Read.All}}
      - {{principal: people-viewer, resource: Microsoft Graph, appRole: GroupMember.ReadWrite.All}}
      - {{principal: HR, resource: hr-cli}}
    oauth2PermissionGrants:
      - {{client: people-cli, resource: people-api, scope: access_as_user, consentType: AllPrincipals}}
      - {{client: hr-cli, resource: people-api, scope: access_as_user, consentType: AllPrincipals}}
"""
