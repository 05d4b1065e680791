"""Every AADSTS error mockidp can answer with: one entry per code, as data.

Each entry gives Entra's OAuth `error`, the HTTP status, the message template (named
`{placeholders}`), when Entra returns it, and how sure we are of the wording:
V = seen in a captured real response, D = Microsoft documentation, I = inferred (a choice
recorded here so that it can be corrected in one place). `captures` quotes the published real
responses an entry follows (where, when, the text as published); where a newer and an older capture
disagree the template follows the newer and both are quoted.
"""

from __future__ import annotations

import string
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fix:
    """How to make a refusal go away, in two forms: where to change it in the Entra admin center, and
    the seed YAML that does the same here. Both are templates over the entry's placeholders.

    The rule every entry a decision rule raises keeps (tests/test_catalogue.py checks it):
    - `portal` is the admin center's path, its menu names as entra.microsoft.com shows them, joined
      by " › " (App registrations › {app} › Authentication, Enterprise applications › {app} ›
      Properties, Users › {user} › ...). What the entry does not know is written <in angle brackets>.
    - Where the directory is at fault (assignment, consent, registration, credentials, redirect URIs,
      a disabled account ...), `seed` is the YAML that fixes it: the keys of a tenant in `tenants:`
      (appRoleAssignments, oauth2PermissionGrants, users, applications), or, after a first line
      `# application <name or appId>:` / `# user <name>:`, the keys of that application's or user's
      entry. It validates against the seed schema once placed there.
    - Where the request is at fault (a missing or malformed parameter, an expired or replayed code, a
      wrong password, a PKCE mismatch, a lockout ...), `portal` starts with REQUEST_SIDE and says what
      the client must send or do instead, and `seed` is "": nothing in the directory changes.
    """

    portal: str
    seed: str


REQUEST_SIDE = "Nothing to change in the admin center: "  # how a request-side Fix's portal text starts


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    code: int
    error: str
    status: int
    template: str
    when: str
    evidence: str = "V"
    # The token endpoint answers some codes with another `error` value than discovery/authorize do.
    token_error: str | None = None
    # Legacy wrapped errors carry a second code (e.g. 70002 wrapping 50011).
    extra_codes: tuple[int, ...] = ()
    # The published real responses behind a V: "where (date): quoted text".
    captures: tuple[str, ...] = ()
    # Placeholders naming a person: Entra's own pages show them, bodies sent to clients show EMAIL_HIDDEN.
    personal: tuple[str, ...] = ()
    # The fix a decision trace ends with (every entry a decision rule raises has one; see Fix).
    fix: Fix | None = None

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(f for _, f, _, _ in string.Formatter().parse(self.template) if f)


# Newer captures link learn.microsoft.com, older ones (2024-05 and before) the docs.microsoft.com page
# (ASSERTION_TIME_RANGE's captures). 700021/700023 share the sentence: the same link is assumed there
# (a choice: evidence I for the link).
_CERT_DOC = "Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."
_GRAPH_KEYS_TAIL = (
    "Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for "
    "app Id '{client_id}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments "
    "to determine the corresponding service endpoint and "
    "https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to build a "
    "query request URL, such as 'https://graph.microsoft.com/beta/applications/{client_id}']."
)

EMAIL_HIDDEN = "{EmailHidden}"  # what Entra puts for a person's address in bodies sent to clients

# --- tenants -------------------------------------------------------------------------------------
TENANT_NOT_FOUND = ErrorSpec(
    90002, "invalid_tenant", 400,
    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into "
    "the correct cloud. Check with your subscription administrator, this may happen if there are no active "
    "subscriptions for the tenant.",
    "The {tenant} path segment is a GUID or domain that names no tenant; at discovery (metadata and keys) also "
    "any single word of letters, digits, '.', '-', '_' (a tenant name there), which the protocol endpoints "
    "answer with 900023 instead.",
    token_error="invalid_request",
    captures=(
        "james-gould/azure-keyvault-emulator#324 (2025-08, /secrets/v2.0/.well-known/openid-configuration): "
        "{\"error\":\"invalid_tenant\",\"error_description\":\"AADSTS90002: Tenant 'secrets' not found. Check to "
        "make sure you have the correct tenant ID and are signing into the correct cloud. Check with your "
        "subscription administrator, this may happen if there are no active subscriptions for the tenant. Trace "
        "ID: ...\",\"error_codes\":[90002],...}",
        "microsoftgraph/windowsupdates-webapplication-sample#6 (2023-06, discovery): \"AADSTS90002: Tenant "
        "'tenant_id' not found. ...\"",
        "panva/openid-client#175 (2019-07, older wording, discovery): \"AADSTS90002: Tenant 'organizations' not "
        "found. This may happen if there are no active subscriptions for the tenant. Check with your subscription "
        "administrator.\"",
    ),
    fix=Fix(
        REQUEST_SIDE + "send the request to a tenant that exists: its Tenant ID (Overview) or one of its domain "
        "names (Domain names) in place of '{tenant}'.",
        "",
    ),
)
INVALID_TENANT_IDENTIFIER = ErrorSpec(
    900023, "invalid_request", 400,
    "Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a valid external domain.",
    "The {tenant} path segment is neither a GUID nor a dotted DNS name at a protocol endpoint (authorize, token, "
    "devicecode): a single word is malformed there; at discovery only characters outside a tenant name are.",
    captures=(
        "microsoft/aspire#4253 (2024-05, token endpoint): \"AADSTS900023: Specified tenant identifier 'authorize' "
        "is neither a valid DNS name, nor a valid external domain.\"",
        "microsoft/Intune-Data-Warehouse#15 (2022-05): \"AADSTS900023: Specified tenant identifier 'token' is "
        "neither a valid DNS name, nor a valid external domain.\"",
        "KelvinTegelaar/CIPP#5274 (2026-01, authorize page): \"AADSTS900023: Specified tenant identifier "
        "'undefined' is neither a valid DNS name, nor a valid external domain.\"",
    ),
    fix=Fix(
        REQUEST_SIDE + "put a tenant ID (a GUID), a domain name, organizations, common or consumers in the path "
        "in place of '{tenant}'.",
        "",
    ),
)
GRANT_NOT_ON_COMMON = ErrorSpec(
    9001023, "invalid_request", 400,
    "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations "
    "or tenant-specific endpoint.",
    "client_credentials (and ROPC) posted to /common or /consumers. The `error` value is inferred.",
    evidence="D",
    fix=Fix(
        REQUEST_SIDE + "post this grant to the tenant's own endpoint, /<Tenant ID or domain>/oauth2/v2.0/token "
        "(or /organizations for ROPC).",
        "",
    ),
)
NO_TENANT_INFORMATION = ErrorSpec(
    50059, "invalid_request", 400,
    "No tenant-identifying information found in either the request or implied by any provided credentials.",
    "client_credentials posted to /organizations: nothing names the tenant (choice: 9001023 names only "
    "/common and /consumers).",
    evidence="I",
    fix=Fix(
        REQUEST_SIDE + "post client credentials to the tenant's own endpoint, /<Tenant ID or "
        "domain>/oauth2/v2.0/token.",
        "",
    ),
)

NOT_MULTI_TENANT = ErrorSpec(
    50194, "invalid_request", 400,
    "Application '{app_id}'({app_name}) is not configured as a multi-tenant application. Usage of the /common "
    "endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint "
    "or configure the application to be multi-tenant.",
    "A single-tenant app (signInAudience AzureADMyOrg) used on /common or /organizations.",
    evidence="D",
    fix=Fix(
        "App registrations › {app_name} › Manifest: `signInAudience: AzureADMultipleOrgs` (supported account "
        "types: Accounts in any organizational directory - Multitenant); or send the request to the tenant's "
        "own endpoint instead of /common or /organizations.",
        "# application {app_name} ({app_id}):\n"
        "signInAudience: AzureADMultipleOrgs",
    ),
)

