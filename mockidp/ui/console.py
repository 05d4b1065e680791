"""The console's view of the directory, in the Entra admin center's terms, with what each setting does
to tokens. Read-only and secret-free by construction: no view carries a secret's text or hash, nor a
password or its hash (tests/test_console.py crawls every page for them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mockidp.directory.builtin import GRAPH_APP_ID
from mockidp.directory.model import (
    DEFAULT_ACCESS_ROLE_ID,
    ApplicationRecord,
    ServicePrincipalRecord,
    TenantRecord,
)
from mockidp.directory.snapshot import Directory
from mockidp.errors import catalogue


def day(when: float | None, unset: str = "never") -> str:
    return unset if when is None else dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class Row:
    """A setting as the admin center names it, its value, and what it does to tokens."""

    name: str
    value: str
    effect: str = ""


@dataclass(frozen=True, slots=True)
class Credential:
    kind: str  # Client secret | Certificate
    key_id: str
    shown: str  # the certificate's thumbprint; for secrets a placeholder, never the value
    start: str
    end: str
    expired: bool


@dataclass(frozen=True, slots=True)
class Assigned:
    principal: str
    principal_type: str
    role: str
    link: str | None = None


@dataclass(frozen=True, slots=True)
class Consent:
    client: str
    resource: str
    kind: str  # Delegated | Application
    granted: str  # AllPrincipals: every user; Principal: one user; Application: admin consent
    permissions: str


class Console:
    """Views over one worker's snapshot of the directory."""

    def __init__(self, directory: Directory, origin: str, now: float) -> None:
        self.d = directory
        self.origin = origin
        self.now = now
        self._sps = {sp.id: sp for sp in directory.service_principals.values()}

    # names ---------------------------------------------------------------------------------------

    def tenant(self, tenant_id: str) -> TenantRecord | None:
        return self.d.tenants.get(tenant_id)

    def _principal(self, principal_id: str) -> tuple[str, str | None]:
        if user := self.d.users.get(principal_id):
            return user.user_principal_name, None
        if group := self.d.groups.get(principal_id):
            return group.display_name, None
        if sp := self._sps.get(principal_id):
            return sp.display_name, f"enterprise-applications/{sp.app_id}"
        return principal_id, None

    def _role(self, sp: ServicePrincipalRecord, role_id: str) -> str:
        if role_id == DEFAULT_ACCESS_ROLE_ID:
            return "Default Access"
        app = self.d.applications.get(sp.app_id)
        role = next((r for r in app.app_roles if r.id == role_id), None) if app else None
        return role.value if role else role_id

    def name_of(self, tenant_id: str, identifier: str) -> str | None:
        """For the token decoder: which application an aud, azp or appid names in this directory."""
        if app := self.d.applications.get(identifier.lower()):
            return f"the appId of {app.display_name}"
        sp = self.d.resource(tenant_id, identifier)
        if sp is not None:
            return f"an App ID URI of {sp.display_name}"
        return None

    # lists ---------------------------------------------------------------------------------------

    def tenants(self) -> list[tuple[TenantRecord, dict[str, int]]]:
        out = []
        for t in self.d.content.tenants:
            out.append((t, {"App registrations": len(self.registrations(t.id)),
                            "Enterprise applications": len(self.enterprise_apps(t.id)),
                            "Users": sum(1 for u in self.d.content.users if u.tenant_id == t.id),
                            "Groups": sum(1 for g in self.d.content.groups if g.tenant_id == t.id)}))
        return out

    def _managed_identity(self, app: ApplicationRecord) -> bool:
        """A managed identity's hidden application: Entra lists it under Enterprise applications only."""
        sp = self.d.service_principal(app.tenant_id, app.app_id)
        return sp is not None and sp.is_managed_identity

    def registrations(self, tenant_id: str) -> list[ApplicationRecord]:
        return [a for a in self.d.content.applications if a.tenant_id == tenant_id and not self._managed_identity(a)]

    def enterprise_apps(self, tenant_id: str) -> list[ServicePrincipalRecord]:
        sps = [sp for (tid, _), sp in self.d.service_principals.items() if tid == tenant_id]
        return sorted(sps, key=lambda sp: (sp.app_id == GRAPH_APP_ID, sp.display_name.lower()))

    # App registrations -----------------------------------------------------------------------------

    def registration(self, tenant_id: str, app_id: str) -> ApplicationRecord | None:
        app = self.d.applications.get(app_id.lower())
        return app if app is not None and app.tenant_id == tenant_id and not self._managed_identity(app) else None

    def registration_rows(self, app: ApplicationRecord) -> list[Row]:
        tid = app.tenant_id
        uris = ", ".join(app.identifier_uris) or "(none)"
        if app.access_token_version == 2:
            version = Row("Manifest › requestedAccessTokenVersion", "2",
                          f"v2.0 access tokens: iss {self.origin}/{tid}/v2.0, aud is always the appId "
                          f"{app.app_id}, the client is in azp. Validate with the v2.0 discovery document.")
        else:
            version = Row("Manifest › requestedAccessTokenVersion", "null (or 1)",
                          f"v1.0 access tokens: iss https://sts.windows.net/{tid}/, aud as requested (the appId or "
                          "the App ID URI the client asked for), the client is in appid. Validate with the v1 "
                          "discovery document; a validator set up for v2.0 says \"Invalid token\".")
        audience = ("Accounts in this organizational directory only (single tenant): other tenants get "
                    f"AADSTS{catalogue.NOT_MULTI_TENANT.code}" if not app.is_multi_tenant else
                    "Multitenant: other tenants may use it once it has a service principal there")
        groups = app.group_membership_claims
        return [
            Row("Application (client) ID", app.app_id, "The appId: aud of its v2 tokens; azp or appid when it is "
                                                       "the client."),
            Row("Object ID", app.object_id),
            Row("Supported account types", app.sign_in_audience, audience),
            Row("Expose an API › Application ID URI", uris,
                f"Clients may ask for {app.identifier_uris[0]}/.default; a v1 token then carries that URI as aud."
                if app.identifier_uris else "Clients name this API by its appId."),
            version,
            Row("Token configuration › groupMembershipClaims", groups or "null",
                f"{groups}: tokens with a user carry groups (the user's group object ids)." if groups else
                "No groups claim in tokens."),
            Row("Authentication › Allow public client flows", "Yes" if app.is_fallback_public_client else "No",
                "Device code and username/password sign-ins work without a credential." if app.is_public else
                "Yes, but a credential is registered: the app stays confidential." if app.is_fallback_public_client
                else "The app must present a credential at the token endpoint."),
            Row("Authentication › Implicit grant: ID tokens", "Yes" if app.implicit_id_token else "No",
                "" if app.implicit_id_token else f"response_type=id_token at /authorize gets "
                                                 f"AADSTS{catalogue.ID_TOKEN_NOT_ENABLED.code}."),
            Row("Authentication › Implicit grant: access tokens", "Yes" if app.implicit_access_token else "No",
                "" if app.implicit_access_token else f"response_type=token at /authorize gets "
                                                     f"AADSTS{catalogue.TOKEN_NOT_ENABLED.code}."),
            Row("Authentication › Front-channel logout URL", app.logout_url or "(none)"),
        ]

    def redirect_uris(self, app: ApplicationRecord) -> list[tuple[str, tuple[str, ...], str]]:
        return [
            ("Web", app.web_redirect_uris, "Codes redeemed by a server, with the app's credential."),
            ("Single-page application", app.spa_redirect_uris,
             "Codes redeemed by the browser (CORS, PKCE); refresh tokens live 24 hours."),
            ("Mobile and desktop applications", app.public_redirect_uris,
             "Public clients; http://localhost matches any port."),
        ]

    def credentials(self, app: ApplicationRecord) -> list[Credential]:
        out = [Credential("Client secret", s.key_id, "(value hidden: shown once when created, never again)",
                          day(s.start, "—"), day(s.end), s.end is not None and s.end <= self.now) for s in app.secrets]
        out += [Credential("Certificate", c.key_id, f"thumbprint {c.sha1.upper()}", day(c.start, "—"), day(c.end),
                           c.end is not None and c.end <= self.now) for c in app.certificates]
        return out

    def pre_authorized(self, app: ApplicationRecord) -> list[tuple[str, str]]:
        out = []
        for client_id, scope_ids in app.pre_authorized:
            client = self.d.applications.get(client_id)
            names = [s.value for s in app.scopes if s.id in scope_ids] or list(scope_ids)
            out.append((client.display_name if client else client_id, " ".join(names)))
        return out

    # Enterprise applications -----------------------------------------------------------------------

    def enterprise_app(self, tenant_id: str, app_id: str) -> ServicePrincipalRecord | None:
        return self.d.service_principal(tenant_id, app_id.lower())

    def enterprise_rows(self, sp: ServicePrincipalRecord) -> list[Row]:
        if sp.is_managed_identity:
            kind = "user-assigned" if sp.user_assigned else "system-assigned"
            return [
                Row("Application type", f"Managed Identity ({kind})",
                    "Its tokens come from the managed-identity endpoints (IDENTITY_ENDPOINT or IMDS), never from "
                    "a secret; `mockidp identities` prints the variables."),
                Row("Application ID", sp.app_id, "Its client id: appid / azp of its tokens."),
                Row("Object ID", sp.id, "oid and sub of its tokens."),
                Row("Resource ID", sp.mi_resource_id, "xms_mirid of its tokens."),
            ]
        required = sp.app_role_assignment_required
        return [
            Row("Application ID", sp.app_id),
            Row("Object ID", sp.id, "oid and sub of this app's app-only tokens."),
            Row("Properties › Enabled for users to sign-in", "Yes" if sp.account_enabled else "No",
                "" if sp.account_enabled else
                f"Every token request as or to this app gets AADSTS{catalogue.APP_DISABLED.code}."),
            Row("Properties › Assignment required", "Yes" if required else "No",
                f"Clients without an assignment get AADSTS{catalogue.APP_NOT_ASSIGNED.code}; users without one "
                f"(directly or through a group) get AADSTS{catalogue.USER_NOT_ASSIGNED.code} at sign-in."
                if required else
                "Any app or user of the tenant gets a token for it; tokens of those without an assignment carry no "
                "roles claim. Check roles in the API."),
        ]

    def assigned(self, sp: ServicePrincipalRecord) -> list[Assigned]:
        out = []
        for a in self.d.content.assignments:
            if a.resource_sp_id == sp.id:
                name, link = self._principal(a.principal_id)
                out.append(Assigned(name, a.principal_type, self._role(sp, a.app_role_id), link))
        return out

    # Users and groups, consent -----------------------------------------------------------------------

    def users(self, tenant_id: str) -> list[tuple[str, str, str, str]]:
        """(UPN, display name, enabled, groups); never a password or its hash."""
        out = []
        for u in self.d.content.users:
            if u.tenant_id == tenant_id:
                groups = ", ".join(self.d.groups[g].display_name for g in u.group_ids if g in self.d.groups)
                out.append((u.user_principal_name, u.display_name, "Yes" if u.account_enabled else "No",
                            groups or "(none)"))
        return out

    def groups(self, tenant_id: str) -> list[tuple[str, str, str, str]]:
        out = []
        for g in self.d.content.groups:
            if g.tenant_id == tenant_id:
                members = [u.user_principal_name for u in self.d.content.users if g.id in u.group_ids]
                out.append((g.display_name, g.id, "Security" if g.security_enabled else "Microsoft 365",
                            ", ".join(members) or "(none)"))
        return out

    def consents(self, tenant_id: str) -> list[Consent]:
        out = []
        for gr in self.d.content.grants:
            if gr.tenant_id == tenant_id:
                who = "Admin consent: every user" if gr.consent_type == "AllPrincipals" else (
                    f"User consent: {self._principal(gr.principal_id or '')[0]}")
                out.append(Consent(self._principal(gr.client_sp_id)[0], self._principal(gr.resource_sp_id)[0],
                                   "Delegated", who, " ".join(gr.scopes)))
        for a in self.d.content.assignments:
            if a.tenant_id == tenant_id and a.principal_type == "ServicePrincipal":
                resource = self._sps.get(a.resource_sp_id)
                role = self._role(resource, a.app_role_id) if resource else a.app_role_id
                out.append(Consent(self._principal(a.principal_id)[0], self._principal(a.resource_sp_id)[0],
                                   "Application", "Admin consent (app role assignment)", role))
        return out
