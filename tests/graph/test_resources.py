"""Graph JSON for directory records, the collection queries and the error bodies (mockidp/graph/)."""

from __future__ import annotations

import pytest

from mockidp.app import prepare
from mockidp.graph import errors as e
from mockidp.graph import resources as r
from mockidp.settings import Settings
from tests.conftest import DEMO_SEED

CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#applications"


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> list[r.Json]:
    store = prepare(Settings(seed=[DEMO_SEED], data_dir=tmp_path_factory.mktemp("res"), tls=False))
    return [r.application(a) for a in store.load_directory().applications]


def link(skip: int) -> str:
    return f"https://graph.microsoft.com/v1.0/applications?$top=1&$skiptoken={skip}"


def test_an_application_has_graphs_fields_in_graphs_order(apps: list[r.Json]) -> None:
    assert len(apps) >= 2, "the demo seed has several applications"
    assert list(apps[0])[:5] == ["id", "appId", "displayName", "identifierUris", "signInAudience"]
    assert all(c["secretText"] is None for a in apps for c in a["passwordCredentials"])  # never the secret


def test_top_pages_with_a_next_link_that_reaches_every_item(apps: list[r.Json]) -> None:
    seen, query = [], {"$top": "1"}
    while True:
        got = r.page(apps, query, context=CONTEXT, link=link)
        assert list(got) in (["@odata.context", "value"], ["@odata.context", "@odata.nextLink", "value"])
        seen += [a["id"] for a in got["value"]]
        if "@odata.nextLink" not in got:
            break
        query = {"$top": "1", "$skiptoken": got["@odata.nextLink"].rsplit("=", 1)[1]}
    assert seen == [a["id"] for a in apps]


def test_filter_and_select(apps: list[r.Json]) -> None:
    wanted = apps[1]
    got = r.page(apps, {"$filter": f"appId eq '{wanted['appId']}'", "$select": "displayName"}, context=CONTEXT,
                 link=link)
    assert got == {"@odata.context": CONTEXT, "value": [{"id": wanted["id"], "displayName": wanted["displayName"]}]}
    got = r.page(apps, {"$filter": f"displayName eq '{wanted['displayName']}'"}, context=CONTEXT, link=link)
    assert [a["id"] for a in got["value"]] == [a["id"] for a in apps if a["displayName"] == wanted["displayName"]]
    assert r.page(apps, {"$filter": "id eq 'it''s-none'"}, context=CONTEXT, link=link)["value"] == []


@pytest.mark.parametrize("query", [{"$orderby": "displayName"}, {"$count": "true"}, {"$expand": "owners"},
                                   {"$filter": "startswith(displayName,'a')"}, {"$top": "0"}, {"$top": "x"}])
def test_options_not_served_are_refused(apps: list[r.Json], query: dict[str, str]) -> None:
    with pytest.raises(r.QueryError):
        r.page(apps, query, context=CONTEXT, link=link)


def test_an_error_body_is_graphs() -> None:
    got = e.body(e.NOT_FOUND, now=0.0, request_id="rid", client_request_id=None, id="abc")
    assert got == {"error": {
        "code": "Request_ResourceNotFound",
        "message": "Resource 'abc' does not exist or one of its queried reference-property objects are not present.",
        "innerError": {"date": "1970-01-01T00:00:00", "request-id": "rid", "client-request-id": "rid"}}}
    assert (e.DENIED.status, e.DENIED.message) == (403, "Insufficient privileges to complete the operation.")
    assert (e.TOO_LARGE.status, e.TOO_LARGE.code) == (413, "Request_EntityTooLarge")