# --- request parsing -----------------------------------------------------------------------------
POST_ONLY = ErrorSpec(
    900561, "invalid_request", 400,
    "The endpoint only accepts POST, OPTIONS requests. Received a {method} request.",
    "Token or devicecode endpoint called with another method than POST. Seen for GET; the same answer for "
    "every other method (PUT, TRACE, PROPFIND, CONNECT, unknown ones) is our choice.",
    fix=Fix(
        REQUEST_SIDE + "send a POST with an application/x-www-form-urlencoded body instead of {method}.",
        "",
    ),
)
MISSING_PARAMETER = ErrorSpec(
    900144, "invalid_request", 400,
    "The request body must contain the following parameter: '{name}'.",
    "A required form parameter is absent or empty (a JSON body counts as empty).",
    fix=Fix(
        REQUEST_SIDE + "send the parameter '{name}' in the request body.",
        "",
    ),
)
MALFORMED_REQUEST = ErrorSpec(
    9002313, "invalid_request", 400,
    "Invalid request. Request is malformed or invalid.",
    "Unparsable form body (bad percent-encoding, invalid UTF-8, NUL), a repeated parameter, two client "
    "authentication methods at once, an over-long body, or an unknown client_assertion_type; with error "
    "invalid_grant for a refresh token or code that is not one (as captured). Entra's answer to the parsing "
    "cases is inferred; this entry is the one place to correct it.",
    evidence="I",
    fix=Fix(
        REQUEST_SIDE + "send one well-formed application/x-www-form-urlencoded UTF-8 body: each parameter once, "
        "one way of client authentication, a client_assertion_type of "
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer, and the code or refresh token as "
        "issued.",
        "",
    ),
)
RESOURCE_PARAMETER_NOT_SUPPORTED = ErrorSpec(
    901002, "invalid_request", 400,
    "The 'resource' request parameter isn't supported.",
    "`resource` sent to a v2.0 endpoint.",
    evidence="D",
    fix=Fix(
        REQUEST_SIDE + "on the v2.0 endpoint send scope=<Application ID URI>/.default (or its named scopes) "
        "instead of 'resource'; 'resource' belongs to the v1 endpoint (/oauth2/token).",
        "",
    ),
)
UNSUPPORTED_GRANT_TYPE = ErrorSpec(
    70003, "unsupported_grant_type", 400,
    "The app requested an unsupported grant type '{grant_type}'.",
    "grant_type is not one Entra knows. Wording not captured (doc: 'UnsupportedGrantType').",
    evidence="I",
    fix=Fix(
        REQUEST_SIDE + "send a grant_type Entra knows (authorization_code, client_credentials, refresh_token, "
        "password, urn:ietf:params:oauth:grant-type:device_code, "
        "urn:ietf:params:oauth:grant-type:jwt-bearer) instead of '{grant_type}'.",
        "",
    ),
)
CROSS_ORIGIN_REDEMPTION = ErrorSpec(
    9002326, "invalid_request", 400,
    "Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type. "
    "Request origin: '{origin}'.",
    "A request with an Origin header authenticates a confidential client.",
    fix=Fix(
        "App registrations › <the app> › Authentication › Add a platform › Single-page application › "
        "Redirect URIs: the page at {origin} (a browser redeems only codes of a Single-page application "
        "redirect URI, and sends no secret); or redeem the code on a server, without an Origin header.",
        "# application <the app>:\n"
        "spa:\n"
        "  redirectUris: [\"{origin}/<the redirect page>\"]",
    ),
)
# CORS of the token endpoint (the headers around 9002326/9002327; mockidp/oauth/cors.py applies them).
# Evidence: Microsoft documents that only `spa` redirect URIs are CORS-enabled and that a browser
# otherwise sees "No 'Access-Control-Allow-Origin' header" [D]; MSAL Browser users see 9002326 as a
# parsed error naming their origin, so Entra's error answers are readable cross-origin [V]; Entra
# redeems an spa code with any Origin value (tools that send a made-up one) [V]. No capture of the
# token endpoint's CORS headers was found, so these are choices [I]:
# - Access-Control-Allow-Origin is the request's Origin, echoed (with Vary: Origin) on the preflight
#   and on every answer to a request that has one, success or error: a preflight cannot know which
#   code follows, Entra does not compare the Origin with the redirect URI, and an echo also works for
#   pages that send credentials (`*` would not). No Origin, no CORS headers.
# - Preflight: 200; Allow-Methods "POST, OPTIONS" (the methods 900561 names); Allow-Headers the names
#   asked for (MSAL Browser sends X-AnchorMailbox); Max-Age 86400 (the max-age of Entra's metadata).
# - Expose-Headers: x-ms-request-id, x-ms-clitelem, x-ms-httpver, Retry-After (what MSAL Browser reads
#   for telemetry and throttling).
# - The devicecode endpoint has none (MSAL Browser has no device-code flow); discovery and keys keep
#   `Access-Control-Allow-Origin: *` (GETs without a preflight).

# --- clients -------------------------------------------------------------------------------------
APP_NOT_FOUND = ErrorSpec(
    700016, "unauthorized_client", 400,
    "Application with identifier '{client_id}' was not found in the directory '{tenant_name}'. This can "
    "happen if the application has not been installed by the administrator of the tenant or consented to by "
    "any user in the tenant. You may have sent your authentication request to the wrong tenant.",
    "client_id names no application with a service principal in this tenant.",
    fix=Fix(
        "App registrations › New registration in {tenant_name}, or send the Application (client) ID of "
        "the app's Overview page instead of '{client_id}'; an app of another tenant needs its enterprise "
        "application here (an administrator's consent creates it).",
        "applications:\n"
        "  - appId: {client_id}\n"
        "    displayName: <the app's name>",
    ),
)
APP_DISABLED = ErrorSpec(
    7000112, "unauthorized_client", 400,
    "Application '{app_id}'({app_name}) is disabled.",
    "The client's (or resource's) service principal has accountEnabled: false. error/status inferred.",
    fix=Fix(
        "Enterprise applications › {app_name} › Properties › Enabled for users to sign-in? › Yes.",
        "# application {app_name} ({app_id}):\n"
        "servicePrincipal:\n"
        "  accountEnabled: true",
    ),
)
INVALID_CLIENT_SECRET = ErrorSpec(
    7000215, "invalid_client", 401,
    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
    "value, not the client secret ID, for a secret added to app '{client_id}'.",
    "The secret matches none of the app's passwordCredentials.",
    fix=Fix(
        "App registrations › <the app {client_id}> › Certificates & secrets › Client secrets: send a "
        "secret's Value (shown once, when it is added), not its Secret ID; or New client secret.",
        "# application {client_id}:\n"
        "passwordCredentials:\n"
        "  - secretText: <the secret the client sends>",
    ),
)
EXPIRED_CLIENT_SECRET = ErrorSpec(
    7000222, "invalid_client", 401,
    "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new "
    "keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added "
    "security: https://aka.ms/certCreds.",
    "The secret matches only passwordCredentials past their endDateTime.",
    fix=Fix(
        "App registrations › <the app {client_id}> › Certificates & secrets › Client secrets › New "
        "client secret, and send its Value.",
        "# application {client_id}:\n"
        "passwordCredentials:\n"
        "  - secretText: <a new secret, 16 characters or more>\n"
        "    endDateTime: \"2099-01-01T00:00:00Z\"",
    ),
)
CREDENTIAL_REQUIRED = ErrorSpec(
    7000218, "invalid_client", 401,
    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    "A confidential client sent no credential (grants other than client_credentials).",
    fix=Fix(
        REQUEST_SIDE + "a confidential client sends its client_secret, or a client_assertion signed with a "
        "certificate of App registrations › <the app> › Certificates & secrets.",
        "",
    ),
)
CLIENT_CREDENTIALS_NEED_CREDENTIAL = ErrorSpec(
    7000216, "invalid_client", 401,
    "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
    "client_credentials without any credential. HTTP status inferred from its siblings.",
    fix=Fix(
        REQUEST_SIDE + "the client_credentials grant needs the client's client_secret, or a client_assertion "
        "signed with a certificate of App registrations › <the app> › Certificates & secrets.",
        "",
    ),
)
PUBLIC_CLIENT_WITH_CREDENTIAL = ErrorSpec(
    700025, "invalid_client", 401,
    "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
    "A public client (isFallbackPublicClient and no credentials registered) presented a credential.",
    fix=Fix(
        REQUEST_SIDE + "a public client sends neither client_secret nor client_assertion: leave them out of the "
        "request.",
        "",
    ),
)

