import { join } from "node:path";
import {
  assertContiguous,
  BYBIT_LIVE,
  chartUrl,
  expect,
  FILE_1M,
  FILE_5M,
  hook,
  ingestClosed,
  LIVE,
  pageMatchesStore,
  storedInRange,
  test,
  waitForBars,
} from "./fixtures";
import {
  makeDatadir,
  poll,
  REPO,
  startServer,
  storedCandles,
  writeFreqtradeFile,
} from "./stack.mjs";

const SHOTS = join(REPO, "output", "playwright");

test("first load: the stored candles are drawn, live, with no error", async ({ page, stack }) => {
  const firstPage = page.waitForResponse((r) => r.url().includes("/api/market/candles"));
  await page.goto(chartUrl(stack, LIVE));
  const response = await firstPage;
  expect(response.status()).toBe(200);
  expect(new URL(response.url()).searchParams.get("limit")).toBe("2000");
  await waitForBars(page, LIVE, 1000);

  // Everything the store holds now reaches the page (the live closes keep coming while
  // it looks, and may commit in a burst after an import, so the store is read first).
  const stored = await storedCandles(stack.server.url, LIVE);
  const newest = stored[stored.length - 1].candle_time;
  // Drawn: every stored candle from the chart's first bar up to `newest` (the first page,
  // then what streamed in after it; on a busy machine that may be many).
  const drawnUpToNewest = async () => {
    const drawn = (await hook(page, "closedBars")).filter((b) => b.candle_time <= newest);
    return (
      drawn.length > 0 &&
      drawn[drawn.length - 1].candle_time === newest &&
      drawn.length === storedInRange(stored, drawn).length
    );
  };
  await expect.poll(drawnUpToNewest).toBe(true);
  const bars = await hook(page, "closedBars");
  expect(bars.filter((b) => b.candle_time <= newest).length).toBeGreaterThanOrEqual(
    Math.min(stored.length, 2000),
  );
  expect(bars).toEqual(storedInRange(await storedCandles(stack.server.url, LIVE), bars));
  expect(await hook(page, "barCount")).toBeGreaterThanOrEqual(bars.length);

  // The canvas really shows candles in both colours, not just a DOM that says so.
  const pixels = await hook(page, "chartPixels");
  expect(pixels.up).toBeGreaterThan(500);
  expect(pixels.down).toBeGreaterThan(500);

  await expect(page.locator("#connection")).toHaveText("connected");
  await expect(page.locator("#problem")).toBeHidden();
  await expect(page.locator("#legend")).toContainText("BTC/USDT");
  await expect(page.locator("#feed")).toContainText("streaming from the exchange · last close");
  await page.screenshot({ path: join(SHOTS, "first-load.png") });
});

test("a forming update moves the last bar; an ingested close becomes the new last bar", async ({
  page,
  stack,
}) => {
  await page.goto(chartUrl(stack, LIVE));
  await waitForBars(page, LIVE, 100);
  // Forming: the bar after the newest closed one appears and then changes in place.
  const forming = await poll(
    async () => {
      const [last, closed] = await Promise.all([hook(page, "lastBar"), hook(page, "closedBars")]);
      return last && last.candle_time > closed[closed.length - 1].candle_time ? last : null;
    },
    { what: "a forming bar" },
  );
  await poll(
    async () => {
      const last = await hook(page, "lastBar");
      return (
        last !== null &&
        (last.candle_time > forming.candle_time ||
          last.close !== forming.close ||
          last.volume !== forming.volume)
      );
    },
    { what: "the forming bar to move" },
  );

  // Closed: a candle written through the ingest API is broadcast after its commit.
  await page.goto(chartUrl(stack, FILE_5M));
  await waitForBars(page, FILE_5M, 2000);
  const before = await hook(page, "barCount");
  const last = (await hook(page, "lastBar"))!;
  const candle = {
    candle_time: last.candle_time + 300,
    open: last.close,
    high: last.close * 1.01,
    low: last.close * 0.995,
    close: last.close * 1.005,
    volume: 123.5,
  };
  expect(await ingestClosed(stack, FILE_5M, candle)).toBe(200);
  await expect.poll(() => hook(page, "lastBar")).toEqual(candle);
  expect(await hook(page, "barCount")).toBe(before + 1);
  const closed = await hook(page, "closedBars");
  expect(closed[closed.length - 1]).toEqual(candle);
  await page.screenshot({ path: join(SHOTS, "ingested-close.png") });
});

