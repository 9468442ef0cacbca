"""ClockWatch: this server's clock held against each venue's. Live ingest refuses a candle
that lies further ahead of this clock than `LIVE_CLOCK_SKEW_S` (from the future, as far as
it can tell): a server whose clock is behind the venue's by more than that would reject
every close, quietly. So each venue followed live is asked for its time when it is first
followed and every `every_s` after, and a skew past the bound is a problem of its own:
`/ready` says it, and every series of that venue says its candles are being rejected."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping

from app.clock import Clock
from app.errors import ExchangeError
from app.exchanges.ports import KlineRest
from app.series import Market
from app.tasks import spawn

log = logging.getLogger(__name__)

# How often the followed venues are looked over (a venue is asked every `every_s`).
LOOK_EVERY_S = 5.0


class ClockWatch:
    def __init__(
        self,
        rests: Mapping[str, tuple[KlineRest, Market]],
        clock: Clock,
        *,
        max_skew_s: float,
        every_s: float,
    ) -> None:
        """`rests`: each venue's REST and a market to ask its time on."""
        self._rests = rests
        self._clock = clock
        self._max_skew_s = max_skew_s
        self._every_s = every_s
        # The venue's clock less ours, by venue, as last read (positive: ours is behind).
        self._skews: dict[str, float] = {}
        self._checked_at: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self, followed: Callable[[], Iterable[str]]) -> None:
        """Watch the venues `followed()` names (a series of each is followed now); each is
        read when first seen, then every `every_s`."""
        self._task = spawn(self._run(followed), "clock watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self, followed: Callable[[], Iterable[str]]) -> None:
        while True:
            await self.check(followed())
            # Often, but each venue is asked only when it is due (or newly followed).
            await self._clock.sleep(min(self._every_s, LOOK_EVERY_S))

    async def check(self, venues: Iterable[str]) -> None:
        """Read the clock of each of `venues` not read within `every_s`."""
        now = self._clock.monotonic()
        for venue in sorted(set(venues)):
            found = self._rests.get(venue)
            if found is None or now - self._checked_at.get(venue, -self._every_s) < self._every_s:
                continue
            rest, market = found
            asked_at = self._clock.time()
            try:
                venue_time = await rest.server_time(market)
            except ExchangeError as e:  # asked again at the next check
                log.info("cannot read %s's clock: %s", venue, e)
                continue
            self._checked_at[venue] = self._clock.monotonic()
            # The venue read its clock somewhere between asking and answer: held against
            # the middle of the round trip, as NTP does, a slow answer does not read as skew.
            skew = venue_time - (asked_at + self._clock.time()) / 2
            was = self.problem(venue)
            self._skews[venue] = skew
            problem = self.problem(venue)
            if problem is not None and problem != was:
                log.warning("%s: candles from it are rejected until the clocks agree", problem)
            elif problem is None and was is not None:
                log.warning("this server's clock agrees with %s's again", venue)

    def problem(self, venue: str) -> str | None:
        """Why `venue`'s candles are rejected as from the future or the past, if they are."""
        skew = self._skews.get(venue)
        if skew is None or abs(skew) <= self._max_skew_s:
            return None
        side = "behind" if skew > 0 else "ahead of"
        return (
            f"this server's clock is {abs(skew):.0f} s {side} {venue}'s "
            f"(LIVE_CLOCK_SKEW_S allows {self._max_skew_s:g} s)"
        )

    def skews(self) -> dict[str, float]:
        """Each followed venue's clock less this server's, as last measured (seconds)."""
        return dict(self._skews)

    def problems(self) -> list[str]:
        return [p for venue in sorted(self._skews) if (p := self.problem(venue)) is not None]