# --- client assertions (certificates) ------------------------------------------------------------
MALFORMED_JWT = ErrorSpec(
    50027, "invalid_client", 401,
    "JWT token is invalid or malformed.",
    "client_assertion is not a parsable JWS (segments, base64url, JSON objects), lacks exp/iss/sub/aud, or "
    "has an unknown `crit` header. error/status inferred.",
    evidence="V",
    fix=Fix(
        REQUEST_SIDE + "send as client_assertion a signed JWT (three base64url parts) with exp, iss, sub and aud; "
        "MSAL builds one from the certificate.",
        "",
    ),
)
ASSERTION_ALGORITHM = ErrorSpec(
    5002738, "invalid_client", 401,
    "Invalid JWT token. '{alg}' is not a supported signature algorithm. Supported signing algorithms are: "
    "'RS256,RS384,RS512'",
    "Assertion alg outside RS256/RS384/RS512/PS256 (none, HS256 ...). error/status inferred.",
    fix=Fix(
        REQUEST_SIDE + "sign the client_assertion with RS256 (or RS384, RS512, PS256) instead of {alg}.",
        "",
    ),
)
ASSERTION_NO_THUMBPRINT = ErrorSpec(
    5002723, "invalid_client", 401,
    "Invalid JWT token. No certificate SHA-1 thumbprint, certificate SHA-256 thumbprint, nor keyId "
    "specified in token header.",
    "Assertion header has no x5t, x5t#S256 or kid. error/status inferred.",
    fix=Fix(
        REQUEST_SIDE + "name the certificate in the client_assertion's header: x5t#S256 (its SHA-256 thumbprint, "
        "base64url), x5t (SHA-1) or kid.",
        "",
    ),
)
ASSERTION_KEY = ErrorSpec(
    700027, "invalid_client", 401,
    "{statement} [Reason - {reason}, {key_details}" + _GRAPH_KEYS_TAIL,
    "Assertion signed by a certificate the app does not have, an expired one, or with a bad signature. "
    "The three wordings are the variants below.",
    fix=Fix(
        "App registrations › <the app> › Certificates & secrets › Certificates › Upload certificate: the "
        "public certificate of the key that signs the assertion, not yet expired (an invalid signature "
        "is the client's: sign with the private key of a registered certificate).",
        "# application <the app>:\n"
        "keyCredentials:\n"
        "  - type: AsymmetricX509Cert\n"
        "    usage: Verify\n"
        "    keyFile: <the certificate's .crt, next to the seed>",
    ),
)
# Variants of ASSERTION_KEY: (statement, reason). The captured signature wording is an older one.
KEY_NOT_REGISTERED = (
    "The certificate with identifier used to sign the client assertion is not registered on application.",
    "The key was not found.",
)
KEY_EXPIRED = (
    "The certificate with identifier used to sign the client assertion is expired on application.",
    "The key used is expired.",
)
BAD_SIGNATURE = ("Client assertion contains an invalid signature.", "The key was not found.")
ASSERTION_TIME_RANGE = ErrorSpec(
    700024, "invalid_client", 401,
    "Client assertion is not within its valid time range. Current time: {now}, assertion valid from "
    "{valid_from}, expiry time of assertion {expires}. " + _CERT_DOC,
    "Assertion exp in the past or nbf in the future, beyond the skew (120 s, a choice). 'valid from' is the "
    "assertion's nbf, or the Unix epoch when it has none (iat is not used: MSAL sends iat and no nbf).",
    captures=(
        "AzureAD/microsoft-authentication-library-for-java#984 (2025-08, msal4j 1.23.0, no nbf): \"AADSTS700024: "
        "Client assertion is not within its valid time range. Current time: 2025-08-29T05:47:32.1501147Z, "
        "assertion valid from 1970-01-01T00:00:00.0000000Z, expiry time of assertion "
        "2025-08-29T00:30:05.0000000Z. Review the documentation at "
        "https://learn.microsoft.com/entra/identity-platform/certificate-credentials .\"",
        "AzureAD/microsoft-authentication-library-for-dotnet#4951 (2024-10): the same, \"assertion valid from "
        "1970-01-01T00:00:00.0000000Z\", learn.microsoft.com link.",
        "dotnet/docker-tools#1310 (2024-05, older link, an assertion with nbf): \"assertion valid from "
        "2024-05-28T02:19:01.0000000Z, expiry time of assertion 2024-05-28T02:29:01.0000000Z. Review the "
        "documentation at https://docs.microsoft.com/azure/active-directory/develop/"
        "active-directory-certificate-credentials .\"",
    ),
    fix=Fix(
        REQUEST_SIDE + "make a new client_assertion for each request: exp after the current time ({now}), nbf not "
        "ahead of it; check the client's clock.",
        "",
    ),
)
ASSERTION_CLIENT_MISMATCH = ErrorSpec(
    700021, "invalid_client", 401,
    "Client assertion application identifier doesn't match 'client_id' parameter. " + _CERT_DOC,
    "Assertion iss/sub missing or not equal to client_id.",
    fix=Fix(
        REQUEST_SIDE + "set the client_assertion's iss and sub to the client_id the request sends.",
        "",
    ),
)
ASSERTION_SUBJECT_ISSUER_MISMATCH = ErrorSpec(
    50048, "invalid_client", 401,
    "Subject mismatches Issuer claim in the client assertion.",
    "Assertion sub differs from iss. Wording and status inferred from the documented name.",
    evidence="D",
    fix=Fix(
        REQUEST_SIDE + "set the client_assertion's sub to its iss: both the client_id.",
        "",
    ),
)
ASSERTION_AUDIENCE = ErrorSpec(
    700023, "invalid_client", 401,
    "Client assertion audience claim does not match Realm issuer. " + _CERT_DOC,
    "Assertion aud is not the token endpoint the assertion was posted to.",
    fix=Fix(
        REQUEST_SIDE + "set the client_assertion's aud to the token endpoint it is posted to "
        "(https://<host>/<tenant>/oauth2/v2.0/token).",
        "",
    ),
)

# --- workload identity federation (an external token as client_assertion) -------------------------
# Check order (oauth/federation.py), as the reference infers it from the codes seen: a token Entra issued
# (700222), then the app's records: none at all (70021, all three values), issuer (700211), audience
# (700212), subject (700213), then the issuer's keys (501661, 7000272) and the time window (700024).
# The HTTP status of each 7002xx is not confirmed; `invalid_client` (401) where a capture shows it.
_WIF_DOC = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
_WIF_CHECK = "Check your federated identity credential Subject, Audience and Issuer against the presented assertion. "


def _fic_fix(issuer: str, subject: str, audience: str) -> Fix:
    return Fix(
        "App registrations › <the app> › Certificates & secrets › Federated credentials › Add credential: "
        "issuer, subject and audience exactly as the presented token has them (case-sensitive, no wildcards).",
        "# application <the app>:\n"
        "federatedIdentityCredentials:\n"
        "  - name: <a-name>\n"
        f"    issuer: \"{issuer}\"\n"
        f"    subject: \"{subject}\"\n"
        f"    audiences: [\"{audience}\"]",
    )


