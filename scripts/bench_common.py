"""Shared pieces of the benchmark scripts: a server subprocess, a lean HTTP client,
percentiles and the report writer."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "output" / "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@contextmanager
def server_process(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Run `trade-canvas serve` as its own process, as a user would."""
    full_env = {**os.environ, **env, "TRADE_CANVAS_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--log-level", "warning", "serve"],
        env=full_env,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        proc.wait(15)


@contextmanager
def fake_binance(history_days: int, futures_symbols: int) -> Iterator[dict[str, str]]:
    """The local Binance as its own process, with `futures_symbols` extra USDT-M pairs
    (`SYM0000/USDT:USDT`, ...); yields the server settings that point at it."""
    rest_port, spot_port, fut_port = free_port(), free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--log-level", "warning", "fake-binance",
         "--rest-port", str(rest_port), "--spot-ws-port", str(spot_port),
         "--futures-ws-port", str(fut_port), "--history-days", str(history_days),
         "--extra-futures-symbols", str(futures_symbols)],
        cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for port in (rest_port, spot_port, fut_port):
            wait_port(port)
        rest = f"http://127.0.0.1:{rest_port}"
        yield {
            "TRADE_CANVAS_BINANCE_SPOT_WS_URL": f"ws://127.0.0.1:{spot_port}",
            "TRADE_CANVAS_BINANCE_FUTURES_WS_URL": f"ws://127.0.0.1:{fut_port}/market",
            "TRADE_CANVAS_BINANCE_SPOT_REST_URL": rest,
            "TRADE_CANVAS_BINANCE_FUTURES_REST_URL": rest,
        }
    finally:
        proc.terminate()
        proc.wait(15)


class KeepAliveClient:
    """A minimal HTTP/1.1 keep-alive GET client, so the client's own cost stays small."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def get(self, target: str) -> tuple[int, bytes]:
        fresh = self._writer is None
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        request = f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()
        self._writer.write(request)
        try:
            head = await self._reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            # The server closed a connection left idle past its keep-alive timeout (the
            # floors' own measurements take seconds): ask again on a new one, as any
            # keep-alive client does.
            await self.close()
            if fresh:
                raise
            return await self.get(target)
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await self._reader.readexactly(length)
        if head.startswith(b"HTTP/1.0") or b"\r\nconnection: close" in head.lower():
            await self.close()  # the server closes: the next request connects anew
        return status, body

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._reader = self._writer = None


class LeanWsClient(asyncio.Protocol):
    """A WebSocket client with as little per-message cost as possible: websockets' own
    parser driven straight from the transport, no task per connection."""

    def __init__(
        self,
        ws_url: str,
        receipts: dict[int, float],
        on_message: Callable[[dict[str, Any], float], None] | None = None,
    ) -> None:
        self.protocol = ClientProtocol(parse_uri(ws_url), max_size=None)
        self.receipts = receipts
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        self.opened = asyncio.get_running_loop().create_future()
        self.catchup = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def _flush(self) -> None:
        assert self.transport is not None
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)

    def send_json(self, obj: object) -> None:
        self.protocol.send_text(orjson.dumps(obj))
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.protocol.receive_data(data)
        if self.protocol.state is State.OPEN and not self.opened.done():
            self.opened.set_result(None)
        for event in self.protocol.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                msg = orjson.loads(event.data)
                if self.on_message is not None:
                    self.on_message(msg, now)
                if msg["type"] == "candle_closed":
                    t = msg["candle"]["candle_time"]
                    self.receipts[t] = max(self.receipts.get(t, 0.0), now)
                elif msg["type"] == "catchup" and not self.catchup.done():
                    self.catchup.set_result(None)
        self._flush()  # pongs


def write_report(name: str, report: dict[str, Any]) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def print_table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    cells = [list(map(str, header)), *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for i, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
