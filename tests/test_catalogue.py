"""The AADSTS catalogue is data: every entry well-formed, every code once."""

from __future__ import annotations

import re
import string

import pytest

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
    assert entry.status in (400, 401, 500)
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


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.fix], ids=lambda e: str(e.code))
def test_a_fix_names_only_what_its_entry_knows(entry: catalogue.ErrorSpec) -> None:
    """A fix is rendered with the entry's own parameters: a placeholder it lacks would be a KeyError."""
    assert entry.fix is not None
    for text in (entry.fix.portal, entry.fix.seed):
        names = {f for _, f, _, _ in string.Formatter().parse(text) if f}
        assert names <= set(entry.placeholders), (text, entry.placeholders)
        assert text.format(**{n: f"<{n}>" for n in entry.placeholders}).strip()


def test_the_assignment_refusal_has_its_fix() -> None:
    fix = catalogue.APP_NOT_ASSIGNED.fix
    assert fix is not None
    assert "reportingJob" in fix.seed.format(client_name="reportingJob", resource_name="testBackend2",
                                             client_id="", resource="")
