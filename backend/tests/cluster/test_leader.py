"""Who leads ingest: a lease in PostgreSQL and the fencing epoch, on a real database;
and the settings and start-up errors of a cluster, in real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.errors import ConfigError, Fenced
from app.metrics import Metrics
from app.store import build_leader_lock, build_store
from tests.support import poll

SERIES = "binance:spot:BTC/USDT:1m"
ROW = (1_700_000_040, 1.0, 2.0, 0.5, 1.5, 3.0)


async def test_one_leads_and_a_superseded_leader_cannot_write(postgres_dsn: str) -> None:
    first, second = (build_store(postgres_dsn, Path("unused"), Metrics()) for _ in range(2))
    await first.open()
    await second.open()
    a, b = (build_leader_lock(s, n, ttl_s=60) for s, n in ((first, "a:1"), (second, "b:2")))
    try:
        epoch = await a.try_lead()
        assert epoch is not None
        assert await b.try_lead() is None  # one leader at a time
        assert await a.holds()
        await first.insert_many(SERIES, [ROW])  # the leader writes

        # The leader gives the lead up (it stops) while its store pool lives on: a standby
        # need not wait out the lease.
        await a.close()
        assert not await a.holds()
        epochs: list[int | None] = []

        async def b_leads() -> bool:
            epochs.append(await b.try_lead())
            return epochs[-1] is not None

        await poll(b_leads, "the lead to be given up", timeout=30, every=0.05)
        assert epochs[-1] == epoch + 1

        with pytest.raises(Fenced, match="superseded"):
            await first.insert_many(SERIES, [(ROW[0] + 60, *ROW[1:])])
        assert (await second.stats(SERIES)).count == 1  # nothing of the old leader's
        await second.insert_many(SERIES, [(ROW[0] + 60, *ROW[1:])])
        assert (await second.stats(SERIES)).count == 2
    finally:
        await a.close()
        await b.close()
        await first.close()
        await second.close()


async def test_a_lead_not_renewed_is_taken_over_and_fenced(postgres_dsn: str) -> None:
    """A leader that stops renewing (frozen: its connection still open) loses the lead
    once the lease runs out, and on resuming learns so and writes nothing."""
    first, second = (build_store(postgres_dsn, Path("unused"), Metrics()) for _ in range(2))
    await first.open()
    await second.open()
    a, b = (build_leader_lock(s, n, ttl_s=1) for s, n in ((first, "a:1"), (second, "b:2")))
    try:
        epoch = await a.try_lead()
        assert epoch is not None
        assert await b.try_lead() is None
        assert await a.holds()  # renewed: still a's for a second

        epochs: list[int | None] = []

        async def b_leads() -> bool:
            epochs.append(await b.try_lead())
            return epochs[-1] is not None

        await poll(b_leads, "the lease to run out", timeout=30, every=0.05)
        assert epochs[-1] == epoch + 1
        assert not await a.holds()  # resumed: its renewal finds the epoch moved
        with pytest.raises(Fenced, match="superseded"):
            await first.insert_many(SERIES, [ROW])
        assert await b.holds()
        assert await a.try_lead() is None  # b's lease is live
    finally:
        await a.close()
        await b.close()
        await first.close()
        await second.close()


def test_sqlite_cannot_be_shared_by_a_cluster(tmp_path: Path) -> None:
    store = build_store(None, tmp_path / "store.sqlite", Metrics())
    with pytest.raises(ConfigError, match="PostgreSQL"):
        build_leader_lock(store, "a:1", ttl_s=10)


def serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRADE_CANVAS_")}
    environ.update({"TRADE_CANVAS_LIVE_INGEST": "0", "TRADE_CANVAS_MARKET_HISTORY_SOURCE": "off",
                    **env})  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "app", "serve", "--port", "0", *args],
        env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_role_without_a_bus_is_refused_in_one_line(tmp_path: Path) -> None:
    done = serve(tmp_path, "--role", "api")
    assert done.returncode == 2, done.stderr
    assert "TRADE_CANVAS_BUS_URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bus_without_postgresql_is_refused(tmp_path: Path) -> None:
    done = serve(tmp_path, TRADE_CANVAS_BUS_URL="redis://127.0.0.1:9/0")
    assert done.returncode == 2, done.stderr
    assert "TRADE_CANVAS_STORE_URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_redis_is_one_line_at_start(postgres_dsn: str, tmp_path: Path) -> None:
    done = serve(
        tmp_path, "--role", "ingest",
        TRADE_CANVAS_STORE_URL=postgres_dsn,
        TRADE_CANVAS_BUS_URL=f"unix://{tmp_path}/no-redis.sock?password=hunter2",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("trade-canvas: cannot reach the bus at unix://"), line
    assert "hunter2" not in done.stderr