test("a gap in the stream is refilled over HTTP", async ({ page, stack }) => {
  const series = "binance:spot:UNITTEST/BTC:30m";
  await page.goto(chartUrl(stack, series));
  await waitForBars(page, series, 100);
  const head = (await hook(page, "closedBars")).at(-1)!;
  const candleAt = (t: number) => ({
    candle_time: t, open: head.close, high: head.close * 1.01, low: head.close * 0.99,
    close: head.close, volume: 7,
  });
  // The newer candle first, then the one before it: the second is committed behind the
  // page's newest bar, so the server sends `gap` and the page re-reads the store.
  const gapRefetch = page.waitForRequest(
    (r) => r.url().includes("/api/market/candles") && r.url().includes(`since=${head.candle_time + 1800 - 1}`),
  );
  expect(await ingestClosed(stack, series, candleAt(head.candle_time + 3600))).toBe(200);
  await expect.poll(async () => (await hook(page, "lastBar"))?.candle_time).toBe(head.candle_time + 3600);
  expect(await ingestClosed(stack, series, candleAt(head.candle_time + 1800))).toBe(200);
  await gapRefetch;
  await poll(() => pageMatchesStore(page, stack, series), { what: "the refilled bar" });
  assertContiguous((await hook(page, "closedBars")).slice(-3), 1800);
});

test("a server restart: reconnecting, then recovered with exactly the stored candles", async ({
  page,
  stack,
}) => {
  await page.goto(chartUrl(stack, LIVE));
  await waitForBars(page, LIVE, 100);
  await expect(page.locator("#connection")).toHaveText("connected");
  const lastBefore = (await hook(page, "closedBars")).at(-1)!.candle_time;

  await stack.server.kill();
  await expect(page.locator("#connection")).toHaveText(/reconnecting|offline/);
  await page.screenshot({ path: join(SHOTS, "reconnecting.png") });
  // The exchange goes on while the server is down (a 1m candle per second at speed 60).
  await stack.server.start();
  await expect(page.locator("#connection")).toHaveText("connected", { timeout: 60_000 });

  // Candles closed during the outage are backfilled by the server and reach the page by
  // resync: its bars end up equal to the store, with no hole and no duplicate.
  await poll(
    async () => {
      const bars = await hook(page, "closedBars");
      return bars.at(-1)!.candle_time >= lastBefore + 5 * 60 && pageMatchesStore(page, stack, LIVE);
    },
    { what: "the page's bars to equal the store after the restart", timeoutMs: 60_000 },
  );
  const bars = await hook(page, "closedBars");
  assertContiguous(bars, 60);

  // A connection cut from the page's side (a network drop) recovers the same way.
  await hook(page, "dropConnection");
  await expect(page.locator("#connection")).toHaveText(/reconnecting|connected/);
  await expect(page.locator("#connection")).toHaveText("connected");
  const cutAt = (await hook(page, "closedBars")).at(-1)!.candle_time;
  await poll(
    async () => {
      const after = await hook(page, "closedBars");
      return after.at(-1)!.candle_time >= cutAt + 3 * 60 && pageMatchesStore(page, stack, LIVE);
    },
    { what: "the page's bars to equal the store after a cut" },
  );
  assertContiguous(await hook(page, "closedBars"), 60);
});

