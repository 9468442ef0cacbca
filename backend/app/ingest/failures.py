"""FailureLog: what keeps failing is said once, then summarised, then its recovery.

A venue that is down fails every connection and every series' retry, again and again;
one warning per pair per retry would bury everything else in the log. Each failing thing
(a connection, a series) is warned about when it starts failing; while anything fails, one
line every `summary_every_s` lists what still does; a recovery is said once."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.clock import Clock


@dataclass(slots=True)
class _Failing:
    error: str
    since: float
    attempts: int = 1


class FailureLog:
    def __init__(
        self, log: logging.Logger, what: str, clock: Clock, summary_every_s: float = 60.0
    ) -> None:
        self._log = log
        self._what = what  # "feeds", "connections"...: what the summary counts
        self._clock = clock
        self._every = summary_every_s
        self._failing: dict[str, _Failing] = {}
        self._summarised_at = 0.0

    def failed(self, key: str, error: str, retry_in_s: float | None = None) -> None:
        now = self._clock.monotonic()
        failing = self._failing.get(key)
        retry = f"; retrying in {retry_in_s:.2g}s" if retry_in_s is not None else ""
        if failing is None:
            self._failing[key] = _Failing(error, now)
            self._log.warning("%s failed: %s%s (said once; summarised while it fails)",
                              key, error, retry)  # fmt: skip
            if len(self._failing) == 1:
                self._summarised_at = now
            return
        failing.attempts += 1
        failing.error = error
        self._log.debug("%s failed again: %s%s", key, error, retry)
        if now - self._summarised_at >= self._every:
            self._summarised_at = now
            self._summarise(now)

    def recovered(self, key: str) -> None:
        failing = self._failing.pop(key, None)
        if failing is not None:
            took = self._clock.monotonic() - failing.since
            self._log.info("%s recovered after %d failed attempt(s) in %.0fs",
                           key, failing.attempts, took)  # fmt: skip

    def forget(self, key: str) -> None:
        """`key` is gone (a series stopped): neither failing nor recovered."""
        self._failing.pop(key, None)

    def _summarise(self, now: float) -> None:
        shown = sorted(self._failing.items(), key=lambda kv: kv[1].since)
        parts = [f"{k} ({f.attempts} attempts, {now - f.since:.0f}s: {f.error})"
                 for k, f in shown[:5]]  # fmt: skip
        more = f" and {len(shown) - 5} more" if len(shown) > 5 else ""
        self._log.warning("%d %s still failing: %s%s", len(shown), self._what,
                          "; ".join(parts), more)  # fmt: skip
