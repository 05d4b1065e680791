"""The AADSTS catalogue is data: every entry well-formed, every code once."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

import pytest
import yaml

import mockidp
from mockidp.directory.schema import SeedDocument, Tenant
from mockidp.directory.seed import load_seed
from mockidp.errors import AadstsError, ErrorContext, catalogue, render_envelope

ENTRIES = catalogue.all_entries()
ISSUE_CODES = {501051, 700016, 7000215, 7000222, 7000218, 7000216, 700025, 500011, 1002012, 70011, 700022,
               900144, 70003, 900561, 90002, 900023, 9001023, 7000112, 700027, 700024, 700021, 5002738}


def test_codes_are_unique() -> None:
    codes = [e.code for e in ENTRIES]
    assert len(codes) == len(set(codes))


def test_every_code_the_token_service_needs_has_an_entry() -> None:
    assert {e.code for e in ENTRIES} >= ISSUE_CODES


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: str(e.code))
def test_entry_is_well_formed(entry: catalogue.ErrorSpec) -> None:
    # 503 only for TRANSIENT, which only an injected fault answers (web/faulting.py), at the status it chose
    assert entry.status in (400, 401, 500) or entry is catalogue.TRANSIENT
    assert (entry.status == 401) == (entry.error == "invalid_client")
    assert entry.evidence in ("V", "D", "I")
    assert entry.when
    assert all(name.isidentifier() for name in entry.placeholders)  # parsing raises on a broken template
    assert not entry.template.startswith("AADSTS")
    assert set(entry.personal) <= set(entry.placeholders)
    assert not entry.captures or entry.evidence == "V"  # a quoted capture is what V means
    assert all(re.match(r"[\w.-]+/[\w.-]+#\d+ \(\d{4}-\d{2}", c) for c in entry.captures)  # repo#issue (date)


def test_envelope_has_entras_keys_in_order_and_single_space_separators() -> None:
    err = AadstsError(catalogue.MISSING_PARAMETER, name="scope")
    body = render_envelope(err, ErrorContext("t-1", "c-1", 1_767_225_600))
    assert list(body) == ["error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id",
                          "error_uri"]
    assert body == {
        "error": "invalid_request",
        "error_description": "AADSTS900144: The request body must contain the following parameter: 'scope'. "
                             "Trace ID: t-1 Correlation ID: c-1 Timestamp: 2026-01-01 00:00:00Z",
        "error_codes": [900144],
        "timestamp": "2026-01-01 00:00:00Z",
        "trace_id": "t-1",
        "correlation_id": "c-1",
        "error_uri": "https://login.microsoftonline.com/error?code=900144",
    }


def test_tenant_not_found_is_invalid_tenant_at_discovery_and_invalid_request_at_the_token_endpoint() -> None:
    err = AadstsError(catalogue.TENANT_NOT_FOUND, tenant="x.example")
    assert render_envelope(err, ErrorContext("t", "c", 0, at_token_endpoint=False))["error"] == "invalid_tenant"
    assert render_envelope(err, ErrorContext("t", "c", 0, at_token_endpoint=True))["error"] == "invalid_request"


def test_suberror_follows_error_uri() -> None:
    err = AadstsError(catalogue.APP_NOT_ASSIGNED, suberror="consent_required", client_id="a", client_name="b",
                      resource="c", resource_name="d")
    assert list(render_envelope(err, ErrorContext("t", "c", 0)))[-2:] == ["error_uri", "suberror"]


# The decision rules name the entries they raise as `catalogue.NAME`: scanning their source finds a new
# rule's entry without anyone listing it here.
RULE_PACKAGES = ("oauth", "tokens", "web")
_NAMED = re.compile(r"\bcatalogue\.([A-Z][A-Z0-9_]*)\b")


def _raised_entries() -> dict[str, catalogue.ErrorSpec]:
    root = Path(mockidp.__file__).parent
    names = {n for pkg in RULE_PACKAGES for f in (root / pkg).rglob("*.py") for n in _NAMED.findall(f.read_text())}
    found = {n: getattr(catalogue, n) for n in sorted(names)}
    return {n: e for n, e in found.items() if isinstance(e, catalogue.ErrorSpec)}


RAISED = _raised_entries()
FIXES = [e for e in ENTRIES if e.fix]


def _sample(name: str) -> str:
    """A plausible value for a placeholder, so that rendered YAML can be parsed and validated."""
    if name == "uri":
        return "http://localhost:5000/callback"
    if name == "scope":
        return "Data.Read"
    if name in ("email", "user"):
        return "sample@fabrikam.example"
    if name.endswith("_id") or name == "resource":
        return "8d138478-d3a3-47f5-a233-1408cd6baae4"
    return f"sample-{name}"


def _render(entry: catalogue.ErrorSpec, text: str) -> str:
    return text.format(**{n: _sample(n) for n in entry.placeholders})


def test_the_scan_finds_the_rules_entries() -> None:
    assert {"APP_NOT_ASSIGNED", "MISSING_PARAMETER", "CONSENT_REQUIRED", "UNREGISTERED_REDIRECT_URI"} <= set(RAISED)
    assert len(RAISED) > 60


def test_every_entry_a_decision_rule_raises_has_a_fix() -> None:
    assert [name for name, e in RAISED.items() if e.fix is None] == []


@pytest.mark.parametrize("entry", FIXES, ids=lambda e: str(e.code))
def test_a_fix_names_only_what_its_entry_knows(entry: catalogue.ErrorSpec) -> None:
    """A fix is rendered with the entry's own parameters: a placeholder it lacks would be a KeyError."""
    assert entry.fix is not None
    for text in (entry.fix.portal, entry.fix.seed):
        names = {f for _, f, _, _ in string.Formatter().parse(text) if f}
        assert names <= set(entry.placeholders), (text, entry.placeholders)
        text.format(**{n: f"<{n}>" for n in entry.placeholders})
    assert entry.fix.portal.strip()


