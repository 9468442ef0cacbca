"""A throwaway PostgreSQL cluster for tests: Debian's server binaries (`postgresql`, which
`scripts/setup.sh` installs), `initdb` in a temporary directory, listening only on a unix
socket there, run as the `postgres` user when the tests run as root (PostgreSQL refuses
root), stopped at once when done."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def server_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("no PostgreSQL server binaries: apt-get install postgresql")
    return Path(initdb).parent


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Yields the DSN of a superuser connection to the new cluster's `postgres` database."""
    bindir = server_bin()
    root = Path(tempfile.mkdtemp(prefix="tc-pg-"))
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (root, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
         "-E", "UTF8", "--no-sync"],
        check=True, capture_output=True,
    )  # fmt: skip
    options = f"-k {sockets} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
    subprocess.run(
        [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-t", "120",
         "-l", str(root / "server.log"), "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield f"postgresql://postgres@/postgres?host={sockets}"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def create_database(dsn: str, name: str) -> None:
    _admin(dsn, f"CREATE DATABASE {name}")


def drop_database(dsn: str, name: str) -> None:
    _admin(dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _admin(dsn: str, statement: str) -> None:
    subprocess.run(
        [str(server_bin() / "psql"), dsn, "-v", "ON_ERROR_STOP=1", "-qc", statement],
        check=True, capture_output=True,
    )  # fmt: skip
