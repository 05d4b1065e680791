"""Discovery and JWKS bodies remembered by the runtime (web/runtime.Runtime.document): rendered once while the
directory and the published keys stay the same objects, again once either changes, and then nothing rendered
from the old ones is kept (an old directory stays alive in no cache entry, however many hosts asked)."""

from __future__ import annotations

import gc
import weakref
from typing import Any, cast

from mockidp.web.runtime import Runtime


class Stand:
    """A directory or key list: only its identity counts here (and a weak reference tells when it is gone)."""


class Keys:
    def __init__(self) -> None:
        self.now: tuple[dict[str, Any], ...] = ({"kid": "a"},)

    def published(self) -> tuple[dict[str, Any], ...]:
        return self.now


class Services:
    def __init__(self) -> None:
        self.directory: Stand = Stand()


def runtime(services: Services, keys: Keys) -> Runtime:
    return Runtime(settings=cast(Any, None), services=cast(Any, services), keys=cast(Any, keys), ca_path=None,
                   served_hosts=set(), sealer=cast(Any, None), traces=None)


def test_bodies_are_rendered_again_after_a_change_and_none_keeps_the_old_directory() -> None:
    services, keys = Services(), Keys()
    rt = runtime(services, keys)
    rendered: list[str] = []

    def render(name: str) -> bytes:
        rendered.append(name)
        return name.encode() + b"@" + str(id(services.directory)).encode()

    def body(host: str) -> bytes:
        return rt.document(("keys2", "t", "http", host), lambda: render(host))

    first = body("a.example")
    assert body("a.example") is first and rendered == ["a.example"]  # remembered
    body("b.example")

    old = weakref.ref(services.directory)
    services.directory = Stand()  # a Graph write: a new directory
    assert body("a.example") != first and rendered == ["a.example", "b.example", "a.example"]
    gc.collect()
    assert old() is None  # b.example's body, rendered from it and not asked for again, is forgotten too

    keys.now = ({"kid": "b"},)  # a rotation: a new tuple of published keys
    body("a.example")
    assert rendered[-1] == "a.example" and len(rendered) == 4
