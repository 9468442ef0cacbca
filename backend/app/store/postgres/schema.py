"""The PostgreSQL schema and its migrations, keyed by the one row of `tc_schema`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import asyncpg

from app.errors import StoreError, TradeCanvasError
from app.store.holes import hole_timeframe, is_hole, max_step

# Entry i holds the statements that migrate from version i to i + 1; append, never edit.
Migration = str | Callable[[asyncpg.Connection], Awaitable[None]]
MIGRATIONS: Final[tuple[tuple[Migration, ...], ...]] = (
    (
        """
    CREATE TABLE series (
        series_key bigserial PRIMARY KEY,
        series_id  text NOT NULL UNIQUE,
        first_time bigint,
        head_time  bigint,
        row_count  bigint NOT NULL DEFAULT 0,
        -- Moves with every write to the series: names a page's answer for caches in any
        -- process reading this database.
        generation bigint NOT NULL DEFAULT 0
    )""",
        """
    CREATE TABLE candles (
        series_key  bigint NOT NULL,
        candle_time bigint NOT NULL,
        open   float8 NOT NULL,
        high   float8 NOT NULL,
        low    float8 NOT NULL,
        close  float8 NOT NULL,
        volume float8 NOT NULL,
        PRIMARY KEY (series_key, candle_time)
    )""",
        """
    CREATE TABLE history_imports (
        series_key       bigint PRIMARY KEY REFERENCES series (series_key),
        signature        text NOT NULL,
        imported_through bigint,
        complete         boolean NOT NULL DEFAULT false,
        file_rows        bigint
    )""",
        """
    CREATE TABLE kline_extras (
        series_key         bigint NOT NULL,
        candle_time        bigint NOT NULL,
        quote_volume       float8 NOT NULL,
        trades             bigint NOT NULL,
        taker_base_volume  float8 NOT NULL,
        taker_quote_volume float8 NOT NULL,
        PRIMARY KEY (series_key, candle_time)
    )""",
    ),
    (
        # The ingest leader's fencing token: a new leader moves `epoch`, and every write of
        # a leader checks its own is still the one here (FOR SHARE: the move waits for
        # writes in flight, then none of the old leader's commits).
        """
    CREATE TABLE tc_leader (
        id    integer PRIMARY KEY CHECK (id = 1),
        epoch bigint NOT NULL,
        node  text,
        since timestamptz
    )""",
        "INSERT INTO tc_leader VALUES (1, 0, NULL, NULL)",
    ),
    (
        # The lead is a lease its holder renews (not a session lock a frozen holder keeps).
        "ALTER TABLE tc_leader ADD COLUMN expires timestamptz",
    ),
    (
        # The holes of each series (`store.holes`), kept as candles are written; a store
        # written before is walked once here to find the ones it has.
        """
    CREATE TABLE holes (
        series_key  bigint NOT NULL,
        after_time  bigint NOT NULL,
        before_time bigint NOT NULL,
        PRIMARY KEY (series_key, after_time)
    )""",
        lambda conn: _find_holes(conn),
    ),
    (
        # Where each series' candles came from (`store.sources`): a store filled from one
        # exchange endpoint is never served as another's.
        """
    CREATE TABLE series_sources (
        series_key bigint NOT NULL,
        kind       text NOT NULL,
        identity   text NOT NULL,
        since      bigint NOT NULL,
        PRIMARY KEY (series_key, kind, identity)
    )""",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)
# Servers starting at once migrate one at a time.
_MIGRATION_LOCK: Final = 0x7472_6164_6563_616E  # "tradecan"


async def migrate(conn: asyncpg.Connection) -> int:
    """Bring the schema to `SCHEMA_VERSION`; return the version found before."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS tc_schema (version integer NOT NULL)")
        found = await conn.fetchval("SELECT version FROM tc_schema")
        if found is None:
            await conn.execute("INSERT INTO tc_schema VALUES (0)")
            found = 0
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"store schema version {found} is newer than this server ({SCHEMA_VERSION})"
            )
        for version in range(found, SCHEMA_VERSION):
            for statement in MIGRATIONS[version]:
                if callable(statement):
                    await statement(conn)
                else:
                    await conn.execute(statement)
        await conn.execute("UPDATE tc_schema SET version = $1", SCHEMA_VERSION)
    return int(found)


async def _find_holes(conn: asyncpg.Connection) -> None:
    """Record the holes of every stored series (once, when the table is made)."""
    for key, series_id in await conn.fetch(
        "SELECT series_key, series_id FROM series WHERE row_count > 1"
    ):
        timeframe = hole_timeframe(series_id)
        if timeframe is None:
            continue  # a series of events: no holes
        try:
            step = max_step(timeframe)
        except TradeCanvasError:
            continue  # not a series this server names: nothing to heal it from
        pairs = await conn.fetch(
            "SELECT prev, candle_time FROM (SELECT candle_time, "
            "lag(candle_time) OVER (ORDER BY candle_time) AS prev FROM candles "
            "WHERE series_key = $1) AS t WHERE candle_time - prev > $2",
            key, step,
        )  # fmt: skip
        found = [(key, p[0], p[1]) for p in pairs if is_hole((p[0], p[1]), timeframe)]
        if found:
            await conn.executemany("INSERT INTO holes VALUES ($1, $2, $3)", found)
