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


class PostgresCluster:
    """One cluster in `root`: started and stopped as a test needs (a database restart)."""

    def __init__(self, root: Path) -> None:
        self.bindir = server_bin()
        self.root = root
        self.data, self.sockets = root / "data", root / "run"
        self.sockets.mkdir()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (root, self.sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [*self._as_user, str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust",
             "-U", "postgres", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True,
        )  # fmt: skip
        self.dsn = f"postgresql://postgres@/postgres?host={self.sockets}"

    def start(self) -> None:
        options = f"-k {self.sockets} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
        subprocess.run(
            [*self._as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
             "-w", "-t", "120", "-l", str(self.root / "server.log"), "start"],
            check=True, capture_output=True,
        )  # fmt: skip

    def stop(self) -> None:
        """At once, as a crash or a killed container would."""
        subprocess.run(
            [*self._as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m",
             "immediate", "-w", "stop"],
            capture_output=True,
        )  # fmt: skip


@contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="tc-pg-")))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Yields the DSN of a superuser connection to a new cluster's `postgres` database."""
    with running_cluster() as cluster:
        yield cluster.dsn


def create_database(dsn: str, name: str) -> None:
    _admin(dsn, f"CREATE DATABASE {name}")


def drop_database(dsn: str, name: str) -> None:
    _admin(dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _admin(dsn: str, statement: str) -> None:
    subprocess.run(
        [str(server_bin() / "psql"), dsn, "-v", "ON_ERROR_STOP=1", "-qc", statement],
        check=True, capture_output=True,
    )  # fmt: skip
