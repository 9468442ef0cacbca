import { isTimeframe, MARKETS, normalizeSymbol, parseSeriesId, TIMEFRAMES, type Market, type Timeframe } from "./series";
import type { SeriesInfo } from "./types";
import type { Venues } from "./venues";

/** What the user holds of a series: candles in the store, a file in the datadir. */
export interface Held {
  readonly stored: number;
  readonly inDatadir: boolean;
}

/**
 * The user's own data, from `GET /api/market/series`: which pairs and timeframes are
 * stored or in the datadir, so the picker can mark them and a bare visit opens one.
 */
export class UserData {
  private constructor(private readonly held: ReadonlyMap<string, Held>) {}

  static readonly none = new UserData(new Map());

  static from(series: readonly SeriesInfo[]): UserData {
    const held = new Map<string, Held>();
    for (const s of series) {
      const inDatadir = (s.datadir_files ?? []).some((f) => !f.problem);
      if (s.count > 0 || inDatadir) held.set(s.series_id, { stored: s.count, inDatadir });
    }
    return new UserData(held);
  }

  of(seriesId: string): Held | null {
    return this.held.get(seriesId) ?? null;
  }

  /** The timeframes of one pair the user holds. */
  timeframes(exchange: string, market: string, symbol: string): Map<Timeframe, Held> {
    const found = new Map<Timeframe, Held>();
    for (const tf of TIMEFRAMES) {
      const held = this.held.get(`${exchange}:${market}:${symbol}:${tf}`);
      if (held) found.set(tf, held);
    }
    return found;
  }

  /** The pairs of one market the user holds. */
  symbols(exchange: string, market: string): Set<string> {
    const found = new Set<string>();
    for (const id of this.held.keys()) {
      const parts = parseSeriesId(id);
      if (parts && parts.exchange === exchange && parts.market === market) found.add(parts.symbol);
    }
    return found;
  }

  /**
   * The series a bare visit opens: one the user holds, spot first, a datadir file (their
   * own download) before what only the store holds, then the most candles, then the
   * shortest timeframe.
   */
  preferred(): string | null {
    let best: { id: string; rank: number[] } | null = null;
    for (const [id, held] of this.held) {
      const parts = parseSeriesId(id);
      if (!parts || !isTimeframe(parts.timeframe)) continue;
      const rank = [
        parts.market === "spot" ? 0 : 1,
        held.inDatadir ? 0 : 1,
        -held.stored,
        TIMEFRAMES.indexOf(parts.timeframe),
      ];
      if (best === null || lessThan(rank, best.rank) || (equal(rank, best.rank) && id < best.id)) {
        best = { id, rank };
      }
    }
    return best?.id ?? null;
  }
}

function lessThan(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

function equal(a: number[], b: number[]): boolean {
  return !lessThan(a, b) && !lessThan(b, a);
}

/**
 * What the user typed, as a pair of the market that has it: `ETH/BTC`, `eth/btc`, or the
 * venue's own `ETHBTC`; a pair that exists only in the other market switches to it
 * (`ETH/BTC` typed on futures is Binance spot's, not a futures `ETH/BTC:BTC`). Where
 * neither the venue's list nor the user's data knows it, the chosen market is kept and the
 * server judges the id.
 */
export function resolveSymbol(
  input: string,
  exchange: string,
  market: Market,
  venues: Venues,
  data: UserData,
): { market: Market; symbol: string } | null {
  const typed = input.trim().toUpperCase().replace(/\s+/g, "");
  if (!typed) return null;
  const order: Market[] = [market, ...MARKETS.filter((m) => m !== market)];
  for (const m of order) {
    const symbol = venues.symbolOf(exchange, m, typed) ?? normalizeSymbol(typed, m);
    if (venues.lists(exchange, m, symbol) || data.symbols(exchange, m).has(symbol)) {
      return { market: m, symbol };
    }
  }
  return { market, symbol: normalizeSymbol(typed, market) };
}
