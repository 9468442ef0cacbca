"""A throwaway `redis-server` for tests (Debian's `redis-server`, which `scripts/setup.sh`
installs): no persistence, listening only on a unix socket in a temporary directory,
killed when done; `restart` brings one back on the same socket (a Redis restart)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


class RedisServer:
    def __init__(self, root: Path) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self._command = [
            binary, "--port", "0", "--unixsocket", str(root / "redis.sock"),
            "--save", "", "--appendonly", "no", "--dir", str(root),
        ]  # fmt: skip
        self.socket = root / "redis.sock"
        self.url = f"unix://{self.socket}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.socket.unlink(missing_ok=True)
        self._process = subprocess.Popen(
            self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while not self.socket.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {self._command}")
            time.sleep(0.01)

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def restart(self) -> None:
        self.kill()
        self.start()


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    with tempfile.TemporaryDirectory(prefix="tc-redis-") as root:
        server = RedisServer(Path(root))
        server.start()
        try:
            yield server
        finally:
            server.kill()