@pytest.mark.parametrize("entry", FIXES, ids=lambda e: str(e.code))
def test_only_a_request_side_fix_has_no_seed(entry: catalogue.ErrorSpec) -> None:
    """The rule of Fix's docstring: no seed text exactly when the admin center has nothing to change."""
    assert entry.fix is not None
    request_side = entry.fix.portal.startswith(catalogue.REQUEST_SIDE)
    assert (entry.fix.seed == "") == request_side, entry.fix
    assert catalogue.REQUEST_SIDE not in entry.fix.portal[1:], entry.fix.portal


def _in_a_minimal_seed(fragment: str) -> dict[str, Any]:
    """Place a fix's seed text where Fix's docstring says it goes: a tenant's keys, or (after a
    `# application ...` / `# user ...` comment line) the keys of one application or one user."""
    data = yaml.safe_load(fragment)
    assert isinstance(data, dict), fragment
    first = fragment.splitlines()[0]
    tenant: dict[str, Any] = {"displayName": "Sample"}
    if first.startswith("# application "):
        tenant["applications"] = [{"displayName": "sample-app", **data}]
    elif first.startswith("# user "):
        tenant["users"] = [{"userPrincipalName": "sample@contoso.onmicrosoft.com", **data}]
    else:
        assert not first.startswith("#"), first
        tenant.update(data)
    return {"tenants": [tenant]}


@pytest.mark.parametrize("entry", [e for e in FIXES if e.fix and e.fix.seed], ids=lambda e: str(e.code))
def test_a_fix_seed_is_seed_yaml(entry: catalogue.ErrorSpec) -> None:
    assert entry.fix is not None
    doc = _in_a_minimal_seed(_render(entry, entry.fix.seed))
    SeedDocument.model_validate(doc)  # raises on a property the seed format does not know


