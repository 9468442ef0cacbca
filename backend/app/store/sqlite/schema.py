"""The SQLite schema and its migrations, keyed by `PRAGMA user_version`."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Final
from urllib.parse import quote

from app.errors import TradeCanvasError
from app.store.holes import Hole, hole_timeframe, is_hole, max_step

# Entry i holds the statements that migrate from version i to i + 1; append, never edit.
# An integer series key keeps the clustered primary key small, and WITHOUT ROWID stores each
# candle once, in (series_key, candle_time) order, so range reads are sequential.
Migration = str | Callable[[sqlite3.Connection], None]
MIGRATIONS: Final[tuple[tuple[Migration, ...], ...]] = (
    (
        """
    CREATE TABLE series (
        series_key INTEGER PRIMARY KEY,
        series_id  TEXT NOT NULL UNIQUE,
        first_time INTEGER,
        head_time  INTEGER,
        row_count  INTEGER NOT NULL DEFAULT 0
    )""",
        """
    CREATE TABLE candles (
        series_key  INTEGER NOT NULL,
        candle_time INTEGER NOT NULL,
        open   REAL NOT NULL,
        high   REAL NOT NULL,
        low    REAL NOT NULL,
        close  REAL NOT NULL,
        volume REAL NOT NULL,
        PRIMARY KEY (series_key, candle_time)
    ) WITHOUT ROWID""",
    ),
    (
        # How far the datadir import of a series has come, written in the same transaction
        # as the candles it describes, so an interrupted import resumes instead of leaving
        # a hole. `signature` names the file (path, size, mtime); every file candle at or
        # before `imported_through` is committed; `complete` once the whole file is.
        """
    CREATE TABLE history_imports (
        series_key       INTEGER PRIMARY KEY REFERENCES series (series_key),
        signature        TEXT NOT NULL,
        imported_through INTEGER,
        complete         INTEGER NOT NULL DEFAULT 0
    )""",
    ),
    (
        # The candles a completely imported file held: a restart that finds the file
        # unchanged serves it without reading it again.
        "ALTER TABLE history_imports ADD COLUMN file_rows INTEGER",
    ),
    (
        # Binance's quote volume, trade count and taker volumes, where a venue gave them:
        # beside `candles`, so its rows (and every store written before) stay as they are.
        """
    CREATE TABLE kline_extras (
        series_key         INTEGER NOT NULL,
        candle_time        INTEGER NOT NULL,
        quote_volume       REAL NOT NULL,
        trades             INTEGER NOT NULL,
        taker_base_volume  REAL NOT NULL,
        taker_quote_volume REAL NOT NULL,
        PRIMARY KEY (series_key, candle_time)
    ) WITHOUT ROWID""",
    ),
    (
        # The holes of each series (`store.holes`), kept as candles are written; a store
        # written before is walked once here to find the ones it has.
        """
    CREATE TABLE holes (
        series_key  INTEGER NOT NULL,
        after_time  INTEGER NOT NULL,
        before_time INTEGER NOT NULL,
        PRIMARY KEY (series_key, after_time)
    ) WITHOUT ROWID""",
        lambda conn: _find_holes(conn),
    ),
    (
        # Where each series' candles came from (`store.sources`): a store filled from one
        # exchange endpoint is never served as another's.
        """
    CREATE TABLE series_sources (
        series_key INTEGER NOT NULL,
        kind       TEXT NOT NULL,
        identity   TEXT NOT NULL,
        since      INTEGER NOT NULL,
        PRIMARY KEY (series_key, kind, identity)
    ) WITHOUT ROWID""",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)

PRAGMAS: Final = (
    "PRAGMA journal_mode=WAL",
    # WAL + NORMAL is durable against application crashes; only an OS crash may lose the
    # last transactions, never corrupt the file.
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA temp_store=MEMORY",
    # 16 MiB of page cache per connection: inserts arrive in key order and reads are
    # range scans, so a bigger cache buys little and costs resident memory.
    "PRAGMA cache_size=-16384",
)


def connect(path: str, *, read_only: bool = False) -> sqlite3.Connection:
    # Quoted, so a `#` or `?` in the path is part of the file name, not of the URI.
    uri = f"file:{quote(path)}" + ("?mode=ro" if read_only else "")
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        if read_only and "journal_mode" in pragma:
            continue
        conn.execute(pragma)
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to `SCHEMA_VERSION`; return the version found before."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"store schema version {found} is newer than this server ({SCHEMA_VERSION})"
        )
    for version in range(found, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version]:
                if callable(statement):
                    statement(conn)
                else:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found


def _find_holes(conn: sqlite3.Connection) -> None:
    """Record the holes of every stored series (once, when the table is made)."""
    series = conn.execute("SELECT series_key, series_id FROM series WHERE row_count > 1")
    for key, series_id in series.fetchall():
        found = walk_holes(conn, key, hole_timeframe(series_id))
        conn.executemany(f"INSERT INTO holes VALUES ({key:d}, ?, ?)", found)


def walk_holes(conn: sqlite3.Connection, key: int, timeframe: str | None) -> list[Hole]:
    """A series' holes as its candles show them, oldest first (read by walking them all);
    none for a timeframe this server does not name (nothing to heal it from), nor for a
    series of events (`hole_timeframe` None)."""
    if timeframe is None:
        return []
    try:
        step = max_step(timeframe)
    except TradeCanvasError:
        return []
    pairs = conn.execute(
        "SELECT prev, candle_time FROM (SELECT candle_time, "
        "lag(candle_time) OVER (ORDER BY candle_time) AS prev FROM candles "
        "WHERE series_key = ?) WHERE candle_time - prev > ? ORDER BY prev",
        (key, step),
    ).fetchall()
    return [(int(a), int(b)) for a, b in pairs if is_hole((a, b), timeframe)]
