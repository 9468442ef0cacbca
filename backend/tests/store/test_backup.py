"""Backups of the SQLite store (issue 40): `trade-canvas backup` copies the store while the
server ingests live, and the copy holds every candle committed before it started;
`trade-canvas restore` checks a backup whole, installs it (the replaced file kept), and
refuses while a server holds the store or when the backup is not a sound store."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from app.candle import CandleRow
from app.errors import StoreError
from app.metrics import Metrics
from app.store import build_store
from app.store.sqlite.lock import holding
from app.store.sqlite.store import SqliteCandleStore
from tests.api.test_faults import stored
from tests.conftest import SettingsFactory
from tests.live_support import live_settings, serving, start_fake, wait_caught_up
from tests.postgres_cluster import create_database, drop_database
from tests.recorded import DATADIR
from tests.support import poll

SERIES = ("binance:spot:BTC/USDT:1m", "binance:spot:ETH/USDT:1m")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADE_CANVAS_")}
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip


async def test_a_backup_taken_during_live_ingest_restores_every_committed_candle(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    fake = start_fake(stepped=True)
    db = tmp_path / "store.sqlite"
    backup, restored = tmp_path / "backup.sqlite", tmp_path / "restored" / "store.sqlite"
    try:
        settings = make_settings(db_path=db, **live_settings(fake, whitelist=list(SERIES)))
        async with serving(settings, fake) as s:
            for series in SERIES:
                await wait_caught_up(s, fake, series)
            # What is committed now, read apart from the server; the backup starts after.
            before = {series: stored(db, series) for series in SERIES}
            # (in a thread: the server goes on writing meanwhile)
            made = await asyncio.to_thread(cli, "backup", "--db", str(db), "--to", str(backup))
            assert made.returncode == 0, made.stderr
            assert f"-> {backup}: " in made.stdout

            # While the server holds the store, a restore over it is refused, untouched.
            inode = os.stat(db).st_ino
            refused = await asyncio.to_thread(
                cli, "restore", "--db", str(db), "--from", str(backup)
            )
            assert refused.returncode != 0
            assert "in use by another process" in refused.stderr, refused.stderr
            assert os.stat(db).st_ino == inode
            assert not [n for n in os.listdir(tmp_path) if "before-restore" in n]

            async def went_on() -> bool:  # ingest goes on after the backup
                return all(len(stored(db, s)) > len(before[s]) for s in SERIES)

            await poll(went_on, "closes committed after the backup")
        after = {series: stored(db, series) for series in SERIES}
    finally:
        fake.stop()

    done = cli("restore", "--db", str(restored), "--from", str(backup))
    assert done.returncode == 0, done.stderr
    checked = cli("check-store", "--db", str(restored))
    assert checked.returncode == 0 and checked.stdout.strip().endswith(": ok"), checked.stdout
    for series in SERIES:
        copy = stored(restored, series)
        assert copy[: len(before[series])] == before[series], series
        assert copy == after[series][: len(copy)], series  # (and nothing made up past it)


def test_restore_checks_the_backup_and_keeps_the_store_it_replaces(tmp_path: Path) -> None:
    store, backup = tmp_path / "store.sqlite", tmp_path / "backup.sqlite"
    imported = cli("import", "--db", str(store), "--datadir", str(DATADIR), "--all")
    assert store.is_file(), imported.stderr
    made = cli("backup", "--db", str(store), "--to", str(backup))
    assert made.returncode == 0, made.stderr

    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a store" * 1000)
    inode = store.stat().st_ino
    bad = cli("restore", "--db", str(store), "--from", str(garbage))
    assert bad.returncode != 0 and "not a candle store" in bad.stderr, bad.stderr
    assert store.stat().st_ino == inode  # untouched

    with sqlite3.connect(store) as conn:  # changed since the backup
        conn.execute("DELETE FROM candles")
    good = cli("restore", "--db", str(store), "--from", str(backup))
    assert good.returncode == 0, good.stderr
    [kept] = tmp_path.glob("store.sqlite.before-restore-*")
    assert f"kept as {kept}" in good.stdout
    assert store.stat().st_ino != inode and kept.stat().st_ino == inode
    assert cli("check-store", "--db", str(store)).returncode == 0
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT count(*) FROM candles").fetchone()[0] > 1_000


async def test_a_store_being_restored_is_not_opened(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite"
    with holding(db, exclusive=True):
        store = SqliteCandleStore(db, Metrics())
        with pytest.raises(StoreError, match="being restored"):
            await store.open()
    store = SqliteCandleStore(db, Metrics())
    await store.open()
    try:
        with (
            pytest.raises(StoreError, match="in use by another process"),
            holding(db, exclusive=True),
        ):
            pass
    finally:
        await store.close()
    with holding(db, exclusive=True):  # released on close
        pass


SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"


async def _pg_store_rows(url: str, series: str) -> list[CandleRow]:
    store = build_store(url, Path(), Metrics())
    await store.open()
    try:
        return list(await store.since(series, 0, 100_000))
    finally:
        await store.close()


async def test_the_postgres_scripts_back_up_and_restore_a_store(
    postgres_server: str, postgres_dsn: str, tmp_path: Path
) -> None:
    series = "binance:spot:BTC/USDT:1m"
    candles = [(60 * i, 1.0 + i, 2.0 + i, 0.5 + i, 1.5 + i, 10.0 * i) for i in range(1, 2_001)]
    store = build_store(postgres_dsn, Path(), Metrics())
    await store.open()
    try:
        await store.insert_many(series, candles)
    finally:
        await store.close()
    backup = tmp_path / "store.dump"
    made = await asyncio.to_thread(subprocess.run, [str(SCRIPTS / "backup-postgres.sh"),
                                   postgres_dsn, str(backup)], capture_output=True, text=True)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert sorted(os.listdir(tmp_path)) == ["store.dump"]  # (no partial file left)

    name = f"restored_{uuid.uuid4().hex[:12]}"
    create_database(postgres_server, name)
    target = postgres_server.replace("/postgres?", f"/{name}?")
    try:
        garbage = tmp_path / "garbage.dump"
        garbage.write_bytes(b"not an archive")
        bad = await asyncio.to_thread(subprocess.run, [str(SCRIPTS / "restore-postgres.sh"),
                                      target, str(garbage)], capture_output=True, text=True)  # fmt: skip
        assert bad.returncode != 0
        done = await asyncio.to_thread(subprocess.run, [str(SCRIPTS / "restore-postgres.sh"),
                                       target, str(backup)], capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert await _pg_store_rows(target, series) == candles
    finally:
        drop_database(postgres_server, name)