FEDERATED_NO_RECORD = ErrorSpec(
    70021, "invalid_request", 400,
    "No matching federated identity record found for presented assertion. Assertion Issuer: '{issuer}'. "
    "Assertion Subject: '{subject}'. Assertion Audience: '{audience}'. "
    "https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation",
    "An external token (iss not the client_id) presented by an app that has no federated identity credential "
    "at all. Entra answers the specific 7002xx codes when the app has credentials; 70021 remains for none.",
    captures=(
        "Azure/azure-workload-identity#340 (2022-09), the issue's title: \"AADSTS70021: No matching federated "
        "identity record found for presented assertion.\" (the reference's AKS capture of 2023-03-23 carries "
        "Issuer, Subject and Audience as in the template)",
    ),
    fix=_fic_fix("{issuer}", "{subject}", "{audience}"),
)
FEDERATED_ISSUER = ErrorSpec(
    700211, "invalid_client", 401,
    "No matching federated identity record found for presented assertion issuer '{issuer}'. "
    "Please check your federated identity credential Subject, Audience and Issuer against the presented "
    "assertion. " + _WIF_DOC,
    "No federated identity credential of the app names the token's iss (exact comparison). The text after "
    "the issuer was never captured: 700212's is assumed (I); error and status also assumed from 700212.",
    evidence="I",
    fix=_fic_fix("{issuer}", "<the token's sub>", "api://AzureADTokenExchange"),
)
FEDERATED_AUDIENCE = ErrorSpec(
    700212, "invalid_client", 401,
    "No matching federated identity record found for presented assertion audience '{audience}'. "
    "Please check your federated identity credential Subject, Audience and Issuer against the presented "
    "assertion. https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation",
    "Credentials name the token's issuer, but none lists one of the token's audiences (a list of audiences is "
    "shown comma-separated: a choice).",
    evidence="D",
    fix=_fic_fix("<the token's iss>", "<the token's sub>", "{audience}"),
)
FEDERATED_SUBJECT = ErrorSpec(
    700213, "invalid_client", 401,
    "No matching federated identity record found for presented assertion subject '{subject}'. Please note "
    "that the matching is done using a case-sensitive comparison. " + _WIF_CHECK + _WIF_DOC,
    "Credentials name the token's issuer and audience, none its sub (case-sensitive, exact).",
    evidence="D",
    fix=_fic_fix("<the token's iss>", "{subject}", "api://AzureADTokenExchange"),
)
FEDERATED_ENTRA_ISSUER = ErrorSpec(
    700222, "invalid_client", 401,
    "AAD-issued tokens may not be used for federated identity flows.",
    "The external token was issued by Entra (login.microsoftonline.com, login.windows.net, login.microsoft.com, "
    "sts.windows.net) or by this mockidp: its own tokens are Entra's. error and status assumed.",
    evidence="D",
    fix=Fix(
        REQUEST_SIDE + "present the token of the external issuer (the CI job's or the cluster's OIDC token), "
        "not an access token Entra issued; an app's own credential goes as a certificate assertion.",
        "",
    ),
)
FEDERATED_ISSUER_UNREACHABLE = ErrorSpec(
    501661, "invalid_request", 400,
    "Request to External OIDC endpoint failed.",
    "The issuer's {iss}/.well-known/openid-configuration or its jwks_uri could not be read (not answering, "
    "not JSON, no jwks_uri, another issuer, not on this machine: mockidp runs offline). error and status "
    "assumed; the reason is in the decision trace.",
    evidence="D",
    fix=Fix(
        REQUEST_SIDE + "serve the issuer's discovery document and JWKS where the token's iss says (an issuer on "
        "this machine, or one of mockidp's own: /_mockidp/issuers/github, /_mockidp/issuers/kubernetes).",
        "",
    ),
)
FEDERATED_KEY_NOT_FOUND = ErrorSpec(
    7000272, "invalid_client", 401,
    "The certificate with identifier {kid} used to sign the federated credential could not be found in the "
    "metadata of identity provider {issuer}. Please validate that your Identity Provider's metadata exposes "
    "the key used to sign the incoming token.",
    "No key of the issuer's JWKS (its first 100, re-read once) has the token's kid, or the key with that kid "
    "does not verify the signature (a choice: no separate wording for a bad signature was found).",
    captures=(
        "Azure/azure-workload-identity#1232 (2024-01-14): \"AADSTS7000272: The certificate with identifier "
        "DFA184AB5E2B3F6529B8CFCE195305014236E297 used to sign the federated credential could not be found in "
        "the metadata of identity provider https://oidc.svasys.com. Please validate that your Identity "
        "Provider's metadata exposes the key used to sign the incoming token.\"",
    ),
    fix=Fix(
        REQUEST_SIDE + "sign the external token with a key the issuer's JWKS publishes (its kid in the header).",
        "",
    ),
)
FEDERATED_TOKEN_TYPE = ErrorSpec(
    5002727, "invalid_request", 400,
    "Invalid JWT header type specified, must be 'JWT' or 'http://openid.net/specs/jwt/1.0'.",
    "The external token's header has a typ other than JWT (or none: Kubernetes tokens carry none). Captured "
    "(2021) in the reference's code index; a later variant reads \"...specified. Allowed types: ...\".",
    evidence="V",
    fix=Fix(REQUEST_SIDE + "send a token whose header typ is JWT (or no typ).", ""),
)


# --- scopes and resources ------------------------------------------------------------------------
RESOURCE_NOT_FOUND = ErrorSpec(
    500011, "invalid_resource", 400,
    "The resource principal named {resource} was not found in the tenant named {tenant_name}. This can "
    "happen if the application has not been installed by the administrator of the tenant or consented to by "
    "any user in the tenant. You might have sent your authentication request to the wrong tenant.",
    "scope/resource names no identifierUri or appId of a service principal in the tenant.",
    fix=Fix(
        "App registrations › <the API> › Expose an API › Application ID URI › Add: {resource} (or ask "
        "for the API's Application (client) ID); an API of another tenant needs its enterprise "
        "application in {tenant_name} (an administrator's consent creates it).",
        "applications:\n"
        "  - displayName: <the API>\n"
        "    identifierUris: [\"{resource}\"]",
    ),
)
DEFAULT_SCOPE_REQUIRED = ErrorSpec(
    1002012, "invalid_scope", 400,
    "The provided value for scope {scope} is not valid. Client credential flows must have a scope value "
    "with /.default suffixed to the resource identifier (application ID URI).",
    "client_credentials scope without /.default. `error` inferred.",
    fix=Fix(
        REQUEST_SIDE + "ask for <the API's Application ID URI or client ID>/.default instead of {scope}: client "
        "credentials get the application permissions already granted, never named scopes.",
        "",
    ),
)
INVALID_SCOPE = ErrorSpec(
    70011, "invalid_scope", 400,
    "{lead}The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid.{reason}",
    "Token endpoint: a scope names no permission of the resource. Everywhere: a scope mixes /.default with named "
    "scopes, or (the format variant below) names its resource by neither a URI nor a GUID. /authorize answers an "
    "unknown permission of a known resource with 650053 instead.",
    captures=(
        "microsoft/TinyBlazorAdmin#73 (2021-06, format variant): \"AADSTS70011: The provided request must include a "
        "'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope "
        "user.read openid profile https://*********.azurewebsites.netuser_impersonation is not valid. The scope "
        "format is invalid. Scope must be in a valid URI form <https://example/scope> or a valid Guid "
        "<guid/scope>.\"",
        "Azure/azure-powershell#22180 (2023-06): the same format wording.",
        "jeffcarbs/omniauth-office365#1 (2016-07, plain variant): \"AADSTS70011: The provided value for the input "
        "parameter 'scope' is not valid. The scope Contacts.Read, Mail.Read is not valid.\"",
    ),
    fix=Fix(
        "App registrations › <the API> › Expose an API › Add a scope, for each permission of {scope} it "
        "lacks; a scope that mixes /.default with named scopes, or names its API by neither a URI nor a "
        "GUID, is the request's to fix.",
        "applications:\n"
        "  - displayName: <the API>\n"
        "    api:\n"
        "      oauth2PermissionScopes:\n"
        "        - value: <the-permission>\n"
        "          type: User",
    ),
)
# Variants of INVALID_SCOPE: (lead, reason).
SCOPE_PLAIN = ("", "")
SCOPE_FORMAT = (
    "The provided request must include a 'scope' input parameter. ",
    " The scope format is invalid. Scope must be in a valid URI form <https://example/scope> or a valid Guid "
    "<guid/scope>.",
)
UNKNOWN_SCOPE = ErrorSpec(
    650053, "invalid_client", 401,
    "The application '{app_name}' asked for scope '{scope}' that doesn't exist on the resource '{resource}'. "
    "Contact the app vendor.",
    "/authorize asks a known resource for a scope value it does not define: sent back to the redirect URI with "
    "error invalid_client (the HTTP status only serves the invariant of invalid_client entries: Entra redirects). "
    "app_name is the client's displayName, resource the resource's appId.",
    captures=(
        "MicrosoftDocs/azure-docs#67211 (2020-12): \"Message contains error: 'invalid_client', error_description: "
        "'AADSTS650053: The application 'Living Messiah Web Site' asked for scope 'mailread' that doesn't exist on "
        "the resource '00000003-0000-0000-c000-000000000000'. Contact the app vendor.\"",
        "O365/python-o365#551 (2020-12, error shown after the redirect): \"AADSTS650053: The application "
        "'APPNAME' asked for scope 'message_all' that doesn't exist on the resource "
        "'00000003-0000-0000-c000-000000000000'. Contact the app vendor.\"",
        "WPManageNinja/fluent-smtp#154 (2023-02): the same, \"only visible in the URL query string\" (redirected).",
    ),
    fix=Fix(
        "App registrations › <the API {resource}> › Expose an API › Add a scope › Scope name: {scope}; "
        "or ask {app_name} for a scope the API defines.",
        "applications:\n"
        "  - appId: {resource}\n"
        "    displayName: <the API>\n"
        "    api:\n"
        "      oauth2PermissionScopes:\n"
        "        - value: {scope}\n"
        "          type: User",
    ),
)
MULTIPLE_RESOURCES = ErrorSpec(
    700022, "invalid_scope", 400,
    "The provided value for the input parameter scope isn't valid because it contains more than one "
    "resource.",
    "The scopes name more than one resource (OIDC scopes do not count).",
    evidence="D",
    fix=Fix(
        REQUEST_SIDE + "ask for the scopes of one API per request (openid, profile, email and offline_access may "
        "go with them), and for another API's token in a request of its own.",
        "",
    ),
)

