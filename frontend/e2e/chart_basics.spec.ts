import { join } from "node:path";
import { chartUrl, expect, FILE_1M, FILE_5M, hook, ingestClosed, LIVE, test, waitForBars } from "./fixtures";
import { poll, REPO } from "./stack.mjs";

const SHOTS = join(REPO, "output", "playwright");

test("'go to latest' appears away from the newest candle and brings it back", async ({ page, stack }) => {
  await page.goto(chartUrl(stack, FILE_1M));
  await waitForBars(page, FILE_1M, 2000);
  await expect(page.locator("#latest")).toBeHidden();
  const last = (await hook(page, "closedBars")).at(-1)!.candle_time;

  await hook(page, "scrollBy", -1500);
  await expect(page.locator("#latest")).toBeVisible();
  await page.locator("#latest").click();
  await expect.poll(async () => (await hook(page, "visibleTimes"))?.to).toBe(last);
  await expect(page.locator("#latest")).toBeHidden();
});

test("the oldest stored candle is marked once the chart reaches it", async ({ page, stack }) => {
  await page.goto(chartUrl(stack, FILE_5M));
  await waitForBars(page, FILE_5M, 100);
  expect(await hook(page, "historyStartMark")).toBeNull();
  await poll(
    async () => {
      if (await hook(page, "reachedStart")) return true;
      await hook(page, "scrollBy", -3000);
      return false;
    },
    { what: "the start of history", timeoutMs: 60_000 },
  );
  const first = await hook(page, "firstTime");
  await expect.poll(() => hook(page, "historyStartMark")).toBe(first);
  await page.screenshot({ path: join(SHOTS, "start-of-history.png") });
});

test("the loading state shows above the chart, not under its logo", async ({ page, stack }) => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route("**/api/market/candles?**", async (route) => {
    await held; // the first page is slow: the page shows that it loads
    await route.continue();
  });
  await page.goto(chartUrl(stack, FILE_1M));
  const loading = page.locator("#loading");
  await expect(loading).toBeVisible();
  const box = (await loading.boundingBox())!;
  // Nothing is drawn over it: the element at its centre is itself.
  const onTop = await page.evaluate(
    ([x, y]) => document.elementFromPoint(x, y)?.id ?? null,
    [box.x + box.width / 2, box.y + box.height / 2],
  );
  expect(onTop).toBe("loading");
  for (const logo of await page.locator("#tv-attr-logo").all()) {
    const l = await logo.boundingBox();
    if (!l) continue;
    const overlaps = box.x < l.x + l.width && l.x < box.x + box.width && box.y < l.y + l.height && l.y < box.y + box.height;
    expect(overlaps).toBe(false);
  }
  await page.screenshot({ path: join(SHOTS, "loading.png") });
  release();
  await waitForBars(page, FILE_1M, 100);
  await expect(loading).toBeHidden();
});

test("a new series gets its own price scale and zoom", async ({ page, stack }) => {
  await page.goto(chartUrl(stack, FILE_1M)); // prices near 0.0027
  await waitForBars(page, FILE_1M, 2000);
  // The user drags the price scale (autoscale off) and zooms out.
  const chartBox = (await page.locator("#chart").boundingBox())!;
  const scaleX = chartBox.x + chartBox.width - (await hook(page, "priceScaleWidth")) / 2;
  await page.mouse.move(scaleX, chartBox.y + 150);
  await page.mouse.down();
  await page.mouse.move(scaleX, chartBox.y + 300, { steps: 5 });
  await page.mouse.up();
  await page.mouse.move(chartBox.x + chartBox.width / 2, chartBox.y + 200);
  await page.mouse.wheel(0, 600);

  await page.locator("#symbol").fill("BTC/USDT"); // prices near 60,000
  await page.locator("#symbol").press("Enter");
  await waitForBars(page, LIVE, 100);
  const close = (await hook(page, "closedBars")).at(-1)!.close;
  await expect
    .poll(async () => {
      const range = await hook(page, "priceRange");
      return range !== null && range.from <= close && close <= range.to;
    })
    .toBe(true);
  const view = (await hook(page, "visibleTimes"))!;
  expect((view.to - view.from) / 60).toBeLessThan(1000); // not the zoomed-out span
});

test("times can be shown in the local zone; UTC stays the default", async ({ browser, stack }) => {
  const context = await browser.newContext({ timezoneId: "Asia/Tokyo" });
  const page = await context.newPage();
  try {
    await page.goto(chartUrl(stack, FILE_1M));
    await waitForBars(page, FILE_1M, 100);
    await expect(page.locator("#zone")).toHaveText("UTC");
    await expect(page.locator("#legend")).toContainText("2017-11-14 22:59 UTC");
    await page.locator("#zone").click();
    await expect(page.locator("#zone")).toHaveText("Local");
    await expect(page.locator("#legend")).toContainText("2017-11-15 07:59 UTC+9");
    await page.reload();
    await waitForBars(page, FILE_1M, 100);
    await expect(page.locator("#legend")).toContainText("2017-11-15 07:59 UTC+9");
  } finally {
    await context.close();
  }
});

test("without a venue tick, prices show the data's digits, not float noise", async ({ page, stack }) => {
  const series = "binance:spot:NOISE/BTC:1m"; // no venue lists it: no tick
  const t0 = Math.floor(Date.now() / 1000 / 60) * 60 - 3600;
  for (let i = 0; i < 3; i++) {
    const status = await ingestClosed(stack, series, {
      candle_time: t0 + 60 * i,
      open: 0.10440995000000001,
      high: 0.10440995000000001,
      low: 0.1044099,
      close: 0.10440995000000001,
      volume: 1,
    });
    expect(status).toBe(200);
  }
  await page.goto(chartUrl(stack, series));
  await waitForBars(page, series, 3);
  await expect.poll(() => hook(page, "pricePrecision")).toBe(8);
  await expect(page.locator("#legend")).toContainText("C 0.10440995 ");
});

test("every hole the store has is marked on the chart, not a silent jump", async ({ page, stack }) => {
  // freqtrade's own 1m fixture lacks candles in 538 places (the server lists the newest 100).
  await page.goto(chartUrl(stack, FILE_1M));
  await waitForBars(page, FILE_1M, 2000);
  const marks = await poll(
    async () => {
      const drawn = await hook(page, "holeMarks");
      return drawn.length > 0 ? drawn : null;
    },
    { what: "hole marks", timeoutMs: 30_000 },
  );
  const bars = await hook(page, "closedBars");
  const times = bars.map((b) => b.candle_time);
  for (const mark of marks) {
    const i = times.indexOf(mark.time);
    expect(i, `a mark on a held bar: ${JSON.stringify(mark)}`).toBeGreaterThan(0);
    const lacking = (times[i] - times[i - 1]) / 60 - 1;
    expect(lacking).toBeGreaterThan(0);
    expect(mark.text).toBe(`${lacking.toLocaleString("en-US")} missing`);
  }
  await page.screenshot({ path: join(SHOTS, "hole-marks.png") });
});
