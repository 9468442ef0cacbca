"""KlineGuard: what an exchange says is untrusted input, checked once before anything is
stored or broadcast. Every venue's frames (after its pure parser) and every REST page of
the live ingest pass through here:

- a frame carrying more klines than the venue ever sends in one message is dropped whole;
- a kline from the future (a close whose candle has not ended, or a forming candle that has
  not opened, by this server's clock plus a configured skew) is dropped;
- a close offered for a time the store already holds with other values is not stored (the
  store keeps the first value; see `CandleWriter`), and is counted here.

Each rejection is counted in `trade_canvas_ingest_frames_rejected_total{venue,reason}` and
logged, at most once a minute per series and reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Final, Literal

from prometheus_client import Counter

from app.candle import CandleRow
from app.clock import Clock
from app.series import SeriesId, next_candle_time
from app.store import Conflict

log = logging.getLogger(__name__)

Reason = Literal["future", "conflict", "oversized_frame"]
LOG_EVERY_S: Final = 60.0


class KlineGuard:
    def __init__(self, venue: str, clock: Clock, max_skew_s: float, rejected: Counter) -> None:
        self._venue = venue
        self._clock = clock
        self._max_skew_s = max_skew_s
        self._rejected = {
            reason: rejected.labels(venue, reason)
            for reason in ("future", "conflict", "oversized_frame")
        }
        self._logged_at: dict[tuple[str, Reason], float] = {}

    def frame_fits(self, klines: int, most: int, where: str) -> bool:
        """Whether a frame of `klines` klines is one the venue could send (`most` at most)."""
        if klines <= most:
            return True
        self._reject("oversized_frame", where, 1,
                     f"a frame with {klines} klines (the venue sends at most {most})")  # fmt: skip
        return False

    def in_time(self, series_id: str, timeframe: str, candle_time: int, closed: bool) -> bool:
        """Whether a candle at `candle_time` can exist yet: a closed one must have ended, a
        forming one must have opened."""
        end = next_candle_time(candle_time, timeframe) if closed else candle_time
        if end <= self._clock.time() + self._max_skew_s:
            return True
        state = "closed" if closed else "forming"
        self._reject("future", series_id, 1, f"a {state} candle at {candle_time} from the future")
        return False

    def page(self, series: SeriesId, rows: Sequence[CandleRow]) -> list[CandleRow]:
        """The closed candles of a REST page that can exist yet (a value of an instant
        series, a funding paid or open interest sampled, from its own time on)."""
        latest = self._clock.time() + self._max_skew_s
        if series.instant:
            kept = [r for r in rows if r[0] <= latest]
        else:
            kept = [r for r in rows if next_candle_time(r[0], series.timeframe) <= latest]
        if len(kept) < len(rows):
            self._reject("future", str(series), len(rows) - len(kept),
                         f"{len(rows) - len(kept)} REST candles from the future")  # fmt: skip
        return kept

    def conflicts(self, series_id: str, conflicts: Iterable[Conflict]) -> None:
        """Closes that differ from what is stored for their time: not stored, counted."""
        found = list(conflicts)
        if found:
            first = found[0]
            self._reject("conflict", series_id, len(found),
                         f"{len(found)} closes that differ from the stored candles, e.g. at "
                         f"{first.candle_time}: stored {first.stored[1:]}, offered "
                         f"{tuple(first.offered[1:])}")  # fmt: skip

    def _reject(self, reason: Reason, where: str, count: int, what: str) -> None:
        self._rejected[reason].inc(count)
        now = self._clock.monotonic()
        key = (where, reason)
        last = self._logged_at.get(key)
        if last is None or now - last >= LOG_EVERY_S:
            if len(self._logged_at) > 10_000:  # made-up topics cannot grow this for ever
                self._logged_at.clear()
            self._logged_at[key] = now
            log.warning("%s %s: rejected %s", self._venue, where, what)
