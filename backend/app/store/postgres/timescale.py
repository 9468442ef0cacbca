"""TimescaleDB, where the server's PostgreSQL has it: candles become a hypertable.

Chunks of a week of candle time; chunks older than 30 days are compressed per series, so a
desk's years of 1m history take a fraction of the disk. Without the extension (or without
it preloaded, or without the right to create it) the plain table serves the same queries.
"""

from __future__ import annotations

import logging
from typing import Final

import asyncpg

log = logging.getLogger(__name__)

_WEEK_MS: Final = 7 * 24 * 3600 * 1000
_COMPRESS_AFTER_MS: Final = 30 * 24 * 3600 * 1000

_HYPERTABLE: Final[tuple[str, ...]] = (
    "CREATE EXTENSION IF NOT EXISTS timescaledb",
    # candle_time is epoch milliseconds: compression policies need the "now" of that axis.
    """
    CREATE OR REPLACE FUNCTION tc_now_ms() RETURNS bigint LANGUAGE sql STABLE
    AS $$ SELECT (extract(epoch FROM now()) * 1000)::bigint $$""",
    f"""
    SELECT create_hypertable('candles', 'candle_time',
        chunk_time_interval => {_WEEK_MS}::bigint, migrate_data => true,
        if_not_exists => true)""",
    "SELECT set_integer_now_func('candles', 'tc_now_ms', replace_if_exists => true)",
    """
    ALTER TABLE candles SET (timescaledb.compress,
        timescaledb.compress_segmentby = 'series_key',
        timescaledb.compress_orderby = 'candle_time')""",
    f"""
    SELECT add_compression_policy('candles', compress_after => {_COMPRESS_AFTER_MS}::bigint,
        if_not_exists => true)""",
)


async def timescale_available(conn: asyncpg.Connection) -> bool:
    """Whether the extension is installed on the server and preloaded (it must be both)."""
    installed = await conn.fetchval(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
    )
    preloaded = await conn.fetchval("SELECT current_setting('shared_preload_libraries', true)")
    return bool(installed) and "timescaledb" in (preloaded or "")


async def is_hypertable(conn: asyncpg.Connection) -> bool:
    if not await conn.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"):
        return False
    return bool(
        await conn.fetchval(
            "SELECT count(*) FROM timescaledb_information.hypertables "
            "WHERE hypertable_name = 'candles'"
        )
    )


async def use_timescale(conn: asyncpg.Connection) -> bool:
    """Make `candles` a compressed hypertable where the extension allows; say if it is one."""
    if not await timescale_available(conn):
        return False
    if await is_hypertable(conn):
        return True
    try:
        async with conn.transaction():
            for statement in _HYPERTABLE:
                await conn.execute(statement)
    except asyncpg.PostgresError as e:
        # A missing right or an old extension version: plain PostgreSQL serves the same.
        log.warning("TimescaleDB is installed but candles stay a plain table: %s", e)
        return False
    log.info("candles are a TimescaleDB hypertable (weekly chunks, compressed after 30 days)")
    return True
