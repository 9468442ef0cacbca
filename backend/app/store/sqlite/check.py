"""`trade-canvas check-store`: read every candle of every series, then run SQLite's own
integrity check, and say what is corrupt. The store may be in use meanwhile (WAL lets a
reader in); it is opened read-only."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Final

from app.errors import StoreError
from app.store.holes import hole_timeframe, missing
from app.store.sqlite.schema import connect, walk_holes

# Candles read per query while scanning a series: progress moves, memory stays flat.
CHUNK: Final = 100_000

Progress = Callable[[int, int, str], None]  # (candles read, candles in all, what)


@dataclass(frozen=True, slots=True)
class StoreCheck:
    problems: list[str]  # what is wrong (nothing: empty)
    # The series that lack candles between their first and their head: (holes, candles).
    holes: dict[str, tuple[int, int]] = field(default_factory=dict)


def check_store(path: Path, progress: Progress) -> StoreCheck:
    """What is wrong with the store at `path`, and the holes of its series."""
    if not path.is_file():
        raise StoreError(f"no candle store at {path}")
    try:
        conn = connect(str(path), read_only=True)
    except sqlite3.Error as e:
        raise StoreError(f"cannot open candle store {path}: {e}") from e
    try:
        problems = _scan_series(conn, progress)
        holes = _check_holes(conn, problems)
        progress(1, 1, "SQLite integrity check")
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as e:
            problems.append(f"integrity check: {e}")
        else:
            problems += [f"integrity check: {r[0]}" for r in rows if r[0] != "ok"]
        return StoreCheck(problems, holes)
    finally:
        conn.close()


def _scan_series(conn: sqlite3.Connection, progress: Progress) -> list[str]:
    try:
        series = conn.execute(
            "SELECT series_key, series_id, row_count FROM series ORDER BY series_id"
        ).fetchall()
    except sqlite3.DatabaseError as e:
        return [f"the series table cannot be read: {e}"]
    total = sum(rows for _, _, rows in series)
    done = 0
    problems = []
    for key, series_id, rows in series:
        progress(done, total, series_id)
        try:
            found = _count_candles(conn, key, partial(_shifted, progress, done, total, series_id))
        except sqlite3.DatabaseError as e:
            problems.append(f"{series_id}: {e}")
        else:
            if found != rows:
                problems.append(f"{series_id}: {found} candles stored, its count says {rows}")
        done += rows
    progress(total, total, "series")
    return problems


def _shifted(progress: Progress, done: int, total: int, what: str, read: int) -> None:
    progress(done + read, total, what)


def _count_candles(conn: sqlite3.Connection, key: int, read: Callable[[int], None]) -> int:
    """Read every candle of one series (every page it lives on), in chunks."""
    count: int = 0
    after: int | None = None
    while True:
        n, last, _ = conn.execute(
            # Every column is decoded, so a damaged record is found, not only a damaged page.
            "SELECT count(*), max(candle_time), total(open + high + low + close + volume) "
            "FROM (SELECT * FROM candles WHERE series_key = ? AND candle_time > ? "
            "ORDER BY candle_time LIMIT ?)",
            (key, -(2**62) if after is None else after, CHUNK),
        ).fetchone()
        count += n
        read(count)
        if n < CHUNK:
            return count
        after = last


def _check_holes(conn: sqlite3.Connection, problems: list[str]) -> dict[str, tuple[int, int]]:
    """Each series' holes as its candles show them, held against the ones the store kept
    (a difference is a problem: the server heals only the holes it knows of)."""
    found_holes: dict[str, tuple[int, int]] = {}
    try:
        series = conn.execute("SELECT series_key, series_id FROM series ORDER BY series_id")
        for key, series_id in series.fetchall():
            timeframe = series_id.rsplit(":", 1)[-1]
            found = walk_holes(conn, key, hole_timeframe(series_id))
            kept = conn.execute(
                "SELECT after_time, before_time FROM holes WHERE series_key = ? "
                "ORDER BY after_time",
                (key,),
            ).fetchall()
            if found != [tuple(h) for h in kept]:
                problems.append(
                    f"{series_id}: {len(kept)} holes recorded, its candles have {len(found)}"
                )
            if found:
                found_holes[series_id] = (len(found), sum(missing(h, timeframe) for h in found))
    except sqlite3.DatabaseError as e:
        problems.append(f"holes: {e}")
    return found_holes