# --- authorization rules -------------------------------------------------------------------------
APP_NOT_ASSIGNED = ErrorSpec(
    501051, "invalid_grant", 400,
    "Application '{client_id}'({client_name}) is not assigned to a role for the application "
    "'{resource}'({resource_name}).",
    "App-only request; the resource SP has appRoleAssignmentRequired and the client SP holds no "
    "assignment to it. (Some Microsoft READMEs show invalid_client; the captured response is 400 "
    "invalid_grant.)",
    fix=Fix(
        "App registrations › {client_name} › API permissions › Add a permission › My APIs › {resource_name} › "
        "Application permissions, then Grant admin consent (this assigns the app role to the client's "
        "enterprise application); or Enterprise applications › {resource_name} › Properties › Assignment "
        "required? › No.",
        "appRoleAssignments:\n  - {{principal: {client_name}, resource: {resource_name}, appRole: <an Application "
        "role of {resource_name}>}}",
    ),
)

# --- users (sign-in pages, ROPC, refresh) -------------------------------------------------------
USER_NOT_ASSIGNED = ErrorSpec(
    50105, "invalid_grant", 400,
    "Your administrator has configured the application {app_name} ('{app_id}') to block users unless they are "
    "specifically granted ('assigned') access to the application. The signed in user '{user}' is blocked "
    "because they are not a direct member of a group with access, nor had access directly assigned by an "
    "administrator. Please contact your administrator to assign access to this application.",
    "The client's SP requires assignment and neither the user nor one of their groups is assigned. Shown on the "
    "error page in interactive sign-ins, with the user's address; the token endpoint hides it as {EmailHidden}. "
    "Decided at sign-in and again at every token issuance of every user grant, refresh_token included: an "
    "assignment removed after the sign-in refuses the next refresh (a choice, evidence I: Entra evaluates "
    "assignment when it issues, so a refresh token outlives no assignment; tests/test_refresh_rechecks.py).",
    personal=("user",),
    captures=(
        "soraxas/echo360#68 (2022-09, Entra's error page): \"AADSTS50105: Your administrator has configured the "
        "application Echo 360 ('23c1e47d-4648-40fc-9bd7-6429d373291e') to block users unless they are specifically "
        "granted ('assigned') access to the application. The signed in user '{my email}' is blocked because they "
        "are not a direct member of a group with access, nor had access directly assigned by an administrator. "
        "Please contact your administrator to assign access to this application.\" (the reporter replaced the "
        "address shown)",
        "BookStackApp/BookStack#4063 (2023-02, error page): \"The signed in user 'myemail' is blocked ...\"",
    ),
    fix=Fix(
        "Enterprise applications › {app_name} › Users and groups › Add user/group › {user} (or a group "
        "they are a member of); or Properties › Assignment required? › No.",
        "appRoleAssignments:\n"
        "  - principal: {user}\n"
        "    resource: {app_name}",
    ),
)
INVALID_CREDENTIALS = ErrorSpec(
    50126, "invalid_grant", 400,
    "Error validating credentials due to invalid username or password.",
    "Wrong password (ROPC, sign-in page).",
    fix=Fix(
        REQUEST_SIDE + "sign in with the user's password (the seed's `password`; in Entra, Users › <the user> › "
        "Reset password sets a new one).",
        "",
    ),
)
USER_NOT_FOUND = ErrorSpec(
    50034, "invalid_grant", 400,
    "The user account {{EUII Hidden}} does not exist in the {tenant_id} directory. To sign into this application, "
    "the account must be added to the directory.",
    "No user with this name in the tenant.",
    fix=Fix(
        "Users › New user › Create new user in the directory {tenant_id}, or sign in with an account of "
        "that directory.",
        "users:\n"
        "  - userPrincipalName: <name>@<a-domain-of-the-tenant>\n"
        "    password: <a password>",
    ),
)
USER_DISABLED = ErrorSpec(
    50057, "invalid_grant", 400,
    "The user account is disabled.",
    "accountEnabled: false.",
    evidence="D",
    fix=Fix(
        "Users › <the user> › Edit properties › Settings › Account enabled.",
        "# user <the user>:\n"
        "accountEnabled: true",
    ),
)
ACCOUNT_LOCKED = ErrorSpec(
    50053, "invalid_grant", 400,
    "The account is locked, you've tried to sign in too many times with an incorrect user ID or password.",
    "Smart lockout, on the sign-in page and the password grant alike: 10 wrong passwords in a row lock the "
    "account for 60 s (Entra's documented defaults; both are configurable in a tenant); after a lock, the "
    "next wrong password locks it again, for longer each time: 120 s, 240 s, ... up to 30 minutes (the "
    "doubling is a choice: Entra documents only 'longer'). A correct password ends the run. Attempts are "
    "reserved before the password is verified, so parallel guesses get at most 10 checks. Not modelled: "
    "Entra not counting a repeated wrong password, and separate lockouts per location.",
    captures=(
        "AzureAD/microsoft-authentication-library-for-python#211 (2020-06, newer): \"AADSTS50053: The account is "
        "locked, you've tried to sign in too many times with an incorrect user ID or password.\"",
        "Azure/azure-cli#26763 (2023-06, same wording): \"The account is locked, you've tried to sign in too many "
        "times with an incorrect user ID or password.\"",
        "fuel9/DisplayMonkey#50 (2018-06, older): \"AADSTS50053: You've tried to sign in too many times with an "
        "incorrect user ID or password.\"",
    ),
    fix=Fix(
        REQUEST_SIDE + "wait until the lockout ends (60 s after the first lock, longer after each next one) and "
        "sign in with the right password; Entra sets its threshold and duration under "
        "Authentication methods › Password protection.",
        "",
    ),
)
FLOW_STATE_EXPIRED = ErrorSpec(
    50089, "invalid_grant", 400,
    "Flow token expired - Authentication Failed. Have the user try signing-in again with username -password.",
    "A sign-in or consent form (its sealed `ctx`, mockidp/web/routes/signin.py) posted after its 10 minutes "
    "(a choice: Entra's flow state lasts minutes, its exact lifetime is not documented), a second time, or "
    "after the browser session it belongs to was signed out or revoked. Shown on the error page; the code "
    "and message are the documented ones, their use for replays is inferred.",
    evidence="D",
    fix=Fix(
        REQUEST_SIDE + "start the sign-in again: a sign-in or consent page is posted once, within 10 minutes, in "
        "the browser session that opened it.",
        "",
    ),
)
GUEST_NOT_IN_TENANT = ErrorSpec(
    50020, "invalid_grant", 400,
    "User account '{email}' from identity provider '{idp}' does not exist in tenant '{tenant_name}' and cannot "
    "access the application '{app_id}'({app_name}) in that tenant. The account needs to be added as an external "
    "user in the tenant first. Sign out and sign in again with a different Azure Active Directory user account.",
    "A user of another seeded tenant signs in at this tenant (no guests are modelled).",
    evidence="D",
    fix=Fix(
        "Users › New user › Invite external user › {email} in {tenant_name} (here: the user added to "
        "this tenant); or sign in to {app_name} at the user's own tenant.",
        "users:\n"
        "  - userPrincipalName: {email}\n"
        "    password: <a password>",
    ),
)
CONSENT_REQUIRED = ErrorSpec(
    65001, "consent_required", 400,
    "The user or administrator has not consented to use the application with ID '{client_id}' named "
    "'{client_name}'. Send an interactive authorization request for this user and resource.",
    "A requested delegated scope has no grant (AllPrincipals, the user's, or preAuthorizedApplications). "
    "The token endpoint answers invalid_grant with suberror consent_required. Decided at every issuance, "
    "refresh_token included: a grant revoked after the sign-in refuses the next refresh (a choice, as for "
    "USER_NOT_ASSIGNED). A redemption refused here leaves its code or device code unused.",
    token_error="invalid_grant",
    fix=Fix(
        "App registrations › {client_name} › API permissions › Add a permission › My APIs › <the API> › "
        "Delegated permissions, then Grant admin consent for <the tenant>; or Enterprise applications › "
        "{client_name} › Permissions › Grant admin consent for <the tenant>; or let the user consent in an "
        "interactive sign-in.",
        "oauth2PermissionGrants:\n"
        "  - client: {client_name}\n"
        "    resource: <the API>\n"
        "    scope: <the delegated permissions asked for>\n"
        "    consentType: AllPrincipals",
    ),
)
CONSENT_DECLINED = ErrorSpec(
    65004, "access_denied", 400,
    "User declined to consent to access the app.",
    "The user pressed Cancel on the consent page (authorize: access_denied). A device-code poll after the user "
    "declined answers this code with error authorization_declined (the code there is inferred).",
    fix=Fix(
        REQUEST_SIDE + "the user declined: sign in again and accept, or have an administrator grant consent for "
        "everyone (Enterprise applications › <the app> › Permissions › Grant admin consent for <the tenant>).",
        "",
    ),
)
LOGIN_REQUIRED = ErrorSpec(
    50058, "login_required", 400,
    "A silent sign-in request was sent but no user is signed in.",
    "prompt=none without a sign-in session.",
    fix=Fix(
        REQUEST_SIDE + "sign the user in interactively first: prompt=none works only with a signed-in session.",
        "",
    ),
)
UNREGISTERED_REDIRECT_URI = ErrorSpec(
    50011, "invalid_request", 400,
    "The redirect URI '{uri}' specified in the request does not match the redirect URIs configured for the "
    "application '{app_id}'. Make sure the redirect URI sent in the request matches one added to your application "
    "in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.",
    "Authorize with a redirect_uri the app did not register: shown on the error page, never redirected. "
    "Matching is exact but for the port of http://localhost and http://127.0.0.1; userinfo, backslashes, "
    "whitespace, control characters or a bad port never match (mockidp/oauth/redirects.py).",
    fix=Fix(
        "App registrations › <the app {app_id}> › Authentication › Add a platform › Web (Single-page "
        "application for a browser app, Mobile and desktop applications for a native one) › Redirect "
        "URIs: {uri}; or send a redirect_uri the app has registered.",
        "# application {app_id}:\n"
        "web:\n"
        "  redirectUris: [\"{uri}\"]  # spa: for a browser app, publicClient: for a native one",
    ),
)
CREDENTIALS_NOT_VALIDATED = ErrorSpec(
    70002, "invalid_client", 401,
    "Error validating credentials. {detail}",
    "Entra's legacy wrapper, used for two cases whose current wording is not captured: a code redeemed with "
    "another redirect_uri than authorized (detail = AADSTS50011 ..., error_codes [70002, 50011]), and HTTP Basic "
    "credentials naming another client than the client_id parameter (an inferred choice).",
    fix=Fix(
        REQUEST_SIDE + "redeem the code with the redirect_uri of its authorize request, and name one client: the "
        "HTTP Basic user and the client_id parameter agree.",
        "",
    ),
)
REDIRECT_URI_CHANGED_DETAIL = (
    "AADSTS50011: The reply address '{token_uri}' does not match the reply address '{authorize_uri}' provided "
    "when requesting Authorization code."
)
BASIC_CLIENT_MISMATCH_DETAIL = "The client_id in the Authorization header does not match the 'client_id' parameter."
NO_REPLY_ADDRESS = ErrorSpec(
    500113, "invalid_request", 400,
    "No reply address is registered for the application.",
    "Authorize for an app without redirect URIs.",
    fix=Fix(
        "App registrations › <the app> › Authentication › Add a platform › Web (or Single-page "
        "application, Mobile and desktop applications) › Redirect URIs: the redirect_uri the app sends.",
        "# application <the app>:\n"
        "web:\n"
        "  redirectUris: [\"<the redirect_uri the app sends>\"]",
    ),
)
UNSUPPORTED_RESPONSE_TYPE = ErrorSpec(
    70005, "unsupported_response_type", 400,
    "The application requested an unsupported response type '{response_type}'.",
    "response_type is not code, id_token, token or a combination of them. Wording inferred.",
    evidence="I",
    fix=Fix(
        REQUEST_SIDE + "send response_type code (or id_token, token, or a combination of these) instead of "
        "'{response_type}'.",
        "",
    ),
)
ID_TOKEN_NOT_ENABLED = ErrorSpec(
    700054, "unsupported_response_type", 400,
    "response_type 'id_token' is not enabled for the application.",
    "id_token requested while web.implicitGrantSettings.enableIdTokenIssuance is false.",
    fix=Fix(
        "App registrations › <the app> › Authentication › Implicit grant and hybrid flows › ID tokens "
        "(used for implicit and hybrid flows); or use response_type code.",
        "# application <the app>:\n"
        "web:\n"
        "  implicitGrantSettings:\n"
        "    enableIdTokenIssuance: true",
    ),
)
TOKEN_NOT_ENABLED = ErrorSpec(
    700051, "unsupported_response_type", 400,
    "response_type 'token' is not enabled for the application.",
    "token requested while web.implicitGrantSettings.enableAccessTokenIssuance is false.",
    fix=Fix(
        "App registrations › <the app> › Authentication › Implicit grant and hybrid flows › Access "
        "tokens (used for implicit flows); or use response_type code.",
        "# application <the app>:\n"
        "web:\n"
        "  implicitGrantSettings:\n"
        "    enableAccessTokenIssuance: true",
    ),
)
UNSUPPORTED_RESPONSE_MODE = ErrorSpec(
    70007, "invalid_request", 400,
    "The application returned an unsupported value of 'response_mode' when requesting a token.",
    "response_mode unknown, or query with a response type that returns tokens. Wording from the doc name.",
    evidence="D",
    fix=Fix(
        REQUEST_SIDE + "send response_mode query, fragment or form_post (fragment or form_post when /authorize "
        "returns tokens).",
        "",
    ),
)
CODE_CHALLENGE_SIZE = ErrorSpec(
    501491, "invalid_request", 400,
    "Invalid size of Code_Challenge parameter.",
    "code_challenge outside 43-128 characters of [A-Za-z0-9-._~], or a method other than S256/plain.",
    evidence="D",
    fix=Fix(
        REQUEST_SIDE + "send a code_challenge of 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (the base64url "
        "SHA-256 of the code_verifier) and code_challenge_method S256.",
        "",
    ),
)
PKCE_REQUIRED = ErrorSpec(
    9002325, "invalid_request", 400,
    "Proof Key for Code Exchange is required for cross-origin authorization code redemption.",
    "Authorize for an 'spa' redirect URI without code_challenge.",
    fix=Fix(
        REQUEST_SIDE + "send code_challenge and code_challenge_method=S256 with an authorize request for a "
        "Single-page application redirect URI (MSAL Browser does).",
        "",
    ),
)
CODE_REDEEMED = ErrorSpec(
    54005, "invalid_grant", 400,
    "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing "
    "refresh token.",
    "Second redemption of a code.",
    fix=Fix(
        REQUEST_SIDE + "redeem each code once: send a new authorize request, or use the refresh token of the "
        "first redemption.",
        "",
    ),
)
CODE_EXPIRED = ErrorSpec(
    70008, "invalid_grant", 400,
    "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive "
    "authorization request for this user and resource.",
    "Code redeemed after its 10 minutes.",
    fix=Fix(
        REQUEST_SIDE + "redeem the code within its 10 minutes: send a new authorize request.",
        "",
    ),
)
INVALID_CODE = ErrorSpec(
    70000, "invalid_grant", 400,
    "The provided value for the 'code' parameter is not valid.",
    "A code mockidp never issued, or one issued to another client.",
    fix=Fix(
        REQUEST_SIDE + "send the code of the redirect as it came, with the client_id it was issued to.",
        "",
    ),
)
CODE_OTHER_TENANT = ErrorSpec(
    700005, "invalid_grant", 400,
    "Provided Authorization Code is intended to use against other tenant, thus rejected.",
    "Code redeemed at another tenant's endpoint.",
    evidence="D",
    fix=Fix(
        REQUEST_SIDE + "redeem the code at the token endpoint of the tenant whose /authorize issued it.",
        "",
    ),
)
PKCE_MISMATCH = ErrorSpec(
    501481, "invalid_grant", 400,
    "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
    "code_verifier missing or wrong for a code issued with a challenge.",
    fix=Fix(
        REQUEST_SIDE + "send the code_verifier whose code_challenge the authorize request carried.",
        "",
    ),
)
SPA_NEEDS_CROSS_ORIGIN = ErrorSpec(
    9002327, "invalid_request", 400,
    "Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests.",
    "A code or refresh token of an 'spa' redirect URI redeemed without an Origin header.",
    fix=Fix(
        "App registrations › <the app> › Authentication: a server that redeems the code registers its "
        "redirect URI under Web, not Single-page application; or redeem it from the browser page (with "
        "its Origin header).",
        "# application <the app>:\n"
        "web:\n"
        "  redirectUris: [\"<the redirect URI>\"]  # moved out of spa:",
    ),
)
REFRESH_TOKEN_INACTIVE = ErrorSpec(
    700082, "invalid_grant", 400,
    "The refresh token has expired due to inactivity.\u00a0The token was issued on {issued} and was inactive for "
    "90.00:00:00.",
    "Refresh token unused for 90 days (the window slides with each use); suberror bad_token, as current "
    "responses carry (MSAL raises InteractionRequiredAuthError for it). The separator after the first sentence "
    "stays the no-break space of the older captures: the newest one's text cannot tell it from a space.",
    captures=(
        "microsoft/foundry-dev-tools#707 (2026-08, MSAL Node, newer): \"errorMessage\":\"AADSTS700082: The refresh "
        "token has expired due to inactivity. The token was issued on 2026-05-20T16:18:37.2732417Z and was inactive "
        "for 90.00:00:00. Trace ID: ...\", \"subError\":\"bad_token\"",
        "Azure/azure-cli#14244 (2020-07, older, no suberror): {\"error\":\"invalid_grant\",\"error_description\":"
        "\"AADSTS700082: The refresh token has expired due to inactivity. The token was issued on "
        "2020-02-26T21:52:54.2810613Z and was inactive for 90.00:00:00.\\r\\nTrace ID: ...\",\"error_codes\":"
        "[700082],...,\"error_uri\":\"https://login.microsoftonline.com/error?code=700082\"}",
        "mspnp/identity-reference-architectures#9 (2019-09): \"inactivity.\ufffdThe token was issued\" (the "
        "no-break space, mis-decoded); microsoft/powerplatform-build-tools#894 (2024-05): \"inactivity.&nbsp;The\"",
    ),
    fix=Fix(
        REQUEST_SIDE + "sign the user in interactively again: this refresh token (issued {issued}) was unused for "
        "90 days.",
        "",
    ),
)
SPA_REFRESH_TOKEN_EXPIRED = ErrorSpec(
    700084, "invalid_grant", 400,
    "The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime of "
    "1.00:00:00, which cannot be extended. It is now expired and a new sign in request must be sent by the SPA to "
    "the sign in page. The token was issued on {issued}.",
    "SPA refresh token older than 24 hours, counted from the sign-in.",
    evidence="D",
    fix=Fix(
        REQUEST_SIDE + "sign the user in again (MSAL Browser: a silent or interactive authorize request): a "
        "single-page app's refresh token lasts 24 hours from the sign-in of {issued}.",
        "",
    ),
)
GRANT_REVOKED = ErrorSpec(
    50173, "invalid_grant", 400,
    "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have "
    "changed or reset their password. The grant was issued on '{issued}' and the TokensValidFrom date (before "
    "which tokens are not valid) for this user is '{valid_from}'.",
    "Refresh token issued before the user's sign-in sessions were revoked (`mockidp revoke`).",
    fix=Fix(
        REQUEST_SIDE + "sign the user in interactively again: their sessions were revoked at {valid_from} (Users "
        "› <the user> › Revoke sessions; here `mockidp revoke`).",
        "",
    ),
)

