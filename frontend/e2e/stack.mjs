// The real parts an end-to-end run needs, as processes: the local Binance and a
// trade-canvas server on a temporary store. Shared by the Playwright tests and
// scripts/bench_chart.mjs. Plain JavaScript so that both can import it.
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import {
  copyFileSync,
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// Debian's Chromium (`apt-get install chromium`): Playwright's own browser download cannot
// work offline. The flags keep it from dialling out of a machine with no internet.
export const CHROMIUM_LAUNCH = {
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
  ],
};

export const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const FIXTURES = resolve(REPO, "..", "shared", "fixtures");
const CLI = join(REPO, ".venv", "bin", "trade-canvas");
const LOGS = join(REPO, "output", "playwright", "logs");

export async function freePort() {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

/** Thrown by a poll check to stop polling at once (a process died). */
export class Fatal extends Error {}

/** Poll `check` until it returns a truthy value, or fail after `timeoutMs`. */
export async function poll(check, { timeoutMs = 30_000, everyMs = 100, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      if (e instanceof Fatal) throw e;
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function logTo(name) {
  mkdirSync(LOGS, { recursive: true });
  return createWriteStream(join(LOGS, `${name}.log`), { flags: "a" });
}

async function stopProcess(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await once(child, "exit");
  clearTimeout(timer);
}

/**
 * `trade-canvas fake-binance` (or `fake-bybit`) on free ports; resolves with the settings
 * that point at it.
 */
export async function startFakeBinance({ speed = 60, name = "fake-binance", venue = "binance" } = {}) {
  const urls = venue === "binance" ? 4 : 3; // the settings it prints
  const child = spawn(
    CLI,
    [`fake-${venue}`, "--speed", String(speed), "--history-days", "3",
      "--rest-port", "0", "--spot-ws-port", "0", "--futures-ws-port", "0"],
    { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] },
  );
  const log = logTo(name);
  child.stderr.pipe(log);
  const env = {};
  let buffered = "";
  child.stdout.setEncoding("utf8").on("data", (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      log.write(line + "\n");
      const m = line.match(/^export (TRADE_CANVAS_\w+)=(.*)$/);
      if (m) env[m[1]] = m[2];
    }
  });
  try {
    await poll(
      () => {
        if (child.exitCode !== null) throw new Fatal(`${name} exited with ${child.exitCode}`);
        return Object.keys(env).length === urls;
      },
      { what: `${name} to print its URLs`, timeoutMs: 30_000, everyMs: 50 },
    );
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
  return { env, stop: () => stopProcess(child) };
}

/**
 * A temporary freqtrade datadir holding the fixture files of symbols the local Binance
 * does not list (their history is served, live ingest refuses them), so that no test
 * starts a years-long REST catch-up. Downloads fill it with what `download-data` writes.
 */
export function makeDatadir(prefixes = ["UNITTEST_BTC-", "XRP_ETH-"]) {
  // Named after its exchange, as freqtrade names datadirs: Bybit's is its sibling.
  const dir = join(mkdtempSync(join(tmpdir(), "tc-datadir-")), "binance");
  mkdirSync(dir);
  const source = join(FIXTURES, "freqtrade-datadir");
  for (const file of readdirSync(source)) {
    if (prefixes.some((p) => file.startsWith(p))) copyFileSync(join(source, file), join(dir, file));
  }
  return dir;
}

/**
 * A `rows`-candle 1m file for `pair` in `datadir`, written by freqtrade's own feather
 * handler (scripts/bench_history.py), starting 2017-07-14.
 */
export function writeFreqtradeFile(datadir, pair, rows) {
  const script = [
    "import sys",
    "from pathlib import Path",
    "sys.path.insert(0, 'scripts')",
    "from bench_history import write_datadir",
    "write_datadir(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))",
  ].join("\n");
  execFileSync(join(REPO, ".venv", "bin", "python"), ["-c", script, datadir, pair, String(rows)], {
    cwd: REPO,
    stdio: ["ignore", "ignore", "inherit"],
  });
}

/**
 * `trade-canvas serve` on a free port with its own SQLite file. `restart()` stops and starts
 * it again on the same port and store (what a deploy or a crash does to the page).
 */
export async function startServer({ exchangeEnv, datadir, extraEnv = {}, name = "server" }) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "tc-store-"));
  const env = {
    ...process.env,
    // A stack without a local Bybit points Bybit at a closed loopback port, never the
    // internet (its market list then reports `catalog_error`).
    TRADE_CANVAS_BYBIT_REST_URL: "http://127.0.0.1:9",
    TRADE_CANVAS_BYBIT_SPOT_WS_URL: "ws://127.0.0.1:9",
    TRADE_CANVAS_BYBIT_LINEAR_WS_URL: "ws://127.0.0.1:9",
    ...exchangeEnv,
    TRADE_CANVAS_DB_PATH: join(dir, "candles.sqlite"),
    TRADE_CANVAS_FREQTRADE_DATADIR: datadir,
    TRADE_CANVAS_HISTORY_DOWNLOAD_DAYS: "1",
    TRADE_CANVAS_HISTORY_DOWNLOAD_COOLDOWN_S: "1",
    TRADE_CANVAS_ENABLE_INGEST_API: "1",
    TRADE_CANVAS_ENABLE_DEBUG_API: "1",
    TRADE_CANVAS_ONDEMAND_IDLE_TTL_S: "5",
    // The local exchanges run 60 times faster than this server's clock, so their candles
    // lie ahead of it; a server rejects such candles as from the future unless allowed
    // this much skew (a year).
    TRADE_CANVAS_LIVE_CLOCK_SKEW_S: "31536000",
    // The chart as built for the tests (`npm run build:e2e`): the production one has no
    // hook to read the page with.
    TRADE_CANVAS_FRONTEND_DIR: join(REPO, "frontend", "dist-e2e"),
    ...extraEnv,
  };
  const url = `http://127.0.0.1:${port}`;
  const log = logTo(name);
  let child = null;

  async function start() {
    child = spawn(CLI, ["--log-level", "warning", "serve", "--port", String(port)], {
      cwd: REPO,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    const started = child;
    await poll(
      async () => {
        if (started.exitCode !== null) throw new Fatal(`server exited with ${started.exitCode}`);
        const response = await fetch(`${url}/ready`);
        return response.ok;
      },
      { what: `the server on ${url} to be ready`, timeoutMs: 60_000 },
    );
  }

  await start();
  return {
    url,
    port,
    async stop() {
      if (child) await stopProcess(child);
    },
    async restart() {
      if (child) await stopProcess(child);
      await start();
    },
    /** Stop without starting again (the caller starts it with `start`). */
    async kill() {
      if (child) await stopProcess(child);
    },
    start,
  };
}

/** Every candle the server stores for a series, read page by page over HTTP. */
export async function storedCandles(url, seriesId) {
  const out = [];
  let since = 0;
  for (;;) {
    const q = new URLSearchParams({ series_id: seriesId, limit: "5000", since: String(since) });
    const response = await fetch(`${url}/api/market/candles?${q}`);
    if (!response.ok) throw new Error(`candles: HTTP ${response.status}`);
    const { candles } = await response.json();
    out.push(...candles);
    if (candles.length < 5000) return out;
    since = candles[candles.length - 1].candle_time;
  }
}

/**
 * A real `freqtrade trade --dry-run` bot: the repository's Binance spot config and its tiny
 * strategy (user_data/strategies/FacadeProbe.py), reading klines through `serverUrl`'s
 * facade, with its REST API on `apiPort` (user `freqtrader`, password `password`);
 * `overrides` replace top-level keys of the config.
 */
export async function startFreqtradeBot({ serverUrl, apiPort, password, overrides = {}, name = "freqtrade-bot" }) {
  const workdir = mkdtempSync(join(tmpdir(), "tc-bot-"));
  const text = readFileSync(join(REPO, "user_data", "config.binance-spot.json"), "utf8")
    .replaceAll("http://127.0.0.1:8000", serverUrl)
    .replaceAll("ws://127.0.0.1:8000", serverUrl.replace("http://", "ws://"));
  const config = { ...JSON.parse(text), ...overrides };
  config.api_server = {
    enabled: true,
    listen_ip_address: "127.0.0.1",
    listen_port: apiPort,
    verbosity: "error",
    enable_openapi: false,
    jwt_secret_key: "an-e2e-jwt-secret-of-32-characters",
    ws_token: "an-e2e-ws-token",
    CORS_origins: [],
    username: "freqtrader",
    password,
  };
  const configPath = join(workdir, "config.json");
  writeFileSync(configPath, JSON.stringify(config));
  mkdirSync(join(workdir, "user_data"));
  const child = spawn(
    join(REPO, ".venv", "bin", "freqtrade"),
    ["trade", "--config", configPath, "--userdir", join(workdir, "user_data"),
      "--strategy-path", join(REPO, "user_data", "strategies"),
      "--db-url", `sqlite:///${join(workdir, "trades.sqlite")}`],
    { cwd: workdir, stdio: ["ignore", "pipe", "pipe"] },
  );
  const log = logTo(name);
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  return {
    url: `http://127.0.0.1:${apiPort}`,
    exited: () => child.exitCode !== null,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGINT"); // freqtrade's own clean shutdown
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await once(child, "exit");
      clearTimeout(timer);
    },
  };
}
