import { join } from "node:path";
import { test as base, expect } from "@playwright/test";
import { hook, waitForBars } from "./fixtures";
import {
  freePort,
  makeDatadir,
  poll,
  REPO,
  startFakeBinance,
  startFreqtradeBot,
  startServer,
  type FreqtradeBot,
  type ServerProcess,
} from "./stack.mjs";

// A real dry-run freqtrade bot (FacadeProbe: it enters at every new candle, with an
// `sma_10` over the candles and a `momentum_5` subplot in its plot_config; here it holds
// each trade a minute, so trades are open for a while and leave in a later candle) reads
// its klines through this server's Binance facade, at the exchange's real speed, so its
// trades fall on the candles the chart shows. The server reads the bot back for the chart.

const SERIES = "binance:spot:BTC/USDT:1m";
const SMA_COLOR = "#1f77b4"; // FacadeProbe's plot_config colours
const MOMENTUM_COLOR = "#ff7f0e";
const SHOTS = join(REPO, "output", "playwright");

interface BotStack {
  readonly server: ServerProcess;
  readonly bot: FreqtradeBot;
}

interface Trade {
  trade_id: number;
  is_open: boolean;
  open_rate: number;
  entry_candle: number;
  exit_candle: number | null;
  exit_reason: string | null;
}

const test = base.extend<object, { botStack: BotStack }>({
  botStack: [
    async ({}, use) => {
      const fake = await startFakeBinance({ speed: 1, name: "fake-binance-real-time" });
      const [apiPort, closedPort] = [await freePort(), await freePort()];
      const password = "e2e-bot-password";
      const server = await startServer({
        exchangeEnv: fake.env,
        datadir: makeDatadir(),
        name: "server-bots",
        extraEnv: {
          TRADE_CANVAS_BOT_POLL_S: "2",
          TRADE_CANVAS_BOTS: JSON.stringify([
            { name: "probe", url: `http://127.0.0.1:${apiPort}`, username: "freqtrader", password },
            { name: "offline", url: `http://127.0.0.1:${closedPort}`, username: "x", password: "y" },
          ]),
        },
      });
      const bot = await startFreqtradeBot({
        serverUrl: server.url,
        apiPort,
        password,
        // Out at the first check once a minute in (ROI -100 %), never before (1,000 %).
        overrides: { minimal_roi: { "0": 10, "1": -1 } },
      });
      await use({ server, bot });
      await bot.stop();
      await server.stop();
      await fake.stop();
    },
    { scope: "worker", timeout: 120_000 },
  ],
});

interface Overlay {
  trades: Trade[];
  indicators: { points: [number, number][] }[];
}

async function overlay(server: ServerProcess): Promise<Overlay> {
  const q = new URLSearchParams({ series_id: SERIES });
  const response = await fetch(`${server.url}/api/bots/probe/overlay?${q}`);
  return response.json();
}