# --- device code --------------------------------------------------------------------------------
AUTHORIZATION_PENDING = ErrorSpec(
    70016, "authorization_pending", 400,
    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
    "Device code polled before the user finished signing in. Entra answers this, never slow_down.",
    fix=Fix(
        REQUEST_SIDE + "keep polling every `interval` seconds until the user has signed in at the verification "
        "URI.",
        "",
    ),
)
DEVICE_CODE_EXPIRED = ErrorSpec(
    70020, "expired_token", 400,
    "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
    "Device code polled after its 15 minutes (code number of medium confidence).",
    fix=Fix(
        REQUEST_SIDE + "start a new device code flow: a device code lasts 15 minutes.",
        "",
    ),
)
BAD_VERIFICATION_CODE = ErrorSpec(
    70018, "bad_verification_code", 400,
    "Invalid verification code due to User typing in wrong user code for device code flow.",
    "A user code nobody issued (device page), or a device_code the poll does not know, was redeemed already or "
    "belongs to another client. `error` inferred.",
    evidence="D",
    fix=Fix(
        REQUEST_SIDE + "enter the user code the device shows, or poll with the device_code of a live request of "
        "the same client.",
        "",
    ),
)
EMPTY_USER_CODE = ErrorSpec(
    90119, "invalid_request", 400,
    "The user code is null or empty.",
    "Device page submitted without a code.",
    evidence="D",
    fix=Fix(
        REQUEST_SIDE + "enter the code the device shows.",
        "",
    ),
)
DEVICE_CODE_DECIDED = ErrorSpec(
    90120, "invalid_request", 400,
    "The request was already authorized or declined.",
    "A user code entered again after its sign-in was completed.",
    evidence="D",
    fix=Fix(
        REQUEST_SIDE + "start a new device code flow: this code's sign-in is already done.",
        "",
    ),
)
# --- on-behalf-of --------------------------------------------------------------------------------
OBO_INVALID_ASSERTION = ErrorSpec(
    50013, "invalid_grant", 400,
    "Assertion failed signature validation. [Reason - {reason}]",
    "The OBO assertion is not a token mockidp signed (not a JWT, alg none or another algorithm, another key, "
    "altered), or its tid is not the request's tenant. The reason is one of the variants below.",
    fix=Fix(
        REQUEST_SIDE + "send as assertion an access token this tenant issued, unaltered.",
        "",
    ),
)
# Variants of OBO_INVALID_ASSERTION's reason.
OBO_KEY_NOT_FOUND = "The key was not found."  # V: a token signed with a key Entra does not hold
OBO_SIGNATURE_MISMATCH = "The provided signature value did not match the expected signature value."  # V
OBO_MALFORMED = "The token is malformed."  # I: Entra's reason for a non-JWT is not captured
OBO_OTHER_TENANT = "The token issuer doesn't match the tenant of the request."  # I (doc: issuer mismatch)
OBO_AUDIENCE_MISMATCH = ErrorSpec(
    500131, "invalid_grant", 400,
    "Assertion audience does not match the Client app presenting the assertion. The audience in the assertion "
    "was '{aud}' and the expected audience is '{client_id}' or one of the Application Uris of this application "
    "with App ID {client_id}({app_name}). The downstream client must request a token for the expected audience "
    "(the application that made the OBO request) and this application should use that token as the assertion.",
    "The OBO assertion's aud is not the calling app (v2 tokens: its appId; v1 tokens: its appId or one of its "
    "identifierUris). The wording after the expected audience is of medium confidence.",
    fix=Fix(
        REQUEST_SIDE + "the calling client asks for a token for {app_name} ({client_id}/.default or one of its "
        "scopes), not for {aud}, and {app_name} passes that token on.",
        "",
    ),
)
OBO_ASSERTION_EXPIRED = ErrorSpec(
    500133, "invalid_grant", 400,
    "Assertion is not within its valid time range. Ensure that the access token is not expired before using it "
    "for user assertion, or request a new token. Current time: {now}, expiry time of assertion {expires}.",
    "The OBO assertion's exp has passed, with no clock skew (Entra refused one 21 s late), or its nbf is ahead.",
    fix=Fix(
        REQUEST_SIDE + "send an access token that has not expired (the client refreshes it first).",
        "",
    ),
)
OBO_ID_TOKEN = ErrorSpec(
    240002, "invalid_grant", 400,
    "Input id_token cannot be used as 'urn:ietf:params:oauth:grant-type:jwt-bearer' grant.",
    "An ID token presented as the OBO assertion. Captured wording (the documentation has \"The id_token can't "
    "be used as ...\").",
    fix=Fix(
        REQUEST_SIDE + "send the user's access token for this API as the assertion, not an ID token.",
        "",
    ),
)
OBO_APP_ONLY = ErrorSpec(
    7000114, "unauthorized_client", 400,
    "Application '{app_id}' is not allowed to make application on-behalf-of calls.",
    "An app-only (client credentials) token presented as the OBO assertion; app_id is the calling app. "
    "HTTP status inferred from the other unauthorized_client entries.",
    fix=Fix(
        REQUEST_SIDE + "on-behalf-of needs a user's token: send an access token from a user's sign-in, not one "
        "from client credentials.",
        "",
    ),
)

