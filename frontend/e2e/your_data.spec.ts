import { join } from "node:path";
import { expect, hook, test } from "./fixtures";
import { makeDatadir, REPO, startServer } from "./stack.mjs";

const SHOTS = join(REPO, "output", "playwright");

// The chart knows the user's own data: what the datadir and the store hold.

test("a bare visit opens the user's own pair; the picker marks what they hold and switches market for a pair only the other has", async ({
  page,
  stack,
}) => {
  const server = await startServer({
    exchangeEnv: stack.exchangeEnv,
    datadir: makeDatadir(["XRP_ETH-"]), // XRP/ETH 1m and 5m: the user's only files
    extraEnv: { TRADE_CANVAS_HISTORY_DOWNLOAD: "0", TRADE_CANVAS_LIVE_INGEST: "0" },
    name: "server-your-data",
  });
  try {
    await page.goto(`${server.url}/`);
    await expect.poll(() => hook(page, "seriesId")).toBe("binance:spot:XRP/ETH:1m");
    await expect.poll(() => hook(page, "barCount")).toBeGreaterThan(100);
    // Asked after the first page (which imported the file), not before it.
    await expect(page.locator("#feed")).toHaveText(/^live ingest off · newest candle 2019-10-13 /);
    await expect(page.getByRole("button", { name: "1m", exact: true })).toHaveAttribute("data-held", "datadir");
    await expect(page.getByRole("button", { name: "5m", exact: true })).toHaveAttribute("data-held", "datadir");
    await expect(page.getByRole("button", { name: "15m", exact: true })).toHaveAttribute("data-held", "");
    await expect(page.locator('#symbols option[value="XRP/ETH"]')).toHaveAttribute("label", "your data");
    await page.screenshot({ path: join(SHOTS, "your-data.png") });

    // Futures chosen, then Binance's own spot symbol typed in lower case: spot's ETH/BTC,
    // not a futures ETH/BTC:BTC that does not exist.
    await page.locator("#market").selectOption("futures");
    await expect.poll(() => hook(page, "seriesId")).toBe("binance:futures:XRP/ETH:ETH:1m");
    await page.locator("#symbol").fill("ethbtc");
    await page.locator("#symbol").press("Enter");
    await expect.poll(() => hook(page, "seriesId")).toBe("binance:spot:ETH/BTC:1m");
    await expect(page.locator("#market")).toHaveValue("spot");
    await expect(page.locator("#symbol")).toHaveValue("ETH/BTC");

    await page.locator("#market").selectOption("futures");
    await page.locator("#symbol").fill("ETH/BTC");
    await page.locator("#symbol").press("Enter");
    await expect.poll(() => hook(page, "seriesId")).toBe("binance:spot:ETH/BTC:1m");
  } finally {
    await server.stop();
  }
});