test("a dry-run bot's trades and indicator on the chart, at its candles", async ({ page, botStack }) => {
  test.setTimeout(300_000);
  const { server, bot } = botStack;
  // The bot starts, reads its history through the facade and trades on the next candle.
  const closed = await poll(
    async () => {
      if (bot.exited()) throw new Error("the bot exited (output/playwright/logs/freqtrade-bot.log)");
      const { trades, indicators } = await overlay(server);
      const done = trades.filter((t) => !t.is_open && t.exit_candle !== null);
      return done.length >= 1 && indicators.length === 2 && indicators[0].points.length > 0 ? done : null;
    },
    { what: "the bot to close a trade on BTC/USDT", timeoutMs: 240_000, everyMs: 1000 },
  );

  await page.goto(`${server.url}/?series_id=${encodeURIComponent(SERIES)}`);
  await waitForBars(page, SERIES, 100);
  const trade = closed[0];
  // Its entry and exit, drawn at the candles it entered and left in.
  await expect
    .poll(async () => {
      const drawn = await hook(page, "drawnBots");
      return drawn.markers.filter((m) => m.time === trade.entry_candle || m.time === trade.exit_candle).map((m) => m.text);
    })
    .toEqual(expect.arrayContaining(["long", trade.exit_reason ?? "exit"]));
  // The strategy's sma_10, over the candles: at times the chart has bars for, in its colour.
  // The subplot's momentum in a pane of its own below the volume, the close less the close
  // five candles before.
  const drawn = await hook(page, "drawnBots");
  expect(drawn.indicators.map((i) => [i.key, i.pane, i.color])).toEqual([
    ["probe/main/sma_10", 0, SMA_COLOR],
    ["probe/Momentum/momentum_5", 2, MOMENTUM_COLOR],
  ]);
  const [sma, momentum] = drawn.indicators.map((i) => i.points);
  expect(sma.length).toBeGreaterThan(20);
  const bars = new Map((await hook(page, "closedBars")).map((b) => [b.candle_time, b.close]));
  let compared = 0;
  for (const [t, value] of sma.slice(-50)) {
    const closes = Array.from({ length: 10 }, (_, i) => bars.get(t - 60 * i));
    if (closes.some((c) => c === undefined)) continue;
    const mean = (closes as number[]).reduce((a, b) => a + b, 0) / 10;
    expect(Math.abs(value - mean)).toBeLessThanOrEqual(1e-9 * value);
    compared++;
  }
  for (const [t, value] of momentum.slice(-50)) {
    const [now, before] = [bars.get(t), bars.get(t - 300)];
    if (now === undefined || before === undefined) continue;
    expect(Math.abs(value - (now - before))).toBeLessThanOrEqual(1e-9 * now);
    compared++;
  }
  expect(compared).toBeGreaterThan(50);
  await expect.poll(() => hook(page, "colorPixels", SMA_COLOR)).toBeGreaterThan(100);
  await expect.poll(() => hook(page, "colorPixels", MOMENTUM_COLOR)).toBeGreaterThan(100);

  // Open trades: a price line at the entry price, titled with the current profit.
  const line = await poll(async () => (await hook(page, "drawnBots")).priceLines[0] ?? null, {
    what: "an open trade's price line",
    timeoutMs: 120_000,
    everyMs: 500,
  });
  const title = line.title.match(/^probe #(\d+) long [+-]\d+\.\d\d% \([+-][\d.e+-]+ USDT\)$/);
  expect(title, line.title).not.toBeNull();
  const lined = (await overlay(server)).trades.find((t) => t.trade_id === Number(title![1]));
  expect(lined?.open_rate).toBe(line.price);

  // Zoomed in on the newest hour (the wheel, as a user would), hovering the entry candle
  // says which trade, its side and its profit.
  const box = (await page.locator("#chart").boundingBox())!;
  await page.mouse.move(box.x + box.width - 150, box.y + box.height / 3);
  for (let i = 0; i < 4; i++) await page.mouse.wheel(0, -400);
  const x = await hook(page, "xOfTime", trade.entry_candle);
  expect(x).not.toBeNull();
  await page.mouse.move(box.x + (x as number), box.y + box.height / 3);
  await expect(page.locator("#trade-tip")).toBeVisible();
  await expect(page.locator("#trade-tip")).toContainText(new RegExp(`probe #${trade.trade_id} long · entry`));
  await page.screenshot({ path: join(SHOTS, "bots-on-chart.png") });

  // The picker: each bot with what it runs, or why it cannot be read; closed until asked.
  await expect(page.locator("#bots-panel")).toBeHidden();
  await page.locator("#bots").click();
  await expect(page.locator("#bots-panel")).toBeVisible();
  const probe = page.locator('.bot-row[data-bot="probe"]');
  await expect(probe).toHaveAttribute("data-state", "ok");
  await expect(probe.locator(".bot-summary")).toHaveText("FacadeProbe · binance · spot · 1m · running (dry run)");
  await expect(probe.locator(".bot-note")).toHaveText(/^\d+ trades? on this pair/);
  const offline = page.locator('.bot-row[data-bot="offline"]');
  await expect(offline).toHaveAttribute("data-state", "down");
  await expect(offline.locator(".bot-summary")).toHaveText("down: connection refused");
  await expect(page.locator("#bots")).toHaveAttribute("data-state", "problem");
  await page.screenshot({ path: join(SHOTS, "bots-picker.png") });
  await page.keyboard.press("Escape");
  await expect(page.locator("#bots-panel")).toBeHidden();
  await page.locator("#bots").click();

  // Off: nothing of the bot is drawn; on again: back, and remembered across a reload.
  await probe.locator("input").uncheck();
  await expect.poll(async () => (await hook(page, "drawnBots")).markers.length).toBe(0);
  expect((await hook(page, "drawnBots")).indicators).toEqual([]);
  await page.reload();
  await waitForBars(page, SERIES, 100);
  await page.locator("#bots").click();
  await expect(page.locator('.bot-row[data-bot="probe"] input')).not.toBeChecked();
  await page.locator('.bot-row[data-bot="probe"] input').check();
  await expect.poll(async () => (await hook(page, "drawnBots")).markers.length).toBeGreaterThan(0);
});