# --- instance discovery --------------------------------------------------------------------------
UNKNOWN_INSTANCE = ErrorSpec(
    50049, "invalid_instance", 400,
    "Unknown or invalid instance.",
    "Instance discovery for an authorization_endpoint whose host this server does not serve.",
    fix=Fix(
        REQUEST_SIDE + "point the authority (authorization_endpoint) at this server's host.",
        "",
    ),
)
MALFORMED_INSTANCE_REQUEST = ErrorSpec(
    50050, "invalid_request", 400,
    "The request is malformed.",
    "Instance discovery without a usable authorization_endpoint. `error` inferred.",
    evidence="D",
    fix=Fix(
        REQUEST_SIDE + "send authorization_endpoint, an https URL of this server's "
        "/<tenant>/oauth2/v2.0/authorize.",
        "",
    ),
)

# --- service conditions (answered only when a test injects them: POST /_mockidp/control/faults) ----------
LOOP_DETECTED = ErrorSpec(
    50196, "invalid_request", 400,
    "The server terminated an operation because it encountered a client request loop. Please contact your app "
    "vendor.",
    "Entra's loop detection: the same client asked for the same token too often in too short a time. mockidp "
    "answers it only as an injected fault. The HTTP status (400) is as MSAL.NET reports it; the `error` value "
    "is not in the published captures (invalid_request is a choice).",
    captures=(
        "Azure/azure-sdk-for-net#23324 (2021-08): \"UsernamePasswordCredential authentication failed: AADSTS50196: "
        "The server terminated an operation because it encountered a client request loop. Please contact your "
        "app vendor.\"",
        "AzureAD/microsoft-authentication-library-for-dotnet#2353 (2021-01): \"Response status code does not "
        "indicate success: 400 (BadRequest).\" for the loop-detected refresh",
    ),
    fix=Fix(
        REQUEST_SIDE + "cache tokens and reuse them until they near expiry instead of asking again; here the "
        "refusal was injected by a test (GET /_mockidp/control/faults lists it, DELETE clears it).",
        "",
    ),
)

