from __future__ import annotations

from app.ratelimit import TokenBucket
from tests.manual_clock import ManualClock


def test_burst_then_rate() -> None:
    clock = ManualClock(wall=lambda: 0.0)
    bucket = TokenBucket(2.0, 3, clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.advance(0.5)  # one token back
    assert [bucket.take() for _ in range(2)] == [True, False]
    clock.advance(100.0)  # never more than the burst
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
