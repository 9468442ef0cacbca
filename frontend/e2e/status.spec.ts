import { join } from "node:path";
import { chartUrl, expect, FILE_1M, hook, LIVE, test, waitForBars } from "./fixtures";
import { makeDatadir, REPO, startServer, storedCandles, writeFreqtradeFile } from "./stack.mjs";

const SHOTS = join(REPO, "output", "playwright");

// What the header says is the exchange side's truth, not the browser's socket to us.

test("a live series says it streams, with the age of its newest close", async ({ page, stack }) => {
  await page.goto(chartUrl(stack, LIVE));
  await waitForBars(page, LIVE, 100);
  await expect(page.locator("#connection")).toHaveText("connected");
  await expect(page.locator("#feed")).toHaveAttribute("data-state", "streaming");
  await expect(page.locator("#feed")).toHaveText(/^streaming from the exchange · last close (just now|\d+ s ago)$/);
});

test("an unreachable exchange is said, while the socket to us is connected", async ({ page, stack }) => {
  // The venue's REST works (history downloads), its WebSocket is a closed port.
  const server = await startServer({
    exchangeEnv: { ...stack.exchangeEnv, TRADE_CANVAS_BINANCE_SPOT_WS_URL: "ws://127.0.0.1:9" },
    datadir: makeDatadir(),
    extraEnv: { TRADE_CANVAS_WHITELIST: LIVE },
    name: "server-ws-down",
  });
  try {
    await page.goto(`${server.url}/?series_id=${encodeURIComponent(LIVE)}`);
    await waitForBars(page, LIVE, 100);
    await expect(page.locator("#connection")).toHaveText("connected");
    await expect(page.locator("#feed")).toHaveText("exchange unreachable, retrying");
    await expect(page.locator("#feed")).toHaveAttribute("title", /^exchange unreachable: .*(refused|Errno)/);
    const ready = await (await fetch(`${server.url}/ready`)).json();
    expect(ready.status).toBe("degraded");
    await page.screenshot({ path: join(SHOTS, "status-exchange-unreachable.png") });
  } finally {
    await server.stop();
  }
});

test("with live ingest off the header and the empty chart say so", async ({ page, stack }) => {
  const server = await startServer({
    exchangeEnv: stack.exchangeEnv,
    datadir: makeDatadir(),
    extraEnv: { TRADE_CANVAS_LIVE_INGEST: "0", TRADE_CANVAS_HISTORY_DOWNLOAD: "0" },
    name: "server-live-off",
  });
  try {
    await page.goto(`${server.url}/?series_id=${encodeURIComponent(FILE_1M)}`);
    await waitForBars(page, FILE_1M, 1000);
    await expect(page.locator("#feed")).toHaveText(/^live ingest off · newest candle 20\d\d-\d\d-\d\d \d\d:\d\d UTC$/);

    // A pair the exchange lists but nobody has stored: the message names the real reason.
    const empty = "binance:spot:ETH/USDT:1m";
    await page.goto(`${server.url}/?series_id=${encodeURIComponent(empty)}`);
    await expect(page.locator("#problem")).toContainText(
      `No candles are stored for ${empty}: live ingest is off (TRADE_CANVAS_LIVE_INGEST=0); the datadir has no file for it`,
    );
    await expect(page.locator("#problem")).not.toContainText("waiting for live data");
    await expect(page.locator("#feed")).toHaveText("live ingest off · no candles stored");
    await page.screenshot({ path: join(SHOTS, "status-live-off.png") });
  } finally {
    await server.stop();
  }
});

test("an open chart follows candles download-data appends to its file", async ({ page, stack }) => {
  const series = "binance:spot:GROW/USDT:1m"; // not listed by the exchange: history only
  writeFreqtradeFile(stack.datadir, "GROW/USDT", 500);
  await page.goto(chartUrl(stack, series));
  await waitForBars(page, series, 500);
  const before = await hook(page, "closedBars");
  expect(before).toHaveLength(500);

  writeFreqtradeFile(stack.datadir, "GROW/USDT", 530); // the same 500, then 30 more
  await expect.poll(async () => (await hook(page, "closedBars")).length).toBe(530);
  expect(await hook(page, "closedBars")).toEqual(await storedCandles(stack.server.url, series));
});