TRANSIENT = ErrorSpec(
    90033, "temporarily_unavailable", 503,
    "A transient error has occurred. Please try again.",
    "Entra could not answer for a moment (throttled or unavailable): answered only as an injected fault, with "
    "the HTTP status the test chose (429, 500, 502, 503 or 504) and its Retry-After. The `error` value is RFC "
    "6749's for a server that cannot answer now; Entra's own 5xx bodies are not in the published captures.",
    evidence="I",
    fix=Fix(
        REQUEST_SIDE + "retry after the Retry-After seconds; here the failure was injected by a test "
        "(GET /_mockidp/control/faults lists it, DELETE clears it).",
        "",
    ),
)

# --- managed-identity endpoints (mockidp/oauth/managed_identity.py) -------------------------------------
# Not Entra's envelope: the App Service / Functions endpoint answers {"statusCode","message","correlationId"}
# and IMDS {"error","error_description"}. Each refusal of theirs is one IdentityEndpointError; a refusal that
# is Entra's own (500011, 501051, 7000112) is its AADSTS entry above, carried in the endpoint's envelope
# (`message` / `error_description` the AADSTS message; IMDS's `error` the entry's, status the entry's: a choice,
# evidence I, but for 500011, which IMDS documents as `invalid_resource`).


@dataclass(frozen=True, slots=True)
class IdentityEndpointError:
    name: str
    status: int
    message: str  # App Service: `message`; IMDS: `error_description`
    when: str
    error: str = ""  # IMDS only: its `error`
    evidence: str = "V"
    captures: tuple[str, ...] = ()


MI_APP_SERVICE_NOT_FOUND = IdentityEndpointError(
    "MI_APP_SERVICE_NOT_FOUND", 400, "Unable to load the proper Managed Identity.",
    "App Service / Functions: the resource has no system-assigned identity and none was selected, or the "
    "client_id / principal_id / object_id / mi_res_id names no identity assigned to this resource.",
    captures=('an App Service (Linux, Kestrel) answer published in a public repository: {"statusCode":400,'
              '"message":"Unable to load the proper Managed Identity.","correlationId":"a90d4b60-..."}',),
)
MI_APP_SERVICE_BAD_HEADER = IdentityEndpointError(
    "MI_APP_SERVICE_BAD_HEADER", 401, "The X-IDENTITY-HEADER header is missing or invalid.",
    "App Service / Functions: X-IDENTITY-HEADER missing, or not the secret of any simulated resource "
    "(`mockidp identities` prints them). Azure's answer is not confirmed: status and text are a choice.",
    evidence="I",
)
MI_APP_SERVICE_BAD_REQUEST = IdentityEndpointError(
    "MI_APP_SERVICE_BAD_REQUEST", 400, "{detail}",
    "App Service / Functions: no `resource` or `api-version`, or more than one of client_id, principal_id, "
    "object_id and mi_res_id (the docs allow one). The texts are a choice.",
    evidence="I",
)
MI_IMDS_NOT_FOUND = IdentityEndpointError(
    "MI_IMDS_NOT_FOUND", 400, "Identity not found",
    "IMDS: the calling resource has no system-assigned identity and none was selected, the client_id / "
    "object_id / msi_res_id names none assigned to it, or no resource is calling (the path names none, and "
    "the directory has more than one).",
    error="invalid_request",
    captures=('IMDS answers published in public repositories and SDK fixtures: 400 {"error":"invalid_request",'
              '"error_description":"Identity not found"}',),
)
MI_IMDS_NO_METADATA = IdentityEndpointError(
    "MI_IMDS_NO_METADATA", 400, "Required metadata header not specified",
    "IMDS: no `Metadata: true` header (it must be lowercase true).",
    error="bad_request_102", evidence="D",
)
MI_IMDS_BAD_REQUEST = IdentityEndpointError(
    "MI_IMDS_BAD_REQUEST", 400, "{detail}",
    "IMDS: no `resource` or `api-version`, or more than one of client_id, object_id and msi_res_id. `error` and "
    "texts are a choice.",
    error="invalid_request", evidence="I",
)
MI_IMDS_INVALID_RESOURCE = "invalid_resource"  # IMDS's `error` for AADSTS500011 (D: how-to-use-vm-token)


# --- last resort ---------------------------------------------------------------------------------
SERVER_ERROR = ErrorSpec(
    50000, "server_error", 500,
    "There was an error issuing a token or an issue with our sign-in service.",
    "An unexpected failure inside mockidp (a bug): logged with its trace id, never echoed.",
    evidence="D",
    fix=Fix(
        REQUEST_SIDE + "a fault inside mockidp itself; report it with the trace ID.",
        "",
    ),
)


def all_entries() -> list[ErrorSpec]:
    return [v for v in globals().values() if isinstance(v, ErrorSpec)]


def entry(code: int) -> ErrorSpec:
    return next(e for e in all_entries() if e.code == code)
