"""DatadirFollower: open charts follow their datadir files.

`freqtrade download-data` run beside the server appends to a file nobody asks the server
about; without a look, an open chart would show the new candles only after a reload. Every
`every_s`, the files of the series clients follow are looked at (a stat each), and a file
that changed is imported; its appended candles reach the followers as closes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from app.clock import Clock
from app.history.bootstrap import HistoryBootstrapper
from app.tasks import spawn

log = logging.getLogger(__name__)


class DatadirFollower:
    def __init__(
        self,
        bootstrapper: HistoryBootstrapper,
        followed: Callable[[], Iterable[str]],
        clock: Clock,
        every_s: float,
    ) -> None:
        self._bootstrapper = bootstrapper
        self._followed = followed
        self._clock = clock
        self._every_s = every_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = spawn(self._run(), "datadir follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._clock.sleep(self._every_s)
            try:
                await self._bootstrapper.recheck_files(list(self._followed()))
            except Exception:  # a bad moment (a file vanishing) must not end the watch
                log.exception("looking at the followed series' datadir files failed")
