"""LeaderHistory: the history source of every process of a cluster. Imports and downloads
write, so only the leader runs them: a process that leads makes a series servable with its
own source, any other asks the leader over the bus and waits for the commit. So a chart
opened on a replica (which has no datadir of its own) gets the leader's freqtrade files."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from app.bus.redis.asks import Handler, LeaderAsk
from app.errors import BusError
from app.history.source import HistorySource
from app.series import SeriesId, parse_series_id

log = logging.getLogger(__name__)


class LeaderHistory:
    def __init__(
        self,
        ask: LeaderAsk,
        leading: Callable[[], bool],
        local: HistorySource | None,
        *,
        timeout_s: float,
    ) -> None:
        self._ask = ask
        self._leading = leading
        self._local = local  # None where this process may never lead (role `api`)
        self._timeout_s = timeout_s

    async def ensure(
        self,
        series: SeriesId,
        *,
        since: int | None = None,
        complete: bool = False,
        download: bool = True,
    ) -> bool:
        if self._leading() and self._local is not None:
            return await self._local.ensure(
                series, since=since, complete=complete, download=download
            )
        payload = {"s": str(series), "since": since, "c": complete, "d": download}
        try:
            answer = await self._ask("ensure", payload, self._timeout_s)
        except BusError as e:
            # As when an import outlasts its wait: not servable yet.
            log.warning("history of %s not made servable by the leader: %s", series, e)
            return False
        return bool(answer.get("ready", True))

    def states(self) -> dict[str, dict[str, Any]]:
        return self._local.states() if self._leading() and self._local is not None else {}

    def state_of(self, series_id: str) -> dict[str, Any] | None:
        if self._leading() and self._local is not None:
            return self._local.state_of(series_id)
        return None

    async def stop(self) -> None:
        """Nothing of its own runs: the leader's source stops when it steps down."""

    # -- the leader's side ------------------------------------------------------------

    def handlers(self) -> dict[str, Handler]:
        return {"ensure": self._ensure}

    async def _ensure(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self._local is None:
            return {"ready": True}
        since = payload["since"]
        ready = await self._local.ensure(
            parse_series_id(payload["s"]),
            since=None if since is None else int(since),
            complete=bool(payload["c"]),
            download=bool(payload.get("d", True)),
        )
        return {"ready": ready}
