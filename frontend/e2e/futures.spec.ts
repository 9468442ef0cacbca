import { join } from "node:path";
import { expect, hook, test, waitForBars } from "./fixtures";
import { makeDatadir, poll, REPO, startServer, storedCandles } from "./stack.mjs";

const SHOTS = join(REPO, "output", "playwright");
const SERIES = "binance:futures:BTC/USDT:USDT:1m";
const MARK = "binance:mark:BTC/USDT:USDT:1h";
const FUNDING = "binance:funding_rate:BTC/USDT:USDT:1h";
const INTEREST = "binance:open_interest:BTC/USDT:USDT:5m";

test("a futures chart draws its mark price, funding rate and open interest", async ({ page, stack }) => {
  // The server keeps the three beside every stored contract, from the local Binance.
  const server = await startServer({
    exchangeEnv: stack.exchangeEnv,
    datadir: makeDatadir(),
    extraEnv: { TRADE_CANVAS_LIVE_COMPANIONS_EVERY_S: "1" },
    name: "server-futures",
  });
  try {
    const url = `${server.url}/?series_id=${encodeURIComponent(SERIES)}`;
    await page.goto(url);
    await waitForBars(page, SERIES, 100);
    await expect(page.locator("#companions")).toBeVisible();
    await poll(
      async () => {
        const [marks, events, interest] = await Promise.all(
          [MARK, FUNDING, INTEREST].map((id) => storedCandles(server.url, id)),
        );
        return marks.length >= 12 && events.length >= 2 && interest.length >= 100;
      },
      { what: "the contract's mark, funding and open interest to be kept", timeoutMs: 90_000 },
    );
    await page.reload();
    await waitForBars(page, SERIES, 100);
    await expect.poll(async () => (await hook(page, "companions")).map((c) => c.kind)).toEqual([
      "mark",
      "funding_rate",
      "open_interest",
    ]);

    // What is drawn is what the store holds: the mark at each hour, the funding rates.
    const drawn = await hook(page, "companions");
    const marks = await storedCandles(server.url, MARK);
    expect(drawn[0].points).toEqual(marks.map((c) => [c.candle_time, c.open]));
    const events = await storedCandles(server.url, FUNDING);
    expect(drawn[1].points).toEqual(events.map((c) => [c.candle_time, c.open]));
    expect(events.some((c) => c.open < 0) || events.some((c) => c.open > 0)).toBe(true);

    // The mark over the candles, funding and open interest each in a pane of their own.
    const indicators = (await hook(page, "drawnBots")).indicators;
    const panes = Object.fromEntries(indicators.map((i) => [i.key, i.pane]));
    expect(panes["futures/main/Mark"]).toBe(0);
    expect(panes["futures/Funding rate/Funding"]).toBe(2);
    expect(panes["futures/Open interest/Open interest"]).toBe(3);
    expect(indicators.every((i) => i.points.length > 0)).toBe(true);
    expect(await hook(page, "paneCount")).toBe(4);
    await expect(page.locator("#legend")).toContainText(/Mark \d/);
    await expect(page.locator("#legend")).toContainText(/Funding -?\d\.\d{4}%/);
    await expect(page.locator("#legend")).toContainText(/Open interest \d/);
    await page.screenshot({ path: join(SHOTS, "futures-chart.png") });

    // Each a toggle, remembered.
    const funding = page.locator("#companions button", { hasText: "Funding" });
    await funding.click();
    await expect(funding).toHaveAttribute("aria-pressed", "false");
    await expect.poll(() => hook(page, "paneCount")).toBe(3);
    await expect(page.locator("#legend")).not.toContainText("Funding");
    await page.reload();
    await waitForBars(page, SERIES, 100);
    await expect(page.locator("#companions button", { hasText: "Funding" })).toHaveAttribute(
      "aria-pressed",
      "false",
    );
    await expect.poll(async () => (await hook(page, "companions")).map((c) => c.kind)).toEqual([
      "mark",
      "open_interest",
    ]);
    await expect.poll(() => hook(page, "paneCount")).toBe(3);
    await page.locator("#companions button", { hasText: "Funding" }).click();
    await expect.poll(() => hook(page, "paneCount")).toBe(4);

    // A spot chart has none of them.
    await page.goto(`${server.url}/?series_id=${encodeURIComponent("binance:spot:BTC/USDT:1m")}`);
    await waitForBars(page, "binance:spot:BTC/USDT:1m", 100);
    await expect(page.locator("#companions")).toBeHidden();
    await expect.poll(() => hook(page, "paneCount")).toBe(2);
  } finally {
    await server.stop();
  }
});