test("scrolling back loads older candles, keeps the view, and stops at the start", async ({
  page,
  stack,
}) => {
  await page.goto(chartUrl(stack, FILE_1M));
  await waitForBars(page, FILE_1M, 2000);
  expect(await hook(page, "barCount")).toBe(2000);

  // A user drag to the right shows older bars; near the left edge an older page loads.
  const box = (await page.locator("#chart").boundingBox())!;
  const y = box.y + box.height * 0.4;
  for (let i = 0; i < 40 && (await hook(page, "barCount")) === 2000; i++) {
    await page.mouse.move(box.x + 100, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width - 150, y, { steps: 8 });
    await page.mouse.up();
  }
  await expect.poll(() => hook(page, "barCount")).toBeGreaterThan(2000);

  // The view stays on the bars the user was looking at when older ones are prepended.
  // Scroll to 10 bars from the oldest, as a user would (not past it into empty space).
  await expect.poll(() => hook(page, "loadingOlder")).toBe(false);
  const bars = await hook(page, "barCount");
  const oldest = (await hook(page, "firstTime"))!;
  const view = (await hook(page, "scrollToBar", 10))!;
  expect(view.from).toBe(oldest + 10 * 60);
  await expect.poll(() => hook(page, "barCount")).toBeGreaterThan(bars);
  await expect.poll(() => hook(page, "visibleTimes")).toEqual(view);

  // Until the store has no more: then every stored candle is on the chart, once.
  await poll(
    async () => {
      if (await hook(page, "reachedStart")) return true;
      await hook(page, "scrollBy", -(await hook(page, "barCount")));
      return false;
    },
    { what: "the start of the stored history", everyMs: 300 },
  );
  const stored = await storedCandles(stack.server.url, FILE_1M);
  expect(await hook(page, "closedBars")).toEqual(stored);
  await page.screenshot({ path: join(SHOTS, "scrolled-back.png") });
});

test("scrolling through more bars than the chart holds, and back to the live end", async ({
  page,
  stack,
}) => {
  const series = "binance:spot:SLIDE/USDT:1m"; // not listed by the exchange: history only
  writeFreqtradeFile(stack.datadir, "SLIDE/USDT", 40_000);
  await page.goto(chartUrl(stack, series));
  await waitForBars(page, series, 2000);

  await poll(
    async () => {
      const view = await hook(page, "visibleTimes");
      if ((await hook(page, "reachedStart")) && view?.from === (await hook(page, "firstTime"))) {
        return true;
      }
      await hook(page, "scrollBy", -3000);
      return false;
    },
    { what: "the oldest bar on screen", everyMs: 100, timeoutMs: 60_000 },
  );
  const stored = await storedCandles(stack.server.url, series);
  expect(stored).toHaveLength(40_000);
  expect(await hook(page, "closedBars")).toEqual(stored);
  // The chart holds a slice around the view, not all 40,000 bars.
  expect(await hook(page, "heldBars")).toBeLessThanOrEqual(15_000);

  const last = stored[stored.length - 1];
  await poll(
    async () => {
      const view = await hook(page, "visibleTimes");
      if (view?.to === last.candle_time) return true;
      // Toward the newest bar without overshooting into the empty space after it.
      const step = view ? Math.min(3000, (last.candle_time - view.to) / 60) : -500;
      await hook(page, "scrollBy", step);
      return false;
    },
    { what: "the newest bar on screen", everyMs: 100, timeoutMs: 60_000 },
  );
  // Back at the end, the slice follows new bars again: a close is drawn as it comes.
  const candle = { ...last, candle_time: last.candle_time + 60, volume: 42 };
  expect(await ingestClosed(stack, series, candle)).toBe(200);
  await expect.poll(() => hook(page, "lastBar")).toEqual(candle);
  await expect.poll(async () => (await hook(page, "visibleTimes"))?.to).toBe(candle.candle_time);
});

