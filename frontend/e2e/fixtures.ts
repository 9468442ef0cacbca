import { test as base, expect, type Page } from "@playwright/test";
import {
  makeDatadir,
  storedCandles,
  startFakeBinance,
  startServer,
  type ServerProcess,
  type StoredCandle,
} from "./stack.mjs";

/** A local Binance, Bybit and OKX and one server (temporary store and datadir) per worker. */
export interface Stack {
  readonly exchangeEnv: Record<string, string>;
  readonly datadir: string;
  readonly server: ServerProcess;
}

export const LIVE = "binance:spot:BTC/USDT:1m"; // history from download-data, then live
export const FILE_1M = "binance:spot:UNITTEST/BTC:1m"; // a freqtrade fixture file, 13,681 bars
export const FILE_5M = "binance:spot:UNITTEST/BTC:5m";
export const BYBIT_LIVE = "bybit:spot:BTC/USDT:1m"; // history from download-data --exchange bybit

export const test = base.extend<object, { stack: Stack }>({
  stack: [
    async ({}, use) => {
      const [fake, bybit, okx] = await Promise.all([
        startFakeBinance({ speed: 60 }),
        startFakeBinance({ speed: 60, name: "fake-bybit", venue: "bybit" }),
        startFakeBinance({ speed: 60, name: "fake-okx", venue: "okx" }),
      ]);
      const exchangeEnv = { ...fake.env, ...bybit.env, ...okx.env };
      const datadir = makeDatadir();
      const server = await startServer({ exchangeEnv, datadir });
      // The live series' history comes from the real `freqtrade download-data` on its first
      // request; take that wait here rather than in the first test's budget.
      await Promise.all(
        [LIVE, BYBIT_LIVE].map(async (series) => {
          const q = new URLSearchParams({ series_id: series, limit: "1" });
          const warm = await fetch(`${server.url}/api/market/candles?${q}`);
          if (!warm.ok) throw new Error(`warming ${series}: HTTP ${warm.status}`);
        }),
      );
      await use({ exchangeEnv, datadir, server });
      await server.stop();
      await Promise.all([fake.stop(), bybit.stop(), okx.stop()]);
    },
    { scope: "worker", timeout: 120_000 },
  ],
});

export { expect };

/** The page's test hook (src/testHook.ts). */
export interface Hook {
  seriesId(): string | null;
  state(): string;
  reachedStart(): boolean;
  loadingOlder(): boolean;
  barCount(): number;
  heldBars(): number;
  firstTime(): number | null;
  closedBars(): StoredCandle[];
  lastBar(): StoredCandle | null;
  visibleTimes(): { from: number; to: number } | null;
  scrollBy(bars: number): void;
  scrollToBar(index: number): Promise<{ from: number; to: number } | null>;
  dropConnection(): void;
  chartPixels(): { up: number; down: number; total: number };
  pricePrecision(): number;
  historyStartMark(): number | null;
  holeMarks(): { time: number; text: string }[];
  priceRange(): { from: number; to: number } | null;
  priceScaleWidth(): number;
  drawnBots(): {
    markers: { time: number; text: string; position: string }[];
    priceLines: { price: number; title: string }[];
    indicators: { key: string; pane: number; color: string; points: [number, number][] }[];
  };
  botOverlays(): { name: string; state: string; trades: { trade_id: number; entry_candle: number }[] }[];
  xOfTime(time: number): number | null;
  colorPixels(hex: string): number;
  companions(): { kind: string; points: [number, number][] }[];
  paneCount(): number;
}

type HookMethod = { [K in keyof Hook]: Hook[K] extends (...a: never[]) => unknown ? K : never }[keyof Hook];

/** Call one of the page's test-hook methods, once the page has installed the hook (a
 * page still starting, its venue list held back, has not yet). */
export async function hook<K extends HookMethod>(
  page: Page,
  name: K,
  ...args: Parameters<Hook[K]>
): Promise<Awaited<ReturnType<Hook[K]>>> {
  await page.waitForFunction(() => "__tradeCanvas" in window);
  return page.evaluate(
    ([method, params]) => {
      const h = (window as unknown as { __tradeCanvas: Record<string, (...a: unknown[]) => unknown> })
        .__tradeCanvas;
      return h[method](...params);
    },
    [name, args] as [string, unknown[]],
  ) as Promise<Awaited<ReturnType<Hook[K]>>>;
}

export function chartUrl(stack: Stack, seriesId?: string): string {
  return seriesId ? `${stack.server.url}/?series_id=${encodeURIComponent(seriesId)}` : `${stack.server.url}/`;
}

/** Wait until the page's hook exists and `seriesId` has bars. */
export async function waitForBars(page: Page, seriesId: string, atLeast = 1): Promise<void> {
  await page.waitForFunction(
    ([id, n]) => {
      const h = (window as unknown as { __tradeCanvas?: Hook }).__tradeCanvas;
      return h !== undefined && h.seriesId() === id && h.barCount() >= (n as number);
    },
    [seriesId, atLeast] as const,
  );
}

/** The stored candles in the time range the chart's closed bars cover. */
export function storedInRange(stored: StoredCandle[], bars: StoredCandle[]): StoredCandle[] {
  if (!bars.length) return [];
  const from = bars[0].candle_time;
  const to = bars[bars.length - 1].candle_time;
  return stored.filter((c) => c.candle_time >= from && c.candle_time <= to);
}

export function assertContiguous(bars: StoredCandle[], step: number): void {
  for (let i = 1; i < bars.length; i++) {
    const delta = bars[i].candle_time - bars[i - 1].candle_time;
    if (delta !== step) {
      throw new Error(
        `bars ${bars[i - 1].candle_time} -> ${bars[i].candle_time}: step ${delta}, not ${step}`,
      );
    }
  }
}

/** The page's closed bars equal the store over the range they cover. */
export async function pageMatchesStore(page: Page, stack: Stack, seriesId: string): Promise<boolean> {
  const bars = await hook(page, "closedBars");
  const stored = await storedCandles(stack.server.url, seriesId);
  return JSON.stringify(bars) === JSON.stringify(storedInRange(stored, bars));
}

/** Write a closed candle through the ingest API (committed, then broadcast). */
export async function ingestClosed(stack: Stack, seriesId: string, candle: StoredCandle): Promise<number> {
  const response = await fetch(`${stack.server.url}/api/market/ingest/candle_closed`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ series_id: seriesId, candle }),
  });
  return response.status;
}
