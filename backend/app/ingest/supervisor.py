"""IngestSupervisor: which series are live, and for how long.

Whitelisted series are bootstrapped and kept live for the life of the server. Any other
series becomes an on-demand job when its first WebSocket subscriber arrives; it lives while
it has subscribers and `idle_ttl_s` after the last one leaves. At `max_jobs` on-demand
jobs, an idle one is evicted for a new one, else the subscriber is refused (`capacity`); one
client address may hold at most `max_jobs_per_holder` of them, so one client cannot take
every slot.
Every job runs as a named task that retries with backoff until its series is live, and
stops for good only for a symbol the exchange does not list.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from app.clock import SYSTEM_CLOCK, Clock
from app.errors import CapacityExceeded, ProvenanceConflict, UnknownSymbol
from app.feeds import FeedStatus
from app.history.source import HistorySource
from app.ingest.clock_watch import ClockWatch
from app.ingest.failures import FailureLog
from app.ingest.live import LiveIngestor
from app.ingest.provenance import Provenance
from app.metrics import Metrics
from app.series import SeriesId
from app.tasks import KeyedTasks

log = logging.getLogger(__name__)

JobKind = Literal["whitelist", "ondemand"]
JobState = Literal["starting", "bootstrapping", "subscribing", "live", "retrying", "failed",
                   "history-only"]  # fmt: skip
Notify = Callable[[str, str, str], None]
FeedKey = tuple[str, str]  # (exchange, market)


@dataclass(eq=False)
class IngestJob:
    series: SeriesId
    kind: JobKind
    refcount: int = 0
    # Subscriptions by client address (`refcount` is their sum for on-demand jobs).
    holders: Counter[str] = field(default_factory=Counter)
    state: JobState = "starting"
    last_error: str | None = None
    error_code: str | None = None
    idle_deadline: float | None = None  # wall clock, for display
    started_at: float = 0.0

    def __str__(self) -> str:
        return str(self.series)


class IngestSupervisor:
    def __init__(
        self,
        *,
        whitelist: list[SeriesId],
        max_jobs: int,
        idle_ttl_s: float,
        max_jobs_per_holder: int | None = None,
        history: HistorySource | None,
        ingestors: Mapping[FeedKey, LiveIngestor],
        metrics: Metrics,
        notify: Notify | None = None,
        retry_max_s: float = 60.0,
        clock: Clock = SYSTEM_CLOCK,
        clock_watch: ClockWatch | None = None,
        provenance: Provenance | None = None,
    ) -> None:
        self._whitelist = list(dict.fromkeys(whitelist))
        self._max_jobs = max_jobs
        self._max_per_holder = max_jobs if max_jobs_per_holder is None else max_jobs_per_holder
        self._idle_ttl_s = idle_ttl_s
        self._history = history
        self._ingestors = dict(ingestors)
        self._metrics = metrics
        self._notify = notify
        self._retry_max_s = retry_max_s
        self._clock = clock
        self._jobs: dict[str, IngestJob] = {}
        # Keyed by the job itself, not its series: a series stopped and asked for again
        # has a new job whose tasks must not be mistaken for the old one's.
        self._runs: KeyedTasks[IngestJob, None] = KeyedTasks("ingest-job")
        self._expiries: KeyedTasks[IngestJob, None] = KeyedTasks("idle-expiry")
        self._stops: KeyedTasks[IngestJob, None] = KeyedTasks("stop-job")
        # (series id, holder) -> monotonic deadline of a facade client's lease.
        self._leases: dict[tuple[str, str], float] = {}
        self._lease_tasks: KeyedTasks[tuple[str, str], None] = KeyedTasks("lease")
        self._running = False
        self._failures = FailureLog(log, "series", clock)
        self._clock_watch = clock_watch
        self._provenance = provenance

    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> None:
        self._running = True
        if self._clock_watch is not None:
            self._clock_watch.start(lambda: (job.series.exchange for job in self._jobs.values()))
        for series in self._whitelist:
            job = IngestJob(series, "whitelist")
            self._jobs[str(series)] = job
            self._launch(job)

    async def stop(self) -> None:
        self._running = False
        if self._clock_watch is not None:
            await self._clock_watch.stop()
        await self._lease_tasks.cancel_all()
        await self._expiries.cancel_all()
        await self._runs.cancel_all()
        await self._stops.cancel_all()
        for ingestor in self._ingestors.values():
            await ingestor.stop()

    # -- subscribers ------------------------------------------------------------------

    async def acquire(self, series: SeriesId, holder: str) -> None:
        """`holder` (a client address) subscribed to `series`. Raises `CapacityExceeded`
        when no job can run for it."""
        key = str(series)
        # A job of this series that is being stopped (it expired a moment ago) leaves the
        # stream first; the subscriber then gets a new job, not one about to vanish.
        await self._stopped(key)
        job = self._jobs.get(key)
        while job is None:
            self._check_share(holder)
            victim = self._idle_victim()
            if victim is None:
                job = self._jobs[key] = IngestJob(series, "ondemand")
                self._launch(job)
            else:
                log.info("evicting idle %s for %s", victim.series, key)
                await asyncio.wait([self._stop(victim)])
                # Another subscriber of the series may have started its job meanwhile.
                job = self._jobs.get(key)
        job.refcount += 1
        job.holders[holder] += 1
        # Not awaited: a subscribe cancelled here would keep the count it just took. An
        # expiry that still wakes sees the subscriber and leaves the job be.
        self._expiries.discard(job)
        job.idle_deadline = None
        self._update_gauge()

    def lease(self, series: SeriesId, holder: str) -> None:
        """Keep `series` live while `holder` keeps asking for it (a facade client polling
        klines): each call renews a lease of `idle_ttl_s`, held as a subscriber holds a
        series. Never waits; a lease refused for capacity just lapses."""
        if not self._running or _feed_key(series) not in self._ingestors:
            return  # nothing streams it: a lease would hold a slot for nothing
        key = (str(series), holder)
        new = key not in self._leases
        self._leases[key] = self._clock.monotonic() + self._idle_ttl_s
        if new:
            self._lease_tasks.start(key, self._hold_lease(series, holder, key))

    async def _hold_lease(self, series: SeriesId, holder: str, key: tuple[str, str]) -> None:
        acquired = False
        try:
            try:
                await self.acquire(series, holder)
                acquired = True
            except CapacityExceeded as e:
                log.info("not streaming %s for %s: %s", series, holder, e)
            while (wait := self._leases[key] - self._clock.monotonic()) > 0:
                await self._clock.sleep(wait)
        finally:
            del self._leases[key]
            if acquired:
                await self.release(series, holder)

    def _check_share(self, holder: str) -> None:
        held = sum(1 for j in self._jobs.values() if j.kind == "ondemand" and holder in j.holders)
        if held >= self._max_per_holder:
            raise CapacityExceeded(
                f"this client already holds {held} of the {self._max_jobs} on-demand live "
                "series; unsubscribe from one first"
            )

    def _idle_victim(self) -> IngestJob | None:
        """None while there is room for another on-demand job; else the one idle longest.
        Raises `CapacityExceeded` when every on-demand job has subscribers."""
        ondemand = [j for j in self._jobs.values() if j.kind == "ondemand"]
        if len(ondemand) < self._max_jobs:
            return None
        idle = [j for j in ondemand if j.refcount == 0]
        if not idle:
            raise CapacityExceeded(
                f"all {self._max_jobs} on-demand live series are in use; "
                "try again later or ask for it to be whitelisted"
            )
        return min(idle, key=lambda j: j.idle_deadline or 0.0)

    async def release(self, series: SeriesId, holder: str) -> None:
        job = self._jobs.get(str(series))
        if job is None or job.refcount == 0:
            return
        job.refcount -= 1
        job.holders[holder] -= 1
        if job.holders[holder] <= 0:
            del job.holders[holder]
        if job.refcount == 0 and job.kind == "ondemand":
            job.idle_deadline = self._clock.time() + self._idle_ttl_s
            self._expiries.start(job, self._expire_when_idle(job))
        self._update_gauge()

    async def _expire_when_idle(self, job: IngestJob) -> None:
        await self._clock.sleep(self._idle_ttl_s)
        if job.refcount == 0 and self._jobs.get(str(job.series)) is job:
            # Its own task: an `acquire` cancels only an expiry still waiting.
            self._stop(job)

    def _stop(self, job: IngestJob) -> asyncio.Task[None]:
        """Stop `job` in a task of its own, which runs to its end even if the one that asked
        for it is cancelled. It leaves the job table at once: from then on, an `acquire`
        of the series waits for it (`_stopped`) and then starts a new job."""
        key = str(job.series)
        if self._jobs.get(key) is job:
            del self._jobs[key]
        return self._stops.start(job, self._stop_job(job))

    async def _stopped(self, key: str) -> None:
        pending = [task for job, task in self._stops.items() if str(job.series) == key]
        if pending:
            await asyncio.wait(pending)

    async def _stop_job(self, job: IngestJob) -> None:
        key = str(job.series)
        await self._expiries.cancel(job)
        await self._runs.cancel(job)
        ingestor = self._ingestors.get(_feed_key(job.series))
        if ingestor is not None:
            await ingestor.remove(job.series)
        self._failures.forget(key)
        log.info("stopped live ingest of %s", key)
        self._update_gauge()

    def _update_gauge(self) -> None:
        self._metrics.ingest_subscriptions.set(
            sum(1 for j in self._jobs.values() if j.refcount > 0)
        )

    # -- jobs -------------------------------------------------------------------------

    def _launch(self, job: IngestJob) -> None:
        job.started_at = self._clock.time()
        self._runs.start(job, self._run_job(job))

    async def _run_job(self, job: IngestJob) -> None:
        delay = 1.0
        while True:
            try:
                if self._history is not None:
                    job.state = "bootstrapping"
                    # A datadir file first (the catch-up then fetches only what is newer);
                    # a download is not waited for: it goes on beside the live series.
                    await self._history.ensure(job.series, download=False)
                ingestor = self._ingestors.get(_feed_key(job.series))
                if ingestor is None:
                    job.state = "history-only"  # live ingest is switched off
                    return
                job.state = "subscribing"
                if self._provenance is not None:
                    await self._provenance.claim(job.series)
                await ingestor.add(job.series)
                job.state, job.last_error = "live", None
                self._failures.recovered(str(job.series))
                return
            except (UnknownSymbol, ProvenanceConflict) as e:
                job.state, job.last_error, job.error_code = "failed", str(e), e.code
                log.warning("not going live with %s: %s", job.series, e)
                if self._notify is not None:
                    self._notify(str(job.series), e.code, f"no live data: {e}")
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:
                job.state, job.last_error = "retrying", f"{type(e).__name__}: {e}"
                self._failures.failed(str(job.series), job.last_error, delay)
                await self._clock.sleep(delay)
                delay = min(self._retry_max_s, delay * 2)

    # -- state ------------------------------------------------------------------------

    def job_error(self, series_id: str) -> tuple[str, str] | None:
        job = self._jobs.get(series_id)
        if job is None or job.error_code is None:
            return None
        return job.error_code, f"no live data: {job.last_error}"

    def held_series(self) -> list[str]:
        """Every series with a job: whitelisted, or held by someone."""
        return list(self._jobs)

    def live_series(self) -> list[str]:
        return [k for k, j in self._jobs.items() if j.state == "live"]

    def is_live(self, series_id: str) -> bool:
        job = self._jobs.get(series_id)
        return job is not None and job.state == "live"

    def feed_status(self, series_id: str) -> FeedStatus | None:
        job = self._jobs.get(series_id)
        if job is None:
            return None
        ingestor = self._ingestors.get(_feed_key(job.series))
        live = ingestor.series_state(series_id) if ingestor is not None else None
        connection = live.connection if live is not None else None
        connected = connection is not None and connection.state == "open"
        error = job.last_error
        if error is None and connection is not None and not connected:
            error = connection.last_error
        clock_error = None
        if self._clock_watch is not None and job.state == "live":
            clock_error = self._clock_watch.problem(job.series.exchange)
        return FeedStatus(
            state=job.state,
            kind=job.kind,
            connected=connected,
            error=error,
            backfill_error=live.last_error if live is not None else None,
            clock_error=clock_error,
        )

    def clock_problems(self) -> list[str]:
        """This server's clock against the venues it follows, where they disagree."""
        return self._clock_watch.problems() if self._clock_watch is not None else []

    def failing_whitelist(self) -> dict[str, str]:
        """Whitelisted series whose feed is failing now, with why."""
        failing = {}
        for key, job in self._jobs.items():
            if job.kind != "whitelist":
                continue
            status = self.feed_status(key)
            if status is not None and status.failing:
                failing[key] = status.clock_error or status.error or "connecting to the exchange"
        return failing

    def heads(self) -> dict[str, int | None]:
        heads: dict[str, int | None] = {}
        for ingestor in self._ingestors.values():
            heads.update(ingestor.heads())
        return heads

    def snapshot(self) -> dict[str, Any]:
        now = self._clock.time()
        jobs = []
        for key, job in sorted(self._jobs.items(), key=lambda kv: (kv[1].kind, kv[0])):
            ingestor = self._ingestors.get(_feed_key(job.series))
            live = ingestor.series_state(key) if ingestor is not None else None
            jobs.append(
                {
                    "series_id": key,
                    "kind": job.kind,
                    "refcount": job.refcount,
                    "state": job.state,
                    "source": f"{ingestor.exchange}-ws" if ingestor is not None else None,
                    "head_time": live.head_time if live else None,
                    "connection": live.connection.name if live and live.connection else None,
                    "last_batch": live.last_batch if live else None,
                    "last_error": job.last_error or (live.last_error if live else None),
                    # Closed candles the series must still fetch over REST (a backfill
                    # refused or failed is retried at `backfill_retry_at`).
                    "owed": live.owed(now) if live else None,
                    "backfill_retry_at": live.retry_at if live else None,
                    "idle_deadline": job.idle_deadline,
                    "started_at": job.started_at,
                }
            )
        return {
            "jobs": jobs,
            "max_jobs": self._max_jobs,
            "max_jobs_per_client": self._max_per_holder,
            "active": sum(1 for j in self._jobs.values() if j.kind == "ondemand"),
            "connections": {f"{e}:{m}": i.connections() for (e, m), i in self._ingestors.items()},
            "clock_skew_s": self._clock_watch.skews() if self._clock_watch is not None else {},
        }


def _feed_key(series: SeriesId) -> FeedKey:
    """Its venue's feed of its kind (none streams a contract's derived prices yet, so
    they stay history-only)."""
    return series.exchange, series.market
