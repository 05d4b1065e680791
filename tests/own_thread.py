"""Event loops of a test's own, in a thread of their own.

The session's Playwright (tests/conftest.py, sync API) keeps an event loop running in the main thread once a
browser test has run, so asyncio.run and run_until_complete refuse to start there in the whole suite (and the
coroutine they were given is never awaited, a warning that fails a later test)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def in_own_thread(run: Callable[[], T], timeout: float = 120) -> T:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result(timeout=timeout)


def in_own_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    return in_own_thread(lambda: asyncio.run(coroutine))
