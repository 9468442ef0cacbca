"""Copy every series from one store to another through the port (`migrate-store`): page by
page in ascending time, one transaction per page, so an interrupted copy holds a prefix of
each series and resumes after the target's head; then counts and heads are compared."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.store.ports import CandleStore

PAGE = 20_000


@dataclass(frozen=True, slots=True)
class CopiedSeries:
    series_id: str
    copied: int  # candles written by this run
    count: int  # what the target holds now
    expected: int
    head_time: int | None
    expected_head: int | None

    @property
    def ok(self) -> bool:
        return (self.count, self.head_time) == (self.expected, self.expected_head)


async def copy_store(
    source: CandleStore,
    target: CandleStore,
    progress: Callable[[int, int, str], None] = lambda done, total, what: None,
) -> list[CopiedSeries]:
    series = await source.list_series()
    total = sum(s.count for s in series)
    held_before = 0
    copied_total = 0
    report = []
    for stats in series:
        held = await target.stats(stats.series_id)
        held_before += held.count if held else 0
        copied = 0
        # Resume after the target's head; if the target then holds less than the source
        # (it held other candles before), a second pass from the start fills the rest.
        for after in (held.head_time if held else None, None):
            since = -1 if after is None else after
            while True:
                page = await source.page(stats.series_id, PAGE, since=since, extras=True)
                if not page.candles:
                    break
                result = await target.insert_many(
                    stats.series_id, page.candles, extras=dict(page.extras)
                )
                copied += result.inserted
                progress(held_before + copied_total + copied, total, stats.series_id)
                since = page.candles[-1][0]
            now = await target.stats(stats.series_id)
            if now is not None and now.count >= stats.count:
                break
        copied_total += copied
        marker = await source.import_progress(stats.series_id)
        if marker is not None:
            await target.set_import_progress(stats.series_id, marker)
        report.append(
            CopiedSeries(
                stats.series_id,
                copied,
                now.count if now else 0,
                stats.count,
                now.head_time if now else None,
                stats.head_time,
            )
        )
    progress(total, total, "done")
    return report
