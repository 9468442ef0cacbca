/** Series ids: `{exchange}:{market}:{symbol}:{timeframe}`; the symbol may contain `:`. */

export const TIMEFRAMES = [
  "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M",
] as const;
export type Timeframe = (typeof TIMEFRAMES)[number];

export const MARKETS = ["spot", "futures"] as const;
export type Market = (typeof MARKETS)[number];

export interface SeriesParts {
  readonly exchange: string;
  readonly market: Market;
  readonly symbol: string;
  readonly timeframe: Timeframe;
}

export function isTimeframe(value: string): value is Timeframe {
  return (TIMEFRAMES as readonly string[]).includes(value);
}

const UNIT_SECONDS: Record<string, number> = { m: 60, h: 3600, d: 86400, w: 604800, M: 2592000 };

/** A timeframe's length in seconds (a month counts 30 days: for display only). */
export function timeframeSeconds(tf: Timeframe): number {
  return Number(tf.slice(0, -1)) * UNIT_SECONDS[tf.slice(-1)];
}

function isMarket(value: string): value is Market {
  return (MARKETS as readonly string[]).includes(value);
}

/** The parts of a well-formed id, or null. The server stays the judge of validity. */
export function parseSeriesId(id: string): SeriesParts | null {
  const parts = id.split(":");
  if (parts.length < 4) return null;
  const [exchange, market] = parts;
  const timeframe = parts[parts.length - 1];
  const symbol = parts.slice(2, -1).join(":");
  if (!exchange || !symbol || !isMarket(market) || !isTimeframe(timeframe)) return null;
  return { exchange, market, symbol, timeframe };
}

export function formatSeriesId(parts: SeriesParts): string {
  return `${parts.exchange}:${parts.market}:${parts.symbol}:${parts.timeframe}`;
}

/**
 * What a user typed into the symbol box, as the pair the contract expects: upper case,
 * `btcusdt`-style input left alone, and a futures pair given its settle currency
 * (`BTC/USDT` on futures is `BTC/USDT:USDT`).
 */
export function normalizeSymbol(input: string, market: Market): string {
  const symbol = input.trim().toUpperCase().replace(/\s+/g, "");
  if (market !== "futures" || symbol.includes(":")) return symbol;
  const slash = symbol.indexOf("/");
  if (slash < 0) return symbol;
  return `${symbol}:${symbol.slice(slash + 1)}`;
}
