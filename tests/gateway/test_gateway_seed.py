"""The seed's apiManagement section: validated like the rest of the seed, every problem with file, line and
YAML path, all at once; every policy parsed at load, its problems at the seed's line of the XML."""

from __future__ import annotations

from pathlib import Path

from mockidp.directory.seed import load_seed
from mockidp.directory.store import Store, make_engine
from tests.conftest import DEMO_SEED, seed_problems

BROKEN = """\
apiManagement:
  - name: contoso
    namedValues:
      - {name: function-key, value: the-function-key-1, secret: true}
    backends:
      - id: echo
        builtin: echo
        credentials:
          header: {x-functions-key: ["{{function-key}}"]}
      - id: ftp
        url: ftp://files.example
      - id: both
        url: https://x.example
        builtin: echo
    apis:
      - name: backend2
        path: backend2
        backendId: missing
        policy: |
          <policies>
            <inbound>
              <base />
              <cache-lookup vary-by-developer="false" vary-by-developer-groups="false" />
              <validate-jwt header-name="Authorization">
                <issuer-signing-keys><key certificate-id="signing" /></issuer-signing-keys>
              </validate-jwt>
            </inbound>
          </policies>
        operations:
          - {name: hello, method: GET, urlTemplate: /hello}
          - {name: hello-again, method: get, urlTemplate: /HELLO}
          - {name: bad, method: FETCH, urlTemplate: hello}
      - name: orders
        path: orders
        policyFile: ../outside.xml
        policy: <policies/>
    products:
      - {name: starter, apis: [backend2, nowhere]}
    subscriptions:
      - {name: one, scope: product/starter, primaryKey: subscription-key-1}
      - {name: two, scope: api/nowhere, primaryKey: subscription-key-1}
      - {name: three, scope: everything, primaryKey: short}
"""


def _problems(tmp_path: Path, text: str) -> list[str]:
    return sorted(seed_problems(tmp_path, text))


def test_schema_problems_of_the_section_are_all_reported(tmp_path: Path) -> None:
    assert _problems(tmp_path, BROKEN) == sorted([
        "s.yaml:12: apiManagement[0].backends[2]: give exactly one of 'url' (any http or https URL) and "
        "'builtin: echo'",
        "s.yaml:32: apiManagement[0].apis[0].operations[2].method: 'FETCH' is not an HTTP method (GET, POST, PUT, "
        "PATCH, DELETE, HEAD, OPTIONS, TRACE)",
        "s.yaml:32: apiManagement[0].apis[0].operations[2].urlTemplate: a urlTemplate starts with '/' (e.g. /hello "
        "or /users/{id})",
        "s.yaml:33: apiManagement[0].apis[1]: give 'policy' (inline XML) or 'policyFile', not both",
        "s.yaml:42: apiManagement[0].subscriptions[2].scope: scope is 'all', 'product/<name>' or 'api/<name>'",
        "s.yaml:42: apiManagement[0].subscriptions[2].primaryKey: String should have at least 8 characters",
    ])


def test_references_and_policies_are_checked_once_the_schema_holds(tmp_path: Path) -> None:
    text = BROKEN.replace("      - id: both\n        url: https://x.example\n        builtin: echo\n", "")
    text = text.replace("          - {name: bad, method: FETCH, urlTemplate: hello}\n", "")
    text = text.replace("        policy: <policies/>\n", "")
    text = text.replace("      - {name: three, scope: everything, primaryKey: short}\n", "")
    assert _problems(tmp_path, text) == sorted([
        "s.yaml:11: apiManagement[0].backends[1].url: 'ftp://files.example' is not an http or https URL",
        "s.yaml:15: apiManagement[0].apis[0].backendId: no backend 'missing' in this service",
        # the XML's own line inside the `policy: |` block: <cache-lookup> is line 20 of the seed
        "s.yaml:20: apiManagement[0].apis[0].policy: <cache-lookup>: <cache-lookup> is an APIM policy mockidp does "
        "not "
        "run yet; refused rather than skipped, since a skipped policy would let requests through that APIM would "
        "stop",
        "s.yaml:28: apiManagement[0].apis[0].operations[1].urlTemplate: GET /HELLO is defined twice in this API",
        "s.yaml:31: apiManagement[0].apis[1].policyFile: cannot read '../outside.xml': policyFile names a regular "
        "file of at most 262144 bytes inside the seed's folder",
        "s.yaml:33: apiManagement[0].products[0].apis[1]: no API 'nowhere' in this service",
        "s.yaml:36: apiManagement[0].subscriptions[1].primaryKey: this key is already another key of this service",
        "s.yaml:36: apiManagement[0].subscriptions[1].scope: no API 'nowhere' in this service",
    ])


def test_a_missing_certificate_id_is_refused_at_load(tmp_path: Path) -> None:
    cache = '              <cache-lookup vary-by-developer="false" vary-by-developer-groups="false" />\n'
    text = BROKEN.split("    products:")[0].replace(cache, "")
    text = text.replace("        backendId: missing\n", "        backendId: echo\n")
    text = text.replace("      - id: ftp\n        url: ftp://files.example\n", "")
    text = text.replace("      - id: both\n        url: https://x.example\n        builtin: echo\n", "")
    text = text.replace("          - {name: hello-again, method: get, urlTemplate: /HELLO}\n", "")
    text = text.replace("          - {name: bad, method: FETCH, urlTemplate: hello}\n", "")
    text = text.replace("        policyFile: ../outside.xml\n", "")
    assert _problems(tmp_path, text) == [
        "s.yaml:18: apiManagement[0].apis[0].policy: certificate-id 'signing' names no certificate of service "
        "'contoso' (add it under certificates:)"]


def test_a_policy_file_is_read_from_the_seed_folder_and_reported_at_its_own_lines(tmp_path: Path) -> None:
    (tmp_path / "apim").mkdir()
    (tmp_path / "apim" / "api.xml").write_text("<policies>\n  <inbound>\n    <mock-response status-code='200' />\n"
                                               "  </inbound>\n</policies>\n")
    seed = ("apiManagement:\n  - name: contoso\n    apis:\n      - name: a\n        path: a\n"
            "        serviceUrl: https://backend.example\n        policyFile: apim/api.xml\n")
    problems = _problems(tmp_path, seed)
    assert len(problems) == 1 and problems[0].startswith(
        "apim/api.xml:3: apiManagement[0].apis[0].policyFile: <mock-response>: <mock-response> is an APIM policy")


def test_the_demo_seed_stores_its_gateway_and_every_worker_reads_it_back(tmp_path: Path) -> None:
    content = load_seed([DEMO_SEED])
    (service,) = content.api_management
    store = Store(make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    store.create_schema()
    store.replace_directory(content)
    assert store.load_directory().api_management == (service,)
    backend = next(b for b in service.backends if b.builtin == "echo")
    assert backend.headers == (("x-functions-key", ("demo-function-key-1",)),)  # the named value, substituted
    api = next(a for a in service.apis if a.path == "backend2")
    assert api.policy is not None and api.policy.source == str(DEMO_SEED)