test("switching timeframe, symbol and market loads the right data and goes in the URL", async ({
  page,
  stack,
}) => {
  await page.goto(chartUrl(stack, FILE_1M));
  await waitForBars(page, FILE_1M, 2000);

  await page.getByRole("button", { name: "5m", exact: true }).click();
  await waitForBars(page, FILE_5M, 2000);
  expect(new URL(page.url()).searchParams.get("series_id")).toBe(FILE_5M);
  const stored5m = await storedCandles(stack.server.url, FILE_5M);
  expect(await hook(page, "closedBars")).toEqual(stored5m.slice(-2000));
  await expect(page.getByRole("button", { name: "5m", exact: true })).toHaveAttribute(
    "aria-pressed",
    "true",
  );

  // Free entry in the symbol box, from the keyboard.
  const xrp = "binance:spot:XRP/ETH:5m";
  await page.locator("#symbol").fill("xrp/eth");
  await page.locator("#symbol").press("Enter");
  await waitForBars(page, xrp, 100);
  expect(await hook(page, "closedBars")).toEqual(
    (await storedCandles(stack.server.url, xrp)).slice(-2000),
  );

  // Timeframe buttons work from the keyboard too.
  await page.getByRole("button", { name: "1m", exact: true }).focus();
  await page.keyboard.press("Enter");
  await waitForBars(page, "binance:spot:XRP/ETH:1m", 100);

  // Back goes to the previous series; a bare visit reopens the remembered one.
  await page.goBack();
  await expect.poll(() => hook(page, "seriesId")).toBe(xrp);
  await page.goto(chartUrl(stack));
  await expect.poll(() => hook(page, "seriesId")).toBe(xrp);

  // The market picker: spot to futures keeps the pair and adds the settle currency.
  await page.locator("#market").selectOption("futures");
  await expect.poll(() => hook(page, "seriesId")).toBe("binance:futures:XRP/ETH:ETH:5m");
});

test("the exchange picker switches venue, keeps the pair and offers that venue's timeframes", async ({
  page,
  stack,
}) => {
  // The venue list is held back until after the switch, as a slow server (a first load of
  // the venues' market lists, a busy machine) does: a choice made before it arrives is put
  // right when it does.
  let releaseVenues = () => {};
  const venuesHeld = new Promise<void>((resolve) => (releaseVenues = resolve));
  await page.route("**/api/market/exchanges", async (route) => {
    await venuesHeld;
    await route.continue();
  });
  await page.goto(chartUrl(stack, "binance:spot:BTC/USDT:8h"));
  await expect.poll(() => hook(page, "seriesId")).toBe("binance:spot:BTC/USDT:8h");
  await page.locator("#exchange").selectOption("bybit");
  await expect.poll(() => hook(page, "seriesId")).toBe("bybit:spot:BTC/USDT:8h");
  releaseVenues();
  // The picker lists what the server serves.
  await expect(page.locator("#exchange option")).toHaveText(["Binance", "Bybit", "OKX"]);
  // Bybit has no 8h candles: the chart falls back to 1m and hides the button.
  await expect.poll(() => hook(page, "seriesId")).toBe(BYBIT_LIVE);
  expect(new URL(page.url()).searchParams.get("series_id")).toBe(BYBIT_LIVE);
  await expect(page.getByRole("button", { name: "8h", exact: true })).toBeHidden();
  await expect(page.getByRole("button", { name: "12h", exact: true })).toBeVisible();
  // Bybit's history and live stream reach the chart: the local Bybit's own candles.
  await waitForBars(page, BYBIT_LIVE, 100);
  const stored = await storedCandles(stack.server.url, BYBIT_LIVE);
  const drawn = await hook(page, "closedBars");
  expect(drawn.length).toBeGreaterThanOrEqual(100);
  expect(stored).toEqual(expect.arrayContaining(drawn.slice(0, 50)));

  await page.goBack();
  await expect.poll(() => hook(page, "seriesId")).toBe("binance:spot:BTC/USDT:8h");
  await expect(page.locator("#exchange")).toHaveValue("binance");
  await expect(page.getByRole("button", { name: "8h", exact: true })).toBeVisible();
});

test("an unknown series shows a message instead of a blank chart", async ({ page, stack }) => {
  await page.goto(chartUrl(stack, "binance:mars:BTC/USDT:1m"));
  await expect(page.locator("#problem")).toBeVisible();
  await expect(page.locator("#problem")).toContainText("Unknown series");
  await expect(page.locator("#problem")).toHaveAttribute("data-blocking", "true");
  await expect(page.getByRole("button", { name: "Dismiss" })).toBeHidden();

  // Well formed, but the exchange has no such pair: no history, no live data.
  await page.goto(chartUrl(stack, "binance:spot:NOPE/USDT:1m"));
  await expect(page.locator("#problem")).toContainText("does not list", { timeout: 60_000 });
  expect(await hook(page, "barCount")).toBe(0);
  await page.screenshot({ path: join(SHOTS, "unknown-series.png") });
});

