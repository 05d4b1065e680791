"""Call counters for rate-limit and rate-limit-by-key: a sliding window per key, in this process's memory.

APIM documents renewal-period as a sliding window: at most `calls` calls in any `period` seconds. A
gateway with several workers counts per worker with this one (the gateway may give a shared RateLimiter).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque

# mockidp's bound on distinct keys (a counter key built from a header must not grow memory without end):
# past it the least recently used key is forgotten.
MAX_KEYS = 100_000


class MemoryRateLimiter:
    """runtime.RateLimiter in memory. hit() is thread-safe."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self._calls: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def hit(self, key: str, *, calls: int, period: int, now: float, increment: int = 1) -> float | None:
        """Count `increment` calls at `now` (0 only checks): None when allowed, else the seconds until the
        oldest counted call leaves the window. A refused call is not counted (APIM counts only calls it
        lets through)."""
        with self._lock:
            window = self._calls.pop(key, None)
            if window is None:
                window = deque()
            self._calls[key] = window  # most recently used last
            while window and window[0] <= now - period:
                window.popleft()
            if len(window) >= calls or len(window) + increment > calls:
                return (window[0] + period - now) if window else float(period)
            window.extend([now] * increment)
            while len(self._calls) > self._max_keys:
                self._calls.popitem(last=False)
            return None
