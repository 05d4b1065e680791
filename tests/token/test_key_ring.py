"""The key ring's published keys (tokens/key_ring.py): one tuple while they stay the same, which is how a
rendered JWKS is known to be right (web/runtime.Runtime.document), and a new one the moment they change,
by a rotation or by mockidp's clock alone (a retired key's overlap ending, the clock set back)."""

from __future__ import annotations

from mockidp.clock import FrozenClock
from mockidp.tokens.key_ring import KeyRing, RingKey
from mockidp.tokens.keys import generate_signing_key

ACTIVE, RETIRED, NEWER = generate_signing_key(), generate_signing_key(), generate_signing_key()


def test_the_published_keys_are_one_tuple_until_they_change_by_the_clock_or_a_rotation() -> None:
    clock, stamp = FrozenClock(1_000.0), [0]
    ring_keys = [RingKey(ACTIVE, "active"), RingKey(RETIRED, "retired", published_until=1_600.0)]
    ring = KeyRing(lambda: list(ring_keys), lambda: stamp[0], clock)

    first = ring.published()
    assert [k["kid"] for k in first] == [ACTIVE.kid, RETIRED.kid]
    clock.advance(599)
    assert ring.published() is first  # nothing changed: the same tuple

    clock.advance(1)  # the retired key's overlap ends: no control change, only the clock
    after = ring.published()
    assert [k["kid"] for k in after] == [ACTIVE.kid] and ring.published() is after

    clock.set(1_200.0)  # set back within the overlap: the retired key is published again
    assert [k["kid"] for k in ring.published()] == [ACTIVE.kid, RETIRED.kid]

    ring_keys[:] = [RingKey(NEWER, "active"), RingKey(ACTIVE, "retired", published_until=5_000.0)]
    stamp[0] += 1  # a rotation: the control stamp moves
    rotated = ring.published()
    assert [k["kid"] for k in rotated] == [NEWER.kid, ACTIVE.kid] and ring.published() is rotated