test("a server at its live capacity says so and still shows history", async ({ page, stack }) => {
  const full = await startServer({
    exchangeEnv: stack.exchangeEnv,
    datadir: makeDatadir(),
    extraEnv: { TRADE_CANVAS_ONDEMAND_MAX_JOBS: "0", TRADE_CANVAS_HISTORY_DOWNLOAD: "0" },
    name: "server-full",
  });
  try {
    await page.goto(`${full.url}/?series_id=${encodeURIComponent(FILE_1M)}`);
    await waitForBars(page, FILE_1M, 2000);
    await expect(page.locator("#problem")).toHaveAttribute("data-code", "capacity");
    await expect(page.locator("#problem")).toContainText("Stored history is shown");
    await page.getByRole("button", { name: "Dismiss" }).click();
    await expect(page.locator("#problem")).toBeHidden();
    expect(await hook(page, "chartPixels")).toMatchObject({ up: expect.any(Number) });
    expect((await hook(page, "chartPixels")).up).toBeGreaterThan(500);
  } finally {
    await full.stop();
  }
});

test("themes follow the system and switch; the page fits a phone", async ({ page, stack }) => {
  await page.emulateMedia({ colorScheme: "dark" });
  await page.goto(chartUrl(stack, FILE_5M));
  await waitForBars(page, FILE_5M, 2000);
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  const dark = await hook(page, "chartPixels");
  expect(dark.up + dark.down).toBeGreaterThan(1000);

  await page.locator("#theme").click(); // system -> light
  await expect(page.locator("html")).toHaveAttribute("data-theme", "light");
  const light = await hook(page, "chartPixels");
  expect(light.up + light.down).toBeGreaterThan(1000);
  await page.reload();
  await expect(page.locator("html")).toHaveAttribute("data-theme", "light");

  await page.setViewportSize({ width: 390, height: 844 });
  await waitForBars(page, FILE_5M, 2000);
  const chartBox = (await page.locator("#chart").boundingBox())!;
  expect(chartBox.width).toBeLessThanOrEqual(390);
  expect(chartBox.height).toBeGreaterThan(300);
  await expect(page.locator("#symbol")).toBeInViewport();
  await page.screenshot({ path: join(SHOTS, "phone-light.png") });
  await page.locator("#theme").click(); // light -> dark
  await page.screenshot({ path: join(SHOTS, "phone-dark.png") });
});

test("prices follow the venue's tick; on a phone the legend ends before the price scale", async ({
  page,
  stack,
}) => {
  // The page asks for the venues' market lists itself; nothing is cached for it here.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(chartUrl(stack, LIVE));
  await waitForBars(page, LIVE, 100);

  type Symbols = { symbol: string; price_tick: number }[];
  const body = (await (await fetch(`${stack.server.url}/api/market/exchanges`)).json()) as {
    exchanges: { exchange: string; markets: { market: string; symbols: Symbols }[] }[];
  };
  const spot = body.exchanges
    .find((e) => e.exchange === "binance")!
    .markets.find((m) => m.market === "spot")!;
  const tick = spot.symbols.find((s) => s.symbol === "BTC/USDT")!.price_tick;
  const decimals = (String(tick).split(".")[1] ?? "").length;
  expect(decimals).toBeGreaterThan(0);
  await expect.poll(() => hook(page, "pricePrecision")).toBe(decimals);
  // The legend's prices carry the tick's decimals too, e.g. "C 61234.57".
  await expect(page.locator("#legend")).toContainText(new RegExp(`C \\d+\\.\\d{${decimals}}\\b`));

  const chartBox = (await page.locator("#chart").boundingBox())!;
  const overlap = async (): Promise<number> => {
    const legendBox = (await page.locator("#legend").boundingBox())!;
    const scale = await hook(page, "priceScaleWidth");
    return legendBox.x + legendBox.width - (chartBox.x + chartBox.width - scale);
  };
  expect(await hook(page, "priceScaleWidth")).toBeGreaterThan(0);
  // Placed after each render's layout: polled, as the scale settles with the prices.
  await expect.poll(overlap).toBeLessThanOrEqual(0);
  await page.screenshot({ path: join(SHOTS, "phone-legend.png") });
});
