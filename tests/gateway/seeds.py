"""The tests' API Management service, a second seed file beside the demo seed (its tenant and apps)."""

from __future__ import annotations

from tests.conftest import BACKEND1_URI, BACKEND2, CLIENT, CLIENT_CERT, REPORTING, TENANT

V2_CONFIG = f"https://login.microsoftonline.com/{TENANT}/v2.0/.well-known/openid-configuration"


def _jwt(audience: str, claims: str = "", attrs: str = "", config: str = V2_CONFIG) -> str:
    return f"""
              <validate-jwt header-name="Authorization" {attrs}>
                <openid-config url="{config}" />
                <audiences><audience>{audience}</audience></audiences>
                {claims}
              </validate-jwt>"""


def _policy(inbound: str, on_error: str = "<base />") -> str:
    return f"""|
          <policies>
            <inbound>
              <base />{inbound}
            </inbound>
            <backend><base /></backend>
            <outbound><base /></outbound>
            <on-error>{on_error}</on-error>
          </policies>"""


def gateway_seed_text(backend_url: str, key_origin: str, closed_port: int = 9) -> str:
    azp = f'<required-claims><claim name="azp" match="any"><value>{CLIENT}</value></claim></required-claims>'
    azp_other = f'<required-claims><claim name="azp" match="any"><value>{REPORTING}</value></claim></required-claims>'
    roles_any = ('<required-claims><claim name="roles" match="any"><value>Data.Read</value><value>Jobs.Admin</value>'
                 '</claim></required-claims>')
    roles_all = ('<required-claims><claim name="roles" match="all"><value>Data.Read</value><value>Jobs.Admin</value>'
                 '</claim></required-claims>')
    rotating = f"""
              <validate-jwt header-name="Authorization">
                <openid-config url="{key_origin}/.well-known/openid-configuration" />
                <audiences><audience>rotating-api</audience></audiences>
              </validate-jwt>"""
    last_error = ('@(context.LastError.Source + "/" + context.LastError.Reason + "/" + context.LastError.Scope'
                  ' + "/" + context.LastError.Section)')
    handled = f"""
              <set-header name="X-Handled-By" exists-action="override"><value>on-error</value></set-header>
              <set-header name="X-Last-Error" exists-action="override"><value>{last_error}</value></set-header>"""
    pem = "".join(f"          {line}\n" for line in CLIENT_CERT.read_text().strip().splitlines())
    certified = """
              <validate-jwt header-name="Authorization">
                <issuer-signing-keys><key certificate-id="partner-signing" /></issuer-signing-keys>
                <audiences><audience>certified-api</audience></audiences>
              </validate-jwt>"""
    aad = f"""
              <validate-azure-ad-token tenant-id="{TENANT}">
                <client-application-ids><application-id>{CLIENT}</application-id></client-application-ids>
                <audiences><audience>{BACKEND2}</audience><audience>{BACKEND1_URI}</audience></audiences>
              </validate-azure-ad-token>"""
    return f"""\
apiManagement:
  - name: gwtest
    namedValues:
      - {{name: function-key, value: the-secret-function-key-1, secret: true}}
    certificates:
      - id: partner-signing
        data: |
{pem}
    backends:
      - id: function
        url: {backend_url}
        credentials:
          header: {{x-functions-key: ["{{{{function-key}}}}"]}}
    apis:
      - name: v2
        path: v2
        backendId: function
        subscriptionRequired: false
        policy: {_policy(_jwt(BACKEND2, azp, 'require-scheme="Bearer"'))}
        operations:
          - {{name: hello, method: GET, urlTemplate: /hello}}
          - {{name: item, method: POST, urlTemplate: "/items/{{id}}"}}
      - name: v1-behind-v2-issuer
        path: v1
        backendId: function
        subscriptionRequired: false
        policy: {_policy(_jwt(BACKEND1_URI))}
        operations:
          - {{name: hello, method: GET, urlTemplate: /hello}}
      - name: other-client
        path: other
        backendId: function
        subscriptionRequired: false
        policy: {_policy(_jwt(BACKEND2, azp_other))}
        operations:
          - {{name: hello, method: GET, urlTemplate: /hello}}
      - name: roles-any
        path: roles/any
        backendId: function
        subscriptionRequired: false
        policy: {_policy(_jwt(BACKEND2, roles_any))}
        operations:
          - {{name: hello, method: GET, urlTemplate: /hello}}
      - name: roles-all
        path: roles/all
        backendId: function
        subscriptionRequired: false
        policy: {_policy(_jwt(BACKEND2, roles_all))}
        operations:
          - {{name: hello, method: GET, urlTemplate: /hello}}
      - name: rotating
        path: rotating
        backendId: function
        subscriptionRequired: false
        policy: {_policy(rotating)}
        operations:
          - {{name: hello, method: GET, urlTemplate: /hello}}
      - name: handled
        path: handled
        backendId: function
        subscriptionRequired: false
        policy: {_policy(_jwt(BACKEND2), handled)}
        operations:
          - {{name: hello, method: GET, urlTemplate: /hello}}
      - name: limited
        path: limited
        backendId: function
        subscriptionRequired: false
        policy: {_policy('''
              <rate-limit-by-key calls="2" renewal-period="60" counter-key="@(context.Request.IpAddress)" />''')}
        operations:
          - {{name: hello, method: GET, urlTemplate: /hello}}
      - name: down
        path: down
        serviceUrl: http://127.0.0.1:{closed_port}/api
        subscriptionRequired: false
        operations:
          - {{name: hello, method: GET, urlTemplate: /hello}}
      - name: certified
        path: certified
        backendId: function
        subscriptionRequired: false
        policy: {_policy(certified)}
        operations:
          - {{name: hello, method: GET, urlTemplate: /hello}}
      - name: aad
        path: aad
        backendId: function
        subscriptionRequired: false
        policy: {_policy(aad)}
        operations:
          - {{name: hello, method: GET, urlTemplate: /hello}}
      - name: office-only
        path: office
        backendId: function
        subscriptionRequired: false
        policy: {_policy('''
              <ip-filter action="allow"><address-range from="10.0.0.0" to="10.0.0.255" /></ip-filter>''')}
        operations:
          - {{name: hello, method: GET, urlTemplate: /hello}}
      - name: keyed
        path: keyed
        serviceUrl: {backend_url}
        operations:
          - {{name: hello, method: GET, urlTemplate: /hello}}
          - {{name: any, method: GET, urlTemplate: "/files/{{*rest}}"}}
    products:
      - {{name: partners, apis: [keyed]}}
    subscriptions:
      - {{name: partner-one, scope: product/partners, primaryKey: partner-key-primary-1,
         secondaryKey: partner-key-secondary-1, allowTracing: true}}
      - {{name: suspended-one, scope: all, primaryKey: suspended-key-000001, state: suspended}}
      - {{name: other-api, scope: api/v2, primaryKey: other-api-key-000001}}
"""
