"""The operation URL templates (matching for routing and rewrite-uri, expansion) and the in-memory counter."""

from __future__ import annotations

import pytest

from mockidp.apim.rate_limit import MemoryRateLimiter
from mockidp.apim.uri_template import UrlTemplate, expand


@pytest.mark.parametrize(("template", "path", "query", "params"), [
    ("/users/{id}", "/users/42", [], {"id": "42"}),
    ("/users/{id}", "/Users/42/", [], {"id": "42"}),  # literal parts ignore case; a trailing slash is tolerated
    ("/users/{id}", "/users/42/orders", [], None),
    ("/users/{id}", "/users", [], None),
    ("/files/{name}.{ext}", "/files/report.pdf", [], {"name": "report", "ext": "pdf"}),
    ("/users/{id}/orders/{orderId}", "/users/a%20b/orders/7", [], {"id": "a b", "orderId": "7"}),
    ("/{*path}", "/a/b/c", [], {"path": "a/b/c"}),
    ("/", "/", [], {}),
    ("/search?q={term}", "/search", [("q", "x"), ("page", "2")], {"term": "x"}),
    ("/search?q={term}", "/search", [("page", "2")], None),
    ("/search?format=json", "/search", [("format", "xml")], {}),
])
def test_a_template_matches_a_request(template: str, path: str, query: list[tuple[str, str]],
                                      params: dict[str, str] | None) -> None:
    assert UrlTemplate.parse(template).match(path, query) == params


def test_expand_fills_path_and_query_percent_encoded() -> None:
    assert expand("/v2/{id}/{*rest}?o={order}&fixed=1&gone={nothing}", {"id": "a/b c", "rest": "x/y z",
                                                                        "order": "9"}) == (
        "/v2/a%2Fb%20c/x/y%20z", [("o", "9"), ("fixed", "1"), ("gone", "")])


def test_the_window_slides_and_refusals_are_not_counted() -> None:
    limiter = MemoryRateLimiter()
    assert [limiter.hit("k", calls=2, period=10, now=t) for t in (0, 1)] == [None, None]
    assert limiter.hit("k", calls=2, period=10, now=5) == 5  # the call at 0 leaves the window at 10
    assert limiter.hit("k", calls=2, period=10, now=9.5) == 0.5
    assert limiter.hit("k", calls=2, period=10, now=10) is None  # the refused calls were not counted
    assert limiter.hit("other", calls=2, period=10, now=10) is None
    assert limiter.hit("k", calls=2, period=10, now=10.5, increment=0) == 0.5  # only checks
    assert limiter.hit("big", calls=2, period=10, now=0, increment=3) == 10.0


def test_the_counter_forgets_the_least_recently_used_key_past_its_bound() -> None:
    limiter = MemoryRateLimiter(max_keys=2)
    for key in ("a", "b", "c"):
        assert limiter.hit(key, calls=1, period=60, now=0) is None
    assert limiter.hit("c", calls=1, period=60, now=1) == 59  # remembered
    assert limiter.hit("a", calls=1, period=60, now=1) is None  # forgotten, counted afresh