def _tenant_of(entry: catalogue.ErrorSpec) -> Tenant:
    assert entry.fix is not None, entry.code
    return SeedDocument.model_validate(_in_a_minimal_seed(_render(entry, entry.fix.seed))).tenants[0]


def test_the_assignment_consent_and_redirect_fixes_are_seed_fragments_that_say_what_to_add() -> None:
    app_role = _tenant_of(catalogue.APP_NOT_ASSIGNED).app_role_assignments
    assert [(a.principal, a.resource) for a in app_role] == [("sample-client_name", "sample-resource_name")]
    user = _tenant_of(catalogue.USER_NOT_ASSIGNED).app_role_assignments
    assert [(a.principal, a.resource, a.app_role) for a in user] == [("sample@fabrikam.example", "sample-app_name",
                                                                      None)]
    grants = _tenant_of(catalogue.CONSENT_REQUIRED).oauth2_permission_grants
    assert [(g.client, g.consent_type) for g in grants] == [("sample-client_name", "AllPrincipals")]
    apps = _tenant_of(catalogue.UNREGISTERED_REDIRECT_URI).applications
    assert [a.web.redirect_uris for a in apps] == [[_sample("uri")]]
    assert len(_tenant_of(catalogue.NO_REPLY_ADDRESS).applications[0].web.redirect_uris) == 1
    assert _tenant_of(catalogue.APP_DISABLED).applications[0].service_principal.account_enabled is True
    settings = _tenant_of(catalogue.ID_TOKEN_NOT_ENABLED).applications[0].web.implicit_grant_settings
    assert settings.enable_id_token_issuance


# What a reader fills in (<in angle brackets>) is given one name, which the minimal seed below defines
# as an app role, a scope and an application: a fragment then loads only if every name it uses resolves.
_FILL_IN = re.compile(r"<[^<>]*>")
_RESOLVING_SEED = {
    "applications": [
        {"displayName": "sample-client_name"},
        {"displayName": "sample-app_name"},
        {"displayName": "sample-resource_name",
         "appRoles": [{"value": "sample-fill", "allowedMemberTypes": ["Application", "User"]}]},
        {"displayName": "sample-fill", "api": {"oauth2PermissionScopes": [{"value": "sample-fill"}]}},
    ],
    "users": [{"userPrincipalName": "sample@fabrikam.example"}],
}


@pytest.mark.parametrize("entry", [catalogue.APP_NOT_ASSIGNED, catalogue.USER_NOT_ASSIGNED, catalogue.CONSENT_REQUIRED,
                                   catalogue.UNREGISTERED_REDIRECT_URI], ids=lambda e: str(e.code))
def test_an_assignment_consent_or_redirect_fix_loads_into_a_seed_with_its_names_resolved(
        entry: catalogue.ErrorSpec, tmp_path: Path) -> None:
    assert entry.fix is not None
    doc = _in_a_minimal_seed(_FILL_IN.sub("sample-fill", _render(entry, entry.fix.seed)))
    tenant = doc["tenants"][0]
    for key, rows in _RESOLVING_SEED.items():
        tenant[key] = rows + tenant.get(key, [])
    seed = tmp_path / "seed.yaml"
    seed.write_text(yaml.safe_dump(doc, sort_keys=False))
    content = load_seed([seed])  # raises SeedError listing any name that does not resolve
    added = {
        501051: [a.principal_type for a in content.assignments],
        50105: [a.principal_type for a in content.assignments],
        65001: [g.consent_type for g in content.grants],
        50011: [u for a in content.applications for u in a.web_redirect_uris],
    }[entry.code]
    assert added == {501051: ["ServicePrincipal"], 50105: ["User"], 65001: ["AllPrincipals"],
                     50011: [_sample("uri")]}[entry.code]


def test_the_assignment_refusal_has_its_fix() -> None:
    fix = catalogue.APP_NOT_ASSIGNED.fix
    assert fix is not None
    assert "reportingJob" in fix.seed.format(client_name="reportingJob", resource_name="testBackend2",
                                             client_id="", resource="")
